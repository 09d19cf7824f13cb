//! The users list of the administration screen: each user with the queues they work, their
//! per-channel capacity and presence, filtered by text, role, queue, activity and presence.

use super::{Role, User, store};
use crate::db::Db;
use crate::error::AppResult;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// What the list is filtered by (all optional, combined with AND).
#[derive(Default, Debug)]
pub struct UserFilter {
    /// A case-insensitive part of the login, name, extension or phone (a phone's digits match
    /// without spaces or `+`).
    pub q: Option<String>,
    pub role: Option<Role>,
    /// Members of this queue.
    pub queue_id: Option<i64>,
    pub active: Option<bool>,
    /// A presence state (`routing::presence::STATES`); users without one are `offline`.
    pub presence: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct QueueRef {
    pub id: i64,
    pub name: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct PresenceSummary {
    pub state: String,
    pub reason: String,
    pub since_ms: i64,
}

/// A user as the administration screen lists them.
#[derive(Clone, Debug, Serialize)]
pub struct UserEntry {
    #[serde(flatten)]
    pub user: User,
    pub queues: Vec<QueueRef>,
    /// Effective per channel: the user's own setting over the defaults.
    pub capacity: BTreeMap<String, i64>,
    /// What was set for this user (`PUT /api/agents/{id}/capacity`).
    pub capacity_set: BTreeMap<String, i64>,
    /// None when the reader may not see colleagues' presence (agents).
    pub presence: Option<PresenceSummary>,
}

/// True when `q` (already lower-cased and trimmed) finds `u`.
pub fn text_matches(u: &User, q: &str) -> bool {
    if q.is_empty() {
        return true;
    }
    let fields = [
        Some(u.login.as_str()),
        Some(u.display_name.as_str()),
        u.extension.as_deref(),
        u.phone.as_deref(),
    ];
    if fields
        .iter()
        .flatten()
        .any(|f| f.to_lowercase().contains(q))
    {
        return true;
    }
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    digits.len() >= 3
        && digits.len() == q.chars().filter(|c| !" +-()".contains(*c)).count()
        && u.phone.as_deref().is_some_and(|p| {
            p.chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
                .contains(&digits)
        })
}

/// The users `f` selects, ordered by id. `with_presence`: whether the reader sees presence.
pub async fn list(db: &Db, f: &UserFilter, with_presence: bool) -> AppResult<Vec<UserEntry>> {
    let users = store::list_users(db).await?;
    let queues = crate::routing::store::list_queues(db).await?;
    let mut queues_of: HashMap<i64, Vec<QueueRef>> = HashMap::new();
    for q in &queues {
        for m in &q.members {
            queues_of.entry(*m).or_default().push(QueueRef {
                id: q.id,
                name: q.name.clone(),
            });
        }
    }
    let presence: HashMap<i64, crate::routing::presence::Presence> =
        crate::routing::presence::list_presence(db)
            .await?
            .into_iter()
            .map(|p| (p.user_id, p))
            .collect();
    let q = f.q.as_deref().unwrap_or("").trim().to_lowercase();
    let mut out = Vec::new();
    for u in users {
        let p = presence
            .get(&u.id)
            .cloned()
            .unwrap_or_else(|| crate::routing::presence::Presence::offline(u.id));
        let mut mine = queues_of.remove(&u.id).unwrap_or_default();
        mine.sort_by_key(|r| r.id);
        let keep = text_matches(&u, &q)
            && f.role.is_none_or(|r| r == u.role)
            && f.active.is_none_or(|a| a == u.active)
            && f.queue_id.is_none_or(|id| mine.iter().any(|r| r.id == id))
            && f.presence.as_deref().is_none_or(|s| s == p.state);
        if !keep {
            continue;
        }
        out.push(UserEntry {
            user: u,
            queues: mine,
            capacity: p.capacity.clone(),
            capacity_set: p.own_capacity.clone(),
            presence: with_presence.then(|| PresenceSummary {
                state: p.state.clone(),
                reason: p.reason.clone(),
                since_ms: p.since_ms,
            }),
        });
    }
    Ok(out)
}

/// One user as the list shows them.
pub async fn entry(db: &Db, id: i64, with_presence: bool) -> AppResult<UserEntry> {
    let user = store::find_user(db, id).await?;
    let queues = crate::routing::store::queue_refs_of_user(db, id).await?;
    let p = crate::routing::presence::find_presence(&mut &*db, id).await?;
    Ok(UserEntry {
        user,
        queues,
        capacity: p.capacity,
        capacity_set: p.own_capacity,
        presence: with_presence.then_some(PresenceSummary {
            state: p.state,
            reason: p.reason,
            since_ms: p.since_ms,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(login: &str, name: &str, ext: Option<&str>, phone: Option<&str>) -> User {
        User {
            id: 1,
            login: login.into(),
            display_name: name.into(),
            role: Role::Agent,
            extension: ext.map(Into::into),
            phone: phone.map(Into::into),
            email: None,
            skills: vec![],
            languages: vec![],
            locale: "en".into(),
            active: true,
            created_at: 0,
            must_change_password: false,
            version: 1,
        }
    }

    #[test]
    fn text_finds_login_name_extension_and_phone_digits() {
        let u = user("ana", "Ana 李", Some("101"), Some("+86 138 0013 8000"));
        for q in ["an", "李", "101", "13800138000", "138 0013", "+86 138"] {
            assert!(text_matches(&u, &q.to_lowercase()), "{q}");
        }
        for q in ["bob", "102", "139"] {
            assert!(!text_matches(&u, q), "{q}");
        }
        assert!(text_matches(&u, ""));
    }
}
