//! The outbox claim with a time lease (email and SMS share it, `channels::outbox`): two nodes
//! on one PostgreSQL send each email exactly once through a real SMTP relay, a node that died
//! mid-send has its messages sent once its lease ran out, a node starting up leaves the
//! messages another node is sending alone, and a sender that lost its claim records nothing.

use crate::email_outbound::{free_port, header, start_relay, wait_messages};
use crate::realtime::ticket;
use crate::support::TestApp;
use hotline::channels::outbox::{self, Outcome};
use hotline::config::{Config, Secret};
use hotline::tickets::Channel;
use serde_json::json;
use sqlx::Row;
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

fn on_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"))
}

fn relayed(dir: &Path) -> Vec<Vec<u8>> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .map(|p| std::fs::read(p).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// The outbox id in each relayed message's Message-ID (`hotline.<outbox>.<ticket>@…`).
fn outbox_ids(dir: &Path) -> Vec<i64> {
    relayed(dir)
        .iter()
        .map(|m| {
            let id = header(m, "Message-ID").expect("Message-ID");
            id.trim_matches(['<', '>'])
                .strip_prefix("hotline.")
                .and_then(|r| r.split('.').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("not one of ours: {id}"))
        })
        .collect()
}

/// Asserts every id in `want` was relayed exactly once, and nothing else.
fn assert_once(dir: &Path, want: &[i64]) {
    let mut got = outbox_ids(dir);
    got.sort_unstable();
    let mut want = want.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "each message relayed exactly once");
}

