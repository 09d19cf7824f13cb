//! /ws with a real websocket client: hello, resume without loss or duplicates, scopes, slow
//! consumers, heartbeats, shutdown, resync after pruning.

use crate::support::TestApp;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A console connected to /ws.
pub struct Ws {
    pub stream: Stream,
    pub hello: Value,
    /// Frames that arrived while waiting for a command's answer, delivered next.
    pending: std::collections::VecDeque<Value>,
}

impl Ws {
    pub async fn connect(app: &TestApp, token: &str) -> Ws {
        let mut stream = Self::open(app, token).await.expect("websocket opens");
        let hello = next_json(&mut stream, Duration::from_secs(5))
            .await
            .expect("hello");
        assert_eq!(hello["type"], "hello", "{hello}");
        Ws {
            stream,
            hello,
            pending: Default::default(),
        }
    }

    pub async fn open(
        app: &TestApp,
        token: &str,
    ) -> Result<Stream, tokio_tungstenite::tungstenite::Error> {
        let mut req = format!("ws://{}/ws", app.addr).into_client_request()?;
        if !token.is_empty() {
            req.headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        tokio_tungstenite::connect_async(req).await.map(|(s, _)| s)
    }

    pub async fn send(&mut self, v: Value) {
        self.stream
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("send");
    }

    /// The next JSON frame within `timeout`, or None.
    pub async fn next(&mut self, timeout: Duration) -> Option<Value> {
        if let Some(v) = self.pending.pop_front() {
            return Some(v);
        }
        next_json(&mut self.stream, timeout).await
    }

    /// Frames until one satisfies `pred` (returned with everything seen before it).
    pub async fn until(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> (Option<Value>, Vec<Value>) {
        let end = Instant::now() + timeout;
        let mut seen = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.next(left).await {
                Some(v) if pred(&v) => return (Some(v), seen),
                Some(v) => seen.push(v),
                None => break,
            }
        }
        (None, seen)
    }

    /// The next event frame of `kind`.
    pub async fn event(&mut self, kind: &str, timeout: Duration) -> Option<Value> {
        self.until(timeout, |v| v["type"] == "event" && v["kind"] == kind)
            .await
            .0
    }

    /// Sends a command and waits for its ack or error.
    pub async fn command(&mut self, v: Value) -> Value {
        let id = v["id"].as_str().unwrap().to_string();
        self.send(v).await;
        let end = Instant::now() + Duration::from_secs(5);
        let mut skipped = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let f = next_json(&mut self.stream, left)
                .await
                .expect("command answered");
            if (f["type"] == "ack" || f["type"] == "error") && f["id"] == id.as_str() {
                self.pending.extend(skipped);
                return f;
            }
            skipped.push(f);
        }
    }
}

async fn next_json(stream: &mut Stream, timeout: Duration) -> Option<Value> {
    let end = Instant::now() + timeout;
    loop {
        let left = end.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(&t).ok(),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => {
                return None;
            }
            Ok(Some(Ok(_))) => continue,
        }
    }
}

