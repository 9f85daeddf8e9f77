//! Custom resources against their CRD's `openAPIV3Schema`: pruning (or, with
//! `fieldValidation=Strict`, rejection) of undeclared fields, defaults, and the 422 listing
//! every violation. No recording has a CRD with a schema; the bodies follow
//! apiextensions-apiserver's `pkg/apiserver/validation` (kube-openapi messages converted to
//! field errors) and `k8s.io/apimachinery/pkg/api/errors.NewInvalid` (several errors in
//! brackets), and the strict decoding errors the same `strict decoding error: unknown field`
//! wording as for built-in kinds (`testdata/recorded/02a_create_get.txt`).

mod common;
use common::*;
use serde_json::{json, Value};

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const TABS: &str = "/apis/stable.example.com/v1/namespaces/default/crontabs";

fn crd() -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {"group": "stable.example.com", "scope": "Namespaced",
            "names": {"plural": "crontabs", "kind": "CronTab", "singular": "crontab"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "required": ["cronSpec"], "properties": {
                        "cronSpec": {"type": "string", "pattern": "^(\\S+ ){4}\\S+$"},
                        "image": {"type": "string", "maxLength": 10},
                        "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                        "policy": {"type": "string", "enum": ["Allow", "Forbid"], "default": "Allow"},
                        "port": {"x-kubernetes-int-or-string": true},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                    "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}}}]}})
}

async fn server() -> (ApiServer, Http) {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let r = h.post(CRDS, &crd()).await;
    assert_eq!(r.code, 201, "{}", r.body);
    (s, h)
}

fn tab(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": name}, "spec": spec})
}

#[tokio::test]
async fn violations_answer_one_422_listing_every_one() {
    let (_s, h) = server().await;
    let r =
        h.post(TABS, &tab("bad", json!({"cronSpec": "nope", "replicas": 20, "policy": "Maybe", "port": true}))).await;
    assert_eq!(r.code, 422, "{}", r.body);
    let st = r.json();
    assert_eq!(st["reason"], "Invalid");
    assert_eq!(
        st["message"],
        "CronTab.stable.example.com \"bad\" is invalid: [spec.cronSpec: Invalid value: \"nope\": spec.cronSpec in body should match '^(\\S+ ){4}\\S+$', spec.policy: Unsupported value: \"Maybe\": supported values: \"Allow\", \"Forbid\", spec.port: Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\", spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10]"
    );
    assert_eq!(st["details"]["name"], "bad");
    assert_eq!(st["details"]["group"], "stable.example.com");
    assert_eq!(st["details"]["kind"], "CronTab");
    let causes: Vec<(&str, &str)> = st["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["field"].as_str().unwrap(), c["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        causes,
        [
            ("spec.cronSpec", "FieldValueInvalid"),
            ("spec.policy", "FieldValueNotSupported"),
            ("spec.port", "FieldValueTypeInvalid"),
            ("spec.replicas", "FieldValueInvalid"),
        ]
    );
    assert_eq!(h.get(&format!("{TABS}/bad")).await.code, 404);
    // One violation: no brackets; a required field missing.
    let r = h.post(TABS, &tab("bad", json!({"image": "i"}))).await;
    assert_eq!(r.code, 422);
    assert_eq!(r.json()["message"], "CronTab.stable.example.com \"bad\" is invalid: spec.cronSpec: Required value");
    assert_eq!(r.json()["details"]["causes"][0]["reason"], "FieldValueRequired");
}

#[tokio::test]
async fn unknown_fields_are_pruned_or_rejected_and_defaults_filled() {
    let (_s, h) = server().await;
    let spec = json!({"cronSpec": "* * * * */5", "bogus": 1, "extra": {"anything": {"goes": true}}, "port": "http"});
    let r = h.post(TABS, &tab("ok", spec.clone())).await;
    assert_eq!(r.code, 201, "{}", r.body);
    assert_eq!(
        r.headers.get_all("warning").iter().map(|v| v.to_str().unwrap()).collect::<Vec<_>>(),
        [r#"299 - "unknown field \"spec.bogus\"""#]
    );
    let o = r.json();
    assert!(o["spec"].get("bogus").is_none(), "pruned: {o}");
    assert_eq!(o["spec"]["extra"], json!({"anything": {"goes": true}}), "preserved");
    assert_eq!((o["spec"]["replicas"].clone(), o["spec"]["policy"].clone()), (json!(1), json!("Allow")), "defaulted");
    let r = h.post(&format!("{TABS}?fieldValidation=Strict"), &tab("strict", spec)).await;
    assert_eq!(r.code, 400);
    assert_eq!(
        r.json()["message"],
        "CronTab in version \"v1\" cannot be handled as a CronTab: strict decoding error: unknown field \"spec.bogus\""
    );
    // Duplicates first, then the pruned fields sorted (apiextensions' customresource_handler).
    let text = r#"{"apiVersion":"stable.example.com/v1","kind":"CronTab","metadata":{"name":"d"},
        "spec":{"zz":1,"cronSpec":"* * * * *","aa":2,"cronSpec":"* * * * 1"}}"#;
    let r = h.req("POST", &format!("{TABS}?fieldValidation=Strict"), Some("application/json"), text).await;
    assert_eq!(r.code, 400);
    assert_eq!(
        r.json()["message"],
        "CronTab in version \"v1\" cannot be handled as a CronTab: strict decoding error: duplicate field \"spec.cronSpec\", unknown field \"spec.aa\", unknown field \"spec.zz\""
    );
    // Patches are validated too: a merge patch breaking the schema is a 422 and stores nothing.
    let r = h.patch(&format!("{TABS}/ok"), "application/merge-patch+json", &json!({"spec": {"replicas": 0}})).await;
    assert_eq!(r.code, 422, "{}", r.body);
    assert_eq!(
        r.json()["message"],
        "CronTab.stable.example.com \"ok\" is invalid: spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1"
    );
    let r = h.patch(&format!("{TABS}/ok"), "application/merge-patch+json", &json!({"spec": {"replicas": 3}})).await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.json()["spec"]["replicas"], 3);
    // Server-side apply of an undeclared field fails as structured-merge-diff does.
    let r = h
        .req(
            "PATCH",
            &format!("{TABS}/ok?fieldManager=m"),
            Some("application/apply-patch+yaml"),
            "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: ok\nspec:\n  cronSpec: '* * * * *'\n  nope: 1\n",
        )
        .await;
    assert_eq!(r.code, 500, "{}", r.body);
    assert_eq!(
        r.json()["message"],
        "failed to create typed patch object (default/ok; stable.example.com/v1, Kind=CronTab): .spec.nope: field not declared in schema"
    );
}

#[tokio::test]
async fn status_is_the_status_subresources_alone() {
    let (_s, h) = server().await;
    let o = h.post(TABS, &tab("s", json!({"cronSpec": "* * * * *"}))).await.json();
    // The main resource ignores status changes.
    let mut body = o.clone();
    body["status"] = json!({"phase": "Running"});
    body["spec"]["image"] = json!("img");
    let r = h.put(&format!("{TABS}/s"), &body).await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert!(r.json().get("status").is_none(), "{}", r.body);
    assert_eq!(r.json()["spec"]["image"], "img");
    // /status ignores everything else, and is validated against the schema as well.
    let r = h
        .patch(
            &format!("{TABS}/s/status"),
            "application/merge-patch+json",
            &json!({"spec": {"image": "other"}, "status": {"phase": "Running"}}),
        )
        .await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.json()["status"]["phase"], "Running");
    assert_eq!(r.json()["spec"]["image"], "img");
    let r =
        h.patch(&format!("{TABS}/s/status"), "application/merge-patch+json", &json!({"status": {"phase": 1}})).await;
    assert_eq!(r.code, 422, "{}", r.body);
    assert_eq!(
        r.json()["message"],
        "CronTab.stable.example.com \"s\" is invalid: status.phase: Invalid value: \"integer\": status.phase in body must be of type string: \"integer\""
    );
}

