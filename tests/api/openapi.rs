//! The OpenAPI document: every route's bodies described by the schemas of the Rust types, the
//! success status each handler really returns, and (through `support::contract`, which checks
//! every JSON exchange of the whole suite) real answers that match it.

use crate::support::{TestApp, contract};
use hotline::http::{Body, openapi};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The routes whose request or success body is not JSON, and why. Every other route takes and
/// answers JSON (or nothing) with a schema.
const NOT_JSON: &[(&str, &str, &str)] = &[
    ("GET", "/healthz", "text"),
    ("GET", "/readyz", "text"),
    ("GET", "/metrics", "Prometheus text"),
    ("GET", "/ws", "websocket upgrade (101)"),
    ("GET", "/api/attachments/{id}", "the file"),
    ("GET", "/api/email/inbound/{id}/raw", "the raw message"),
    ("GET", "/api/audit.csv", "CSV export"),
    ("GET", "/api/complaints/export.csv", "CSV export"),
    ("GET", "/api/reports/volume.csv", "CSV export"),
    ("GET", "/api/reports/service.csv", "CSV export"),
    ("GET", "/api/reports/agents.csv", "CSV export"),
    ("GET", "/api/reports/complaints.csv", "CSV export"),
    ("GET", "/api/reports/csat-trend.csv", "CSV export"),
    ("POST", "/api/imports", "the CSV file to import"),
    ("GET", "/api/export/customers.csv", "CSV export"),
    ("GET", "/api/export/customers.jsonl", "JSON Lines export"),
    ("GET", "/api/export/tickets.csv", "CSV export"),
    ("GET", "/api/export/tickets.jsonl", "JSON Lines export"),
    ("GET", "/api/export/interactions.csv", "CSV export"),
    ("GET", "/api/export/interactions.jsonl", "JSON Lines export"),
    ("POST", "/webhooks/twilio/sms", "Twilio form, TwiML"),
    ("POST", "/webhooks/twilio/sms/status", "Twilio form, TwiML"),
    ("POST", "/webhooks/twilio/voice", "Twilio form, TwiML"),
    (
        "POST",
        "/webhooks/twilio/voice/status",
        "Twilio form, TwiML",
    ),
    (
        "POST",
        "/api/v1/cti/{token}",
        "PBX form or JSON; sipgate XML",
    ),
    ("GET", "/survey/{token}", "the survey page (HTML)"),
    (
        "POST",
        "/webhooks/twilio/voice/survey",
        "Twilio form, TwiML",
    ),
];

#[tokio::test]
async fn every_route_is_described() {
    let app = TestApp::spawn().await;
    let ops = hotline::http::routes(app.state.clone()).ops;
    let missing = openapi::undescribed(&ops);
    assert!(
        missing.is_empty(),
        "{} routes lack a body description in the OpenAPI document (add it after the route's \
         `.add(..)`, see `hotline::http::Routes`):\n{}",
        missing.len(),
        missing.join("\n")
    );
    // Non-JSON bodies only where listed above; bodiless answers only for 204 and 101.
    let mut raw = Vec::new();
    for op in &ops {
        let listed = NOT_JSON
            .iter()
            .any(|(m, p, _)| *m == op.method && *p == op.path);
        let bodies = op.request.iter().chain(op.responses.iter().map(|(_, b)| b));
        if !listed && bodies.clone().any(|b| matches!(b, Body::Raw(_))) {
            raw.push(format!("{} {}", op.method, op.path));
        }
        for (status, b) in &op.responses {
            if matches!(b, Body::Empty) {
                assert!(
                    *status == 204 || (*status == 101 && listed),
                    "{} {}: a bodiless {status}",
                    op.method,
                    op.path
                );
            }
        }
        if matches!(op.method, "GET" | "DELETE") {
            assert!(
                op.request.is_none() || op.path.ends_with("/identities"),
                "{} {} describes a request body",
                op.method,
                op.path
            );
        }
    }
    assert!(
        raw.is_empty(),
        "routes with non-JSON bodies that are not in NOT_JSON: {raw:?}"
    );
    for (m, p, _) in NOT_JSON {
        assert!(
            ops.iter().any(|op| op.method == *m && op.path == *p),
            "NOT_JSON lists {m} {p}, which is no route"
        );
    }
}

