//! Outgoing webhooks: admins register endpoints (`/api/webhooks`) for chosen event types; the
//! routing leader follows the events log and turns each matching event into one delivery row
//! per endpoint (unique, so a second follower or a restart adds nothing), then sends the due
//! rows: a JSON POST signed `X-Hotline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>" with the endpoint's secret>`. A failed attempt (no answer, not 2xx) is retried
//! after `HOTLINE_WEBHOOK_RETRY_MS`, doubling, at most an hour, until
//! `HOTLINE_WEBHOOK_MAX_ATTEMPTS`; the schedule lives in the row, so it survives restarts. A
//! sender claims a row with a lease before sending (a node that lost leadership mid-pass and the
//! new leader never both send it).
//!
//! The event types are those the events log really has, some derived from its rows:
//! `ticket.created`, `ticket.updated`, `ticket.resolved` (an update that resolved it),
//! `complaint.created` / `complaint.updated` / `complaint.transitioned` (the complaint's own
//! events: filed, its fields changed, a move of its status), `survey.answered`, `call.ended` (once per call, when it is over: hung up,
//! abandoned or rejected), `customer.tier_changed`.
//!
//! Rules here; SQL in store.rs; HTTP in routes.rs.

pub mod routes;
pub mod store;

use crate::clock::Clock;
use crate::db::Db;
use crate::error::{AppError, AppResult};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use std::time::Duration;

/// Every event type an endpoint may choose (`complaint.*` chooses the three complaint types).
pub const EVENT_TYPES: [&str; 9] = [
    "ticket.created",
    "ticket.updated",
    "ticket.resolved",
    "complaint.created",
    "complaint.updated",
    "complaint.transitioned",
    "survey.answered",
    "call.ended",
    "customer.tier_changed",
];

/// Events read per pass of the follower.
const FOLLOW_BATCH: i64 = 500;
/// Deliveries claimed per pass of the sender.
const SEND_BATCH: i64 = 20;
/// One attempt's time limit (connect and answer).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// A claim on a delivery lasts this long (longer than an attempt).
const LEASE_MS: i64 = 60_000;
const MAX_DELAY_MS: i64 = 3_600_000;
/// The `realtime_marks` row: the events seq the follower has read up to.
pub const MARK: &str = "webhooks_followed_seq";

