//! Tickets and interactions: statuses, priorities, kinds, channels, and the rules for changing them.
//! Types and rules only; SQL in store.rs, HTTP in routes.rs.

pub mod attachments;
pub mod html;
pub mod routes;
pub mod search;
pub mod store;
pub mod views;

use serde::{Deserialize, Serialize};

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

text_enum!(
    /// new → open (someone works on it) → pending (waiting for the customer) → resolved → closed.
    Status { New = "new", Open = "open", Pending = "pending", Resolved = "resolved", Closed = "closed" }
);

impl Status {
    /// Open tickets are the ones the 360 view and routing care about.
    pub fn is_open(self) -> bool {
        matches!(self, Status::New | Status::Open | Status::Pending)
    }
}

text_enum!(
    /// Stored as an integer (0..=3) so that queues sort by it.
    Priority { Low = "low", Normal = "normal", High = "high", Urgent = "urgent" }
);

impl Priority {
    pub fn rank(self) -> i64 {
        self as i64
    }
    pub fn from_rank(n: i64) -> Priority {
        Priority::ALL[n.clamp(0, 3) as usize]
    }
}

text_enum!(
    /// What the customer wants; complaints are tracked until the customer has heard back.
    Kind { Inquiry = "inquiry", Complaint = "complaint", Request = "request", Incident = "incident", Callback = "callback" }
);

text_enum!(
    Channel { Email = "email", Sms = "sms", Voice = "voice", Web = "web", Note = "note" }
);

text_enum!(
    Direction { In = "in", Out = "out", Internal = "internal" }
);

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Ticket {
    /// The ticket number people quote (`#1042`), also the `[#N]` token in mail subjects.
    pub id: i64,
    pub subject: String,
    pub status: Status,
    pub priority: Priority,
    pub kind: Kind,
    pub channel: Channel,
    pub queue_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub tags: Vec<String>,
    pub merged_into: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub first_response_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// The subject as data when the system wrote it (`{"kind","params"}`), so that each reader
    /// sees it in their language; `subject` keeps an English rendering for search.
    pub subject_data: Option<SystemText>,
    /// Incremented by every change of the ticket; the `ETag` of `GET /api/tickets/{id}`, and
    /// what a `PATCH` with `If-Match` must name.
    pub version: i64,
}

/// Which tickets a user may open (`GET /api/tickets/{id}`; others answer 404): supervisors and
/// admins every ticket; agents the tickets of their queues, those assigned to them and
/// unqueued ones. The 360 view uses the same rule to withhold what the reader may not open.
#[derive(Clone, Debug)]
pub struct Visibility {
    user_id: Option<i64>,
    all: bool,
    queues: Vec<i64>,
}

impl Visibility {
    /// Sees every ticket (supervisors, admins; the system itself).
    pub fn all() -> Visibility {
        Visibility {
            user_id: None,
            all: true,
            queues: Vec::new(),
        }
    }

    /// An agent who is a member of `queues`.
    pub fn agent(user_id: i64, queues: Vec<i64>) -> Visibility {
        Visibility {
            user_id: Some(user_id),
            all: false,
            queues,
        }
    }

    pub fn sees(&self, queue_id: Option<i64>, assignee_id: Option<i64>) -> bool {
        if self.all || (assignee_id.is_some() && assignee_id == self.user_id) {
            return true;
        }
        match queue_id {
            None => true,
            Some(q) => self.queues.contains(&q),
        }
    }

    pub fn sees_ticket(&self, t: &Ticket) -> bool {
        self.sees(t.queue_id, t.assignee_id)
    }
}

/// Text the system generates (a call's subject, a missed-call note), kept as data: a `kind`
/// (`call.incoming`, `call.missed`, …) and its parameters. Consoles render it from their
/// message catalogs (`system.<kind>`); the stored English text is the fallback.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, schemars::JsonSchema)]
pub struct SystemText {
    pub kind: String,
    pub params: serde_json::Value,
}

impl SystemText {
    pub fn new(kind: &str, params: serde_json::Value) -> SystemText {
        SystemText {
            kind: kind.into(),
            params,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "null".into())
    }
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Interaction {
    pub id: i64,
    pub ticket_id: i64,
    pub customer_id: Option<i64>,
    pub channel: Channel,
    pub direction: Direction,
    pub from_addr: String,
    pub to_addr: String,
    pub subject: String,
    pub body: String,
    pub external_id: Option<String>,
    pub author_id: Option<i64>,
    /// Channel details: call durations and cause, threading reason, delivery state, HTML part.
    pub meta: serde_json::Value,
    pub created_at: i64,
}

text_enum!(
    /// Where a ticket stands against its SLA: `ok`, `warning` (past the target's warning share),
    /// `breached` (past the due time), `met` (every clock it has is met: replied and resolved).
    SlaState { Ok = "ok", Warning = "warning", Breached = "breached", Met = "met" }
);

text_enum!(
    /// An SLA clock: until the first reply, then until resolution.
    SlaClock { FirstResponse = "first_response", Resolution = "resolution" }
);

/// A ticket's SLA in the list and the ticket view: the due times of its latest work item (fixed
/// when the work entered its queue, counted in the queue's business hours, see
/// `routing::sla`), the clock that runs, when it warns and how much time is left.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct TicketSla {
    pub first_response_due_at: Option<i64>,
    pub resolution_due_at: Option<i64>,
    /// The running clock (the earliest due not yet met); none when all are met.
    pub clock: Option<SlaClock>,
    pub due_at: Option<i64>,
    /// When the running clock turns to `warning` (the target's `warn_percent`).
    pub warning_at: Option<i64>,
    /// `due_at` minus the server's `now` (negative once breached).
    pub time_left_ms: Option<i64>,
    pub state: SlaState,
    /// The server's time of this answer, so that a console with a wrong clock counts right.
    pub now: i64,
}

