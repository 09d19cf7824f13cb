//! Voice: the call lifecycle and its rules, whoever carries the audio (a PBX through the generic
//! CTI webhook, or Twilio). Types and rules only; lifecycle steps in calls.rs, SQL in store.rs,
//! wire adapters in cti.rs and twilio.rs, admin and agent HTTP in routes.rs.

pub mod calls;
pub mod cti;
pub mod dispositions;
pub mod offers;
pub mod routes;
pub mod store;
pub mod twilio;

use serde::{Deserialize, Serialize};

/// ringing → queued → offered → talking → ended, or abandoned (hung up unanswered);
/// rejected: a blocked number, refused at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    Ringing,
    Queued,
    Offered,
    Talking,
    /// Hung up; the agent who took it is in after-call work.
    WrapUp,
    Ended,
    Abandoned,
    Rejected,
}

impl CallState {
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Ringing => "ringing",
            CallState::Queued => "queued",
            CallState::Offered => "offered",
            CallState::Talking => "talking",
            CallState::WrapUp => "wrap_up",
            CallState::Ended => "ended",
            CallState::Abandoned => "abandoned",
            CallState::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<CallState> {
        [
            CallState::Ringing,
            CallState::Queued,
            CallState::Offered,
            CallState::Talking,
            CallState::WrapUp,
            CallState::Ended,
            CallState::Abandoned,
            CallState::Rejected,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }

    /// The conversation is over: no PBX or Twilio event changes these any more (a call in
    /// wrap-up only moves on to `ended` when the agent's after-call work ends).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            CallState::WrapUp | CallState::Ended | CallState::Abandoned | CallState::Rejected
        )
    }
}

/// Hangup causes as PBX integrators send them (sipgate.io / Zammad CTI).
pub const CAUSES: &[&str] = &[
    "normalClearing",
    "busy",
    "cancel",
    "noAnswer",
    "congestion",
    "notFound",
    "forwarded",
];

/// An inbound call that nobody answered and that was not forwarded elsewhere must be called
/// back: it becomes a callback work item, never a silent log line.
pub fn is_missed(direction: &str, answered: bool, cause: &str) -> bool {
    direction == "in" && !answered && cause != "forwarded"
}

/// The hangup cause a Twilio final `CallStatus` stands for.
pub fn cause_of_twilio_status(status: &str) -> Option<&'static str> {
    match status {
        "completed" => Some("normalClearing"),
        "busy" => Some("busy"),
        "no-answer" => Some("noAnswer"),
        "failed" => Some("congestion"),
        "canceled" => Some("cancel"),
        _ => None,
    }
}

/// How a call went, as the history shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// Still ringing, waiting or talking.
    InProgress,
    Answered,
    /// Inbound, rang out unanswered (nobody picked up, busy, failed).
    Missed,
    /// Inbound, the caller hung up before anyone answered.
    Abandoned,
    /// Inbound, sent elsewhere unanswered.
    Forwarded,
    /// Outbound, the customer did not answer.
    NoAnswer,
    /// Outbound, the customer's line was busy.
    Busy,
    /// Outbound, the call could not be placed (congestion, unknown number).
    Failed,
    /// A blocked number, refused at once.
    Rejected,
}

/// The outcome of a call from its state, direction, whether it was answered and the cause.
pub fn outcome(
    state: CallState,
    direction: &str,
    answered: bool,
    cause: Option<&str>,
) -> CallOutcome {
    if state == CallState::Rejected {
        return CallOutcome::Rejected;
    }
    if !state.is_final() {
        return CallOutcome::InProgress;
    }
    if answered {
        return CallOutcome::Answered;
    }
    let cause = cause.unwrap_or("normalClearing");
    match (direction, cause) {
        (_, "forwarded") => CallOutcome::Forwarded,
        ("in", "cancel" | "normalClearing") => CallOutcome::Abandoned,
        ("in", _) => CallOutcome::Missed,
        (_, "busy") => CallOutcome::Busy,
        (_, "congestion" | "notFound") => CallOutcome::Failed,
        _ => CallOutcome::NoAnswer,
    }
}

/// The caller id for dialling `number`: the rule with the longest matching prefix.
pub fn pick_caller_id<'a>(rules: &'a [(String, String)], number: &str) -> Option<&'a str> {
    rules
        .iter()
        .filter(|(prefix, _)| number.starts_with(prefix.as_str()))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, caller_id)| caller_id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_roundtrip_and_finality() {
        for s in [
            "ringing",
            "queued",
            "offered",
            "talking",
            "ended",
            "abandoned",
        ] {
            assert_eq!(CallState::parse(s).unwrap().as_str(), s);
        }
        assert!(CallState::Abandoned.is_final());
        assert!(!CallState::Talking.is_final());
    }

    #[test]
    fn missed_calls() {
        assert!(is_missed("in", false, "cancel"));
        assert!(is_missed("in", false, "noAnswer"));
        assert!(!is_missed("in", false, "forwarded"));
        assert!(!is_missed("in", true, "normalClearing"));
        assert!(!is_missed("out", false, "noAnswer"));
    }

    #[test]
    fn outcomes() {
        use CallOutcome::*;
        let o = |state, dir, answered, cause| outcome(state, dir, answered, Some(cause));
        assert_eq!(o(CallState::Ended, "in", true, "normalClearing"), Answered);
        assert_eq!(
            o(CallState::WrapUp, "out", true, "normalClearing"),
            Answered
        );
        assert_eq!(o(CallState::Abandoned, "in", false, "cancel"), Abandoned);
        assert_eq!(o(CallState::Abandoned, "in", false, "noAnswer"), Missed);
        assert_eq!(o(CallState::Abandoned, "in", false, "forwarded"), Forwarded);
        assert_eq!(o(CallState::Abandoned, "out", false, "busy"), Busy);
        assert_eq!(o(CallState::Abandoned, "out", false, "noAnswer"), NoAnswer);
        assert_eq!(o(CallState::Abandoned, "out", false, "notFound"), Failed);
        assert_eq!(o(CallState::Talking, "in", true, ""), InProgress);
        assert_eq!(o(CallState::Rejected, "in", false, "busy"), Rejected);
    }

    #[test]
    fn longest_prefix_wins() {
        let rules = vec![
            ("+86".to_string(), "+861000".to_string()),
            ("+8610".to_string(), "+861010".to_string()),
        ];
        assert_eq!(pick_caller_id(&rules, "+8610123"), Some("+861010"));
        assert_eq!(pick_caller_id(&rules, "+8621123"), Some("+861000"));
        assert_eq!(pick_caller_id(&rules, "+1555"), None);
    }
}
