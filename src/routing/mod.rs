//! Routing: queues and their members (which agents work which queue). Presence, rules, offers
//! and SLA clocks build on these. Never touches channels or sockets.

pub mod routes;
pub mod store;

use serde::Serialize;

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Queue {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub priority: i64,
    pub created_at: i64,
    pub members: Vec<i64>,
    /// The queue that catches every ticket no rule places (exactly one; it cannot be removed).
    pub is_default: bool,
    /// Answered within this many seconds counts toward the service level.
    pub service_level_secs: i64,
    /// How long an offer rings; none: `HOTLINE_OFFER_TIMEOUT_SECS`.
    pub offer_timeout_secs: Option<i64>,
    /// Per channel, for members who set none themselves (`{"email": 3}`).
    pub capacity: std::collections::BTreeMap<String, i64>,
    /// `longest_idle`, `round_robin` or `least_loaded`; none: `HOTLINE_ROUTING_STRATEGY`.
    pub strategy: Option<String>,
}

/// A queue's routing settings as `PATCH /api/queues/{id}/routing` answers them.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RoutingSettings {
    pub queue_id: i64,
    /// Answered within this many seconds counts toward the service level.
    pub service_level_secs: i64,
    /// How long an offer rings; none: `HOTLINE_OFFER_TIMEOUT_SECS`.
    pub offer_timeout_secs: Option<i64>,
    /// Per channel, for members who set none themselves (`{"email": 3}`).
    pub capacity: std::collections::BTreeMap<String, i64>,
    /// `longest_idle`, `round_robin` or `least_loaded`; none: `HOTLINE_ROUTING_STRATEGY`.
    pub strategy: Option<String>,
}

/// What a change of a queue's routing settings asks for (absent: unchanged).
#[derive(Debug, Default)]
pub struct RoutingChange {
    pub service_level_secs: Option<i64>,
    pub offer_timeout_secs: Option<i64>,
    pub capacity: Option<std::collections::BTreeMap<String, i64>>,
    /// A strategy name; `""` or `"default"`: the configured one.
    pub strategy: Option<String>,
}

/// Checks and applies `c` to queue `id`; answers the queue's settings after it.
pub async fn update_routing(db: &Db, id: i64, c: &RoutingChange) -> AppResult<RoutingSettings> {
    if let Some(s) = c.service_level_secs
        && !(1..=86_400).contains(&s)
    {
        return Err(AppError::validation(
            "service_level_secs",
            "service_level_secs must be 1..=86400",
        ));
    }
    if let Some(s) = c.offer_timeout_secs
        && !(1..=600).contains(&s)
    {
        return Err(AppError::validation(
            "offer_timeout_secs",
            "offer_timeout_secs must be 1..=600",
        ));
    }
    if let Some(cap) = &c.capacity {
        presence::check_capacity(cap)?;
    }
    let strategy = match c.strategy.as_deref().map(str::trim) {
        None => None,
        Some("" | "default") => Some(None),
        Some(s) if Strategy::NAMES.contains(&s) => Some(Some(s.to_string())),
        Some(_) => {
            return Err(AppError::validation(
                "strategy",
                "strategy must be longest_idle, round_robin, least_loaded or default",
            ));
        }
    };
    let capacity = c
        .capacity
        .as_ref()
        .map(|c| serde_json::json!(c).to_string());
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE queues SET service_level_secs = COALESCE($2, service_level_secs), \
         offer_timeout_secs = COALESCE($3, offer_timeout_secs), \
         capacity = COALESCE($4, capacity) WHERE id = $1",
    )
    .bind(id)
    .bind(c.service_level_secs)
    .bind(c.offer_timeout_secs)
    .bind(capacity)
    .execute(&mut *tx)
    .await?;
    if let Some(s) = strategy {
        sqlx::query("UPDATE queues SET strategy = $2 WHERE id = $1")
            .bind(id)
            .bind(s)
            .execute(&mut *tx)
            .await?;
    }
    let row = sqlx::query(
        "SELECT service_level_secs, offer_timeout_secs, capacity, strategy FROM queues \
         WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    use sqlx::Row;
    Ok(RoutingSettings {
        queue_id: id,
        service_level_secs: row.try_get("service_level_secs")?,
        offer_timeout_secs: row.try_get("offer_timeout_secs")?,
        capacity: presence::parse_capacity(&row.try_get::<String, _>("capacity")?),
        strategy: row.try_get("strategy")?,
    })
}