/// Every `$ref` in `v`.
fn refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                match (k.as_str(), child) {
                    ("$ref", Value::String(r)) => {
                        out.insert(r.clone());
                    }
                    _ => refs(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| refs(i, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_1_with_named_schemas_and_real_statuses() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.get("/api/openapi.json", &app.admin_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let schemas = doc["components"]["schemas"].as_object().unwrap();

    // Every reference resolves, and every named schema is used.
    let mut used = BTreeSet::new();
    refs(&doc["paths"], &mut used);
    let mut all = used.clone();
    refs(&doc["components"], &mut all);
    for r in &all {
        let name = r
            .strip_prefix(openapi::SCHEMAS_REF)
            .unwrap_or_else(|| panic!("{r} points outside components/schemas"));
        assert!(schemas.contains_key(name), "{r} is not defined");
    }
    for name in schemas.keys() {
        assert!(
            all.contains(&format!("{}{name}", openapi::SCHEMAS_REF)),
            "components/schemas/{name} is never used"
        );
    }
    // Each is a JSON Schema 2020-12 that compiles.
    for (name, schema) in schemas {
        let root = json!({"$schema": "https://json-schema.org/draft/2020-12/schema",
                          "allOf": [schema], "components": doc["components"]});
        assert!(
            jsonschema::meta::is_valid(&root),
            "{name} is not a valid 2020-12 schema"
        );
        jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("{name}: {e}"));
    }

    // Operation ids are unique; bodies are referenced schemas, not empty ones.
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_string()), "operationId {id} repeats");
            if let Some(schema) = op["requestBody"]["content"]["application/json"].get("schema") {
                assert_ne!(
                    schema,
                    &json!({}),
                    "{method} {path}: an empty request schema"
                );
            }
        }
    }

    // Statuses are the ones the handlers return.
    let op = |m: &str, p: &str| doc["paths"][p][m]["responses"].clone();
    let created = op("post", "/api/kb/articles");
    assert!(
        created.get("201").is_some() && created.get("200").is_none(),
        "{created}"
    );
    assert_eq!(
        created["201"]["content"]["application/json"]["schema"]["$ref"],
        format!("{}Article", openapi::SCHEMAS_REF)
    );
    for (m, p) in [
        ("post", "/api/users"),
        ("post", "/api/customers"),
        ("post", "/api/tickets"),
        ("post", "/api/queues"),
        ("post", "/api/auth/tokens"),
        ("post", "/api/portal/complaints"),
    ] {
        assert!(op(m, p).get("201").is_some(), "{m} {p}: {}", op(m, p));
    }
    for (m, p) in [
        ("delete", "/api/auth/tokens/{id}"),
        ("post", "/api/auth/logout"),
        ("post", "/api/kb/articles/{id}/used"),
    ] {
        let r = op(m, p);
        assert!(
            r["204"].get("content").is_none() && r.get("200").is_none(),
            "{m} {p}: {r}"
        );
    }

    // Query parameters are the fields of the handler's query type.
    let params = |m: &str, p: &str| doc["paths"][p][m]["parameters"].clone();
    let lookup = params("get", "/api/customers/lookup");
    assert_eq!(
        lookup,
        json!([{"name": "q", "in": "query", "required": true, "schema": {"type": "string"}}])
    );
    let tickets = params("get", "/api/tickets");
    let status = tickets
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "status")
        .unwrap();
    assert_eq!(status["required"], false, "{status}");
    assert_eq!(status["schema"]["type"], "string", "{status}");
    let history = params("get", "/api/customers/{id}/history");
    assert_eq!(history[0]["in"], "path", "{history}");
    assert!(history.as_array().unwrap().len() > 1, "{history}");

    // serde's attributes are honoured: rename, skip, flatten, skip_serializing_if.
    let props = |name: &str| schemas[name]["properties"].clone();
    assert!(props("View360").get("match").is_some());
    assert!(props("View360").get("quality").is_none());
    assert!(props("HistoryItem").get("queue_id").is_none());
    assert!(props("Attachment").get("sha256").is_none());
    let me = &schemas["Me"];
    let me_text = me.to_string();
    assert!(
        me_text.contains("time_zone") && me_text.contains("must_change_password"),
        "{me}"
    );
    let ticket_status = &schemas["TicketStatus"]["required"];
    assert!(
        !ticket_status
            .as_array()
            .unwrap()
            .contains(&json!("replies")),
        "{ticket_status}"
    );
    // A field with a default may be left out of a request.
    let sla_required = schemas["SlaTargetInput"]["required"].as_array().unwrap();
    assert!(!sla_required.contains(&json!("kind")), "{sla_required:?}");
    assert!(
        sla_required.contains(&json!("priority")),
        "{sla_required:?}"
    );
}

