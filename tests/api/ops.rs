use crate::support::TestApp;
use reqwest::Method;

#[tokio::test]
async fn health_ready_metrics() {
    let app = TestApp::spawn().await;
    let (s, b) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((s.as_u16(), b.as_str()), (200, Some("ok")));
    let (s, _) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(s.as_u16(), 200);
    let (s, b) = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(s.as_u16(), 200);
    assert!(
        b.as_str().unwrap().contains("hotline_http_requests_total"),
        "{b}"
    );
    // Error lines are counted from the start, so that 0 means none (not "not counted").
    assert!(
        b.as_str()
            .unwrap()
            .contains("hotline_log_events_total{level=\"error\"}"),
        "{b}"
    );
    // The pool's gauges, and SQLite's writer's backlog.
    let text = b.as_str().unwrap();
    for gauge in ["hotline_db_pool_connections ", "hotline_db_pool_max "] {
        assert!(text.contains(gauge), "{gauge} in {text}");
    }
    if app.state.db.backend == hotline::db::Backend::Sqlite {
        assert!(text.contains("hotline_db_write_waiting 0"), "{text}");
    }
}

/// Every documented operation is routed (never the fallback's 404 route / 405), and every
/// guarded one refuses an anonymous caller.
#[tokio::test]
async fn openapi_matches_routes() {
    let app = TestApp::spawn().await;
    let (s, doc) = app.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(s.as_u16(), 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/api/customers/lookup"));
    assert!(paths.contains_key("/api/auth/login"));
    let mut checked = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let concrete = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "999999" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = app
                .http
                .request(m, app.url(&concrete))
                .send()
                .await
                .unwrap();
            assert_ne!(res.status().as_u16(), 405, "{method} {path} not routed");
            let guarded = !op["security"].as_array().unwrap().is_empty();
            if guarded {
                assert_eq!(
                    res.status().as_u16(),
                    401,
                    "{method} {path} lets anonymous in"
                );
            } else if res.status().as_u16() == 404 {
                let body: serde_json::Value = res.json().await.unwrap_or_default();
                assert_ne!(
                    body["error"]["message"], "route not found",
                    "{method} {path}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} operations documented");
    // And an undocumented API path is a JSON 404.
    let (s, b) = app.call(Method::GET, "/api/nope", None, None).await;
    crate::support::assert_error(s, &b, 404, "not_found");
}

#[tokio::test]
async fn web_console_is_served() {
    let app = TestApp::spawn().await;
    let res = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn backup_is_consistent_and_restores() {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        return; // PostgreSQL backups are pg_dump's job (README).
    }
    let app = TestApp::spawn().await;
    let cid = app
        .customer("Backup Person", &[("phone", "13800138000")])
        .await;
    let file = app.config.data_dir.join("copy.db");
    hotline::db::backup(&app.state.db, &file).await.unwrap();
    assert!(
        hotline::db::backup(&app.state.db, &file).await.is_err(),
        "never overwrites"
    );

    // Restore: a new server on the copy sees the customer.
    let restored = TestApp::spawn_with(|c| {
        c.database_url = hotline::config::Secret(format!("sqlite://{}", file.display()));
    })
    .await;
    let (s, b) = restored
        .get("/api/customers/lookup?q=13800138000", &restored.admin_token)
        .await;
    assert_eq!(s.as_u16(), 200);
    assert_eq!(b["customer"]["id"], cid);
}

/// The setting names of the README's configuration table.
fn readme_settings() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = readme
        .split("## Configuration")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has a Configuration section");
    let mut names: Vec<String> = Vec::new();
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let first_cell = line.split('|').nth(1).unwrap_or("");
        for part in first_cell.split('`').skip(1).step_by(2) {
            assert!(
                part.starts_with("HOTLINE_") || part == "DATABASE_URL",
                "write setting names in full in the README: {part}"
            );
            names.push(part.to_string());
        }
    }
    assert!(names.len() > 40, "{names:?}");
    names
}

