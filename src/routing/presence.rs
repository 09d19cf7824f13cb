//! Agent presence: available, busy (at capacity), wrap-up (timed after-call work), away (with a
//! reason), offline; the time in each state (`presence_log`) and per-channel capacity.
//! Every change appends `presence.changed`. Offers and assignment live in offers.rs.

use crate::app::AppState;
use crate::db::{Db, Exec, FromRow, now_ms};
use crate::error::{AppError, AppResult};
use crate::realtime::events::{self, Scope};
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;

pub const STATES: &[&str] = &["available", "busy", "wrap_up", "away", "offline"];
/// States an agent may choose; `busy` is set by routing when the agent reaches capacity.
pub const CHOSEN_STATES: &[&str] = &["available", "wrap_up", "away", "offline"];

/// How many items of a channel an agent works at once, unless set per agent.
pub fn default_capacity() -> BTreeMap<String, i64> {
    [
        ("voice", 1),
        ("email", 5),
        ("sms", 5),
        ("web", 5),
        ("note", 5),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[derive(Clone, Debug, Serialize)]
pub struct Presence {
    pub user_id: i64,
    pub state: String,
    pub reason: String,
    pub since_ms: i64,
    pub until_ms: Option<i64>,
    pub idle_since_ms: i64,
    pub last_offered_ms: i64,
    pub offer_id: Option<i64>,
    /// Per channel: the agent's own setting over the defaults.
    pub capacity: BTreeMap<String, i64>,
    /// The channels the agent set themselves (these win over a queue's capacity).
    #[serde(skip)]
    pub own_capacity: BTreeMap<String, i64>,
}

impl Presence {
    pub fn offline(user_id: i64) -> Presence {
        Presence {
            user_id,
            state: "offline".into(),
            reason: String::new(),
            since_ms: 0,
            until_ms: None,
            idle_since_ms: 0,
            last_offered_ms: 0,
            offer_id: None,
            capacity: default_capacity(),
            own_capacity: BTreeMap::new(),
        }
    }

    /// How many items of `channel` the agent takes at once from a queue with capacity `queue`:
    /// their own setting, else the queue's, else the default.
    pub fn capacity_in(&self, channel: &str, queue: Option<&BTreeMap<String, i64>>) -> i64 {
        self.own_capacity
            .get(channel)
            .or_else(|| queue.and_then(|q| q.get(channel)))
            .or_else(|| self.capacity.get(channel))
            .copied()
            .unwrap_or(1)
    }
}

const COLUMNS: &str = "user_id, state, reason, since_ms, until_ms, idle_since_ms, last_offered_ms, offer_id, capacity";

impl FromRow for Presence {
    fn from_row(r: &impl crate::db::ReadRow) -> Result<Presence, sqlx::Error> {
        let own = parse_capacity(&r.try_get::<String>("capacity")?);
        let mut cap = default_capacity();
        cap.extend(own.clone());
        Ok(Presence {
            user_id: r.try_get("user_id")?,
            state: r.try_get("state")?,
            reason: r.try_get("reason")?,
            since_ms: r.try_get("since_ms")?,
            until_ms: r.try_get("until_ms")?,
            idle_since_ms: r.try_get("idle_since_ms")?,
            last_offered_ms: r.try_get("last_offered_ms")?,
            offer_id: r.try_get("offer_id")?,
            capacity: cap,
            own_capacity: own,
        })
    }
}

/// A capacity map as stored (JSON); anything unreadable counts as none set.
pub fn parse_capacity(text: &str) -> BTreeMap<String, i64> {
    serde_json::from_str(text).unwrap_or_default()
}

/// Checks a capacity map from a request: channel → 0..=100.
pub fn check_capacity(capacity: &BTreeMap<String, i64>) -> AppResult<()> {
    for (channel, n) in capacity {
        if crate::tickets::Channel::parse(channel).is_none() || !(0..=100).contains(n) {
            return Err(AppError::validation(
                "capacity",
                format!("capacity must map a channel to 0..=100 ({channel})"),
            ));
        }
    }
    Ok(())
}

pub async fn find_presence<E: Exec>(exec: &mut E, user_id: i64) -> AppResult<Presence> {
    let sql = format!("SELECT {COLUMNS} FROM agent_presence WHERE user_id = $1");
    let found = exec.row(&sql, vec![user_id.into()]).await?;
    Ok(found.unwrap_or_else(|| Presence::offline(user_id)))
}

pub async fn list_presence(db: &Db) -> AppResult<Vec<Presence>> {
    let sql = format!("SELECT {COLUMNS} FROM agent_presence ORDER BY user_id");
    db.fetch_all(&sql, vec![]).await
}

/// Moves an agent to `state` inside `tx` (no-op when nothing changes): closes the previous
/// `presence_log` row, opens a new one and appends `presence.changed`.
pub async fn change_state<E: Exec>(
    tx: &mut E,
    db: &Db,
    user_id: i64,
    state: &str,
    reason: &str,
    until_ms: Option<i64>,
) -> AppResult<Presence> {
    let cur = find_presence(tx, user_id).await?;
    if cur.state == state && cur.reason == reason && cur.until_ms == until_ms && cur.since_ms > 0 {
        return Ok(cur);
    }
    let now = now_ms();
    let idle_since = if state == "available" && cur.state != "available" {
        now
    } else {
        cur.idle_since_ms
    };
    let sql = format!(
        "INSERT INTO agent_presence (user_id, state, reason, since_ms, until_ms, idle_since_ms, \
         capacity) VALUES ($1, $2, $3, $4, $5, $6, '{{}}') \
         ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, reason = excluded.reason, \
         since_ms = excluded.since_ms, until_ms = excluded.until_ms, \
         idle_since_ms = excluded.idle_since_ms RETURNING {COLUMNS}"
    );
    let params = vec![
        user_id.into(),
        state.into(),
        reason.into(),
        now.into(),
        until_ms.into(),
        idle_since.into(),
    ];
    let p: Presence = tx
        .row(&sql, params)
        .await?
        .ok_or(AppError::NotFound("presence"))?;
    tx.run(
        "UPDATE presence_log SET ended_ms = $2 WHERE user_id = $1 AND ended_ms IS NULL",
        vec![user_id.into(), now.into()],
    )
    .await?;
    tx.run(
        "INSERT INTO presence_log (user_id, state, reason, started_ms) VALUES ($1, $2, $3, $4)",
        vec![user_id.into(), state.into(), reason.into(), now.into()],
    )
    .await?;
    events::append(
        tx,
        db.backend,
        "presence.changed",
        Scope {
            user_id: Some(user_id),
            ..Scope::default()
        },
        &serde_json::json!({"user_id": user_id, "state": p.state, "reason": p.reason,
            "since_ms": p.since_ms, "until_ms": p.until_ms}),
    )
    .await?;
    Ok(p)
}

/// An agent sets their own state. `wrap_up` lasts `wrap_up_secs` when configured.
pub async fn set_presence(
    state: &AppState,
    user_id: i64,
    new_state: &str,
    reason: &str,
) -> AppResult<Presence> {
    if !CHOSEN_STATES.contains(&new_state) {
        return Err(AppError::validation(
            "state",
            "state must be available, wrap_up, away or offline (busy is set by routing)",
        ));
    }
    let reason = reason.trim();
    if reason.chars().count() > 200 {
        return Err(AppError::validation(
            "reason",
            "reason must be at most 200 characters",
        ));
    }
    let until = (new_state == "wrap_up" && state.config.wrap_up_secs > 0)
        .then(|| now_ms() + state.config.wrap_up_secs as i64 * 1000);
    let mut tx = state.db.begin().await?;
    let p = change_state(&mut tx, &state.db, user_id, new_state, reason, until).await?;
    events::commit(tx).await?;
    Ok(p)
}

/// Sets an agent's per-channel capacity (merged over the defaults).
pub async fn update_capacity(
    db: &Db,
    user_id: i64,
    capacity: &BTreeMap<String, i64>,
) -> AppResult<Presence> {
    check_capacity(capacity)?;
    let text = serde_json::to_string(capacity).unwrap_or_else(|_| "{}".into());
    let mut tx = db.begin().await?;
    find_presence(&mut *tx, user_id).await?;
    let now = now_ms();
    sqlx::query(
        "INSERT INTO agent_presence (user_id, state, reason, since_ms, idle_since_ms, capacity) \
         VALUES ($1, 'offline', '', $2, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET capacity = excluded.capacity",
    )
    .bind(user_id)
    .bind(now)
    .bind(&text)
    .execute(&mut *tx)
    .await?;
    let p = find_presence(&mut *tx, user_id).await?;
    tx.commit().await?;
    Ok(p)
}

/// Seconds spent in each state since `from_ms` (closed and open log rows), per agent.
pub async fn time_in_states(
    db: &Db,
    from_ms: i64,
) -> AppResult<BTreeMap<i64, BTreeMap<String, i64>>> {
    let now = now_ms();
    let rows = sqlx::query(
        "SELECT user_id, state, started_ms, ended_ms FROM presence_log \
         WHERE ended_ms IS NULL OR ended_ms > $1",
    )
    .bind(from_ms)
    .fetch_all(&db.pool)
    .await?;
    let mut out: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
    for r in &rows {
        let start: i64 = r.try_get("started_ms")?;
        let end: Option<i64> = r.try_get("ended_ms")?;
        let ms = end.unwrap_or(now) - start.max(from_ms);
        *out.entry(r.try_get("user_id")?)
            .or_default()
            .entry(r.try_get("state")?)
            .or_default() += ms.max(0) / 1000;
    }
    Ok(out)
}

// ---- presence follows the console -----------------------------------------------------------

/// A console row not refreshed for this long belongs to a node that died.
pub const CONSOLE_STALE_MS: i64 = 30_000;
/// How often a node refreshes its consoles' rows.
pub const CONSOLE_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(10);

/// A console (`/ws`) of `user_id` opened on this node: routing may offer them work again.
pub async fn console_opened(db: &Db, console_id: &str, user_id: i64) -> AppResult<()> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    sqlx::query("INSERT INTO consoles (id, user_id, opened_ms, seen_ms) VALUES ($1, $2, $3, $3)")
        .bind(console_id)
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE agent_presence SET console_gone_ms = NULL WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A console closed. When it was the user's last, the grace period starts (see
/// [`sweep_consoles`]); no new work is offered to them meanwhile.
pub async fn console_closed(db: &Db, console_id: &str, user_id: i64) -> AppResult<()> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM consoles WHERE id = $1")
        .bind(console_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE agent_presence SET console_gone_ms = $2 WHERE user_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM consoles WHERE user_id = $1 AND seen_ms > $3)",
    )
    .bind(user_id)
    .bind(now)
    .bind(now - CONSOLE_STALE_MS)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Refreshes the rows of this node's open consoles (ids start with `node_prefix`).
pub async fn touch_consoles(db: &Db, node_prefix: &str) -> AppResult<()> {
    sqlx::query("UPDATE consoles SET seen_ms = $1 WHERE id LIKE $2")
        .bind(now_ms())
        .bind(format!("{node_prefix}%"))
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Run by the routing leader: forgets consoles of dead nodes, starts the grace period of agents
/// who have no live console (also those who set a presence without ever opening one), and takes
/// offline everyone whose grace is over (a ringing offer returns to the queue). Returns the
/// agents taken offline.
pub async fn sweep_consoles(db: &Db, grace_secs: u64) -> AppResult<Vec<i64>> {
    let now = now_ms();
    let live_after = now - CONSOLE_STALE_MS;
    sqlx::query("DELETE FROM consoles WHERE seen_ms <= $1")
        .bind(live_after)
        .execute(&db.pool)
        .await?;
    sqlx::query(
        "UPDATE agent_presence SET console_gone_ms = $1 \
         WHERE console_gone_ms IS NULL AND state <> 'offline' AND NOT EXISTS \
         (SELECT 1 FROM consoles c WHERE c.user_id = agent_presence.user_id AND c.seen_ms > $2)",
    )
    .bind(now)
    .bind(live_after)
    .execute(&db.pool)
    .await?;
    let gone: Vec<i64> = sqlx::query_scalar(
        "SELECT user_id FROM agent_presence WHERE state <> 'offline' AND console_gone_ms <= $1",
    )
    .bind(now - grace_secs as i64 * 1000)
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::new();
    for user_id in gone {
        if go_offline(db, user_id, "disconnected", true).await? {
            out.push(user_id);
        }
    }
    Ok(out)
}

/// Signing out takes the agent offline at once (a ringing offer returns to the queue).
pub async fn sign_out(db: &Db, user_id: i64) -> AppResult<()> {
    go_offline(db, user_id, "signed_out", false).await?;
    Ok(())
}

/// A deactivated user goes offline at once (reason `deactivated`; a ringing offer returns to
/// the queue).
pub async fn deactivated(db: &Db, user_id: i64) -> AppResult<()> {
    go_offline(db, user_id, "deactivated", false).await?;
    Ok(())
}

/// Sets `user_id` offline with `reason` and withdraws their ringing offer. With
/// `only_if_gone`, nothing happens when a console came back meanwhile. True when they went.
async fn go_offline(db: &Db, user_id: i64, reason: &str, only_if_gone: bool) -> AppResult<bool> {
    let mut tx = db.begin().await?;
    let p = find_presence(&mut tx, user_id).await?;
    let back: Option<i64> =
        sqlx::query_scalar("SELECT console_gone_ms FROM agent_presence WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?
            .flatten();
    if p.state == "offline" || (only_if_gone && back.is_none()) {
        return Ok(false);
    }
    super::offers::withdraw_ringing(&mut tx, db, user_id).await?;
    change_state(&mut tx, db, user_id, "offline", reason, None).await?;
    events::commit(tx).await?;
    Ok(true)
}