/// The check every API test runs through (`support::contract`) refuses what the document does
/// not allow: a wrong field type, an undocumented status, a body the schema refuses.
#[tokio::test]
async fn answers_that_differ_from_the_document_fail_the_test() {
    let app = TestApp::spawn().await;
    let fails = |method: &'static str, path: &'static str, status: u16, body: Value| {
        let state = app.state.clone();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            contract::check(
                &state,
                method,
                path,
                None,
                StatusCode::from_u16(status).unwrap(),
                true,
                &body,
            )
        }))
        .is_err()
    };
    let (status, users) = app.get("/api/users", &app.admin_token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!fails("GET", "/api/users", 200, users.clone()));
    let mut wrong = users.clone();
    wrong[0]["id"] = json!("one");
    assert!(fails("GET", "/api/users", 200, wrong));
    let mut missing = users.clone();
    missing[0].as_object_mut().unwrap().remove("login");
    assert!(fails("GET", "/api/users", 200, missing));
    // A field the type does not have (the answer drifted from the documented type).
    let mut extra = users;
    extra[0]["password_hash"] = json!("$argon2id$…");
    assert!(fails("GET", "/api/users", 200, extra));
    // A create documented as 201 that answered 200.
    assert!(fails("POST", "/api/kb/articles", 200, json!({})));
    // A 204 with a body; an error without the error shape.
    assert!(fails(
        "DELETE",
        "/api/auth/tokens/7",
        204,
        json!({"ok": true})
    ));
    assert!(fails(
        "GET",
        "/api/users/9",
        404,
        json!({"message": "gone"})
    ));
    assert!(!fails(
        "GET",
        "/api/users/9",
        404,
        json!({"error": {"code": "not_found", "message": "user not found"}})
    ));
}

/// The JSON routes no other test reaches through `TestApp::call`, so that every JSON answer
/// is checked against the document at least once.
#[tokio::test]
async fn routes_the_other_tests_leave_out_answer_as_documented() {
    let app = TestApp::spawn_with(|c| c.cti_token = hotline::config::Secret("cti-t".into())).await;
    let admin = app.admin_token.clone();
    let id = app.customer("Li Lei", &[]).await;
    let identity = json!({"kind": "email", "value": "li.lei@example.com"});
    let path = format!("/api/customers/{id}/identities");
    let (status, body) = app.post(&path, &admin, identity.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["identities"][0]["value"], "li.lei@example.com",
        "{body}"
    );
    let (status, body) = app
        .call(Method::DELETE, &path, Some(&admin), Some(identity))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let (status, rule) = app
        .post(
            "/api/voice/caller-id-rules",
            &admin,
            json!({"prefix": "+86", "caller_id": "+864008001234"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/api/voice/caller-id-rules/{}", rule["id"]),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let (status, answer) = app
        .call(
            Method::POST,
            "/api/v1/cti/cti-t",
            None,
            Some(
                json!({"event": "newCall", "from": "+8613800138000", "to": "4001",
                        "direction": "in", "callId": "openapi-1"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!({}));
    let (status, calls) = app.get("/api/calls", &admin).await;
    assert_eq!(status, StatusCode::OK, "{calls}");
    let call_id = calls[0]["id"].as_i64().unwrap();
    let (status, call) = app.get(&format!("/api/calls/{call_id}"), &admin).await;
    assert_eq!(status, StatusCode::OK, "{call}");
    assert_eq!(call["call_id"], "openapi-1", "{call}");
}
