//! Intake: the one path every inbound message takes, whatever its channel. In one transaction:
//! identify the customer (or create one), thread onto a ticket (or open one), store the
//! interaction idempotently on its external id, append the events. Knows no channel wire format.

use crate::customers::Identity;
use crate::customers::store::{self as customers, NewCustomer};
use crate::db::{Db, Exec, WriteJob};
use crate::error::{AppError, AppResult};
use crate::tickets::store::{self as tickets, NewInteraction, NewTicket, TicketChanges};
use crate::tickets::{Channel, Direction, Interaction, Kind, Priority, Status, SystemText, Ticket};
use serde::Serialize;

/// Where an inbound message belongs, as its channel adapter determined it.
#[derive(Clone, Debug)]
pub enum Thread {
    /// An existing ticket; `reason` records the rule that matched (e.g. "in_reply_to").
    Ticket { id: i64, reason: &'static str },
    /// The customer's newest open ticket on this channel (and queue), else a new one.
    OpenOnChannel,
    /// Always a new ticket.
    New,
    /// A new ticket that names `related` in its first interaction's `meta.related_ticket` (e.g.
    /// a stranger answering another customer's thread: the agent can merge); `reason` is kept
    /// as the thread reason.
    Related { related: i64, reason: &'static str },
}

#[derive(Clone, Debug)]
pub struct Inbound {
    pub channel: Channel,
    /// The sender's identity, normalized; `None` for anonymous messages.
    pub identity: Option<Identity>,
    /// Name to give a customer created from this message.
    pub display_name: Option<String>,
    /// More identities to attach to a newly created customer (e.g. web form contact).
    pub extra_identities: Vec<Identity>,
    pub from_addr: String,
    pub to_addr: String,
    pub subject: String,
    pub body: String,
    pub external_id: Option<String>,
    pub meta: serde_json::Value,
    pub kind: Kind,
    pub priority: Priority,
    pub queue_id: Option<i64>,
    pub thread: Thread,
    /// The body as data when the system wrote it (a call's "Incoming call from …"): kept in the
    /// interaction's `meta.text`, and as a new ticket's `subject_data`.
    pub text: Option<SystemText>,
}

impl Inbound {
    /// An inbound message with the common defaults (inquiry, normal priority, thread on channel).
    pub fn new(channel: Channel, identity: Option<Identity>, body: impl Into<String>) -> Self {
        Inbound {
            channel,
            from_addr: identity
                .as_ref()
                .map(|i| i.value.clone())
                .unwrap_or_default(),
            identity,
            display_name: None,
            extra_identities: Vec::new(),
            to_addr: String::new(),
            subject: String::new(),
            body: body.into(),
            external_id: None,
            meta: serde_json::json!({}),
            kind: Kind::Inquiry,
            priority: Priority::Normal,
            queue_id: None,
            thread: Thread::OpenOnChannel,
            text: None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub ticket: Ticket,
    pub interaction: Interaction,
    pub customer_id: Option<i64>,
    pub customer_created: bool,
    pub ticket_created: bool,
    /// The same message was received before; nothing was changed.
    pub duplicate: bool,
    pub thread_reason: &'static str,
}

/// Stores one inbound message. Safe to call again with the same external id.
///
/// On SQLite it joins the group-commit writer's next transaction (`db/writer.rs`): one commit
/// for all the messages that arrive meanwhile. On PostgreSQL it is a transaction of its own.
pub async fn receive(db: &Db, msg: Inbound) -> AppResult<Outcome> {
    let channel = msg.channel;
    let outcome = db.write(Receive(msg)).await?;
    committed(&outcome, channel);
    Ok(outcome)
}

struct Receive(Inbound);

impl WriteJob for Receive {
    type Out = Outcome;

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<Outcome> {
        receive_in(tx, db, &self.0).await
    }
}

/// After the commit of a received message: wake the events hub and count it.
pub fn committed(outcome: &Outcome, channel: Channel) {
    if !outcome.duplicate {
        crate::realtime::events::COMMITTED.notify_waiters();
        metrics::counter!("hotline_intake_total", "channel" => channel.as_str()).increment(1);
    }
}

/// `receive` inside the caller's transaction, for a channel that writes more in the same
/// commit (a call's row and screen pops). The caller commits; a `Conflict` means a concurrent
/// first message won a unique key, and the whole transaction should run again.
pub async fn receive_in<E: Exec>(tx: &mut E, db: &Db, msg: &Inbound) -> AppResult<Outcome> {
    if let Some(ext) = &msg.external_id
        && let Some(existing) = tickets::find_interaction_by_external(tx, msg.channel, ext).await?
    {
        let ticket = tickets::find_ticket(tx, existing.ticket_id).await?;
        return Ok(Outcome {
            customer_id: existing.customer_id,
            ticket,
            interaction: existing,
            customer_created: false,
            ticket_created: false,
            duplicate: true,
            thread_reason: "duplicate",
        });
    }

    let mut customer_created = false;
    let customer_id = match &msg.identity {
        Some(ident) => match customers::find_by_identity(tx, ident).await? {
            Some(id) => Some(id),
            None => {
                let mut identities = vec![ident.clone()];
                for extra in &msg.extra_identities {
                    if extra != ident && customers::find_by_identity(tx, extra).await?.is_none() {
                        identities.push(extra.clone());
                    }
                }
                let new = NewCustomer {
                    display_name: msg
                        .display_name
                        .clone()
                        .filter(|n| !n.trim().is_empty())
                        .unwrap_or_else(|| ident.value.clone()),
                    tier: crate::customers::Tier::Regular,
                    language: None,
                    title: None,
                    notes: String::new(),
                    tags: Vec::new(),
                    owner_id: None,
                    identities,
                };
                customer_created = true;
                Some(customers::insert_customer(tx, db.backend, &new).await?)
            }
        },
        None => None,
    };

    let existing = match (&msg.thread, customer_id) {
        (Thread::Ticket { id, reason }, _) => {
            let mut t = tickets::find_ticket(tx, *id).await?;
            // Follow merges to the surviving ticket.
            for _ in 0..8 {
                match t.merged_into {
                    Some(into) => t = tickets::find_ticket(tx, into).await?,
                    None => break,
                }
            }
            (t.status != Status::Closed).then_some((t, *reason))
        }
        (Thread::OpenOnChannel, Some(cid)) => {
            tickets::find_open_ticket_on(tx, cid, msg.channel, msg.queue_id)
                .await?
                .map(|t| (t, "open_ticket_on_channel"))
        }
        _ => None,
    };

    let (ticket, ticket_created, thread_reason) = match existing {
        Some((t, reason)) => {
            let t = if matches!(t.status, Status::Pending | Status::Resolved) {
                // The customer wrote again: the ticket needs attention again.
                let change = TicketChanges {
                    status: Some(Status::Open),
                    ..TicketChanges::default()
                };
                tickets::update_ticket(tx, db, t.id, &change, None).await?.1
            } else {
                t
            };
            (t, false, reason)
        }
        None => {
            let subject = if msg.subject.trim().is_empty() {
                subject_from_body(&msg.body, msg.channel)
            } else {
                msg.subject.clone()
            };
            let new = NewTicket {
                subject,
                priority: msg.priority,
                kind: msg.kind,
                channel: msg.channel,
                queue_id: msg.queue_id,
                assignee_id: None,
                customer_id,
                tags: Vec::new(),
                subject_data: msg.text.clone(),
            };
            let reason = match msg.thread {
                Thread::Related { reason, .. } => reason,
                _ => "new_ticket",
            };
            (tickets::insert_ticket(tx, db, &new).await?, true, reason)
        }
    };

    let mut meta = msg.meta.clone();
    if let Some(m) = meta.as_object_mut() {
        m.insert("thread_reason".into(), thread_reason.into());
        if let (Thread::Related { related, .. }, true) = (&msg.thread, ticket_created) {
            m.insert("related_ticket".into(), (*related).into());
        }
        if let Some(text) = &msg.text {
            m.insert("text".into(), serde_json::json!(text));
        }
    }
    let (interaction, stored) = tickets::insert_interaction(
        tx,
        db,
        &NewInteraction {
            ticket_id: ticket.id,
            customer_id: ticket.customer_id.or(customer_id),
            channel: msg.channel,
            direction: Direction::In,
            from_addr: msg.from_addr.clone(),
            to_addr: msg.to_addr.clone(),
            subject: msg.subject.clone(),
            body: msg.body.clone(),
            external_id: msg.external_id.clone(),
            author_id: None,
            meta,
        },
    )
    .await?;
    if !stored {
        // A concurrent delivery of the same message won its key after this one looked
        // (PostgreSQL): nothing of this run may stay (it may have opened a ticket). Run again,
        // and find it stored.
        return Err(AppError::Conflict(
            "the message was stored meanwhile".into(),
        ));
    }
    Ok(Outcome {
        ticket,
        interaction,
        customer_id,
        customer_created,
        ticket_created,
        duplicate: false,
        thread_reason,
    })
}

/// A subject for messages that have none (SMS, calls): the first words of the body.
pub fn subject_from_body(body: &str, channel: Channel) -> String {
    let line = body
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    if line.is_empty() {
        return format!("{} from customer", channel.as_str());
    }
    let mut s: String = line.chars().take(60).collect();
    if line.chars().count() > 60 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_from_bodies() {
        assert_eq!(
            subject_from_body("\n  hello there\nmore", Channel::Sms),
            "hello there"
        );
        assert_eq!(subject_from_body("", Channel::Voice), "voice from customer");
        let long = "好".repeat(80);
        assert_eq!(subject_from_body(&long, Channel::Sms).chars().count(), 61);
    }
}
