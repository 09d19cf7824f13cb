//! Route × role matrix: every operation of the OpenAPI document, called as each role
//! (anonymous, agent, supervisor, admin), answers as tests/api/access_matrix.toml says.
//!
//! The routes come from the served document, so a new route without a row in the table fails
//! this test (add the row: who may call it), and a row whose route is gone fails too. Each call
//! is minimal: path parameters filled with real ids of objects made here (or a dummy id where
//! a 404 is fine), `{}` as the body of POST/PUT/PATCH (a 400 is fine). The table's words:
//! - "allowed": the role gets past authentication and authorization: neither 401 nor 403;
//! - "denied": 401 `unauthenticated` for anonymous, 403 `forbidden` for a signed-in role;
//! - "verified": a public webhook that checks its own signature or token: never 401, a 403
//!   for the missing signature is fine;
//! - a number: exactly that status.
//!
//! No answer may be a 5xx. A row may carry `body` (JSON sent instead of `{}`), `path` (the
//! concrete path to call), and `fresh_session` (why the call must use a throwaway session of
//! the role, e.g. logout, which ends the session it is called with).

use crate::support::*;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

const ROLES: [&str; 4] = ["anonymous", "agent", "supervisor", "admin"];
const TABLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/access_matrix.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    routes: BTreeMap<String, Row>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    anonymous: Expect,
    agent: Expect,
    supervisor: Expect,
    admin: Expect,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    fresh_session: Option<String>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
enum Expect {
    Word(String),
    Status(u16),
}

impl Row {
    fn expect(&self, role: &str) -> &Expect {
        match role {
            "anonymous" => &self.anonymous,
            "agent" => &self.agent,
            "supervisor" => &self.supervisor,
            _ => &self.admin,
        }
    }
}

/// Whether `status` (with `body`) is what `want` says for `role`; the reason when not.
fn check(role: &str, want: &Expect, status: StatusCode, body: &Value) -> Result<(), String> {
    let s = status.as_u16();
    if status.is_server_error() {
        return Err(format!("server error {s}: {body}"));
    }
    let denied = s == 401 || s == 403;
    let ok = match want {
        Expect::Status(n) => s == *n,
        Expect::Word(w) if w == "allowed" => !denied,
        Expect::Word(w) if w == "verified" => s != 401,
        Expect::Word(w) if w == "denied" => {
            let (code, status) = if role == "anonymous" {
                ("unauthenticated", 401)
            } else {
                ("forbidden", 403)
            };
            s == status && body["error"]["code"] == code
        }
        Expect::Word(w) => return Err(format!("unknown expectation {w:?} in {TABLE}")),
    };
    if ok {
        Ok(())
    } else {
        let mut shown = body.to_string();
        if shown.len() > 300 {
            shown.truncate(shown.floor_char_boundary(300));
            shown.push('…');
        }
        Err(format!("expected {want:?}, got {s}: {shown}"))
    }
}

/// The ids of the objects the calls are made on.
struct Ids {
    queue: i64,
    rule: i64,
    user: i64,
    customer: i64,
    ticket: i64,
    ticket_number: i64,
    article: i64,
}

/// `path` with each `{param}` replaced by the id of the object its collection names, or by a
/// dummy id (the call then answers 404 past the access check, which is what is measured).
fn fill(path: &str, ids: &Ids) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let mut out = Vec::with_capacity(segments.len());
    for (i, seg) in segments.iter().enumerate() {
        if !(seg.starts_with('{') && seg.ends_with('}')) {
            out.push(seg.to_string());
            continue;
        }
        let parent = if i > 0 { segments[i - 1] } else { "" };
        let id = match (parent, *seg) {
            ("queues", _) => ids.queue.to_string(),
            ("rules", _) => ids.rule.to_string(),
            ("users" | "agents", _) => ids.user.to_string(),
            ("customers", _) => ids.customer.to_string(),
            ("tickets", "{number}") => ids.ticket_number.to_string(),
            ("tickets" | "work", _) => ids.ticket.to_string(),
            ("articles", _) => ids.article.to_string(),
            _ => "999999".to_string(),
        };
        out.push(id);
    }
    out.join("/")
}

fn created(status: StatusCode, body: &Value, what: &str) -> i64 {
    assert!(status.is_success(), "creating {what}: {status} {body}");
    body["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{what} has an id: {body}"))
}