pub mod callbacks;
pub mod leader;
pub mod offers;
pub mod presence;
pub mod sla;
pub mod stats;

pub use offers::{WorkItem, create_callback, insert_callback};

use crate::auth::{Role, User};
use crate::db::Db;
use crate::error::{AppError, AppResult};

/// Who manages a queue's settings, members, rules, hours and SLA targets: admins every queue,
/// supervisors the queues they work themselves (403 `forbidden` for any other).
pub async fn check_manages(db: &Db, actor: &User, queue_id: i64) -> AppResult<()> {
    if actor.role == Role::Admin {
        return Ok(());
    }
    if actor.role == Role::Supervisor
        && store::queues_of_user(db, actor.id)
            .await?
            .contains(&queue_id)
    {
        return Ok(());
    }
    Err(AppError::Forbidden)
}

/// Makes `queue_ids` the queues user `user_id` works (one transaction), on behalf of `actor`
/// (a supervisor adds and removes only queues they work), audited as `user.queues` with
/// from/to. Returns the queues now worked.
pub async fn set_user_queues(
    db: &Db,
    actor: &User,
    user_id: i64,
    queue_ids: &[i64],
) -> AppResult<Vec<crate::auth::directory::QueueRef>> {
    crate::auth::store::find_user(db, user_id).await?;
    let mut wanted: Vec<i64> = queue_ids.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.len() > 500 {
        return Err(AppError::validation("queue_ids", "at most 500 queues"));
    }
    for q in &wanted {
        store::find_queue(db, *q)
            .await
            .map_err(|_| AppError::validation("queue_ids", format!("{q} is not a queue")))?;
    }
    let before = store::queues_of_user(db, user_id).await?;
    for q in before.iter().chain(&wanted) {
        if before.contains(q) != wanted.contains(q) {
            check_manages(db, actor, *q).await?;
        }
    }
    let before = store::set_user_queues(db, user_id, &wanted).await?;
    if before != wanted {
        crate::auth::store::insert_audit(
            &db.pool,
            Some(actor.id),
            "user.queues",
            &format!("user:{user_id}"),
            serde_json::json!({"from": before, "to": wanted}),
        )
        .await?;
    }
    store::queue_refs_of_user(db, user_id).await
}

/// A placement rule: the first rule (by position, then id) whose non-empty conditions all hold
/// puts new work in its queue, raises its priority by `priority_boost` and requires `skills`.
#[derive(Clone, Debug, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct QueueRule {
    pub id: i64,
    pub queue_id: i64,
    pub position: i64,
    /// `email`, `sms`, `voice`, `web`.
    pub channel: String,
    /// The number or address the work came to (exact, case-insensitive).
    pub to_addr: String,
    /// Found in the subject or first message (case-insensitive).
    pub keyword: String,
    /// Customer tier: `vip`, `key`, `regular`, `low`.
    pub tier: String,
    /// Customer language (e.g. `zh`, `en`).
    pub language: String,
    /// Ticket kind, e.g. `complaint`.
    pub kind: String,
    pub priority_boost: i64,
    pub skills: Vec<String>,
    /// An action: file the matching work as this ticket kind (e.g. keyword 投诉 → `complaint`);
    /// none keeps the kind.
    #[serde(default)]
    pub set_kind: Option<String>,
}

/// What a rule looks at in a new piece of work.
#[derive(Clone, Debug, Default)]
pub struct WorkFacts {
    pub channel: String,
    pub to_addr: String,
    /// Subject and first message, lowercased.
    pub text: String,
    pub tier: String,
    pub language: String,
    pub kind: String,
}

impl WorkFacts {
    /// The facts of a ticket: its channel, the address or number its first message came to,
    /// subject and first message, the customer's tier and language, and its kind.
    pub fn new(
        channel: &str,
        to_addr: &str,
        subject: &str,
        body: &str,
        tier: &str,
        language: &str,
        kind: &str,
    ) -> WorkFacts {
        WorkFacts {
            channel: channel.to_string(),
            to_addr: to_addr.to_string(),
            text: format!("{subject}\n{body}").to_lowercase(),
            tier: tier.to_string(),
            language: language.to_string(),
            kind: kind.to_string(),
        }
    }
}

/// The conditions of a rule, in the order they are checked.
pub const CONDITIONS: [&str; 6] = ["channel", "to_addr", "tier", "language", "kind", "keyword"];

