//! A user's notifications: today an `@login` mention in an internal note. Stored (the console
//! lists them after a reconnect, with an unseen count) and announced live by a `notification`
//! event for that user alone. The rules: a mention names an active colleague by exact login;
//! unknown logins stay plain text; the author is never notified of their own note; a colleague
//! who may not open the ticket (`tickets::Visibility`) is not notified.

pub mod routes;

use crate::auth::User;
use crate::db::{Backend, Db, Exec, FromRow, now_ms};
use crate::error::AppResult;
use crate::realtime::events::{self, Scope};
use crate::tickets::{Interaction, Ticket, Visibility};
use serde::Serialize;

/// How much of the note a notification repeats.
pub const EXCERPT_CHARS: usize = 200;

/// Mentions looked at in one note at most (a note listing the whole center notifies no one
/// beyond this).
pub const MAX_MENTIONS: usize = 20;

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Notification {
    pub id: i64,
    /// `mention`, `survey_low` (a customer's low satisfaction score: the ticket is the
    /// follow-up, the excerpt the customer's comment) or `complaint_reminder` (a complaint's
    /// step is due soon or late: see `data`).
    pub kind: String,
    pub ticket_id: i64,
    /// The ticket's subject when the notification was read (its English rendering for
    /// system-written subjects).
    pub ticket_subject: String,
    pub interaction_id: Option<i64>,
    /// Who mentioned the user.
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    /// The beginning of the note.
    pub excerpt: String,
    pub created_at: i64,
    /// When the user saw it; null while unseen.
    pub seen_at: Option<i64>,
    /// The facts of a system notification, for the reader's language (`complaint_reminder`:
    /// `step` ack/respond/close, `point` minutes from the due time (negative before), `due`,
    /// `severity`, `status`); `{}` otherwise.
    pub data: serde_json::Value,
}

impl FromRow for Notification {
    fn from_row(row: &impl crate::db::ReadRow) -> Result<Notification, sqlx::Error> {
        Ok(Notification {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            ticket_id: row.try_get("ticket_id")?,
            ticket_subject: row.try_get("ticket_subject")?,
            interaction_id: row.try_get("interaction_id")?,
            actor_id: row.try_get("actor_id")?,
            actor_name: row.try_get("actor_name")?,
            excerpt: row.try_get("excerpt")?,
            created_at: row.try_get("created_at")?,
            seen_at: row.try_get("seen_at")?,
            data: serde_json::from_str(&row.try_get::<String>("data")?)
                .unwrap_or_else(|_| serde_json::json!({})),
        })
    }
}

/// The logins a text mentions: `@` at the start or after a character that cannot be part of
/// an address (so `ann@example.com` mentions no one), then letters, digits, `.`, `_`, `-`.
/// Trailing dots and dashes are punctuation (`ping @ann.`). Distinct, in order of appearance.
/// (Hand-written: six lines of scanning do not need a regex engine.)
pub fn mentioned_logins(text: &str) -> Vec<String> {
    let word = |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '-');
    let mut out: Vec<String> = Vec::new();
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        if c == '@' && !prev.is_some_and(|p| word(p) || p == '@') {
            let rest = &text[i + 1..];
            let end = rest.find(|c: char| !word(c)).unwrap_or(rest.len());
            let login = rest[..end].trim_end_matches(['.', '-']);
            if !login.is_empty() && !out.iter().any(|l| l == login) && out.len() < MAX_MENTIONS {
                out.push(login.to_string());
            }
        }
        prev = Some(c);
    }
    out
}

/// The colleagues a note by `author` on `ticket` notifies: the active users its mentions name
/// who may open the ticket, never the author.
pub async fn mentioned_users(
    db: &Db,
    ticket: &Ticket,
    author: &User,
    text: &str,
) -> AppResult<Vec<User>> {
    let mut users = Vec::new();
    for login in mentioned_logins(text) {
        let Some((user, _)) = crate::auth::store::find_login(db, &login).await? else {
            continue; // not a login: left as text
        };
        if user.id == author.id || users.iter().any(|u: &User| u.id == user.id) {
            continue;
        }
        let sees = if user.is_supervisor() {
            Visibility::all()
        } else {
            Visibility::agent(
                user.id,
                crate::routing::store::queues_of_user(db, user.id).await?,
            )
        };
        if sees.sees_ticket(ticket) {
            users.push(user);
        }
    }
    Ok(users)
}

/// Stores a mention notification for each of `users` and appends a `notification` event for
/// each (scope: that user alone), in the note's transaction.
pub async fn record_mentions<E: Exec>(
    tx: &mut E,
    backend: Backend,
    ticket: &Ticket,
    note: &Interaction,
    author: &User,
    users: &[User],
) -> AppResult<()> {
    let n = Notification {
        actor_id: Some(author.id),
        actor_name: Some(author.display_name.clone()),
        excerpt: note.body.chars().take(EXCERPT_CHARS).collect(),
        ..Notification::new("mention", ticket, Some(note.id))
    };
    for user in users {
        send(tx, backend, user.id, &n).await?;
    }
    Ok(())
}

/// Stores a `survey_low` notification (a low satisfaction score; the follow-up ticket and its
/// first note, the comment as excerpt) for each of `users` and sends each a `notification`
/// event, in the caller's transaction.
pub async fn record_survey_low<E: Exec>(
    tx: &mut E,
    backend: Backend,
    follow_up: &Ticket,
    note: &Interaction,
    comment: &str,
    users: &[i64],
) -> AppResult<()> {
    let n = Notification {
        excerpt: comment.chars().take(EXCERPT_CHARS).collect(),
        ..Notification::new("survey_low", follow_up, Some(note.id))
    };
    for user_id in users {
        send(tx, backend, *user_id, &n).await?;
    }
    Ok(())
}