pub async fn ticket(app: &TestApp, token: &str, subject: &str, queue_id: Option<i64>) -> i64 {
    let (s, t) = app
        .post(
            "/api/tickets",
            token,
            json!({"subject": subject, "channel": "web", "queue_id": queue_id, "body": "hello"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{t}");
    t["id"].as_i64().unwrap()
}

/// Events of `frames` as (seq, kind, ticket_id).
fn events(frames: &[Value]) -> Vec<(i64, String, Option<i64>)> {
    frames
        .iter()
        .filter(|f| f["type"] == "event")
        .map(|f| {
            (
                f["seq"].as_i64().unwrap(),
                f["kind"].as_str().unwrap().to_string(),
                f["ticket_id"].as_i64(),
            )
        })
        .collect()
}

#[tokio::test]
async fn unauthenticated_upgrade_is_refused_with_401() {
    let app = TestApp::spawn().await;
    for token in ["", "not-a-token"] {
        match Ws::open(&app, token).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                assert_eq!(res.status().as_u16(), 401)
            }
            other => panic!("expected 401, got {:?}", other.map(|_| ())),
        }
    }
}

#[tokio::test]
async fn hello_then_live_events_and_resume_loses_nothing() {
    let app = TestApp::spawn().await;
    let (uid, sup) = app.user("sup", "supervisor").await;
    let mut ws = Ws::connect(&app, &sup).await;
    assert_eq!(ws.hello["protocol"], 1);
    assert_eq!(ws.hello["user_id"], uid);
    assert_eq!(ws.hello["role"], "supervisor");
    let start = ws.hello["last_seq"].as_i64().unwrap();

    let t1 = ticket(&app, &sup, "first", None).await;
    let ev = ws
        .event("ticket.created", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(ev["ticket_id"], t1);
    assert_eq!(ev["payload"]["ticket"]["subject"], "first");
    assert!(ev["seq"].as_i64().unwrap() > start);
    let seen = ev["seq"].as_i64().unwrap();
    // Unknown commands are answered, not fatal.
    let e = ws.command(json!({"type": "dance", "id": "x"})).await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("bad_request"))
    );
    let p = ws.command(json!({"type": "ping", "id": "p"})).await;
    assert_eq!(p["type"], "ack");
    drop(ws);

    // While disconnected, more happens.
    let mut missed = Vec::new();
    for i in 0..5 {
        missed.push(ticket(&app, &sup, &format!("missed {i}"), None).await);
    }
    let mut ws = Ws::connect(&app, &sup).await;
    ws.send(json!({"type": "resume", "id": "r1", "last_seq": seen}))
        .await;
    // Live events keep coming during and after the replay.
    let live_tickets = {
        let app_ref = &app;
        let sup_ref = &sup;
        async move {
            let mut v = Vec::new();
            for i in 0..5 {
                v.push(ticket(app_ref, sup_ref, &format!("live {i}"), None).await);
            }
            v
        }
    };
    let (resumed, live) = tokio::join!(
        ws.until(Duration::from_secs(10), |f| f["type"] == "ack"
            && f["id"] == "r1"),
        live_tickets
    );
    let mut frames = resumed.1;
    frames.push(resumed.0.expect("resume acked"));
    let last = *live.last().unwrap();
    if !frames
        .iter()
        .any(|f| f["kind"] == "ticket.created" && f["ticket_id"] == last)
    {
        let (f, more) = ws
            .until(Duration::from_secs(10), move |f| {
                f["kind"] == "ticket.created" && f["ticket_id"] == last
            })
            .await;
        frames.extend(more);
        frames.push(f.expect("last live ticket"));
    }
    // Anything after that would be a duplicate.
    frames.extend(ws.until(Duration::from_millis(300), |_| false).await.1);
    let ack = frames
        .iter()
        .find(|f| f["type"] == "ack" && f["id"] == "r1")
        .expect("resume acked");
    assert!(ack["result"]["replayed_through"].as_i64().unwrap() >= seen);
    let evs = events(&frames);
    let seqs: Vec<i64> = evs.iter().map(|e| e.0).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "in order, no duplicates: {seqs:?}"
    );
    assert!(seqs.iter().all(|s| *s > seen), "nothing already seen");
    let created: Vec<i64> = evs
        .iter()
        .filter(|e| e.1 == "ticket.created")
        .filter_map(|e| e.2)
        .collect();
    let want: Vec<i64> = missed.iter().chain(live.iter()).copied().collect();
    assert_eq!(created, want, "every missed and live ticket exactly once");
    // No gap: the seqs delivered are exactly those in the log after `seen`.
    // (Up to the last one delivered: the routing leader keeps writing events after.)
    let rows = hotline::realtime::hub::list_events_after(
        &app.state.db,
        seen,
        seqs.last().copied(),
        10_000,
    )
    .await
    .unwrap();
    let log: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, log);
}