#[tokio::test]
async fn every_route_answers_every_role_as_the_table_says() {
    let table_text = std::fs::read_to_string(TABLE).expect("the access table is readable");
    let table: Table = toml::from_str(&table_text).expect("the access table parses");

    let app = TestApp::spawn().await;
    let (_, openapi) = app.call(Method::GET, "/api/openapi.json", None, None).await;
    let mut documented = BTreeSet::new();
    for (path, item) in openapi["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let missing: Vec<&String> = documented
        .iter()
        .filter(|r| !table.routes.contains_key(*r))
        .collect();
    let stale: Vec<&String> = table
        .routes
        .keys()
        .filter(|r| !documented.contains(*r))
        .collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "{TABLE} is out of date.\nRoutes without a row (add one: which roles may call it?):\n  {}\n\
         Rows for routes that no longer exist (remove them):\n  {}",
        missing
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  "),
        stale
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  "),
    );

    // The objects the calls name, made by the bootstrap admin.
    let (user, _) = app.user("matrix-target", "agent").await;
    let mut tokens = BTreeMap::new();
    let mut logins = BTreeMap::new();
    for role in ["agent", "supervisor", "admin"] {
        let login = format!("matrix-{role}");
        let (_, token) = app.user(&login, role).await;
        tokens.insert(role, token);
        logins.insert(role, login);
    }
    let queue = app.queue("Matrix").await;
    let (s, b) = app
        .call(
            Method::PUT,
            &format!("/api/queues/{queue}/members"),
            Some(&app.admin_token),
            Some(json!({"user_ids": [user]})),
        )
        .await;
    assert!(s.is_success(), "members: {b}");
    let (s, b) = app
        .post(
            &format!("/api/queues/{queue}/rules"),
            &app.admin_token,
            json!({"position": 1, "tier": "vip", "priority_boost": 1}),
        )
        .await;
    let rule = created(s, &b, "rule");
    let customer = app
        .customer("Matrix Customer", &[("phone", "+8613800138000")])
        .await;
    let (s, ticket) = app
        .post(
            "/api/tickets",
            &app.admin_token,
            json!({"subject": "Matrix ticket", "customer_id": customer, "queue_id": queue,
                   "channel": "voice", "body": "Routes and roles."}),
        )
        .await;
    let ticket_id = created(s, &ticket, "ticket");
    let ticket_number = ticket["number"].as_i64().unwrap_or(ticket_id);
    let (s, b) = app
        .post(
            "/api/kb/articles",
            &app.admin_token,
            json!({"slug": "matrix", "lang": "en", "category": "general", "title": "Matrix",
                   "audience": "public", "body": "Who may call what."}),
        )
        .await;
    let article = created(s, &b, "article");
    let ids = Ids {
        queue,
        rule,
        user,
        customer,
        ticket: ticket_id,
        ticket_number,
        article,
    };

    let mut failures = Vec::new();
    let mut calls = 0;
    for (route, row) in &table.routes {
        let (method, path) = route.split_once(' ').expect("rows are `METHOD /path`");
        let method: Method = method.parse().expect("an HTTP method");
        let target = row.path.clone().unwrap_or_else(|| fill(path, &ids));
        let body = match &row.body {
            Some(b) => Some(serde_json::from_str::<Value>(b).expect("row body is JSON")),
            None if matches!(method, Method::POST | Method::PUT | Method::PATCH) => Some(json!({})),
            None => None,
        };
        for role in ROLES {
            let token = match role {
                "anonymous" => None,
                _ if row.fresh_session.is_some() => {
                    Some(app.login(&logins[role], "password-123").await)
                }
                _ => Some(tokens[role].clone()),
            };
            let (status, answer) = app
                .call(method.clone(), &target, token.as_deref(), body.clone())
                .await;
            calls += 1;
            if let Err(why) = check(role, row.expect(role), status, &answer) {
                failures.push(format!("{route} as {role} ({target}): {why}"));
            }
        }
    }
    // The sessions used above still work: no call ended one by accident.
    for role in ["agent", "supervisor", "admin"] {
        let (s, b) = app.get("/api/auth/me", &tokens[role]).await;
        assert_eq!(
            s,
            StatusCode::OK,
            "{role}'s session survived the matrix: {b}"
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {calls} calls did not answer as {TABLE} says:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(calls, documented.len() * ROLES.len());
}

/// The table itself: every row names a method and a path, every expectation is a known word or
/// a status, and no route is listed twice in different spellings.
#[test]
fn the_access_table_is_well_formed() {
    let table: Table = toml::from_str(&std::fs::read_to_string(TABLE).unwrap()).unwrap();
    let mut seen = BTreeSet::new();
    for (route, row) in &table.routes {
        let (method, path) = route.split_once(' ').expect("rows are `METHOD /path`");
        assert!(
            ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method),
            "{route}: method"
        );
        assert!(
            path.starts_with('/') && !path.contains(' '),
            "{route}: path"
        );
        assert!(
            seen.insert(route.to_ascii_lowercase()),
            "{route} listed twice"
        );
        for role in ROLES {
            match row.expect(role) {
                Expect::Word(w) => assert!(
                    ["allowed", "denied", "verified"].contains(&w.as_str()),
                    "{route} {role}: {w:?} is not allowed, denied or verified"
                ),
                Expect::Status(n) => assert!((100..600).contains(n), "{route} {role}: {n}"),
            }
        }
        if let Some(b) = &row.body {
            serde_json::from_str::<Value>(b)
                .unwrap_or_else(|e| panic!("{route}: body is not JSON: {e}"));
        }
    }
}