/// One page of a user's notifications, newest first.
pub async fn list(
    db: &Db,
    user_id: i64,
    before_id: Option<i64>,
    unseen_only: bool,
    limit: i64,
) -> AppResult<Vec<Notification>> {
    let mut db = db;
    db.rows(
        "SELECT n.id, n.kind, n.ticket_id, t.subject AS ticket_subject, n.interaction_id, \
         n.actor_id, u.display_name AS actor_name, n.excerpt, n.created_at, n.seen_at, \
         n.data FROM notifications n JOIN tickets t ON t.id = n.ticket_id \
         LEFT JOIN users u ON u.id = n.actor_id \
         WHERE n.user_id = $1 AND n.id < $2 AND ($3 = 0 OR n.seen_at IS NULL) \
         ORDER BY n.id DESC LIMIT $4",
        vec![
            user_id.into(),
            before_id.unwrap_or(i64::MAX).into(),
            i64::from(unseen_only).into(),
            limit.into(),
        ],
    )
    .await
}

/// How many of a user's notifications are unseen.
pub async fn unseen_count(db: &Db, user_id: i64) -> AppResult<i64> {
    let mut db = db;
    Ok(db
        .row::<i64>(
            "SELECT COUNT(*) AS id FROM notifications WHERE user_id = $1 AND seen_at IS NULL",
            vec![user_id.into()],
        )
        .await?
        .unwrap_or(0))
}

/// Marks the user's notifications `ids` (all of them when `None`) seen, and tells the user's
/// other consoles (`notification.seen`, with the unseen count left).
pub async fn mark_seen(db: &Db, user_id: i64, ids: Option<&[i64]>) -> AppResult<i64> {
    let mut tx = db.begin().await?;
    let now = now_ms();
    let changed = match ids {
        None => {
            tx.run(
                "UPDATE notifications SET seen_at = $2 WHERE user_id = $1 AND seen_at IS NULL",
                vec![user_id.into(), now.into()],
            )
            .await?
        }
        Some(ids) => {
            let mut n = 0;
            for id in ids {
                n += tx
                    .run(
                        "UPDATE notifications SET seen_at = $3 \
                         WHERE user_id = $1 AND id = $2 AND seen_at IS NULL",
                        vec![user_id.into(), (*id).into(), now.into()],
                    )
                    .await?;
            }
            n
        }
    };
    let unseen = tx
        .row::<i64>(
            "SELECT COUNT(*) AS id FROM notifications WHERE user_id = $1 AND seen_at IS NULL",
            vec![user_id.into()],
        )
        .await?
        .unwrap_or(0);
    if changed > 0 {
        let scope = Scope {
            user_id: Some(user_id),
            ..Scope::default()
        };
        events::append(
            &mut tx,
            db.backend,
            "notification.seen",
            scope,
            &serde_json::json!({ "ids": ids, "unseen": unseen }),
        )
        .await?;
    }
    events::commit(tx).await?;
    Ok(unseen)
}

/// Stores a `complaint_reminder` notification (its facts in `data`) for each of `users` and
/// sends each a `notification` event, in the caller's transaction.
pub async fn record_complaint_reminder<E: Exec>(
    tx: &mut E,
    backend: Backend,
    ticket: &Ticket,
    data: &serde_json::Value,
    users: &[i64],
) -> AppResult<()> {
    let n = Notification {
        data: data.clone(),
        ..Notification::new("complaint_reminder", ticket, None)
    };
    for user_id in users {
        send(tx, backend, *user_id, &n).await?;
    }
    Ok(())
}

impl Notification {
    /// A notification of `kind` about `ticket` (and one of its interactions), made now; the
    /// caller fills in the rest.
    fn new(kind: &str, ticket: &Ticket, interaction_id: Option<i64>) -> Notification {
        Notification {
            id: 0,
            kind: kind.into(),
            ticket_id: ticket.id,
            ticket_subject: ticket.subject.clone(),
            interaction_id,
            actor_id: None,
            actor_name: None,
            excerpt: String::new(),
            created_at: now_ms(),
            seen_at: None,
            data: serde_json::json!({}),
        }
    }
}

/// Stores `n` for `user_id` and appends its `notification` event for that user alone, in the
/// caller's transaction.
async fn send<E: Exec>(
    tx: &mut E,
    backend: Backend,
    user_id: i64,
    n: &Notification,
) -> AppResult<()> {
    let Some(id) = tx
        .row::<i64>(
            "INSERT INTO notifications (user_id, kind, ticket_id, interaction_id, actor_id, \
             excerpt, created_at, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            vec![
                user_id.into(),
                n.kind.as_str().into(),
                n.ticket_id.into(),
                n.interaction_id.into(),
                n.actor_id.into(),
                n.excerpt.as_str().into(),
                n.created_at.into(),
                n.data.to_string().into(),
            ],
        )
        .await?
    else {
        return Ok(());
    };
    let scope = Scope {
        user_id: Some(user_id),
        ticket_id: Some(n.ticket_id),
        ..Scope::default()
    };
    let n = Notification { id, ..n.clone() };
    events::append(
        tx,
        backend,
        "notification",
        scope,
        &serde_json::json!({ "notification": n }),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::mentioned_logins;

    #[test]
    fn mentions() {
        assert_eq!(
            mentioned_logins("@ann please ask @bob.li, cc @ann."),
            ["ann", "bob.li"]
        );
        assert!(mentioned_logins("mail ann@example.com or @ alone").is_empty());
        assert_eq!(mentioned_logins("（@王芳）请看"), ["王芳"]);
        assert_eq!(mentioned_logins("@@x @y-"), ["y"]);
    }
}
