//! Two Hotline nodes on one PostgreSQL: events cross nodes, concurrent offers and accepts on
//! both nodes never assign one item twice, and killing the routing leader fails over.

use crate::realtime::{Ws, ticket};
use crate::routing::{available, members};
use crate::support::TestApp;
use reqwest::Method;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn on_postgres() -> bool {
    let pg = std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"));
    if !pg {
        eprintln!("skipped: several nodes need PostgreSQL (set TEST_DATABASE_URL)");
    }
    pg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_share_events_never_double_assign_and_fail_over() {
    if !on_postgres() {
        return;
    }
    let a = TestApp::spawn_with(|c| c.routing_tick_ms = 50).await;
    let b = a.spawn_node(|c| c.routing_tick_ms = 50).await;
    // One leader.
    let end = Instant::now() + Duration::from_secs(10);
    while a.state.leader.load(Ordering::SeqCst) == b.state.leader.load(Ordering::SeqCst) {
        assert!(Instant::now() < end, "exactly one node leads");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A console on node B sees work created on node A.
    let (_, sup) = a.user("sup", "supervisor").await;
    let mut wall_b = Ws::connect(&b, &sup).await;
    let q = a.queue("Everyone").await;
    let t0 = Instant::now();
    let tid = ticket(&a, &sup, "created on A", Some(q)).await;
    let (ev, seen) = wall_b
        .until(Duration::from_secs(5), |f| {
            f["kind"] == "ticket.created" && f["ticket_id"] == tid
        })
        .await;
    let ev = ev.unwrap_or_else(|| {
        let hello = &wall_b.hello;
        let seen: Vec<_> = seen.iter().map(|f| (&f["seq"], &f["kind"])).collect();
        panic!("node B's console sees node A's ticket (hello {hello}, then {seen:?})")
    });
    assert_eq!(ev["payload"]["ticket"]["subject"], "created on A");
    eprintln!("cross-node event delivered in {:?}", t0.elapsed());

    // 20 agents, half connected to each node, all in the queue with room for 20 items each.
    let mut agents = Vec::new();
    for i in 0..20 {
        let (id, token) = a.user(&format!("agent{i}"), "agent").await;
        let (s, _) = a
            .call(
                Method::PUT,
                &format!("/api/agents/{id}/capacity"),
                Some(&sup),
                Some(json!({"capacity": {"web": 20}})),
            )
            .await;
        assert_eq!(s.as_u16(), 200);
        agents.push((id, token));
    }
    let ids: Vec<i64> = agents.iter().map(|x| x.0).collect();
    members(&a, q, &ids).await;
    // The first ticket is picked by hand so that only the 200 remain.
    let (s, _) = a
        .post(&format!("/api/work/{tid}/pick"), &agents[0].1, json!({}))
        .await;
    assert_eq!(s.as_u16(), 200);

    let accepted = Arc::new(AtomicUsize::new(0));
    let total = 200;
    let a = Arc::new(a);
    let b = Arc::new(b);
    let mut loops = Vec::new();
    for (i, (id, token)) in agents.iter().cloned().enumerate() {
        let (home, away) = if i % 2 == 0 {
            (a.clone(), b.clone())
        } else {
            (b.clone(), a.clone())
        };
        let accepted = accepted.clone();
        loops.push(tokio::spawn(async move {
            let mut ws = Ws::connect(&home, &token).await;
            available(&home, &token).await;
            let mut mine = Vec::new();
            let end = Instant::now() + Duration::from_secs(90);
            while accepted.load(Ordering::SeqCst) < total && Instant::now() < end {
                let Some(o) = ws.event("offer.created", Duration::from_millis(500)).await else {
                    continue;
                };
                assert_eq!(o["user_id"], id, "offers reach only their agent");
                let path = format!("/api/offers/{}/accept", o["payload"]["offer_id"]);
                // The same accept arrives at both nodes at once: exactly one may win.
                let (r1, r2) = tokio::join!(
                    home.post(&path, &token, json!({})),
                    away.post(&path, &token, json!({}))
                );
                let mut codes = [r1.0.as_u16(), r2.0.as_u16()];
                codes.sort();
                assert_eq!(codes, [200, 409], "{} / {}", r1.1, r2.1);
                mine.push(o["payload"]["ticket_id"].as_i64().unwrap());
                accepted.fetch_add(1, Ordering::SeqCst);
            }
            (id, mine)
        }));
    }
    // Let every agent connect and become available, then 200 items arrive through both nodes.
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, list) = a.get("/api/presence", &sup).await;
        let n = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["state"] == "available")
            .count();
        if n == 20 {
            break;
        }
        assert!(Instant::now() < end, "agents available");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = Instant::now();
    let mut creators = Vec::new();
    for k in 0..4 {
        let node = if k % 2 == 0 { a.clone() } else { b.clone() };
        let sup = sup.clone();
        creators.push(tokio::spawn(async move {
            let mut v = Vec::new();
            for i in 0..total / 4 {
                v.push(ticket(&node, &sup, &format!("item {k}/{i}"), Some(q)).await);
            }
            v
        }));
    }
    let mut created = Vec::new();
    for c in creators {
        created.extend(c.await.unwrap());
    }
    let mut by_ticket: HashMap<i64, i64> = HashMap::new();
    for l in loops {
        let (agent, mine) = l.await.unwrap();
        for t in mine {
            assert!(
                by_ticket.insert(t, agent).is_none(),
                "ticket {t} accepted twice"
            );
        }
    }
    eprintln!("200 items offered and accepted in {:?}", started.elapsed());
    assert_eq!(by_ticket.len(), total, "every item assigned once");
    for t in &created {
        let (_, v) = a.get(&format!("/api/tickets/{t}"), &sup).await;
        assert_eq!(v["ticket"]["assignee_id"], by_ticket[t], "ticket {t}");
    }
    let (_, items) = b
        .get(
            &format!("/api/work?queue_id={q}&state=assigned&limit=500"),
            &sup,
        )
        .await;
    assert_eq!(items.as_array().unwrap().len(), total + 1);

    // Kill the leader: the other node routes within a few seconds.
    let (mut leader, follower) = if a.state.leader.load(Ordering::SeqCst) {
        (a, b)
    } else {
        (b, a)
    };
    let (last_id, last_token) = agents[19].clone();
    let (s, _) = follower
        .call(
            Method::PUT,
            &format!("/api/queues/{q}/members"),
            Some(&follower.admin_token),
            Some(json!({"user_ids": [last_id]})),
        )
        .await;
    assert_eq!(s.as_u16(), 200);
    let mut ws = Ws::connect(&follower, &last_token).await;
    Arc::get_mut(&mut leader)
        .expect("only the test holds the leader node")
        .stop()
        .await;
    let killed = Instant::now();
    let tid = ticket(&follower, &sup, "after the leader died", Some(q)).await;
    let offer = ws
        .until(Duration::from_secs(10), |f| {
            f["kind"] == "offer.created" && f["payload"]["ticket_id"] == tid
        })
        .await
        .0
        .expect("the surviving node routes");
    assert_eq!(offer["user_id"], last_id);
    assert!(follower.state.leader.load(Ordering::SeqCst));
    eprintln!(
        "fail-over: routed {:?} after the leader stopped",
        killed.elapsed()
    );
    assert!(killed.elapsed() < Duration::from_secs(8));
}

/// Work only one node may do (polling the IMAP mailbox) is guarded by a cluster lock: one holder
/// at a time, freed when the holder's connection goes. SQLite runs one node, which always holds it.
#[tokio::test]
async fn a_cluster_lock_has_one_holder_and_frees_when_it_goes() {
    use hotline::db::lock::{IMAP_POLLER, SessionLock};
    let app = TestApp::spawn().await;
    let url = app.state.config.database_url();
    let db = &app.state.db;
    let mut first = SessionLock::try_take(db, &url, IMAP_POLLER)
        .await
        .unwrap()
        .expect("a free lock is granted");
    assert!(first.still_held().await);
    let second = SessionLock::try_take(db, &url, IMAP_POLLER).await.unwrap();
    if !on_postgres() {
        assert!(second.is_some(), "the single SQLite node holds every lock");
        return;
    }
    assert!(second.is_none(), "a held lock is refused to another node");
    drop(first);
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(mut taken) = SessionLock::try_take(db, &url, IMAP_POLLER).await.unwrap() {
            assert!(taken.still_held().await);
            break;
        }
        assert!(Instant::now() < end, "the lock frees when its holder goes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
