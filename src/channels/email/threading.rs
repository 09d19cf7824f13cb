//! Threading an inbound email onto a ticket: In-Reply-To and References against the Message-IDs
//! Hotline stored (mail it received, replies and acknowledgements it sent), then the `[#N]`
//! subject tokens. A match joins the ticket only when the sender takes part in it; a match from
//! anyone else opens a new ticket linked to the matched one (`reply_from_stranger`), so that
//! nobody can write into another customer's ticket by quoting its ids. The rule that matched is
//! kept as the thread reason.

use super::mime::ParsedMail;
use super::store;
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::intake::Thread;
use crate::tickets::Status;

/// Every ticket number in subject tokens `[#N]`, in order of appearance, without repeats.
pub fn ticket_tokens(subject: &str) -> Vec<i64> {
    let mut found = Vec::new();
    let mut rest = subject;
    while let Some(pos) = rest.find("[#") {
        let tail = &rest[pos + 2..];
        let digits: String = tail.chars().take_while(|c| c.is_ascii_digit()).collect();
        if !digits.is_empty()
            && tail[digits.len()..].starts_with(']')
            && let Ok(n) = digits.parse::<i64>()
            && !found.contains(&n)
        {
            found.push(n);
        }
        rest = tail;
    }
    found
}

/// The Message-ID Hotline gives an outgoing mail: `hotline.{outbox id}.{ticket}@{domain}`.
pub fn outgoing_message_id(outbox_id: i64, ticket_id: i64, from: &str) -> String {
    let domain = from.rsplit_once('@').map(|(_, d)| d).unwrap_or("localhost");
    format!("hotline.{outbox_id}.{ticket_id}@{domain}")
}

/// The outbox row named in a Message-ID of Hotline's form. Only a lookup key: the id is
/// trusted only when that row was sent with exactly this Message-ID (`store`).
pub fn outbox_id_of_our_id(id: &str) -> Option<i64> {
    let local = id.strip_prefix("hotline.")?.split('@').next()?;
    let (outbox, _) = local.split_once('.')?;
    outbox.parse().ok()
}

/// Decides where `mail` from `sender` belongs.
pub async fn decide(db: &Db, mail: &ParsedMail, sender: Option<&str>) -> AppResult<Thread> {
    // Candidates, most reliable first: the mail it answers, the thread it quotes (newest
    // first), then the subject tokens.
    let mut candidates: Vec<(i64, &'static str)> = Vec::new();
    for t in by_ids(db, &mail.in_reply_to).await? {
        candidates.push((t, "in_reply_to"));
    }
    let newest_first: Vec<String> = mail.references.iter().rev().cloned().collect();
    for t in by_ids(db, &newest_first).await? {
        candidates.push((t, "references"));
    }
    for t in ranked_tokens(db, &mail.subject, sender).await? {
        candidates.push((t, "subject_token"));
    }
    let mut first_known = None;
    for (id, reason) in candidates {
        let Some(ticket) = resolve(db, id).await? else {
            continue;
        };
        if let Some(sender) = sender
            && ticket.takes_part(db, sender).await?
        {
            return Ok(Thread::Ticket { id, reason });
        }
        first_known.get_or_insert(ticket.last);
    }
    Ok(match first_known {
        Some(related) => Thread::Related {
            related,
            reason: "reply_from_stranger",
        },
        None => Thread::New,
    })
}

/// The tickets of the Message-IDs among `ids` that Hotline stored, in the order of `ids`.
async fn by_ids(db: &Db, ids: &[String]) -> AppResult<Vec<i64>> {
    let mut tickets = store::tickets_by_message_ids(db, ids).await?;
    for id in ids {
        if let Some(outbox) = outbox_id_of_our_id(id)
            && let Some(t) = store::ticket_of_sent_message(db, outbox, id).await?
            && !tickets.contains(&t)
        {
            tickets.push(t);
        }
    }
    Ok(tickets)
}

/// The subject's tokens, best first: tickets the sender takes part in that are not closed,
/// then those the sender takes part in, then the rest; among equals the newest ticket. (An
/// acknowledgement of an earlier version nested the tags: `[#5] … Re: [#1] …`, and the last
/// one used to win.)
async fn ranked_tokens(db: &Db, subject: &str, sender: Option<&str>) -> AppResult<Vec<i64>> {
    let mut ranked = Vec::new();
    for n in ticket_tokens(subject) {
        let Some(ticket) = resolve(db, n).await? else {
            continue;
        };
        let part = match sender {
            Some(s) => ticket.takes_part(db, s).await?,
            None => false,
        };
        ranked.push(((part, part && ticket.open, ticket.last), n));
    }
    ranked.sort_by_key(|r| std::cmp::Reverse(r.0));
    Ok(ranked.into_iter().map(|(_, n)| n).collect())
}

/// A ticket and where its merges lead.
struct Resolved {
    first: i64,
    /// The ticket that survived the merges (itself when never merged).
    last: i64,
    /// The surviving ticket is not closed.
    open: bool,
}

impl Resolved {
    /// The sender is the customer of, or wrote or was written to in, the ticket or the one it
    /// was merged into.
    async fn takes_part(&self, db: &Db, sender: &str) -> AppResult<bool> {
        Ok(store::is_participant(db, self.first, sender).await?
            || (self.last != self.first && store::is_participant(db, self.last, sender).await?))
    }
}

/// Follows `id`'s merges; `None` when there is no such ticket.
async fn resolve(db: &Db, id: i64) -> AppResult<Option<Resolved>> {
    let mut t = match crate::tickets::store::find_ticket(&mut &*db, id).await {
        Ok(t) => t,
        Err(AppError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    for _ in 0..8 {
        match t.merged_into {
            Some(into) => t = crate::tickets::store::find_ticket(&mut &*db, into).await?,
            None => break,
        }
    }
    Ok(Some(Resolved {
        first: id,
        last: t.id,
        open: t.status != Status::Closed,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_our_ids() {
        assert_eq!(ticket_tokens("Re: broken [#42]"), vec![42]);
        assert_eq!(ticket_tokens("[#1] and [#7] [#1]"), vec![1, 7]);
        assert!(ticket_tokens("[#x] [#] #5 [#99999999999999999999]").is_empty());
        let id = outgoing_message_id(9, 42, "support@example.com");
        assert_eq!(id, "hotline.9.42@example.com");
        assert_eq!(outbox_id_of_our_id(&id), Some(9));
        assert_eq!(outbox_id_of_our_id("abc@example.com"), None);
        assert_eq!(outbox_id_of_our_id("hotline.x.3@example.com"), None);
    }
}