#[tokio::test]
async fn scopes_keep_queues_and_offers_apart() {
    let app = TestApp::spawn().await;
    let qa = app.queue("A").await;
    let qb = app.queue("B").await;
    let (a1, a1t) = app.user("a1", "agent").await;
    let (a2, a2t) = app.user("a2", "agent").await;
    let (_, sup) = app.user("sup", "supervisor").await;
    for (q, u) in [(qa, a1), (qb, a2)] {
        let (s, b) = app
            .call(
                reqwest::Method::PUT,
                &format!("/api/queues/{q}/members"),
                Some(&app.admin_token),
                Some(json!({"user_ids": [u]})),
            )
            .await;
        assert_eq!(s.as_u16(), 200, "{b}");
    }
    let mut w1 = Ws::connect(&app, &a1t).await;
    let mut w2 = Ws::connect(&app, &a2t).await;
    let mut ws = Ws::connect(&app, &sup).await;
    let ta = ticket(&app, &sup, "for A", Some(qa)).await;
    let tb = ticket(&app, &sup, "for B", Some(qb)).await;
    // a1 sets presence: supervisors see it, a2 does not.
    let ack = w1
        .command(json!({"type": "set_presence", "id": "1", "state": "away", "reason": "lunch"}))
        .await;
    assert_eq!(ack["result"]["state"], "away", "{ack}");
    let cid = app.customer("Li Si", &[("phone", "13900000002")]).await;

    let marker = |v: &Value| v["type"] == "event" && v["kind"] == "customer.created";
    let (_, seen1) = w1.until(Duration::from_secs(5), marker).await;
    let (_, seen2) = w2.until(Duration::from_secs(5), marker).await;
    let (_, seen_sup) = ws.until(Duration::from_secs(5), marker).await;
    let tickets = |f: &[Value]| -> Vec<i64> {
        events(f)
            .into_iter()
            .filter(|e| e.1 == "ticket.created")
            .filter_map(|e| e.2)
            .collect()
    };
    assert_eq!(tickets(&seen1), vec![ta]);
    assert_eq!(tickets(&seen2), vec![tb]);
    assert_eq!(tickets(&seen_sup), vec![ta, tb]);
    let presence = |f: &[Value]| {
        events(f)
            .iter()
            .filter(|e| e.1 == "presence.changed")
            .count()
    };
    assert_eq!(
        (presence(&seen1), presence(&seen2), presence(&seen_sup)),
        (1, 0, 1)
    );
    // Nothing of another agent leaks: every event a2 saw is in its queue, its own, or for all.
    for f in seen2.iter().filter(|f| f["type"] == "event") {
        assert!(
            f["queue_id"] == qb
                || f["user_id"] == a2
                || f["kind"].as_str().unwrap().starts_with("customer."),
            "leaked to a2: {f}"
        );
    }
    let _ = cid;
    // A resume replays within scope only, too.
    let mut w2b = Ws::connect(&app, &a2t).await;
    w2b.send(json!({"type": "resume", "id": "r", "last_seq": 0}))
        .await;
    let (_, replay) = w2b
        .until(Duration::from_secs(5), |f| {
            f["type"] == "ack" && f["id"] == "r"
        })
        .await;
    assert_eq!(tickets(&replay), vec![tb]);
}

