//! The OpenAPI 3.1 document, generated from the same route list the router is built from, so
//! the two cannot drift apart. Request and response bodies are the JSON Schemas (2020-12) of
//! the Rust types the handlers read and write (`schemars`, honouring serde's attributes), each
//! named type once in `components/schemas` and referred to by `$ref`.

use super::{Access, Body, Op};
use axum::Extension;
use axum::Json;
use axum::http::StatusCode;
use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

pub async fn serve(Extension(ops): Extension<Arc<Vec<Op>>>) -> Json<Value> {
    Json(document(&ops))
}

/// Where the named schemas live, as a `$ref` prefix.
pub const SCHEMAS_REF: &str = "#/components/schemas/";

fn generator(settings: SchemaSettings) -> SchemaGenerator {
    settings
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator()
}

pub fn document(ops: &[Op]) -> Value {
    // Requests are described as they are read (a field with a default may be left out),
    // responses as they are written: two generators, merged below.
    let mut reads = generator(SchemaSettings::draft2020_12().for_deserialize());
    let mut writes = generator(SchemaSettings::draft2020_12().for_serialize());
    let mut queries: Vec<Option<Value>> = Vec::with_capacity(ops.len());
    let mut requests: Vec<Option<Value>> = Vec::with_capacity(ops.len());
    let mut responses: Vec<Vec<(u16, Value)>> = Vec::with_capacity(ops.len());
    for op in ops {
        queries.push(op.query.map(|q| q(&mut reads).to_value()));
        requests.push(op.request.map(|b| body(b, &mut reads)));
        responses.push(
            op.responses
                .iter()
                .map(|&(status, b)| (status, body(b, &mut writes)))
                .collect(),
        );
    }
    let mut schemas = writes.take_definitions(true);
    let mut read_schemas = reads.take_definitions(true);
    // A type read and written the same way is one schema; one that differs (say, a field with
    // a default) is read as `<Name>Input`.
    let renames = input_names(&schemas, &mut read_schemas);
    for r in requests.iter_mut().chain(queries.iter_mut()).flatten() {
        rename_refs(r, &renames);
    }
    for (name, schema) in read_schemas {
        let name = renames.get(&name).cloned().unwrap_or(name);
        schemas.entry(name).or_insert(schema);
    }
    schemas.insert(
        "Error".into(),
        json!({"type": "object", "properties": {"error": {"type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                           "field": {"type": "string"}, "current_version": {"type": "integer"}},
            "required": ["code", "message"]}},
            "required": ["error"]}),
    );

    let mut paths = Map::new();
    for (((op, request), replies), query) in ops.iter().zip(requests).zip(responses).zip(queries) {
        let mut params: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                json!({"name": name, "in": "path", "required": true,
                       "schema": {"type": if name.ends_with("id") { "integer" } else { "string" }}})
            })
            .collect();
        params.extend(query.map(|q| query_parameters(&q)).unwrap_or_default());
        let security = match op.access {
            Access::Public | Access::Webhook => json!([]),
            _ => json!([{"session": []}, {"bearer": []}]),
        };
        let role = match op.access {
            Access::Public => "public",
            Access::Webhook => "webhook (verified signature or token)",
            Access::Agent => "agent",
            Access::Supervisor => "supervisor",
            Access::Admin => "admin",
        };
        let error = json!({"description": "Error",
            "content": {"application/json": {"schema": {"$ref": format!("{SCHEMAS_REF}Error")}}}});
        let mut answers = Map::new();
        for ((status, b), (_, value)) in op.responses.iter().zip(replies) {
            let reason = StatusCode::from_u16(*status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Success");
            // One status may come in more than one media type (JSON or XML): one content map.
            let answer = answers
                .entry(status.to_string())
                .or_insert_with(|| json!({"description": reason}));
            if let Some(Value::Object(content)) = content(*b, value) {
                let map = answer
                    .as_object_mut()
                    .expect("a response is an object")
                    .entry("content")
                    .or_insert_with(|| json!({}));
                if let Value::Object(map) = map {
                    map.extend(content);
                }
            }
        }
        if answers.is_empty() {
            answers.insert(
                "2XX".into(),
                json!({"description": "Success (not yet described)"}),
            );
        }
        answers.insert("4XX".into(), error.clone());
        answers.insert("5XX".into(), error);
        let mut operation = json!({
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": operation_id(op),
            "parameters": params,
            "security": security,
            "x-role": role,
            "responses": answers,
        });
        if let (Some(b), Some(value)) = (op.request, request)
            && let Some(content) = content(b, value)
        {
            operation["requestBody"] = json!({"required": true, "content": content});
        }
        paths
            .entry(op.path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("path item is an object")
            .insert(op.method.to_lowercase(), operation);
    }
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {"title": "Hotline", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": super::extract::SESSION_COOKIE},
                "bearer": {"type": "http", "scheme": "bearer"}
            },
            "schemas": schemas,
        }
    })
}