impl QueueRule {
    /// The first condition of this rule that `f` does not meet; `None` when the rule matches.
    /// The one matching function: placement (`place`) and the rule test (`explain`) use it.
    pub fn failed_on(&self, f: &WorkFacts) -> Option<&'static str> {
        let eq = |cond: &str, v: &str| cond.is_empty() || cond.eq_ignore_ascii_case(v);
        CONDITIONS.into_iter().find(|c| match *c {
            "channel" => !eq(&self.channel, &f.channel),
            "to_addr" => !eq(&self.to_addr, &f.to_addr),
            "tier" => !eq(&self.tier, &f.tier),
            "language" => !eq(&self.language, &f.language),
            "kind" => !eq(&self.kind, &f.kind),
            _ => !(self.keyword.is_empty() || f.text.contains(&self.keyword.to_lowercase())),
        })
    }

    pub fn matches(&self, f: &WorkFacts) -> bool {
        self.failed_on(f).is_none()
    }

    /// The conditions this rule sets (the others match anything).
    pub fn conditions(&self) -> Vec<&'static str> {
        CONDITIONS
            .into_iter()
            .filter(|c| {
                !match *c {
                    "channel" => &self.channel,
                    "to_addr" => &self.to_addr,
                    "tier" => &self.tier,
                    "language" => &self.language,
                    "kind" => &self.kind,
                    _ => &self.keyword,
                }
                .is_empty()
            })
            .collect()
    }
}

/// The first matching rule of `rules` (already in order).
pub fn place<'a>(rules: &'a [QueueRule], f: &WorkFacts) -> Option<&'a QueueRule> {
    rules.iter().find(|r| r.matches(f))
}

/// One rule as the rule test saw it.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RuleCheck {
    pub rule_id: i64,
    pub queue_id: i64,
    pub position: i64,
    pub matched: bool,
    /// The first condition that did not hold.
    pub failed_on: Option<&'static str>,
}

/// Every rule checked against `f`, in order, and the one `place` picks (the first that matched).
pub fn explain<'a>(
    rules: &'a [QueueRule],
    f: &WorkFacts,
) -> (Option<&'a QueueRule>, Vec<RuleCheck>) {
    let checks: Vec<RuleCheck> = rules
        .iter()
        .map(|r| {
            let failed_on = r.failed_on(f);
            RuleCheck {
                rule_id: r.id,
                queue_id: r.queue_id,
                position: r.position,
                matched: failed_on.is_none(),
                failed_on,
            }
        })
        .collect();
    (place(rules, f), checks)
}

/// Where a sample contact would go and why (`POST /api/routing/test`).
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RuleTest {
    pub queue_id: i64,
    pub queue_name: String,
    /// The rule that placed it; none when no rule matched (`fallback`).
    pub rule_id: Option<i64>,
    /// The conditions of that rule (all of which the contact met).
    pub matched: Vec<&'static str>,
    pub priority_boost: i64,
    pub skills: Vec<String>,
    /// Every rule in evaluation order, with the first condition that failed.
    pub evaluated: Vec<RuleCheck>,
    /// No rule matched: the work stays in the ticket's own queue, for a new contact the
    /// default queue.
    pub fallback: bool,
}

/// Runs `facts` through the rules exactly as the routing leader places new work: the same
/// rules in the same order (`store::list_rules`) and the same matching (`place`).
pub async fn test_contact(db: &Db, facts: &WorkFacts) -> AppResult<RuleTest> {
    let rules = store::list_rules(db, None).await?;
    let (chosen, evaluated) = explain(&rules, facts);
    let queue_id = match chosen {
        Some(r) => r.queue_id,
        None => store::default_queue_id(db).await?,
    };
    let queue = store::find_queue(db, queue_id).await?;
    Ok(RuleTest {
        queue_id,
        queue_name: queue.name,
        rule_id: chosen.map(|r| r.id),
        matched: chosen.map(QueueRule::conditions).unwrap_or_default(),
        priority_boost: chosen.map_or(0, |r| r.priority_boost),
        skills: chosen.map(|r| r.skills.clone()).unwrap_or_default(),
        evaluated,
        fallback: chosen.is_none(),
    })
}

/// A rule in the global evaluation order, with its place (1 = tried first) and queue name.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct OrderedRule {
    pub order: usize,
    #[serde(flatten)]
    pub rule: QueueRule,
    pub queue_name: String,
    pub conditions: Vec<&'static str>,
}