async fn status_of(app: &TestApp, id: i64) -> (String, Option<String>) {
    let r = sqlx::query("SELECT status, claimed_by FROM outbox WHERE id = $1")
        .bind(id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    (
        r.try_get("status").unwrap(),
        r.try_get("claimed_by").unwrap(),
    )
}

/// An email row as a claim by node `node` would leave it: 'sending', leased until `lease_until`.
async fn claimed_row(app: &TestApp, ticket: i64, node: &str, lease_until: i64, n: usize) -> i64 {
    let payload = json!({"subject": format!("claimed {n}"), "body": "sent once"}).to_string();
    let now = hotline::db::now_ms();
    sqlx::query(
        "INSERT INTO outbox (channel, ticket_id, recipient, payload, status, attempts, \
         next_attempt_at, created_at, lease_until, claimed_by) \
         VALUES ('email', $1, 'carol@example.com', $2, 'sending', 1, $3, $3, $4, $5) RETURNING id",
    )
    .bind(ticket)
    .bind(payload)
    .bind(now)
    .bind(lease_until)
    .bind(node)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap()
    .try_get("id")
    .unwrap()
}

async fn wait_relayed(dir: &Path, n: usize, within: Duration) {
    let end = Instant::now() + within;
    while relayed(dir).len() < n {
        assert!(
            Instant::now() < end,
            "only {} of {n} relayed",
            relayed(dir).len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Anything sent twice would arrive meanwhile.
    tokio::time::sleep(Duration::from_millis(700)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_send_each_email_once_and_a_dead_nodes_claims_expire() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let relay = start_relay(port, tmp.path()).await;
    let lease_secs = 2;
    let setup = move |c: &mut Config| {
        c.smtp_relay = Secret(format!("smtp://127.0.0.1:{port}"));
        c.outbox_retry_ms = 100;
        c.outbox_lease_secs = lease_secs;
    };
    let a = TestApp::spawn_with(setup).await;
    let b = if on_postgres() {
        Some(a.spawn_node(setup).await)
    } else {
        eprintln!("one node on SQLite: the two-node part needs PostgreSQL");
        None
    };
    let nodes: Vec<&TestApp> = std::iter::once(&a).chain(b.as_ref()).collect();
    let t = ticket(&a, &a.admin_token, "many replies", None).await;

    // N replies through both nodes at once: each relayed exactly once.
    let n = 40;
    let replies = (0..n).map(|i| {
        let node = nodes[i % nodes.len()];
        async move {
            let (s, r) = node
                .post(
                    &format!("/api/tickets/{t}/replies"),
                    &node.admin_token,
                    json!({"body": format!("reply {i}"), "channel": "email", "to": "carol@example.com"}),
                )
                .await;
            assert_eq!(s.as_u16(), 201, "{r}");
        }
    });
    futures_util::future::join_all(replies).await;
    wait_messages(&relay.dir, n).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let rows = sqlx::query("SELECT id, status, claimed_by FROM outbox WHERE channel = 'email'")
        .fetch_all(&a.state.db.pool)
        .await
        .unwrap();
    let ids: Vec<i64> = rows.iter().map(|r| r.try_get("id").unwrap()).collect();
    assert_eq!(ids.len(), n);
    assert!(
        rows.iter()
            .all(|r| r.try_get::<String, _>("status").unwrap() == "sent")
    );
    assert_once(&relay.dir, &ids);
    let senders: HashSet<String> = rows
        .iter()
        .map(|r| r.try_get::<String, _>("claimed_by").unwrap())
        .collect();
    eprintln!("{n} emails sent once each by {} node(s)", senders.len());

    // A node died mid-send: its claims are left alone until the lease runs out, then sent once.
    let lease_until = hotline::db::now_ms() + lease_secs as i64 * 1000;
    let mut dead = Vec::new();
    for i in 0..3 {
        dead.push(claimed_row(&a, t, "dead-node", lease_until, i).await);
    }
    let claimed_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for id in &dead {
        assert_eq!(
            status_of(&a, *id).await,
            ("sending".into(), Some("dead-node".into())),
            "a claim is respected while its lease lasts"
        );
    }
    wait_relayed(&relay.dir, n + 3, Duration::from_secs(lease_secs + 10)).await;
    eprintln!(
        "a dead node's claims were sent {:?} after the claim",
        claimed_at.elapsed()
    );
    assert!(claimed_at.elapsed() >= Duration::from_secs(lease_secs));
    let mut all = ids.clone();
    all.extend(&dead);
    assert_once(&relay.dir, &all);
    for id in &dead {
        assert_eq!(status_of(&a, *id).await.0, "sent");
    }

    // A node starting up leaves the rows another node is sending alone (it used to reset every
    // 'sending' row of the database and send them again).
    if on_postgres() {
        let busy = claimed_row(&a, t, "busy-node", hotline::db::now_ms() + 60_000, 9).await;
        let c = a.spawn_node(setup).await;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(
            status_of(&c, busy).await,
            ("sending".into(), Some("busy-node".into())),
            "a starting node took another node's message"
        );
        assert_once(&relay.dir, &all);
    }
}

/// Finishing a send checks the claim is still the caller's: after its lease ran out and another
/// sender claimed the row, the first sender's outcome is not recorded.
#[tokio::test]
async fn a_sender_that_lost_its_claim_records_nothing() {
    // No relay and no Twilio account: the node's own senders stay idle.
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    let t = ticket(&app, &app.admin_token, "claims", None).await;
    let now = hotline::db::now_ms();
    sqlx::query(
        "INSERT INTO outbox (channel, ticket_id, recipient, payload, status, attempts, \
         next_attempt_at, created_at) VALUES ('email', $1, 'x@example.com', '{}', 'pending', 0, $2, $2)",
    )
    .bind(t)
    .bind(now)
    .execute(&db.pool)
    .await
    .unwrap();
    let lease = Duration::from_millis(300);
    let first = outbox::claim(db, Channel::Email, "node-x", lease, 10)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].attempts, 1);
    // Held: nobody else gets it, on either channel.
    assert!(
        outbox::claim(db, Channel::Email, "node-y", lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        outbox::claim(db, Channel::Sms, "node-y", lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    let second = outbox::claim(db, Channel::Email, "node-y", lease, 10)
        .await
        .unwrap();
    assert_eq!(second.len(), 1, "an expired lease is claimable again");
    assert_eq!(second[0].attempts, 2);

    let mut tx = db.begin().await.unwrap();
    let recorded = outbox::finish(&mut tx, &first[0], Outcome::Failed, Some("late"), None)
        .await
        .unwrap();
    assert!(!recorded, "the claim was lost");
    tx.commit().await.unwrap();
    assert_eq!(
        status_of(&app, first[0].id).await,
        ("sending".into(), Some("node-y".into()))
    );
    let mut tx = db.begin().await.unwrap();
    assert!(
        outbox::finish(&mut tx, &second[0], Outcome::Sent, None, None)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    assert_eq!(status_of(&app, first[0].id).await.0, "sent");
    // A sent row is never claimed again.
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    assert!(
        outbox::claim(db, Channel::Email, "node-z", lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
