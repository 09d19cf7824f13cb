//! Imports and exports: customers and orders from UTF-8 and GB18030 files with Chinese
//! headers, a dry run that writes nothing and reports row by row, idempotent re-imports,
//! malformed rows refused with their line numbers while the good rows land, a run stopped
//! after two chunks that resumes without duplicates, the `hotline import` binary, and streamed,
//! audited exports (CSV and JSON Lines) for admins only.

use crate::support::{TestApp, assert_error};
use hotline::import::{self, Kind, RunOptions, store};
use serde_json::Value;
use std::time::{Duration, Instant};

async fn upload(app: &TestApp, token: &str, query: &str, body: Vec<u8>) -> (u16, Value) {
    let res = app
        .http
        .post(app.url(&format!("/api/imports?{query}")))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Uploads and waits for the job to end.
async fn import(app: &TestApp, query: &str, body: Vec<u8>) -> Value {
    let (s, job) = upload(app, &app.admin_token, query, body).await;
    assert_eq!(s, 202, "{job}");
    let id = job["id"].as_i64().unwrap();
    let start = Instant::now();
    loop {
        let (s, job) = app
            .get(&format!("/api/imports/{id}"), &app.admin_token)
            .await;
        assert_eq!(s, 200, "{job}");
        if job["status"] == "done" || job["status"] == "failed" {
            return job;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn rows(app: &TestApp, id: &Value, outcome: &str) -> Vec<Value> {
    let (s, r) = app
        .get(
            &format!("/api/imports/{id}/rows?outcome={outcome}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(s, 200, "{r}");
    r["items"].as_array().unwrap().clone()
}

fn lines(rows: &[Value]) -> Vec<(i64, String, String)> {
    rows.iter()
        .map(|r| {
            (
                r["line"].as_i64().unwrap(),
                r["field"].as_str().unwrap().to_string(),
                r["code"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    use sqlx::Row;
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
        .try_get::<i64, _>(0)
        .unwrap()
}

const CUSTOMERS: &str = "外部编号,姓名,手机,邮箱,称呼,备注\n\
C1,王小明,138 0013 8000,wang@example.cn,先生,老客户\n\
C2,李雷,12,li@example.cn,,\n\
C3,韩梅梅,+86 139-0013-9000,,女士,\n\
C1,王小明二,13700137000,,,\n\
C4,张伟,13600136000,,,\n";

#[tokio::test]
async fn customers_and_orders_from_utf8_with_a_dry_run_and_a_re_import() {
    let app = TestApp::spawn().await;
    let before = count(&app, "SELECT COUNT(*) FROM customers").await;
    // A row with bytes that are not UTF-8 (line 7).
    let mut file = CUSTOMERS.as_bytes().to_vec();
    file.extend_from_slice(b"C5,\xFF\xFE\xFD,13500135000,,,\n");
    let dry = import(
        &app,
        "kind=customers&dry_run=true&file_name=c.csv",
        file.clone(),
    )
    .await;
    assert_eq!(dry["status"], "done", "{dry}");
    assert_eq!(dry["detected_encoding"], "UTF-8");
    assert_eq!(
        (&dry["created"], &dry["updated"], &dry["refused"]),
        (&3.into(), &0.into(), &3.into()),
        "{dry}"
    );
    assert_eq!(
        lines(&rows(&app, &dry["id"], "refused").await),
        [
            (3, "phone".into(), "invalid".into()),
            (5, "external_id".into(), "duplicate".into()),
            (7, "name".into(), "encoding".into()),
        ]
    );
    let would: Vec<i64> = lines(&rows(&app, &dry["id"], "created").await)
        .into_iter()
        .map(|l| l.0)
        .collect();
    assert_eq!(would, [2, 4, 6]);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM customers").await, before);

    let job = import(&app, "kind=customers", file.clone()).await;
    assert_eq!(
        (&job["created"], &job["refused"], &job["rows_done"]),
        (&3.into(), &3.into(), &6.into()),
        "{job}"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM customers").await,
        before + 3
    );
    let (s, found) = app
        .get("/api/customers/lookup?q=13800138000", &app.admin_token)
        .await;
    assert_eq!(s, 200, "{found}");
    assert!(found.to_string().contains("王小明"), "{found}");
    assert!(
        found.to_string().contains(r#""external_id":"C1""#),
        "{found}"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM customers WHERE external_id = 'C1' AND title = 'mr'"
        )
        .await,
        1
    );
    // Again: nothing new, nothing twice.
    let again = import(&app, "kind=customers", file).await;
    assert_eq!(
        (
            &again["created"],
            &again["updated"],
            &again["unchanged"],
            &again["refused"]
        ),
        (&0.into(), &0.into(), &3.into(), &3.into()),
        "{again}"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM customers").await,
        before + 3
    );
    // A changed name and a new phone update the same customer.
    let changed = import(
        &app,
        "kind=customers",
        "external_id,name,phone\nC3,韩梅梅,13300133000\nC4,张伟伟,\n".into(),
    )
    .await;
    assert_eq!(
        (&changed["updated"], &changed["created"]),
        (&2.into(), &0.into()),
        "{changed}"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM customer_identities i JOIN customers c ON c.id = i.customer_id WHERE c.external_id = 'C3'").await,
        2
    );

    // Orders: by customer external id or phone; bad currency, amount, customer refused.
    let orders = "订单号,客户编号,手机,下单时间,金额,币种,商品,状态\n\
SO1,C1,,2026-03-01 10:00,1299.90,人民币,洗衣机,已付款\n\
SO2,,13600136000,2026-03-02T10:00:00+08:00,99,CNY,滤芯,\n\
SO3,C1,,2026-03-03,12.5,XX1,x,\n\
SO4,C1,,2026-03-03,12.555,CNY,x,\n\
SO5,C9,,2026-03-03,10,CNY,x,\n\
SO1,C3,,2026-03-03,10,CNY,x,\n";
    let job = import(&app, "kind=orders", orders.into()).await;
    assert_eq!(
        (&job["created"], &job["refused"]),
        (&2.into(), &4.into()),
        "{job}"
    );
    assert_eq!(
        lines(&rows(&app, &job["id"], "refused").await),
        [
            (4, "currency".into(), "invalid".into()),
            (5, "amount".into(), "invalid".into()),
            (6, "customer_external_id".into(), "unknown_customer".into()),
            (7, "external_id".into(), "duplicate".into()),
        ]
    );
    assert_eq!(
        count(
            &app,
            "SELECT amount_minor FROM orders WHERE external_id = 'SO1'"
        )
        .await,
        129_990
    );
    // The tiers were recomputed: the customer with orders has figures.
    let c1 = count(&app, "SELECT id FROM customers WHERE external_id = 'C1'").await;
    let (_, v) = app
        .get(&format!("/api/customers/{c1}/value"), &app.admin_token)
        .await;
    assert!(v["figures"].is_object(), "{v}");
    let again = import(&app, "kind=orders", orders.into()).await;
    assert_eq!(
        (&again["created"], &again["unchanged"]),
        (&0.into(), &2.into()),
        "{again}"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM orders").await, 2);
}

#[tokio::test]
async fn a_gb18030_file_is_recognised_and_its_header_mapped() {
    let app = TestApp::spawn().await;
    let text = "客户姓名,联系电话,客户编号,会员等级\n王芳,13800138001,G1,金卡\n刘洋,13800138002,G2,银卡\n\
                陈静,13800138003,G3,普通会员\n赵磊,13800138004,G4,普通会员\n";
    let (gb, _, _) = encoding_rs::GB18030.encode(text);
    let job = import(
        &app,
        "kind=customers&map=%E5%AE%A2%E6%88%B7%E7%BC%96%E5%8F%B7%3Dexternal_id",
        gb.to_vec(),
    )
    .await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["detected_encoding"], "gb18030");
    assert_eq!(job["created"], 4, "{job}");
    let cols: Vec<Option<&str>> = job["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str())
        .collect();
    assert_eq!(
        cols,
        [Some("name"), Some("phone"), Some("external_id"), None]
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM customers WHERE display_name = '王芳' AND external_id = 'G1'"
        )
        .await,
        1
    );
    // Orders in GB18030 named explicitly.
    let orders = "订单号,客户编号,下单时间,金额,币种\nGO1,G1,2026-01-05,88.00,CNY\n";
    let (gb, _, _) = encoding_rs::GB18030.encode(orders);
    let job = import(&app, "kind=orders&encoding=gb18030", gb.to_vec()).await;
    assert_eq!(
        (&job["created"], &job["detected_encoding"]),
        (&1.into(), &"gb18030".into()),
        "{job}"
    );
    // A file without the needed columns is refused at once.
    let (s, b) = upload(
        &app,
        &app.admin_token,
        "kind=orders",
        b"a,b\n1,2\n".to_vec(),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"]["code"], "validation_failed");
    // Only admins import.
    let (_, agent) = app.user("imp-agent", "agent").await;
    let (s, b) = upload(&app, &agent, "kind=customers", CUSTOMERS.into()).await;
    assert_eq!(s, 403, "{b}");
}

/// A job importing the file at `path` (its name is the path's last part), recorded as
/// `source` (`cli`, or `console` for one a server's resumer may take over).
async fn new_job(
    db: &hotline::db::Db,
    kind: Kind,
    source: &str,
    path: &std::path::Path,
) -> store::Job {
    let file_name = path.file_name().unwrap().to_string_lossy().to_string();
    store::create(
        db,
        &store::NewJob {
            kind,
            source,
            file_name: &file_name,
            path: &path.to_string_lossy(),
            file_size: std::fs::metadata(path).unwrap().len() as i64,
            encoding: "auto",
            mapping: &[],
            dry_run: false,
            by: None,
        },
    )
    .await
    .unwrap()
}

/// `n` customer rows `E{i}` with distinct phones; row `dup_of` repeats the id of row 10.
fn many(n: usize, dup_at: usize) -> String {
    let mut s = String::from("external_id,name,phone\n");
    for i in 1..=n {
        let id = if i == dup_at { 10 } else { i };
        s.push_str(&format!("E{id},Customer {i},1370000{i:04}\n"));
    }
    s
}

#[tokio::test]
async fn a_stopped_import_resumes_after_its_last_chunk_without_duplicates() {
    let app = TestApp::spawn().await;
    let before = count(&app, "SELECT COUNT(*) FROM customers").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    let n = 3 * import::CHUNK + 200;
    std::fs::write(&path, many(n, n - 5)).unwrap();
    let db = &app.state.db;
    // Not a console job: this server's resumer must not take it meanwhile.
    let job = new_job(db, Kind::Customers, "cli", &path).await;
    let ctx = import::routes::ctx(&app.state);
    let first = RunOptions {
        owner: "test:first".into(),
        stop_after_chunks: Some(2),
    };
    let mut seen = Vec::new();
    let stopped = import::run(db, &ctx, job.id, &first, |j| seen.push(j.rows_done))
        .await
        .unwrap();
    assert_eq!(seen, [500, 1000]);
    assert_eq!(stopped.status, "running");
    assert_eq!(stopped.rows_done, 2 * import::CHUNK as i64);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM customers").await,
        before + 1000
    );
    // While its claim lasts nobody else runs it.
    let second = RunOptions {
        owner: "test:second".into(),
        stop_after_chunks: None,
    };
    assert!(matches!(
        import::run(db, &ctx, job.id, &second, |_| {}).await,
        Err(hotline::error::AppError::Conflict(_))
    ));
    // As after the first process died and its claim lapsed.
    sqlx::query("UPDATE import_jobs SET lease_until = 0 WHERE id = $1")
        .bind(job.id)
        .execute(&db.pool)
        .await
        .unwrap();
    let done = import::run(db, &ctx, job.id, &second, |_| {})
        .await
        .unwrap();
    assert_eq!(done.status, "done");
    assert_eq!(done.rows_done, n as i64);
    assert_eq!((done.created, done.refused), (n as i64 - 1, 1));
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM customers").await,
        before + n as i64 - 1
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(DISTINCT external_id) FROM customers WHERE external_id IS NOT NULL"
        )
        .await,
        n as i64 - 1
    );
    // The duplicate after the stop was known from the rows read before it.
    let refused = store::rows(db, job.id, Some("refused"), 0, 10)
        .await
        .unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].line, (n - 5 + 1) as i64);
    assert_eq!(refused[0].code, "duplicate");
    assert!(
        refused[0].message.contains("line 11"),
        "{}",
        refused[0].message
    );
}

#[tokio::test]
async fn the_import_command_reports_refused_lines_and_resumes_nothing_twice() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("customers.csv");
    std::fs::write(&file, CUSTOMERS).unwrap();
    // Through tokio's process API: the test's server runs on this thread, and a blocking wait
    // for the child would stop it in the middle of any transaction it had open, so that the
    // child waited for SQLite's write lock until its busy timeout (a failure one run in four).
    let run = |dry: bool| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_hotline"));
        cmd.args(["import", "customers"])
            .arg(&file)
            .env("HOTLINE_DATA_DIR", dir.path())
            .env("DATABASE_URL", app.config.database_url())
            .env("RUST_LOG", "warn");
        if dry {
            cmd.arg("--dry-run");
        }
        async move {
            let out = cmd.output().await.unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        }
    };
    let dry = run(true).await;
    assert!(dry.contains("3 would be created"), "{dry}");
    assert!(dry.contains("line 3: phone:"), "{dry}");
    assert!(dry.contains("line 5: external_id:"), "{dry}");
    let real = run(false).await;
    assert!(real.contains("3 created"), "{real}");
    let again = run(false).await;
    assert!(
        again.contains("0 created, 0 updated, 3 unchanged, 2 refused"),
        "{again}"
    );
}

/// The command checkpoints SQLite's WAL as it goes, as `serve` does (the connections never do
/// it themselves): without, an import of 1M orders left a 24 GB WAL beside a 4 KB database
/// file, and every read slowed as the WAL grew.
#[tokio::test]
async fn the_import_command_checkpoints_sqlites_wal_as_it_goes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("customers.csv");
    std::fs::write(&file, many(5000, 0)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["import", "customers"])
        .arg(&file)
        .env("HOTLINE_DATA_DIR", dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("HOTLINE_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("5000 created"),
        "{stdout}"
    );
    // 5,000 customers with their phones are ~2 MB of pages; unchecked, all of them stay in
    // the WAL and the database file keeps its first page.
    let size = std::fs::metadata(dir.path().join("hotline.db"))
        .unwrap()
        .len();
    assert!(size > 1 << 20, "the database file holds {size} bytes");
}

/// An import checkpoints SQLite's WAL after every chunk, and so does the ranking of every
/// customer that follows an orders import, so that the WAL starts over at the next chunk. The
/// periodic checkpoint alone never ends between two chunks that follow each other closely: an
/// import of 1M orders grew the WAL to 12 GB, and the first ranking of 1M customers to 6.9 GB.
/// Run here without the periodic task, the WAL holds every page written unless they checkpoint.
#[tokio::test]
async fn an_import_and_its_ranking_let_sqlites_wal_start_over_after_every_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hotline.db").display());
    let db = hotline::db::Db::connect(&url, 3).await.unwrap();
    db.migrate().await.unwrap();
    // The WAL keeps the size of its largest run: the migrations' run is folded away first.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&db.pool)
        .await
        .unwrap();
    let config = hotline::config::Config::default();
    let ctx = import::Ctx::of(&config, hotline::clock::Clock::default()).unwrap();
    let n = 10 * import::CHUNK;
    // An hour ago, so that the ranking counts them: a local time of today (10:00 in the
    // center's zone) is still ahead of the clock just after midnight UTC, and the ranking
    // leaves orders after now out of its window (the test failed then).
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let mut orders = String::from("external_id,customer_external_id,ordered_at,amount,currency\n");
    for i in 1..=n {
        orders.push_str(&format!("O{i},E{i},{at},{}.50,CNY\n", i % 300));
    }
    for (kind, name, text) in [
        (Kind::Customers, "customers.csv", many(n, 0)),
        (Kind::Orders, "orders.csv", orders),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let job = new_job(&db, kind, "cli", &path).await;
        let opts = RunOptions {
            owner: "test".into(),
            stop_after_chunks: None,
        };
        let done = import::run(&db, &ctx, job.id, &opts, |_| {}).await.unwrap();
        assert_eq!((done.created, done.refused), (n as i64, 0), "{name}");
    }
    let ranked: i64 = sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) AS n FROM customer_value")
            .fetch_one(&db.pool)
            .await
            .unwrap(),
        "n",
    );
    assert!(ranked > 0);
    let len = |name: &str| std::fs::metadata(dir.path().join(name)).map_or(0, |m| m.len());
    let (file, wal) = (len("hotline.db"), len("hotline.db-wal"));
    // The WAL's size is its largest run between two restarts: about one chunk's pages.
    assert!(
        wal < file / 4,
        "the WAL holds {wal} bytes beside a database file of {file}"
    );
}

/// A job this node's upload is running is not run a second time beside it by the node's
/// resumer. Both used the node's name as owner, and a claim by the same owner is renewed: a
/// dry run counted every row twice, once on PostgreSQL in CI.
#[tokio::test]
async fn the_resumer_never_takes_a_job_its_node_is_running() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::fresh_database(dir.path()).await;
    let db = hotline::db::Db::connect(&url, 3).await.unwrap();
    db.migrate().await.unwrap();
    let path = dir.path().join("customers.csv");
    std::fs::write(&path, many(10, 0)).unwrap();
    let job = new_job(&db, Kind::Customers, "console", &path).await;
    let lease = import::LEASE_MS;
    store::claim(&db, job.id, &import::upload_owner("n1"), lease)
        .await
        .unwrap();
    let again = store::claim(&db, job.id, &import::resumer_owner("n1"), lease).await;
    assert!(
        matches!(again, Err(hotline::error::AppError::Conflict(_))),
        "{:?}",
        again.map(|j| j.status)
    );
}

