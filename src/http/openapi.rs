//! The OpenAPI 3.1 document, generated from the same route list the router is built from, so
//! the two cannot drift apart.

use super::{Access, Op};
use axum::Extension;
use axum::Json;
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub async fn serve(Extension(ops): Extension<Arc<Vec<Op>>>) -> Json<Value> {
    Json(document(&ops))
}

pub fn document(ops: &[Op]) -> Value {
    let mut paths = Map::new();
    for op in ops {
        let params: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                json!({"name": name, "in": "path", "required": true,
                       "schema": {"type": if name.ends_with("id") { "integer" } else { "string" }}})
            })
            .collect();
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
        let mut operation = json!({
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": format!("{}_{}", op.method.to_lowercase(),
                op.path.trim_matches('/').replace(['/', '{', '}', '.'], "_")),
            "parameters": params,
            "security": security,
            "x-role": role,
            "responses": {
                "200": {"description": "OK"},
                "4XX": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        });
        if matches!(op.method, "POST" | "PUT" | "PATCH") {
            operation["requestBody"] = json!({"content": {"application/json": {}}});
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
        "info": {"title": "Hotline", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": super::extract::SESSION_COOKIE},
                "bearer": {"type": "http", "scheme": "bearer"}
            },
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "object",
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                   "field": {"type": "string"}},
                    "required": ["code", "message"]}}}
            }
        }
    })
}
