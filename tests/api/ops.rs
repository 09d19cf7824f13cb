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
