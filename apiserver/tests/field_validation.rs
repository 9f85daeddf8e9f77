//! `fieldValidation` on create, update and patch of built-in kinds: Strict rejects unknown and
//! duplicate fields with the real bodies (`testdata/recorded/02a_create_get.txt`, "POST with
//! unknown field, fieldValidation=Strict|Warn"; the recordings are of a compiled-in kind, which
//! decodes as built-ins do), Warn (the default when absent) answers each as a `Warning` header,
//! Ignore drops them silently; an unknown field is never stored.

mod common;
use common::*;
use serde_json::{json, Value};

const PODS: &str = "/api/v1/namespaces/default/pods";
const CMS: &str = "/api/v1/namespaces/default/configmaps";

fn warnings(r: &Resp) -> Vec<String> {
    r.headers.get_all("warning").iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect()
}

/// A pod body with an unknown field in a container and a duplicate label, as raw JSON text
/// (duplicates cannot be expressed as a `Value`).
fn pod_text(name: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","labels":{{"a":"1","a":"2"}}}},
        "spec":{{"containers":[{{"name":"c","image":"busybox","imagePullPolice":"Always"}}],"foo":1}}}}"#
    )
}

#[tokio::test]
async fn strict_create_rejects_unknown_and_duplicate_fields_with_the_real_400() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let r = h.req("POST", &format!("{PODS}?fieldValidation=Strict"), Some("application/json"), &pod_text("p")).await;
    assert_eq!(r.code, 400, "{}", r.body);
    assert_eq!(
        r.body,
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"Pod in version \\\"v1\\\" cannot be handled as a Pod: strict decoding error: duplicate field \\\"metadata.labels.a\\\", unknown field \\\"spec.containers[0].imagePullPolice\\\", unknown field \\\"spec.foo\\\"\",\"reason\":\"BadRequest\",\"code\":400}\n"
    );
    assert_eq!(h.get(&format!("{PODS}/p")).await.code, 404, "nothing stored");
    // A type mismatch wins over strict errors, as in Go's decoder.
    let r = h
        .post(
            &format!("{CMS}?fieldValidation=Strict"),
            &json!({"metadata": {"name": "c"}, "data": {"k": 1}, "bogus": true}),
        )
        .await;
    assert_eq!(r.code, 400);
    assert_eq!(
        r.json()["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
    );
}

#[tokio::test]
async fn warn_is_the_default_and_sends_one_warning_per_field_then_stores_without_them() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    for (name, query) in [("p1", ""), ("p2", "?fieldValidation=Warn")] {
        let r = h.req("POST", &format!("{PODS}{query}"), Some("application/json"), &pod_text(name)).await;
        assert_eq!(r.code, 201, "{}", r.body);
        assert_eq!(
            warnings(&r),
            [
                r#"299 - "duplicate field \"metadata.labels.a\"""#,
                r#"299 - "unknown field \"spec.containers[0].imagePullPolice\"""#,
                r#"299 - "unknown field \"spec.foo\"""#,
            ]
        );
        let o = r.json();
        assert_eq!(o["metadata"]["labels"], json!({"a": "2"}), "the last duplicate wins");
        assert!(o["spec"].get("foo").is_none());
        assert!(o["spec"]["containers"][0].get("imagePullPolice").is_none());
        assert_eq!(h.get(&format!("{PODS}/{name}")).await.json(), o, "stored without them");
    }
    // A clean body gets no warning.
    let r = h.post(CMS, &cm("clean", json!({}))).await;
    assert_eq!(r.code, 201);
    assert!(warnings(&r).is_empty());
}

#[tokio::test]
async fn ignore_drops_unknown_fields_silently() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let r = h.req("POST", &format!("{PODS}?fieldValidation=Ignore"), Some("application/json"), &pod_text("p")).await;
    assert_eq!(r.code, 201, "{}", r.body);
    assert!(warnings(&r).is_empty());
    assert!(r.json()["spec"].get("foo").is_none(), "never stored, whatever the directive");
}