/// A realistic value for every documented setting: strings that look like numbers stay strings
/// (tokens, phone numbers), and the server starts with all of them set.
#[tokio::test]
async fn every_documented_setting_starts_the_real_binary() {
    let dir = tempfile::tempdir().unwrap();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .to_string()
    };
    let (listen, smtp) = (free(), free());
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(made.status.success());
    let data = dir.path().join("data");
    let database = crate::support::fresh_database(&data).await;
    std::fs::create_dir_all(&data).unwrap();
    let value = |name: &str| -> String {
        match name {
            "HOTLINE_LISTEN" => listen.clone(),
            "HOTLINE_DATA_DIR" => data.display().to_string(),
            "DATABASE_URL" => database.clone(),
            "HOTLINE_ADMIN_PASSWORD" => "0123456789".into(),
            "HOTLINE_DEFAULT_REGION" => "CN".into(),
            "HOTLINE_TIME_ZONE" => "Asia/Shanghai".into(),
            "HOTLINE_PUBLIC_URL" => "https://hotline.example.cn".into(),
            "HOTLINE_SMTP_LISTEN" => smtp.clone(),
            "HOTLINE_SUPPORT_ADDRESSES" => "support@example.cn, 客服@example.cn".into(),
            "HOTLINE_SMTP_RELAY" => "smtp://relay:0123@127.0.0.1:9".into(),
            "HOTLINE_SMTP_MAX_SIZE" => "20971520".into(),
            "HOTLINE_MAIL_FROM" => "support@example.cn".into(),
            "HOTLINE_SMTP_TLS_CERT" => cert.display().to_string(),
            "HOTLINE_SMTP_TLS_KEY" => key.display().to_string(),
            "HOTLINE_SMTP_LMTP" => "false".into(),
            "HOTLINE_SMTP_IDLE_SECS" => "300".into(),
            "HOTLINE_SMTP_DATA_SECS" => "600".into(),
            "HOTLINE_SMTP_SESSION_SECS" => "1800".into(),
            "HOTLINE_SMTP_MAX_PER_CLIENT" => "20".into(),
            "HOTLINE_SMTP_MAX_CONNECTIONS" => "1000".into(),
            "HOTLINE_ATTACHMENT_MAX_SIZE" => "26214400".into(),
            "HOTLINE_MAIL_PARSE_BUDGET_MS" => "10000".into(),
            "HOTLINE_MAIL_ACK" => "true".into(),
            "HOTLINE_MAIL_ACK_PER_HOUR" => "5".into(),
            "HOTLINE_MAIL_AUTHSERV_IDS" => "mx.example.cn".into(),
            "HOTLINE_OUTBOX_RETRY_MS" => "5000".into(),
            "HOTLINE_OUTBOX_MAX_ATTEMPTS" => "10".into(),
            "HOTLINE_OUTBOX_LEASE_SECS" => "300".into(),
            "HOTLINE_DB_WRITE_QUEUE" => "1024".into(),
            "HOTLINE_IMAP_TIMEOUT_SECS" => "60".into(),
            "HOTLINE_RAW_MAIL_DAYS" => "90".into(),
            "HOTLINE_IMAP_HOST" => "127.0.0.1".into(),
            "HOTLINE_IMAP_PORT" => "9".into(),
            "HOTLINE_IMAP_TLS" => "false".into(),
            "HOTLINE_IMAP_USER" => "400800".into(),
            "HOTLINE_IMAP_PASSWORD" => "000123".into(),
            "HOTLINE_IMAP_FOLDER" => "INBOX".into(),
            "HOTLINE_IMAP_POLL_SECS" => "60".into(),
            "HOTLINE_CTI_TOKEN" => "123456".into(),
            "HOTLINE_TWILIO_AUTH_TOKEN" => "0123456789".into(),
            "HOTLINE_TWILIO_API_BASE" => "http://127.0.0.1:9".into(),
            "HOTLINE_TWILIO_ACCOUNT_SID" => "AC0123456789abcdef0123456789abcdef".into(),
            "HOTLINE_TWILIO_SMS_FROM" => "+864008008000".into(),
            "HOTLINE_TWILIO_CALLER_ID" => "+864008008000".into(),
            "HOTLINE_CALLBACK_SLA_MINUTES" => "30".into(),
            "HOTLINE_SURVEY_COOLDOWN_DAYS" => "30".into(),
            "HOTLINE_SURVEY_TTL_DAYS" => "14".into(),
            "HOTLINE_VALUE_WINDOW_MONTHS" => "12".into(),
            "HOTLINE_VALUE_KEY_SHARE" => "80".into(),
            "HOTLINE_VALUE_VIP_SHARE" => "20".into(),
            "HOTLINE_VALUE_RANK_SECS" => "60".into(),
            "HOTLINE_TIER_PRIORITY" => "true".into(),
            "HOTLINE_WEBHOOK_MAX_ATTEMPTS" => "8".into(),
            "HOTLINE_WEBHOOK_RETRY_MS" => "10000".into(),
            "HOTLINE_DB_MAX_CONNECTIONS" => "4".into(),
            "HOTLINE_LOGIN_ATTEMPTS_PER_MINUTE" => "30".into(),
            "HOTLINE_SESSION_HOURS" => "12".into(),
            "HOTLINE_TOKEN_MAX_DAYS" => "30".into(),
            "HOTLINE_LOG_FORMAT" => "text".into(),
            "HOTLINE_KB_DIR" => dir.path().join("kb").display().to_string(),
            "HOTLINE_PORTAL_FORM_MIN_AGE_MS" => "3000".into(),
            "HOTLINE_PORTAL_PER_MINUTE" => "5".into(),
            "HOTLINE_PORTAL_KB_SEARCHES_PER_MINUTE" => "30".into(),
            "HOTLINE_PORTAL_ACKS_PER_CONTACT_PER_HOUR" => "3".into(),
            "HOTLINE_PORTAL_ACKS_PER_HOUR" => "300".into(),
            "HOTLINE_EVENTS_RETENTION_HOURS" => "72".into(),
            "HOTLINE_WS_PING_SECS" => "20".into(),
            "HOTLINE_METRICS_TOKEN" => "0123456789".into(),
            "HOTLINE_WALLBOARD_FRAME_ANCESTORS" => {
                "https://tv.example.cn https://*.example.cn".into()
            }
            "HOTLINE_WS_BUFFER_FRAMES" => "1024".into(),
            "HOTLINE_OFFER_TIMEOUT_SECS" => "20".into(),
            "HOTLINE_ROUTING_STRATEGY" => "longest_idle".into(),
            "HOTLINE_WRAP_UP_SECS" => "0".into(),
            "HOTLINE_ROUTING_TICK_MS" => "250".into(),
            "HOTLINE_PRESENCE_GRACE_SECS" => "60".into(),
            other => panic!("give {other} a realistic value in this test"),
        }
    };
    let bin = env!("CARGO_BIN_EXE_hotline");
    // `hotline --help` lists every documented setting.
    let help = std::process::Command::new(bin)
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let names = readme_settings();
    for name in &names {
        assert!(help.contains(name.as_str()), "--help lacks {name}:\n{help}");
    }
    let mut cmd = tokio::process::Command::new(bin);
    cmd.arg("serve")
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for name in &names {
        cmd.env(name, value(name));
    }
    let mut child = cmd.spawn().unwrap();
    let base = format!("http://{listen}");
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..300 {
        if let Ok(Some(status)) = child.try_wait() {
            let out = child.wait_with_output().await.unwrap();
            panic!(
                "the server stopped ({status}): {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(up, "the server never answered");
    // The admin password that looks like a number is the password.
    let r = http
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"login": "admin", "password": "0123456789"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // CTI answers on the numeric-looking token.
    let r = http
        .post(format!("{base}/api/v1/cti/123456"))
        .json(
            &serde_json::json!({"event": "newCall", "callId": "c-1", "from": "13800138000",
            "to": "4008008000", "direction": "in"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // /metrics answers its numeric-looking token, and nobody else.
    let metrics = |token: Option<&'static str>| {
        let mut req = http.get(format!("{base}/metrics"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(metrics(Some("0123456789")).await, 200);
    assert_eq!(metrics(None).await, 401);
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Start-up says where to go, and the log (not a terminal) has no colour codes.
    assert!(
        stdout.contains("https://hotline.example.cn/wallboard.html"),
        "{stdout}"
    );
    assert!(stdout.contains("portal.html"), "{stdout}");
    assert!(
        !stdout.contains('\u{1b}'),
        "colour codes in a log file: {stdout}"
    );
}