/// Every rule in the order the leader tries them (position, then id, across all queues).
pub async fn ordered_rules(db: &Db) -> AppResult<Vec<OrderedRule>> {
    let names: std::collections::HashMap<i64, String> = store::list_queues(db)
        .await?
        .into_iter()
        .map(|q| (q.id, q.name))
        .collect();
    Ok(store::list_rules(db, None)
        .await?
        .into_iter()
        .enumerate()
        .map(|(i, r)| OrderedRule {
            order: i + 1,
            queue_name: names.get(&r.queue_id).cloned().unwrap_or_default(),
            conditions: r.conditions(),
            rule: r,
        })
        .collect())
}

/// Moves rule `rule_id` (of queue `queue_id`) to place `to` (1 = tried first) of the global
/// order; every rule is renumbered 1, 2, 3 … in one transaction. Audited as `rule.move`.
pub async fn move_rule(
    db: &Db,
    actor: &User,
    queue_id: i64,
    rule_id: i64,
    to: i64,
) -> AppResult<Vec<OrderedRule>> {
    check_manages(db, actor, queue_id).await?;
    let rule = store::find_rule(db, rule_id).await?;
    if rule.queue_id != queue_id {
        return Err(AppError::NotFound("rule"));
    }
    let mut ids: Vec<i64> = store::list_rules(db, None)
        .await?
        .iter()
        .map(|r| r.id)
        .collect();
    if !(1..=ids.len() as i64).contains(&to) {
        return Err(AppError::validation(
            "to",
            format!(
                "to must be 1 to {} (the place in the evaluation order)",
                ids.len()
            ),
        ));
    }
    let from = ids.iter().position(|id| *id == rule_id).unwrap_or(0);
    ids.remove(from);
    ids.insert(to as usize - 1, rule_id);
    store::renumber_rules(db, &ids).await?;
    crate::auth::store::insert_audit(
        &db.pool,
        Some(actor.id),
        "rule.move",
        &format!("rule:{rule_id}"),
        serde_json::json!({"queue_id": queue_id, "from": from + 1, "to": to}),
    )
    .await?;
    ordered_rules(db).await
}

/// How the next agent is chosen among those available with the skills and capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// The agent free for the longest time.
    LongestIdle,
    /// The agent offered work the longest time ago.
    RoundRobin,
    /// The agent with the fewest assigned items, then longest idle.
    LeastLoaded,
}

impl Strategy {
    /// The names a queue's or the configured strategy may have.
    pub const NAMES: [&'static str; 3] = ["longest_idle", "round_robin", "least_loaded"];

    pub fn parse(s: &str) -> Strategy {
        match s {
            "round_robin" => Strategy::RoundRobin,
            "least_loaded" => Strategy::LeastLoaded,
            _ => Strategy::LongestIdle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: i64, queue_id: i64) -> QueueRule {
        QueueRule {
            id,
            queue_id,
            position: 0,
            channel: String::new(),
            to_addr: String::new(),
            keyword: String::new(),
            tier: String::new(),
            language: String::new(),
            kind: String::new(),
            priority_boost: 0,
            skills: vec![],
            set_kind: None,
        }
    }

    #[test]
    fn first_matching_rule_wins() {
        let vip = QueueRule {
            tier: "vip".into(),
            ..rule(1, 10)
        };
        let refund = QueueRule {
            keyword: "Refund".into(),
            channel: "email".into(),
            ..rule(2, 20)
        };
        let rules = vec![vip, refund, rule(3, 30)];
        let f = WorkFacts {
            channel: "email".into(),
            text: "please refund me".into(),
            tier: "regular".into(),
            ..WorkFacts::default()
        };
        assert_eq!(place(&rules, &f).map(|r| r.queue_id), Some(20));
        let f2 = WorkFacts {
            tier: "vip".into(),
            ..f.clone()
        };
        assert_eq!(place(&rules, &f2).map(|r| r.queue_id), Some(10));
        let f3 = WorkFacts {
            channel: "sms".into(),
            ..f
        };
        assert_eq!(place(&rules, &f3).map(|r| r.queue_id), Some(30));
        let (chosen, checks) = explain(&rules, &f3);
        assert_eq!(chosen.map(|r| r.id), Some(3));
        let failed: Vec<_> = checks.iter().map(|c| c.failed_on).collect();
        assert_eq!(failed, vec![Some("tier"), Some("channel"), None]);
        assert_eq!(rules[1].conditions(), vec!["channel", "keyword"]);
        let f4 = WorkFacts::new("email", "", "Bill", "REFUND please", "", "", "");
        assert_eq!(rules[1].failed_on(&f4), None);
    }
}
