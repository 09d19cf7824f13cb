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
}

pub mod callbacks;
pub mod leader;
pub mod offers;
pub mod presence;
pub mod sla;
pub mod stats;

pub use offers::{WorkItem, create_callback, insert_callback};

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

impl QueueRule {
    pub fn matches(&self, f: &WorkFacts) -> bool {
        let eq = |cond: &str, v: &str| cond.is_empty() || cond.eq_ignore_ascii_case(v);
        eq(&self.channel, &f.channel)
            && eq(&self.to_addr, &f.to_addr)
            && eq(&self.tier, &f.tier)
            && eq(&self.language, &f.language)
            && eq(&self.kind, &f.kind)
            && (self.keyword.is_empty() || f.text.contains(&self.keyword.to_lowercase()))
    }
}

/// The first matching rule of `rules` (already in order).
pub fn place<'a>(rules: &'a [QueueRule], f: &WorkFacts) -> Option<&'a QueueRule> {
    rules.iter().find(|r| r.matches(f))
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
    }
}