/// The SLA of work enqueued at `enqueued_at` with these due times, at `now`. None when the
/// work has no clocks (no target applied).
pub fn sla_status(
    now: i64,
    enqueued_at: i64,
    (fr_due, fr_met): (Option<i64>, bool),
    (res_due, res_met): (Option<i64>, bool),
    warn_percent: i64,
) -> Option<TicketSla> {
    if fr_due.is_none() && res_due.is_none() {
        return None;
    }
    let running = [
        (SlaClock::FirstResponse, fr_due, fr_met),
        (SlaClock::Resolution, res_due, res_met),
    ]
    .into_iter()
    .filter_map(|(c, due, met)| due.filter(|_| !met).map(|d| (c, d)))
    .min_by_key(|(_, d)| *d);
    let (clock, due, warning_at, state) = match running {
        None => (None, None, None, SlaState::Met),
        Some((c, due)) => {
            // The same share the leader's clock check warns at.
            let warn_at = enqueued_at + (due - enqueued_at) * warn_percent / 100;
            let state = if now >= due {
                SlaState::Breached
            } else if now >= warn_at {
                SlaState::Warning
            } else {
                SlaState::Ok
            };
            (Some(c), Some(due), Some(warn_at), state)
        }
    };
    Some(TicketSla {
        first_response_due_at: fr_due,
        resolution_due_at: res_due,
        clock,
        due_at: due,
        warning_at,
        time_left_ms: due.map(|d| d - now),
        state,
        now,
    })
}

/// Timestamps a status change sets (resolved_at, closed_at; reopening clears them).
pub fn status_timestamps(
    new: Status,
    now: i64,
    resolved_at: Option<i64>,
    closed_at: Option<i64>,
) -> (Option<i64>, Option<i64>) {
    match new {
        Status::Resolved => (resolved_at.or(Some(now)), None),
        Status::Closed => (resolved_at.or(Some(now)), closed_at.or(Some(now))),
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_roundtrip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(*s));
        }
        assert_eq!(Priority::from_rank(Priority::High.rank()), Priority::High);
        assert_eq!(Priority::from_rank(99), Priority::Urgent);
        assert_eq!(Kind::parse("complaint"), Some(Kind::Complaint));
        assert_eq!(Channel::parse("fax"), None);
    }

    #[test]
    fn visibility_rule() {
        let agent = Visibility::agent(7, vec![1, 2]);
        assert!(agent.sees(Some(1), None));
        assert!(!agent.sees(Some(3), None));
        assert!(agent.sees(Some(3), Some(7)), "assigned to them");
        assert!(!agent.sees(Some(3), Some(8)));
        assert!(agent.sees(None, None), "unqueued");
        assert!(Visibility::all().sees(Some(3), Some(8)));
    }

    #[test]
    fn sla_runs_the_earliest_clock_not_met() {
        let s = sla_status(50, 0, (Some(100), false), (Some(1000), false), 80).unwrap();
        assert_eq!(
            (s.clock, s.due_at, s.warning_at, s.state, s.time_left_ms),
            (
                Some(SlaClock::FirstResponse),
                Some(100),
                Some(80),
                SlaState::Ok,
                Some(50)
            )
        );
        assert_eq!(
            sla_status(85, 0, (Some(100), false), (Some(1000), false), 80)
                .unwrap()
                .state,
            SlaState::Warning
        );
        let s = sla_status(150, 0, (Some(100), true), (Some(1000), false), 80).unwrap();
        assert_eq!(
            (s.clock, s.state),
            (Some(SlaClock::Resolution), SlaState::Ok)
        );
        let s = sla_status(1500, 0, (Some(100), true), (Some(1000), false), 80).unwrap();
        assert_eq!((s.state, s.time_left_ms), (SlaState::Breached, Some(-500)));
        let s = sla_status(1500, 0, (Some(100), true), (Some(1000), true), 80).unwrap();
        assert_eq!((s.clock, s.state), (None, SlaState::Met));
        assert!(sla_status(1, 0, (None, false), (None, false), 80).is_none());
    }

    #[test]
    fn reopening_clears_resolution() {
        assert_eq!(
            status_timestamps(Status::Resolved, 5, None, None),
            (Some(5), None)
        );
        assert_eq!(
            status_timestamps(Status::Closed, 9, Some(5), None),
            (Some(5), Some(9))
        );
        assert_eq!(
            status_timestamps(Status::Open, 9, Some(5), Some(9)),
            (None, None)
        );
    }
}
