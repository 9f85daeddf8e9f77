//! Minimal OpenAPI documents of the embedded API server, enough for kubectl's client-side
//! checks (`kubectl apply` without `--validate=false`).
//!
//! Contract:
//! - `/openapi/v3` is the index (`{"paths":{"api/v1":{"serverRelativeURL":"/openapi/v3/api/v1?hash=H"},..}}`)
//!   with one entry per served group-version; `H` changes whenever that document changes.
//! - `/openapi/v3/api/v1` and `/openapi/v3/apis/{group}/{version}` are valid OpenAPI 3.0 documents
//!   with, for every resource, its object path carrying `get`, `put`, `patch` and `delete`
//!   operations marked with `x-kubernetes-group-version-kind` and `x-kubernetes-action`; the
//!   `patch` operation declares the `fieldValidation` query parameter. That is what kubectl
//!   looks for to leave field validation to the server (`?fieldValidation=Strict`) instead of
//!   validating against schemas. No schemas are served (`components.schemas` is empty), so
//!   kubectl falls back to its compiled-in types for strategic merge patches.
//! - `/openapi/v2` is a valid, empty Swagger 2.0 document: JSON, or for the protobuf `Accept`
//!   header the empty protobuf message (which decodes as an empty document).
//!
//! Pure functions: no I/O.

use serde_json::{json, Map, Value};

use super::registry::{Registry, ResourceInfo};
use rudder_apimachinery::resource::Scope;

/// The Content-Type kubectl asks `/openapi/v2` for.
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/// The Kubernetes version named in `info.version`.
const VERSION: &str = "v1.37.0";

/// Every served group-version as its document path (`api/v1`, `apis/apps/v1`), sorted.
fn group_version_paths(registry: &Registry) -> Vec<String> {
    let mut out: Vec<String> = registry
        .iter()
        .map(|i| {
            if i.api.group.is_empty() {
                format!("api/{}", i.api.version)
            } else {
                format!("apis/{}/{}", i.api.group, i.api.version)
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// FNV-1a over the document text, as 16 uppercase hex digits.
fn hash(v: &Value) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in v.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016X}")
}

/// The `/openapi/v3` index.
pub fn v3_index(registry: &Registry) -> Value {
    let mut paths = Map::new();
    for p in group_version_paths(registry) {
        if let Some(doc) = v3_document(registry, &p) {
            let url = format!("/openapi/v3/{p}?hash={}", hash(&doc));
            paths.insert(p, json!({ "serverRelativeURL": url }));
        }
    }
    json!({ "paths": paths })
}

fn operation(info: &ResourceInfo, action: &str, op_verb: &str, params: Value) -> Value {
    let kind = info.api.kind.to_string();
    let group_tag = if info.api.group.is_empty() { "core".to_string() } else { info.api.group.replace('.', "_") };
    json!({
        "tags": [format!("{group_tag}_{}", info.api.version)],
        "operationId": format!("{op_verb}{kind}"),
        "parameters": params,
        "responses": {"200": {"description": "OK"}, "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": info.api.group.to_string(), "version": info.api.version.to_string(), "kind": kind},
    })
}

fn query_param(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

/// The OpenAPI v3 document of one group-version (`api/v1`, `apis/apps/v1`); `None` when the
/// server does not serve it.
pub fn v3_document(registry: &Registry, gv_path: &str) -> Option<Value> {
    let segs: Vec<&str> = gv_path.trim_matches('/').split('/').collect();
    let (group, version) = match segs.as_slice() {
        ["api", v] => ("", *v),
        ["apis", g, v] => (*g, *v),
        _ => return None,
    };
    let infos: Vec<&ResourceInfo> =
        registry.iter().filter(|i| i.api.group == group && i.api.version == version).collect();
    if infos.is_empty() {
        return None;
    }
    let prefix = if group.is_empty() { format!("/api/{version}") } else { format!("/apis/{group}/{version}") };
    let mut paths = Map::new();
    for info in infos {
        let plural = &info.api.plural;
        let namespaced = info.api.scope == Scope::Namespaced;
        let path = if namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{plural}/{{name}}")
        } else {
            format!("{prefix}/{plural}/{{name}}")
        };
        let mut common = vec![
            json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}}),
        ];
        if namespaced {
            common.push(
                json!({"name": "namespace", "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}}),
            );
        }
        common.push(query_param("pretty"));
        let write_params = json!([query_param("dryRun"), query_param("fieldManager"), query_param("fieldValidation")]);
        let patch_params = json!([
            query_param("dryRun"),
            query_param("fieldManager"),
            query_param("fieldValidation"),
            query_param("force")
        ]);
        paths.insert(
            path,
            json!({
                "get": operation(info, "get", "read", json!([])),
                "put": operation(info, "put", "replace", write_params),
                "patch": operation(info, "patch", "patch", patch_params),
                "delete": operation(info, "delete", "delete", json!([query_param("dryRun")])),
                "parameters": common,
            }),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": VERSION},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

/// The `/openapi/v2` document as JSON.
pub fn v2_json() -> Value {
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": VERSION},
        "paths": {},
        "definitions": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_points_at_documents_with_patch_operations() {
        let r = Registry::builtin();
        let index = v3_index(&r);
        let url = index["paths"]["api/v1"]["serverRelativeURL"].as_str().unwrap();
        assert!(url.starts_with("/openapi/v3/api/v1?hash="), "{url}");
        assert!(index["paths"]["apis/apps/v1"].is_object());
        let doc = v3_document(&r, "api/v1").unwrap();
        let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"], json!({"group":"","version":"v1","kind":"ConfigMap"}));
        assert!(patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"));
        assert!(doc["paths"]["/api/v1/nodes/{name}"].is_object());
        assert!(v3_document(&r, "apis/nope/v1").is_none());
        assert!(v3_document(&r, "bogus").is_none());
    }
}