#[tokio::test]
async fn an_unsupported_directive_is_a_422_on_the_options() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let r = h.post(&format!("{CMS}?fieldValidation=strict"), &cm("c", json!({}))).await;
    assert_eq!(r.code, 422);
    assert_eq!(
        r.json()["message"],
        "CreateOptions.meta.k8s.io \"\" is invalid: fieldValidation: Unsupported value: \"strict\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\""
    );
    assert_eq!(r.json()["details"]["causes"][0]["reason"], "FieldValueNotSupported");
}

#[tokio::test]
async fn update_validates_as_create_does() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let o = h.post(CMS, &cm("c", json!({}))).await.json();
    let mut body = o.clone();
    body["extra"] = json!({"x": 1});
    let r = h.put(&format!("{CMS}/c?fieldValidation=Strict"), &body).await;
    assert_eq!(r.code, 400);
    assert_eq!(
        r.json()["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"extra\""
    );
    body["data"] = json!({"k": "changed"});
    let r = h.put(&format!("{CMS}/c"), &body).await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(warnings(&r), [r#"299 - "unknown field \"extra\"""#]);
    let stored = h.get(&format!("{CMS}/c")).await.json();
    assert_eq!(stored["data"]["k"], "changed");
    assert!(stored.get("extra").is_none());
}

#[tokio::test]
async fn patches_report_the_patch_then_the_patched_object() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    h.post(CMS, &cm("c", json!({}))).await;
    let path = format!("{CMS}/c?fieldValidation=Strict");
    // Merge patch: the duplicate in the patch first, then the patched object's unknown field;
    // 422 on field `patch` with the patched object as the value (patch.go, jsonPatcher).
    let r = h
        .req("PATCH", &path, Some("application/merge-patch+json"), r#"{"data":{"k":"a","k":"b"},"spec":{"x":1}}"#)
        .await;
    assert_eq!(r.code, 422, "{}", r.body);
    let st = r.json();
    let msg = st["message"].as_str().unwrap();
    assert!(msg.starts_with("\"\" is invalid: patch: Invalid value: \"{"), "{msg}");
    assert!(msg.ends_with(": strict decoding error: duplicate field \"data.k\", unknown field \"spec\""), "{msg}");
    assert_eq!(st["details"]["causes"][0]["field"], "patch");
    // JSON patch: the operations' own errors are prefixed.
    let r = h
        .req(
            "PATCH",
            &path,
            Some("application/json-patch+json"),
            r#"[{"op":"add","path":"/data/x","value":"1","extra":true}]"#,
        )
        .await;
    assert_eq!(r.code, 422, "{}", r.body);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .ends_with(": strict decoding error: json patch unknown field \"[0].extra\""));
    // Strategic merge patch: the patch printed as Go prints a map.
    let r = h.req("PATCH", &path, Some("application/strategic-merge-patch+json"), r#"{"metadata":{"bogus":1}}"#).await;
    assert_eq!(r.code, 422, "{}", r.body);
    assert_eq!(
        r.json()["message"],
        "\"\" is invalid: patch: Invalid value: \"map[metadata:map[bogus:1]]\": strict decoding error: unknown field \"metadata.bogus\""
    );
    // Warn (the default): applied without the unknown field, one warning each.
    let r = h
        .req("PATCH", &format!("{CMS}/c"), Some("application/merge-patch+json"), r#"{"data":{"k":"w"},"spec":{"x":1}}"#)
        .await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(warnings(&r), [r#"299 - "unknown field \"spec\"""#]);
    let stored: Value = h.get(&format!("{CMS}/c")).await.json();
    assert_eq!(stored["data"]["k"], "w");
    assert!(stored.get("spec").is_none());
}

#[tokio::test]
async fn server_side_apply_refuses_undeclared_fields_whatever_the_directive() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    // testdata/recorded/02c_server_side_apply.txt, "SSA with unknown field".
    let body = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  k: v\nbogus: 1\n";
    for q in ["&fieldValidation=Strict", "&fieldValidation=Ignore", ""] {
        let r =
            h.req("PATCH", &format!("{CMS}/ssa?fieldManager=m{q}"), Some("application/apply-patch+yaml"), body).await;
        assert_eq!(r.code, 500, "{}", r.body);
        assert_eq!(
            r.json()["message"],
            "failed to create typed patch object (default/ssa; /v1, Kind=ConfigMap): .bogus: field not declared in schema"
        );
    }
}