#[tokio::test]
async fn scale_follows_the_declared_paths() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "pools.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "pools", "kind": "Pool"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.size",
                    "statusReplicasPath": ".status.ready", "labelSelectorPath": ".status.selector"}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
    assert_eq!(h.post(CRDS, &crd).await.code, 201);
    let pools = "/apis/example.com/v1/namespaces/default/pools";
    let r = h
        .post(
            pools,
            &json!({"apiVersion": "example.com/v1", "kind": "Pool", "metadata": {"name": "p"}, "spec": {"size": 2}}),
        )
        .await;
    assert_eq!(r.code, 201, "{}", r.body);
    let r = h
        .patch(
            &format!("{pools}/p/status"),
            "application/merge-patch+json",
            &json!({"status": {"ready": 1, "selector": "app=p"}}),
        )
        .await;
    assert_eq!(r.code, 200, "{}", r.body);
    let sc = h.get(&format!("{pools}/p/scale")).await.json();
    assert_eq!(sc["spec"]["replicas"], 2);
    assert_eq!(sc["status"], json!({"replicas": 1, "selector": "app=p"}));
    let r =
        h.patch(&format!("{pools}/p/scale"), "application/merge-patch+json", &json!({"spec": {"replicas": 5}})).await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.json()["spec"]["replicas"], 5);
    let p = h.get(&format!("{pools}/p")).await.json();
    assert_eq!(p["spec"], json!({"size": 5}), "written at specReplicasPath only");
}
