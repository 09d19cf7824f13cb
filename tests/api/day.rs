//! A day in the center (issue #12): the simulator's traffic on every channel (CTI calls, some
//! abandoned; signed Twilio SMS; mail to the SMTP receiver; portal complaints) against a real
//! server, four agents as consoles on /ws who take their offers, reply and resolve, one of them
//! closing their console half-way, and a supervisor on the wallboard. The invariants of
//! `hotline::simulate::check` are checked while it runs; the wallboard's counts are compared
//! with the database. HOTLINE_DAY_SECS sets the traffic's length (default 30 s).

use crate::support::{ADMIN_PASSWORD, TestApp};
use crate::twilio_fake::{ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, PUBLIC_URL};
use hotline::config::{Config, Secret};
use hotline::simulate::SimulateArgs;
use hotline::simulate::check::{DayOptions, day};
use std::time::Duration;

const GRACE_SECS: u64 = 2;
/// The day's server guards /metrics with a token, as production ones should: the checker must
/// read it with the token (a 401 would leave 5xx answers and ERROR lines unchecked).
const METRICS_TOKEN: &str = "day-metrics-token";

/// Counts ERROR events logged on one thread.
struct ErrorsOn {
    thread: String,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ErrorsOn {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() == tracing::Level::ERROR
            && std::thread::current().name() == Some(self.thread.as_str())
        {
            self.count
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Sets settings by name, so that the test builds before and after a setting exists (the
/// presence grace and the time zone come with issue #12).
fn set(c: &mut Config, key: &str, value: serde_json::Value) {
    let mut v = serde_json::to_value(&*c).expect("config serializes");
    v[key] = value;
    *c = serde_json::from_value(v).expect("config deserializes");
}

#[tokio::test]
async fn a_day_in_the_center_keeps_its_invariants() {
    let secs: u64 = std::env::var("HOTLINE_DAY_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let twilio = FakeTwilio::start().await;
    let twilio_base = twilio.base.clone();
    let app = TestApp::spawn_with(move |c| {
        c.routing_tick_ms = 50;
        c.offer_timeout_secs = 3;
        c.smtp_listen = "127.0.0.1:0".into();
        c.cti_token = Secret("cti-secret".into());
        c.twilio_auth_token = Secret(AUTH_TOKEN.into());
        c.twilio_account_sid = ACCOUNT_SID.into();
        c.twilio_api_base = twilio_base;
        c.twilio_sms_from = "+14155550100".into();
        c.public_url = PUBLIC_URL.into();
        c.portal_form_min_age_ms = 200;
        c.portal_per_minute = 10_000;
        c.mail_ack = false;
        c.metrics_token = Secret(METRICS_TOKEN.into());
        set(c, "presence_grace_secs", serde_json::json!(GRACE_SECS));
        set(c, "time_zone", serde_json::json!("Asia/Shanghai"));
    })
    .await;
    // ERROR log lines and panics of this day's server: its tasks run on this test's thread
    // (a current-thread runtime), so events and panics of other tests running beside it in
    // the same process are not counted.
    let here = std::thread::current()
        .name()
        .unwrap_or_default()
        .to_string();
    let errors = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    {
        use tracing_subscriber::layer::SubscriberExt;
        let _ = tracing::subscriber::set_global_default(
            tracing_subscriber::registry()
                .with(hotline::logcount::Counter)
                .with(ErrorsOn {
                    thread: here.clone(),
                    count: errors.clone(),
                }),
        );
    }
    let panics = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    {
        let (panics, here) = (panics.clone(), here.clone());
        let before = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some(here.as_str()) {
                panics.lock().unwrap().push(info.to_string());
            }
            before(info);
        }));
    }
    let args = SimulateArgs {
        url: app.base.clone(),
        admin_password: Some(ADMIN_PASSWORD.into()),
        token: None,
        demo_password: "demo-password".into(),
        duration: Some(secs),
        per_minute: 100.0,
        seed_only: false,
        cti_token: Some("cti-secret".into()),
        twilio_auth_token: Some(AUTH_TOKEN.into()),
        public_url: Some(PUBLIC_URL.into()),
        smtp: app.state.smtp_addr.expect("smtp receiver").to_string(),
        support_address: "support@localhost".into(),
        check: true,
        bots: 4,
        metrics_token: Some(METRICS_TOKEN.into()),
    };
    let opts = DayOptions {
        console_closes: Some(0),
        presence_grace: Duration::from_secs(GRACE_SECS),
        offer_within: Duration::from_secs(2),
        contact_within: Duration::from_secs(2),
        db: Some(app.state.db.clone()),
        settle: Duration::from_secs(12),
    };
    let mut report = day(args, opts).await.expect("the day runs");
    report.print();
    // In this test binary /metrics is the whole process's (one recorder for every test running
    // beside this one, some of which provoke 503s and ERROR lines on purpose), so its 5xx and
    // ERROR counters say nothing about this day. This day's own evidence stays: every 5xx
    // answer to a request of the simulator or checker is a violation of its own, and ERROR
    // lines and panics on this server's thread are counted below.
    report.violations.retain(|v| {
        !(v.detail
            .starts_with("the server answered 5xx: hotline_http_requests_total")
            || v.detail.starts_with("the server logged ERROR lines"))
    });

    // The day had traffic on every channel and work was done.
    for channel in ["voice", "email", "sms", "web"] {
        assert!(
            report.stat(&format!("contacts_{channel}")) > 0,
            "no {channel} contact in the day: {:?}",
            report.stats
        );
    }
    for what in [
        "offers",
        "accepted",
        "resolved",
        "contact_checks",
        "routing_checks",
        "count_checks",
        "presence_checks",
        "closed_console_checks",
    ] {
        assert!(report.stat(what) > 0, "nothing {what}: {:?}", report.stats);
    }
    let abandoned: i64 = sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) AS n FROM work_items WHERE state = 'abandoned'")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap(),
        "n",
    );
    assert!(abandoned > 0, "no call was abandoned in the day");

    // The wallboard's day is the center's (Asia/Shanghai: midnight is 16:00 UTC).
    let (_, wb) = app.get("/api/wallboard", &app.admin_token).await;
    let day_start = wb["day_start_ms"].as_i64();
    let utc_midnight_plus_8 = day_start.map(|d| (d + 8 * 3_600_000).rem_euclid(86_400_000));
    let day_ok = utc_midnight_plus_8 == Some(0);

    let panics = panics.lock().unwrap().clone();
    let errors = errors.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        report.violations.is_empty() && panics.is_empty() && day_ok && errors == 0,
        "the day broke invariants:\n{}\npanics: {panics:?}\nERROR log lines: {errors}\n\
         wallboard day_start_ms: {day_start:?} (want 00:00 Asia/Shanghai)",
        report.violations_text()
    );
}