#[tokio::test]
async fn exports_stream_every_row_audited_and_for_admins_only() {
    let app = TestApp::spawn().await;
    let n = 1234;
    let job = import(&app, "kind=customers", many(n, 0).into()).await;
    assert_eq!(job["created"], n as i64, "{job}");
    let total = count(&app, "SELECT COUNT(*) FROM customers").await as usize;
    let get = |path: &str, token: &str| {
        app.http
            .get(app.url(path))
            .bearer_auth(token.to_string())
            .send()
    };
    let res = get("/api/export/customers.csv", &app.admin_token)
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let body = res.bytes().await.unwrap();
    assert!(body.starts_with(b"\xEF\xBB\xBF"));
    let mut r = csv::Reader::from_reader(&body[3..]);
    let header = r.headers().unwrap().clone();
    let phone = header.iter().position(|h| h == "phone").unwrap();
    let records: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), total);
    let ids: std::collections::BTreeSet<i64> =
        records.iter().map(|r| r[0].parse().unwrap()).collect();
    assert_eq!(ids.len(), total);
    // A phone starts with +: defused for spreadsheets.
    assert!(
        records.iter().any(|r| r[phone].starts_with("'+86137")),
        "{:?}",
        records[0]
    );
    // The export imports again: every row unchanged.
    let again = import(&app, "kind=customers", body.to_vec()).await;
    assert_eq!(again["unchanged"], n as i64, "{again}");

    let res = get("/api/export/customers.jsonl", &app.admin_token)
        .await
        .unwrap();
    let text = res.text().await.unwrap();
    let items: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(items.len(), total);
    assert!(
        items
            .iter()
            .any(|c| c["external_id"] == "E7" && c["identities"][0]["kind"] == "phone")
    );

    // Tickets and interactions, with a time filter.
    let c = app.customer("Export Ticket", &[]).await;
    let (s, t) = app
        .post(
            "/api/tickets",
            &app.admin_token,
            serde_json::json!({"subject": "=cmd|' /C calc'!A0", "channel": "voice", "customer_id": c, "body": "hello"}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let res = get("/api/export/tickets.csv", &app.admin_token)
        .await
        .unwrap();
    let body = res.bytes().await.unwrap();
    let mut r = csv::Reader::from_reader(&body[3..]);
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][1], "'=cmd|' /C calc'!A0");
    let res = get(
        "/api/export/tickets.jsonl?from=2100-01-01T00:00:00Z",
        &app.admin_token,
    )
    .await
    .unwrap();
    assert_eq!(res.text().await.unwrap(), "");
    let res = get("/api/export/interactions.jsonl", &app.admin_token)
        .await
        .unwrap();
    let text = res.text().await.unwrap();
    for l in text.lines() {
        let i: Value = serde_json::from_str(l).unwrap();
        assert_eq!(i["ticket_id"], t["id"]);
    }
    let res = get("/api/export/interactions.csv", &app.admin_token)
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (s, b) = app
        .get("/api/export/tickets.csv?from=yesterday", &app.admin_token)
        .await;
    assert_error(s, &b, 400, "validation_failed");

    let (s, audit) = app.get("/api/audit?action=export", &app.admin_token).await;
    assert_eq!(s, 200, "{audit}");
    let targets: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    for t in [
        "customers.csv",
        "customers.jsonl",
        "tickets.csv",
        "interactions.jsonl",
    ] {
        assert!(targets.contains(&t), "{targets:?}");
    }
    let (_, sup) = app.user("exp-sup", "supervisor").await;
    let res = get("/api/export/customers.csv", &sup).await.unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn a_console_job_left_running_by_a_stopped_node_is_resumed_by_another() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.csv");
    let n = import::CHUNK + 300;
    std::fs::write(&path, many(n, 0)).unwrap();
    let db = &app.state.db;
    let job = new_job(db, Kind::Customers, "console", &path).await;
    let ctx = import::routes::ctx(&app.state);
    let gone = RunOptions {
        owner: "node:gone".into(),
        stop_after_chunks: Some(1),
    };
    import::run(db, &ctx, job.id, &gone, |_| {}).await.unwrap();
    sqlx::query("UPDATE import_jobs SET lease_until = 0 WHERE id = $1")
        .bind(job.id)
        .execute(&db.pool)
        .await
        .unwrap();
    // What a node does at start (and every 30 s): the job is taken and finished.
    let resumer = tokio::spawn(import::resume_unfinished(db.clone(), ctx, "other".into()));
    let start = Instant::now();
    let done = loop {
        let j = store::find(db, job.id).await.unwrap();
        if j.status == "done" {
            break j;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{j:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    resumer.abort();
    assert_eq!((done.created, done.rows_done), (n as i64, n as i64));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM customers WHERE external_id LIKE 'E%'"
        )
        .await,
        n as i64
    );
}
