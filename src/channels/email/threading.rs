//! Threading an inbound email onto a ticket: In-Reply-To and References against the Message-IDs
//! Hotline has seen and sent, then the `[#N]` subject token when the sender belongs to that
//! ticket, otherwise a new ticket. The rule that matched is kept as the thread reason.

use super::mime::ParsedMail;
use super::store;
use crate::db::Db;
use crate::error::AppResult;
use crate::intake::Thread;

/// The ticket number in a subject token `[#N]` (the last one when several appear).
pub fn ticket_token(subject: &str) -> Option<i64> {
    let mut found = None;
    let mut rest = subject;
    while let Some(pos) = rest.find("[#") {
        let tail = &rest[pos + 2..];
        let digits: String = tail.chars().take_while(|c| c.is_ascii_digit()).collect();
        if !digits.is_empty() && tail[digits.len()..].starts_with(']') {
            found = digits.parse().ok();
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

/// The ticket of a Message-ID that Hotline generated, read from the id itself (so replies to
/// acknowledgements thread even though those have no interaction row).
pub fn ticket_of_our_id(id: &str) -> Option<i64> {
    let local = id.strip_prefix("hotline.")?.split('@').next()?;
    let (_, ticket) = local.split_once('.')?;
    ticket.parse().ok()
}

/// Decides where `mail` from `sender` belongs.
pub async fn decide(db: &Db, mail: &ParsedMail, sender: Option<&str>) -> AppResult<Thread> {
    if let Some(t) = by_ids(db, &mail.in_reply_to).await? {
        return Ok(Thread::Ticket {
            id: t,
            reason: "in_reply_to",
        });
    }
    if let Some(t) = by_ids(db, &mail.references).await? {
        return Ok(Thread::Ticket {
            id: t,
            reason: "references",
        });
    }
    if let (Some(n), Some(sender)) = (ticket_token(&mail.subject), sender)
        && store::is_participant(db, n, sender).await?
    {
        return Ok(Thread::Ticket {
            id: n,
            reason: "subject_token",
        });
    }
    Ok(Thread::New)
}

async fn by_ids(db: &Db, ids: &[String]) -> AppResult<Option<i64>> {
    if let Some(t) = store::find_ticket_by_message_ids(db, ids).await? {
        return Ok(Some(t));
    }
    for id in ids.iter().rev() {
        if let Some(t) = ticket_of_our_id(id)
            && crate::tickets::store::find_ticket(&mut &*db, t)
                .await
                .is_ok()
        {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_our_ids() {
        assert_eq!(ticket_token("Re: broken [#42]"), Some(42));
        assert_eq!(ticket_token("[#1] and [#7]"), Some(7));
        assert_eq!(ticket_token("[#x] [#] #5"), None);
        let id = outgoing_message_id(9, 42, "support@example.com");
        assert_eq!(id, "hotline.9.42@example.com");
        assert_eq!(ticket_of_our_id(&id), Some(42));
        assert_eq!(ticket_of_our_id("abc@example.com"), None);
    }
}