#[tokio::test]
async fn a_slow_consumer_is_dropped_without_delaying_a_fast_one() {
    let app = TestApp::spawn_with(|c| c.ws_buffer_frames = 64).await;
    let (_, sup) = app.user("sup", "supervisor").await;
    // The slow console's socket takes little and is never read until the end.
    let slow = {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        let tcp = sock.connect(app.addr).await.unwrap();
        let mut req = format!("ws://{}/ws", app.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {sup}").parse().unwrap());
        tokio_tungstenite::client_async(req, tokio_tungstenite::MaybeTlsStream::Plain(tcp))
            .await
            .unwrap()
            .0
    };
    let mut fast = Ws::connect(&app, &sup).await;
    let blob = "x".repeat(16 * 1024);
    let total = 400;
    let writer = async {
        for batch in 0..total / 10 {
            let mut tx = app.state.db.begin().await.unwrap();
            for i in 0..10 {
                hotline::realtime::events::append(
                    &mut tx,
                    app.state.db.backend,
                    "test.blob",
                    Default::default(),
                    &json!({"n": batch * 10 + i, "blob": blob}),
                )
                .await
                .unwrap();
            }
            hotline::realtime::events::commit(tx).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Instant::now()
    };
    let reader = async {
        let mut n = 0;
        let end = Instant::now() + Duration::from_secs(30);
        while n < total {
            let left = end.saturating_duration_since(Instant::now());
            match fast.next(left).await {
                Some(v) if v["kind"] == "test.blob" => {
                    assert_eq!(v["payload"]["n"], n, "in order");
                    n += 1;
                }
                Some(v) => assert_ne!(v["type"], "resync", "the fast console keeps up"),
                None => break,
            }
        }
        (n, Instant::now())
    };
    // The slow one is cut off (the hub drops it) and, reading from then on, finds the
    // resync hint after a prefix of the stream.
    let slow_reader = async {
        let mut slow = slow;
        let end = Instant::now() + Duration::from_secs(60);
        while app.state.hub.connections() > 1 && Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut blobs = 0;
        let mut resync = None;
        while let Some(v) = next_json(&mut slow, Duration::from_secs(10)).await {
            if v["type"] == "resync" {
                resync = Some(v);
                break;
            }
            if v["kind"] == "test.blob" {
                blobs += 1;
            }
        }
        (slow, blobs, resync)
    };
    let (written_at, (got, read_at), (mut slow, blobs, resync)) =
        tokio::join!(writer, reader, slow_reader);
    assert_eq!(got, total, "the fast console got everything");
    assert!(
        read_at.saturating_duration_since(written_at) < Duration::from_secs(3),
        "the fast console was not held back"
    );
    assert_eq!(
        resync.unwrap_or_else(|| panic!("resync sent after {blobs} blobs"))["reason"],
        "overflow"
    );
    assert!(blobs < total, "dropped before the end ({blobs})");
    assert!(
        next_json(&mut slow, Duration::from_secs(5)).await.is_none(),
        "closed"
    );
}

#[tokio::test]
async fn heartbeats_ping_and_drop_silent_clients() {
    let app = TestApp::spawn_with(|c| c.ws_ping_secs = 1).await;
    let (_, sup) = app.user("sup", "supervisor").await;
    let mut ws = Ws::connect(&app, &sup).await;
    // A reading client (tungstenite answers pings itself) stays connected.
    let got_ping = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match ws.stream.next().await {
                Some(Ok(Message::Ping(_))) => return true,
                Some(Ok(_)) => continue,
                _ => return false,
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(got_ping, "server pings");
    let p = ws.command(json!({"type": "ping", "id": "alive"})).await;
    assert_eq!(p["type"], "ack");
    // A client that never answers is dropped after two intervals.
    let silent = Ws::connect(&app, &sup).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let mut silent = silent;
    let end = Instant::now() + Duration::from_secs(3);
    let mut closed = false;
    while Instant::now() < end {
        match tokio::time::timeout(Duration::from_secs(1), silent.stream.next()).await {
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                closed = true;
                break;
            }
            _ => continue,
        }
    }
    assert!(closed, "silent client dropped");
}

#[tokio::test]
async fn graceful_shutdown_tells_consoles_to_reconnect() {
    let mut app = TestApp::spawn().await;
    let (_, agent) = app.user("a", "agent").await;
    let mut ws = Ws::connect(&app, &agent).await;
    let stopping = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        app.stop().await;
    };
    let (frame, _) = tokio::join!(
        ws.until(Duration::from_secs(10), |f| f["type"] == "shutdown"),
        stopping
    );
    let frame = frame.0.expect("shutdown frame");
    assert!(frame["reconnect_after_ms"].as_u64().is_some());
}

#[tokio::test]
async fn resume_older_than_retention_gets_resync() {
    let app = TestApp::spawn().await;
    let (_, sup) = app.user("sup", "supervisor").await;
    let mut before = Ws::connect(&app, &sup).await;
    ticket(&app, &sup, "old", None).await;
    // Retention 0 h: everything so far is pruned, once the hub has delivered it (pruning rows
    // the hub has not read yet would leave it, and the next hello, behind the pruned seq).
    assert!(
        before
            .event("ticket.created", Duration::from_secs(5))
            .await
            .is_some()
    );
    drop(before);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let pruned = hotline::realtime::hub::prune_events(&app.state.db, 0)
        .await
        .unwrap();
    assert!(pruned > 0);
    let mut ws = Ws::connect(&app, &sup).await;
    ws.send(json!({"type": "resume", "id": "r", "last_seq": 0}))
        .await;
    let f = ws.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(f, json!({"type": "resync", "reason": "too_far_behind"}));
    assert!(ws.next(Duration::from_secs(3)).await.is_none(), "closed");
    // Resuming from the newest seq is fine.
    let mut ws = Ws::connect(&app, &sup).await;
    let last = ws.hello["last_seq"].as_i64().unwrap();
    let ack = ws
        .command(json!({"type": "resume", "id": "r2", "last_seq": last}))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
}