/// An endpoint URL: http or https with a host; anything else is refused.
pub fn check_url(raw: &str) -> AppResult<String> {
    let bad = |why: &str| AppError::validation("url", format!("url {why}"));
    let u = url::Url::parse(raw.trim()).map_err(|_| bad("is not a URL"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(bad("must be http or https"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if raw.len() > 2000 {
        return Err(bad("is longer than 2000 characters"));
    }
    Ok(u.to_string())
}

/// The chosen event types: known ones (or `complaint.*`), at least one, each once.
pub fn check_types(types: &[String]) -> AppResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for t in types {
        let t = t.trim();
        if t != "complaint.*" && !EVENT_TYPES.contains(&t) {
            return Err(AppError::validation(
                "event_types",
                format!("unknown event type {t}; one of {}", EVENT_TYPES.join(", ")),
            ));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    if out.is_empty() {
        return Err(AppError::validation(
            "event_types",
            "choose at least one event type",
        ));
    }
    Ok(out)
}

/// Does an endpoint that chose `types` want `event_type`?
pub fn wants(types: &[String], event_type: &str) -> bool {
    types
        .iter()
        .any(|t| t == event_type || (t == "complaint.*" && event_type.starts_with("complaint.")))
}

/// The webhook events one events-log row stands for: (type, key of its delivery, data).
pub fn derive(seq: i64, kind: &str, payload: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    let key = |t: &str| format!("{seq}:{t}");
    match kind {
        "ticket.created" | "ticket.updated" => {
            let ticket = &payload["ticket"];
            out.push((kind.to_string(), key(kind), payload.clone()));
            let resolved = matches!(ticket["status"].as_str(), Some("resolved" | "closed"))
                && ticket["resolved_at"].is_i64()
                && ticket["resolved_at"] == ticket["updated_at"];
            if kind == "ticket.updated" && resolved {
                // One per resolution (a reopened ticket resolved again is a new one).
                let once = format!(
                    "resolved:{}:{}",
                    ticket["id"].as_i64().unwrap_or_default(),
                    ticket["resolved_at"].as_i64().unwrap_or_default()
                );
                out.push((
                    "ticket.resolved".into(),
                    format!("ticket.{once}"),
                    payload.clone(),
                ));
            }
        }
        "call.updated" => {
            let over = matches!(
                payload["state"].as_str(),
                Some("wrap_up" | "ended" | "abandoned" | "rejected")
            );
            if over {
                let id = payload["id"].as_i64().unwrap_or_default();
                out.push((
                    "call.ended".into(),
                    format!("call.ended:{id}"),
                    payload.clone(),
                ));
            }
        }
        "survey.answered"
        | "customer.tier_changed"
        | "complaint.created"
        | "complaint.updated"
        | "complaint.transitioned" => {
            out.push((kind.to_string(), key(kind), payload.clone()));
        }
        _ => {}
    }
    out
}

/// The body of a delivery.
pub fn body(seq: i64, event_type: &str, at_ms: i64, data: &Value) -> String {
    json!({
        "id": format!("evt_{seq}"),
        "type": event_type,
        "occurred_at": at_ms,
        "data": data,
    })
    .to_string()
}

/// `X-Hotline-Signature` of `body` sent at `t` (unix seconds).
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The wait before attempt `attempts + 1` after `attempts` failed ones.
pub fn backoff(retry_ms: u64, attempts: i64) -> i64 {
    let shift = (attempts - 1).clamp(0, 30) as u32;
    (retry_ms as i64)
        .saturating_mul(1i64 << shift)
        .min(MAX_DELAY_MS)
}

/// New random secret (hex) for an endpoint that was given none.
pub fn new_secret() -> String {
    hex::encode(rand::random::<[u8; 24]>())
}

/// What the sender needs.
#[derive(Clone)]
pub struct Sender {
    pub db: Db,
    pub clock: Clock,
    pub http: reqwest::Client,
    pub max_attempts: u32,
    pub retry_ms: u64,
}

impl Sender {
    pub fn new(db: Db, clock: Clock, config: &crate::config::Config) -> Sender {
        let http = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Hotline-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Sender {
            db,
            clock,
            http,
            max_attempts: config.webhook_max_attempts.max(1),
            retry_ms: config.webhook_retry_ms.max(1),
        }
    }
}

/// Runs while this node leads (the leader spawns it and aborts it when leadership ends): follows
/// the events log into deliveries, sends what is due; woken by commits, else every half second.
pub async fn run(sender: Sender) {
    loop {
        let committed = crate::realtime::events::COMMITTED.notified();
        tokio::pin!(committed);
        committed.as_mut().enable();
        if let Err(e) = pass(&sender).await {
            tracing::warn!(error = %e, "webhooks pass failed");
        }
        tokio::select! {
            _ = &mut committed => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One pass: follow the events log, then send due deliveries.
pub async fn pass(s: &Sender) -> AppResult<usize> {
    while store::follow(&s.db, FOLLOW_BATCH).await? == FOLLOW_BATCH as usize {}
    send_due(s).await
}

/// Claims and sends the due deliveries; the number sent successfully.
pub async fn send_due(s: &Sender) -> AppResult<usize> {
    let now = s.clock.now_ms();
    let due = store::claim_due(&s.db, now, now + LEASE_MS, SEND_BATCH).await?;
    let mut ok = 0;
    let sends = due.into_iter().map(|d| async move {
        let outcome = attempt(s, &d).await;
        (d, outcome)
    });
    for (d, (code, error)) in futures_util::future::join_all(sends).await {
        let delivered = code.is_some_and(|c| (200..300).contains(&c));
        let attempts = d.attempts + 1;
        let next = if delivered || attempts >= s.max_attempts as i64 {
            None
        } else {
            Some(s.clock.now_ms() + backoff(s.retry_ms, attempts))
        };
        let done = store::Attempt {
            id: d.id,
            attempts,
            delivered,
            code,
            error: &error,
            next,
            now: s.clock.now_ms(),
        };
        store::record_attempt(&s.db, &done).await?;
        let outcome = if delivered {
            ok += 1;
            "delivered"
        } else if next.is_some() {
            "retry"
        } else {
            "failed"
        };
        metrics::counter!("hotline_webhook_attempts_total", "outcome" => outcome).increment(1);
    }
    Ok(ok)
}

/// One POST; the answer's status (None without one) and what went wrong.
async fn attempt(s: &Sender, d: &store::Due) -> (Option<i64>, String) {
    // The receiver compares the timestamp with its own clock: the real time, not the jobs'.
    let t = crate::db::now_ms() / 1000;
    let sent = s
        .http
        .post(&d.url)
        .header("content-type", "application/json")
        .header("x-hotline-event", &d.event_type)
        .header("x-hotline-delivery", d.id.to_string())
        .header("x-hotline-signature", signature(&d.secret, t, &d.body))
        .body(d.body.clone())
        .send()
        .await;
    match sent {
        Ok(r) => {
            let code = r.status().as_u16() as i64;
            let error = if r.status().is_success() {
                String::new()
            } else {
                format!("HTTP {code}")
            };
            (Some(code), error)
        }
        Err(e) => (None, e.without_url().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_types() {
        assert!(check_url("https://hooks.example.cn/in").is_ok());
        assert!(check_url("http://127.0.0.1:9/x").is_ok());
        for bad in [
            "ftp://x.cn/",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "nope",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_types(&["ticket.deleted".into()]).is_err());
        assert!(check_types(&[]).is_err());
        let t = check_types(&[
            "complaint.*".into(),
            "call.ended".into(),
            "call.ended".into(),
        ])
        .unwrap();
        assert_eq!(t.len(), 2);
        assert!(wants(&t, "complaint.transitioned"));
        assert!(!wants(&t, "ticket.resolved"));
    }

    #[test]
    fn derived_types() {
        let resolved = json!({"ticket": {"id": 7, "kind": "complaint", "status": "resolved",
            "resolved_at": 5, "updated_at": 5}});
        let types: Vec<String> = derive(3, "ticket.updated", &resolved)
            .into_iter()
            .map(|d| d.0)
            .collect();
        assert_eq!(types, ["ticket.updated", "ticket.resolved"]);
        let moved = json!({"ticket_id": 7, "from": "received", "to": "acknowledged"});
        assert_eq!(
            derive(8, "complaint.transitioned", &moved)[0].0,
            "complaint.transitioned"
        );
        let later = json!({"ticket": {"id": 7, "kind": "inquiry", "status": "closed",
            "resolved_at": 5, "updated_at": 9}});
        assert_eq!(derive(4, "ticket.updated", &later).len(), 1);
        let call = json!({"id": 2, "state": "ended"});
        assert_eq!(derive(5, "call.updated", &call)[0].1, "call.ended:2");
        assert!(derive(6, "call.updated", &json!({"id": 2, "state": "talking"})).is_empty());
        assert!(derive(7, "offer.created", &json!({})).is_empty());
    }

    #[test]
    fn signature_and_backoff() {
        // Known answer: HMAC-SHA256("secret", "1700000000.{}") (Python's hmac module).
        assert_eq!(
            signature("secret", 1_700_000_000, "{}"),
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
        assert_eq!(backoff(1000, 1), 1000);
        assert_eq!(backoff(1000, 3), 4000);
        assert_eq!(backoff(1000, 40), MAX_DELAY_MS);
    }
}
