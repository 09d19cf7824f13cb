//! Email limits: the IMAP poller gives up on a server that accepts and never speaks (and tries
//! again), and raw inbound mail is purged after its retention while quarantined mail stays.

use crate::email_support::*;
use crate::support::TestApp;
use sqlx::Row;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A TCP server that accepts connections, counts them, and never says a word.
async fn silent_server() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            open.push(socket);
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn imap_gives_up_on_a_silent_server_within_its_timeout_and_retries() {
    let (port, accepted) = silent_server().await;
    let app = TestApp::spawn_with(|c| {
        c.smtp_listen = String::new();
        c.imap_host = "127.0.0.1".into();
        c.imap_port = port;
        c.imap_tls = false;
        c.imap_user = "support".into();
        c.imap_timeout_secs = 1;
        c.imap_poll_secs = 1;
    })
    .await;
    // One pass: an error naming the step, after about the timeout (it used to wait forever).
    let started = Instant::now();
    let pass = tokio::time::timeout(
        Duration::from_secs(10),
        hotline::channels::email::imap::poll_once(&app.state),
    )
    .await
    .expect("the IMAP pass ends");
    let err = format!("{:?}", pass.expect_err("a silent server is an error"));
    let took = started.elapsed();
    eprintln!("imap pass against a silent server failed after {took:?}: {err}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(err.contains("greeting: no answer within 1 s"), "{err}");
    // The background poller (started with the app) keeps trying: several connections.
    let end = Instant::now() + Duration::from_secs(10);
    while accepted.load(Ordering::SeqCst) < 4 {
        assert!(
            Instant::now() < end,
            "the poller retried only {} times",
            accepted.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn processed_raw_mail_is_purged_after_retention_and_quarantined_mail_stays() {
    let app = spawn_mail(|c| c.raw_mail_days = 90).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let raw = mail(
            "Dan <dan@example.com>",
            &format!("Router {i}"),
            &format!("router-{i}@example.com"),
            "",
            "It blinks red.",
        );
        let r = deliver(
            smtp_addr(&app),
            "dan@example.com",
            "support@localhost",
            &raw,
        )
        .await;
        let id = queued_id(&r);
        assert_eq!(wait_processed(&app, id).await.0, "processed");
        ids.push(id);
    }
    let (old, recent, quarantined) = (ids[0], ids[1], ids[2]);
    let day = 86_400_000i64;
    let long_ago = hotline::db::now_ms() - 91 * day;
    let pool = &app.state.db.pool;
    for (id, status) in [(old, "processed"), (quarantined, "quarantined")] {
        sqlx::query(
            "UPDATE inbound_mail SET processed_at = $2, created_at = $2, status = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(long_ago)
        .bind(status)
        .execute(pool)
        .await
        .unwrap();
    }
    use hotline::channels::email::store::purge_raw_mail;
    assert_eq!(purge_raw_mail(&app.state.db, 90).await.unwrap(), 1);
    assert_eq!(
        purge_raw_mail(&app.state.db, 90).await.unwrap(),
        0,
        "idempotent"
    );

    let size = |id: i64| async move {
        let r = sqlx::query(
            "SELECT CAST(length(raw) AS BIGINT) AS n, raw_purged_at FROM inbound_mail WHERE id = $1",
        )
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap();
        (
            r.try_get::<i64, _>("n").unwrap(),
            r.try_get::<Option<i64>, _>("raw_purged_at").unwrap(),
        )
    };
    let (n, purged_at) = size(old).await;
    assert_eq!(n, 0, "the old processed mail's raw bytes are gone");
    assert!(purged_at.is_some());
    for id in [recent, quarantined] {
        let (n, purged_at) = size(id).await;
        assert!(n > 100, "mail {id} keeps its raw bytes");
        assert!(purged_at.is_none());
    }
    // The raw download says so; the others still download.
    let (s, body) = app
        .get(&format!("/api/email/inbound/{old}/raw"), &app.admin_token)
        .await;
    assert_eq!(s.as_u16(), 404, "{body}");
    assert!(body.to_string().contains("purged"), "{body}");
    let res = app
        .http
        .get(app.url(&format!("/api/email/inbound/{recent}/raw")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.bytes().await.unwrap().len() > 100);
    // The ticket keeps what was taken from the mail.
    let t: Option<i64> = sqlx::query("SELECT ticket_id FROM inbound_mail WHERE id = $1")
        .bind(old)
        .fetch_one(pool)
        .await
        .unwrap()
        .try_get("ticket_id")
        .unwrap();
    let (s, v) = app
        .get(&format!("/api/tickets/{}", t.unwrap()), &app.admin_token)
        .await;
    assert_eq!(s.as_u16(), 200);
    assert!(v.to_string().contains("It blinks red."), "{v}");
}

/// SQLite's writer under overload: with its queue full (one write waiting behind one the
/// writer cannot commit yet), an SMS webhook is answered `503 overloaded` and an SMTP delivery
/// `451 4.3.2` at once, instead of queueing without end; once the writer catches up, the
/// retries of both are stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_write_queue_answers_503_and_smtp_451_then_recovers() {
    use crate::twilio_fake::{AUTH_TOKEN, PUBLIC_URL, post_signed};
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        eprintln!("skipped: the write queue is SQLite's (PostgreSQL has no group writer)");
        return;
    }
    let app = spawn_mail(|c| {
        c.twilio_auth_token = hotline::config::Secret(AUTH_TOKEN.into());
        c.public_url = PUBLIC_URL.into();
        c.db_write_queue = 1;
    })
    .await;
    let sms = |sid: &'static str| {
        [
            ("MessageSid", sid),
            ("From", "+8613700000042"),
            ("Body", "hello"),
        ]
    };
    let raw = mail(
        "Eve <eve@example.com>",
        "Modem",
        "modem-1@example.com",
        "",
        "No signal.",
    );
    // Another connection holds SQLite's write lock: the writer's next batch waits for it.
    let hold = app.state.db.begin().await.unwrap();
    let path = "/webhooks/twilio/sms";
    let pause = |ms| tokio::time::sleep(Duration::from_millis(ms));
    let (sms1, sms2, sms3) = (sms("SMq1"), sms("SMq2"), sms("SMq3"));
    let (first, second, third, smtp, _) = tokio::join!(
        post_signed(&app, path, &sms1),
        async {
            pause(200).await;
            post_signed(&app, path, &sms2).await
        },
        async {
            pause(500).await;
            let started = Instant::now();
            let r = post_signed(&app, path, &sms3).await;
            (r, started.elapsed())
        },
        async {
            pause(500).await;
            deliver(
                smtp_addr(&app),
                "eve@example.com",
                "support@localhost",
                &raw,
            )
            .await
        },
        async {
            pause(1500).await;
            hold.rollback().await.unwrap();
        }
    );
    assert_eq!(first.0, 200, "{}", first.1);
    assert_eq!(second.0, 200, "{}", second.1);
    let ((status, body), took) = third;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"overloaded\""), "{body}");
    assert!(
        took < Duration::from_millis(500),
        "refused at once: {took:?}"
    );
    assert!(smtp.starts_with("451 4.3.2"), "{smtp}");
    // The writer caught up: Twilio's retry and the mail server's are stored.
    assert_eq!(post_signed(&app, path, &sms3).await.0, 200);
    let r = deliver(
        smtp_addr(&app),
        "eve@example.com",
        "support@localhost",
        &raw,
    )
    .await;
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM interactions WHERE channel = $1",
            "sms"
        )
        .await,
        3
    );
}