pub fn operation_id(op: &Op) -> String {
    format!(
        "{}_{}",
        op.method.to_lowercase(),
        op.path.trim_matches('/').replace(['/', '{', '}', '.'], "_")
    )
}

/// The routes whose bodies the document does not describe yet: no success response, or a
/// POST/PUT/PATCH without a request body description (`Routes::body`, `body_raw`, `no_body`).
pub fn undescribed(ops: &[Op]) -> Vec<String> {
    let mut missing = Vec::new();
    for op in ops {
        if op.responses.is_empty() {
            missing.push(format!(
                "{} {}: no response (.returns::<T>(status), .no_content(), .returns_raw(..))",
                op.method, op.path
            ));
        }
        if matches!(op.method, "POST" | "PUT" | "PATCH") && op.request.is_none() {
            missing.push(format!(
                "{} {}: no request body (.body::<T>(), .no_body(), .body_raw(..))",
                op.method, op.path
            ));
        }
    }
    missing
}

/// The query parameters of a `Query` type's schema: one per property, required when the type
/// requires it. A parameter is absent rather than null, so `null` leaves its type.
fn query_parameters(schema: &Value) -> Vec<Value> {
    let required = |name: &str| {
        schema["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|n| n == name))
    };
    let Some(props) = schema["properties"].as_object() else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, prop)| {
            let mut prop = prop.clone();
            let description = prop.as_object_mut().and_then(|p| p.remove("description"));
            if let Some(Value::Array(types)) = prop.get("type") {
                let kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                prop["type"] = match kept.as_slice() {
                    [one] => one.clone(),
                    _ => Value::Array(kept),
                };
            }
            let mut param = json!({"name": name, "in": "query", "required": required(name),
                                   "schema": prop});
            if let Some(d) = description {
                param["description"] = d;
            }
            param
        })
        .collect()
}

fn body(b: Body, generator: &mut SchemaGenerator) -> Value {
    match b {
        Body::Json(schema) => schema(generator).to_value(),
        Body::Raw(_) | Body::Empty => Value::Null,
    }
}

fn content(b: Body, schema: Value) -> Option<Value> {
    match b {
        Body::Json(_) => Some(json!({"application/json": {"schema": schema}})),
        Body::Raw(media_type) => {
            let mut m = Map::new();
            m.insert(media_type.into(), json!({}));
            Some(Value::Object(m))
        }
        Body::Empty => None,
    }
}

/// The read schemas that differ from the written schema of the same name get the name
/// `<Name>Input` (and every `$ref` among the read schemas follows). Repeats until stable, as a
/// renamed schema changes the schemas that refer to it.
fn input_names(
    writes: &Map<String, Value>,
    reads: &mut Map<String, Value>,
) -> BTreeMap<String, String> {
    let mut renames = BTreeMap::new();
    loop {
        let mut more = false;
        for (name, schema) in reads.iter() {
            if !renames.contains_key(name) && writes.get(name).is_some_and(|w| w != schema) {
                let new = format!("{name}Input");
                assert!(
                    !writes.contains_key(&new) && !reads.contains_key(&new),
                    "schema name {new} is taken: rename one of the types"
                );
                renames.insert(name.clone(), new);
                more = true;
            }
        }
        if !more {
            return renames;
        }
        for schema in reads.values_mut() {
            rename_refs(schema, &renames);
        }
    }
}

fn rename_refs(v: &mut Value, renames: &BTreeMap<String, String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "$ref"
                    && let Value::String(r) = child
                    && let Some(name) = r.strip_prefix(SCHEMAS_REF)
                    && let Some(new) = renames.get(name)
                {
                    *r = format!("{SCHEMAS_REF}{new}");
                } else {
                    rename_refs(child, renames);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| rename_refs(i, renames)),
        _ => {}
    }
}
