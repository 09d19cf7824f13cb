//! `hotline doctor` against real peers: the test database (SQLite or PostgreSQL), a real SMTP
//! relay (aiosmtpd), Dovecot (HOTLINE_TEST_IMAP, when the suite runs with it), and a port held
//! by a real listener. The binary runs as an operator runs it, with only the environment given.

use crate::email_outbound::{free_port, start_relay};

/// Runs `hotline doctor` with `env` as its only settings; returns whether it exited 0, and its
/// output.
async fn doctor(env: &[(&str, String)]) -> (bool, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_hotline"));
    cmd.arg("doctor");
    for (k, _) in std::env::vars() {
        if k.starts_with("HOTLINE_") || k == "DATABASE_URL" {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    let out = cmd.output().await.expect("hotline doctor runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success(), text)
}

fn line<'a>(text: &'a str, start: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in:\n{text}"))
}

/// Dovecot's `host:port:user:password`, when the suite has it.
fn imap() -> Option<(String, String, String, String)> {
    let spec = std::env::var("HOTLINE_TEST_IMAP").ok()?;
    let mut p = spec.splitn(4, ':').map(String::from);
    Some((p.next()?, p.next()?, p.next()?, p.next()?))
}

#[tokio::test]
async fn doctor_passes_a_good_configuration_and_names_what_to_fix_in_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let database = crate::support::fresh_database(&data).await;
    let db = hotline::db::Db::connect(&database, 2).await.unwrap();
    db.migrate().await.unwrap();
    let relay_port = free_port();
    let _relay = start_relay(relay_port, &dir.path().join("relay")).await;
    let kb = concat!(env!("CARGO_MANIFEST_DIR"), "/knowledge-base");
    let mut good: Vec<(&str, String)> = vec![
        ("HOTLINE_DATA_DIR", data.display().to_string()),
        ("DATABASE_URL", database.clone()),
        ("HOTLINE_LISTEN", format!("127.0.0.1:{}", free_port())),
        ("HOTLINE_SMTP_LISTEN", format!("127.0.0.1:{}", free_port())),
        ("HOTLINE_TIME_ZONE", "Asia/Shanghai".into()),
        ("HOTLINE_PUBLIC_URL", "https://hotline.example.cn".into()),
        ("HOTLINE_ADMIN_PASSWORD", "a-long-admin-password".into()),
        ("HOTLINE_KB_DIR", kb.into()),
        ("HOTLINE_SUPPORT_ADDRESSES", "support@example.cn".into()),
        (
            "HOTLINE_SMTP_RELAY",
            format!("smtp://127.0.0.1:{relay_port}"),
        ),
        (
            "HOTLINE_TWILIO_ACCOUNT_SID",
            "AC0123456789abcdef0123456789abcdef".into(),
        ),
        ("HOTLINE_TWILIO_AUTH_TOKEN", "twilio-auth-token".into()),
        ("HOTLINE_TWILIO_SMS_FROM", "+8613800138000".into()),
        ("HOTLINE_CTI_TOKEN", "a-pbx-token-of-24-chars".into()),
    ];
    let imap = imap();
    if let Some((host, port, user, password)) = &imap {
        good.extend([
            ("HOTLINE_IMAP_HOST", host.clone()),
            ("HOTLINE_IMAP_PORT", port.clone()),
            ("HOTLINE_IMAP_TLS", "false".into()),
            ("HOTLINE_IMAP_USER", user.clone()),
            ("HOTLINE_IMAP_PASSWORD", password.clone()),
        ]);
    }
    let (ok, text) = doctor(&good).await;
    assert!(ok, "{text}");
    assert!(text.ends_with("ready to start\n"), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    assert!(
        line(&text, "ok    database").contains("is migrated"),
        "{text}"
    );
    assert!(line(&text, "ok    relay").contains("answers"), "{text}");
    assert!(line(&text, "ok    web").contains("is free"), "{text}");
    if imap.is_some() {
        assert!(line(&text, "ok    imap").contains("signed in"), "{text}");
    }

    // The token alone (the README's demo): inbound webhooks work, sending does not.
    let inbound: Vec<(&str, String)> = good
        .iter()
        .filter(|(k, _)| !["HOTLINE_TWILIO_ACCOUNT_SID", "HOTLINE_PUBLIC_URL"].contains(k))
        .cloned()
        .collect();
    let (ok, text) = doctor(&inbound).await;
    assert!(ok, "{text}");
    assert!(
        line(&text, "note  twilio").contains("inbound SMS and calls only"),
        "{text}"
    );

    // A database a newer Hotline migrated: this one must not start on it.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101, 'from the future', TRUE, $1, 0)",
    )
    .bind(vec![0u8])
    .execute(&db.pool)
    .await
    .unwrap();
    let (ok, text) = doctor(&good).await;
    assert!(!ok, "{text}");
    assert!(
        line(&text, "FAIL  database").contains("newer Hotline"),
        "{text}"
    );

    // Everything wrong at once, each named with the setting to change.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let not_a_dir = dir.path().join("a-file");
    std::fs::write(&not_a_dir, b"").unwrap();
    let mut bad: Vec<(&str, String)> = good
        .iter()
        .filter(|(k, _)| !k.starts_with("HOTLINE_TWILIO") && *k != "DATABASE_URL")
        .cloned()
        .collect();
    let set = |bad: &mut Vec<(&str, String)>, k: &'static str, v: String| {
        bad.retain(|(name, _)| *name != k);
        bad.push((k, v));
    };
    set(
        &mut bad,
        "HOTLINE_DATA_DIR",
        not_a_dir.join("data").display().to_string(),
    );
    set(
        &mut bad,
        "HOTLINE_LISTEN",
        taken.local_addr().unwrap().to_string(),
    );
    set(&mut bad, "HOTLINE_TIME_ZONE", "Mars/Olympus_Mons".into());
    set(
        &mut bad,
        "HOTLINE_SMTP_RELAY",
        format!("smtp://relay:hunter2-secret@127.0.0.1:{}", free_port()),
    );
    set(
        &mut bad,
        "HOTLINE_TWILIO_ACCOUNT_SID",
        "AC0123456789abcdef0123456789abcdef".into(),
    );
    set(&mut bad, "HOTLINE_PUBLIC_URL", "hotline.example.cn".into());
    if imap.is_some() {
        set(&mut bad, "HOTLINE_IMAP_PASSWORD", "not-the-password".into());
    }
    let (ok, text) = doctor(&bad).await;
    assert!(!ok, "{text}");
    assert!(line(&text, "FAIL  web").contains("in use"), "{text}");
    assert!(
        line(&text, "FAIL  time zone").contains("HOTLINE_TIME_ZONE"),
        "{text}"
    );
    assert!(
        line(&text, "FAIL  database").contains("cannot be written"),
        "{text}"
    );
    assert!(
        line(&text, "FAIL  relay").contains("HOTLINE_SMTP_RELAY"),
        "{text}"
    );
    assert!(
        line(&text, "FAIL  twilio").contains("HOTLINE_TWILIO_AUTH_TOKEN"),
        "{text}"
    );
    assert!(
        line(&text, "FAIL  public url").contains("https://"),
        "{text}"
    );
    if imap.is_some() {
        assert!(line(&text, "FAIL  imap").contains("HOTLINE_IMAP"), "{text}");
    }
    // Secrets stay out of the output.
    assert!(!text.contains("hunter2-secret"), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");
    assert!(text.contains("problem(s) to fix before starting Hotline"));
    drop(taken);
}
