//! The subresources that answered 404: `serviceaccounts/token` (TokenRequest),
//! `certificatesigningrequests/approval` and `/status`, `pods/ephemeralcontainers`; and
//! `kubectl create token` / `kubectl certificate approve` against them.
//!
//! No recordings exist for these in `testdata/recorded`; the expected bodies follow the real
//! server's source: pkg/registry/core/serviceaccount/storage/token.go and
//! pkg/apis/authentication/validation (TokenRequest), pkg/registry/certificates/certificates/
//! strategy.go and pkg/apis/certificates/validation (CSR approval and status), and
//! pkg/registry/core/pod/strategy.go `podEphemeralContainersStrategy` with
//! `ValidatePodEphemeralContainersUpdate` (ephemeral containers).

mod common;
#[path = "common/kubectl.rs"]
mod kubectl;

use base64::Engine as _;
use common::{ApiServer, Http};
use rudder_client::apimachinery::schema::GroupVersionResource;
use serde_json::{json, Value};

const SA: &str = "/api/v1/namespaces/default/serviceaccounts";
const CSRS: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
const PODS: &str = "/api/v1/namespaces/default/pods";

fn claims(token: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
    serde_json::from_slice(&raw).unwrap()
}

fn token_request(spec: Value) -> Value {
    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})
}

#[tokio::test]
async fn token_requests_issue_bound_expiring_tokens() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let sa = h.post(SA, &json!({"metadata": {"name": "robot"}})).await.json();
    let r = h.post(&format!("{SA}/robot/token"), &token_request(json!({}))).await;
    assert_eq!(r.code, 201, "{}", r.body);
    let tr = r.json();
    assert_eq!(
        (tr["kind"].as_str(), tr["apiVersion"].as_str()),
        (Some("TokenRequest"), Some("authentication.k8s.io/v1"))
    );
    assert_eq!(tr["spec"]["expirationSeconds"], 3600, "the default");
    assert_eq!(tr["spec"]["audiences"], json!(["https://kubernetes.default.svc.cluster.local"]));
    assert_eq!(tr["spec"]["boundObjectRef"], Value::Null);
    let token = tr["status"]["token"].as_str().unwrap();
    let c = claims(token);
    assert_eq!(c["sub"], "system:serviceaccount:default:robot");
    assert_eq!(c["kubernetes.io"]["serviceaccount"]["uid"], sa["metadata"]["uid"]);
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 3600);
    let expires: jiff::Timestamp = tr["status"]["expirationTimestamp"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires.as_second(), c["exp"].as_i64().unwrap());

    let r = h
        .post(&format!("{SA}/robot/token"), &token_request(json!({"expirationSeconds": 7200, "audiences": ["vault"]})))
        .await;
    let tr = r.json();
    assert_eq!(claims(tr["status"]["token"].as_str().unwrap())["aud"], json!(["vault"]));
    assert_eq!(tr["spec"]["expirationSeconds"], 7200);
    assert_ne!(tr["status"]["token"].as_str().unwrap(), token, "every token is new");

    // The real minimum and maximum.
    let short = h.post(&format!("{SA}/robot/token"), &token_request(json!({"expirationSeconds": 60}))).await;
    assert_eq!(short.code, 422);
    assert_eq!(
        short.json()["message"],
        "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"
    );
    assert_eq!(short.json()["details"]["causes"][0]["field"], "spec.expirationSeconds");
    let long =
        h.post(&format!("{SA}/robot/token"), &token_request(json!({"expirationSeconds": 5_000_000_000i64}))).await;
    assert!(long.json()["message"].as_str().unwrap().ends_with("may not specify a duration larger than 2^32 seconds"));
    assert!(!short.body.contains("eyJ"), "no token in errors");
    let missing = h.post(&format!("{SA}/nobody/token"), &token_request(json!({}))).await;
    assert_eq!((missing.code, missing.json()["message"].as_str()), (404, Some("serviceaccounts \"nobody\" not found")));

    // Bound to a pod: it must run as that service account, and the uid must match.
    h.post(PODS, &json!({"metadata": {"name": "p"}, "spec": {"serviceAccountName": "robot", "containers": [{"name": "c", "image": "x"}]}})).await;
    h.post(PODS, &json!({"metadata": {"name": "other"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})).await;
    let pod_uid = h.get(&format!("{PODS}/p")).await.json()["metadata"]["uid"].clone();
    let bound = |name: &str, uid: &Value| {
        token_request(json!({"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid}}))
    };
    let r = h.post(&format!("{SA}/robot/token"), &bound("p", &pod_uid)).await;
    assert_eq!(r.code, 201, "{}", r.body);
    assert_eq!(claims(r.json()["status"]["token"].as_str().unwrap())["kubernetes.io"]["pod"]["uid"], pod_uid);
    let r = h.post(&format!("{SA}/robot/token"), &bound("other", &json!(""))).await;
    assert_eq!(r.code, 400);
    assert_eq!(
        r.json()["message"],
        "cannot bind token for serviceaccount \"robot\" to pod running with serviceaccount \"default\""
    );
    assert_eq!(h.post(&format!("{SA}/robot/token"), &bound("p", &json!("wrong-uid"))).await.code, 409);
    assert_eq!(h.post(&format!("{SA}/robot/token"), &bound("ghost", &json!(""))).await.code, 404);
    let cm = token_request(json!({"boundObjectRef": {"apiVersion": "v1", "kind": "ConfigMap", "name": "x"}}));
    assert_eq!(
        h.post(&format!("{SA}/robot/token"), &cm).await.json()["message"],
        "cannot bind token to object of type /v1, Kind=ConfigMap"
    );
    assert_eq!(s.control().request_count("create", "serviceaccounts/token"), 10);
}

fn csr(name: &str) -> Value {
    let request = base64::engine::general_purpose::STANDARD
        .encode("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n");
    json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
        "spec": {"request": request, "signerName": "kubernetes.io/kube-apiserver-client", "usages": ["client auth"]}})
}

fn condition(kind: &str) -> Value {
    json!({"type": kind, "status": "True", "reason": "Test", "message": "by the test"})
}

#[tokio::test]
async fn csr_approval_changes_only_conditions_as_the_real_strategy() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    assert_eq!(h.post(CSRS, &csr("c1")).await.code, 201);
    let mut sent = h.get(&format!("{CSRS}/c1")).await.json();
    sent["spec"]["usages"] = json!(["server auth"]);
    sent["status"] = json!({"conditions": [condition("Approved")], "certificate": "Zm9v"});
    let r = h.put(&format!("{CSRS}/c1/approval"), &sent).await;
    assert_eq!(r.code, 200, "{}", r.body);
    let approved = r.json();
    assert_eq!(approved["spec"]["usages"], json!(["client auth"]), "the spec is kept");
    assert!(approved["status"].get("certificate").is_none(), "the approval sets no certificate");
    let c = &approved["status"]["conditions"][0];
    assert_eq!((c["type"].as_str(), c["reason"].as_str()), (Some("Approved"), Some("Test")));
    assert!(c["lastUpdateTime"].is_string() && c["lastTransitionTime"].is_string(), "{c}");
    assert_eq!(h.get(&format!("{CSRS}/c1/approval")).await.json()["status"], approved["status"]);

    // Approved and Denied exclude each other; neither can be removed; only True.
    let mut both = approved.clone();
    both["status"]["conditions"] = json!([approved["status"]["conditions"][0], condition("Denied")]);
    let r = h.put(&format!("{CSRS}/c1/approval"), &both).await;
    assert_eq!(r.code, 422);
    assert_eq!(
        r.json()["message"],
        "CertificateSigningRequest.certificates.k8s.io \"c1\" is invalid: status.conditions[1].type: Invalid value: \"Denied\": Approved and Denied conditions are mutually exclusive"
    );
    let mut removed = approved.clone();
    removed["status"]["conditions"] = json!([]);
    let r = h.put(&format!("{CSRS}/c1/approval"), &removed).await;
    assert_eq!(
        r.json()["details"]["causes"][0]["message"],
        "Forbidden: updates may not remove a condition of type \"Approved\""
    );
    h.post(CSRS, &csr("c2")).await;
    let mut bad = h.get(&format!("{CSRS}/c2")).await.json();
    bad["status"] = json!({"conditions": [{"type": "Denied", "status": "False"}, {"type": "", "status": "True"}]});
    let r = h.put(&format!("{CSRS}/c2/approval"), &bad).await;
    let causes: Vec<String> = r.json()["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{}: {}", c["field"].as_str().unwrap(), c["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        causes,
        [
            "status.conditions[0].status: Unsupported value: \"False\": supported values: \"True\"",
            "status.conditions[1].type: Required value",
        ]
    );
    // A merge patch of the approval works too (Denied on c2).
    let r = h
        .patch(
            &format!("{CSRS}/c2/approval"),
            "application/merge-patch+json",
            &json!({"status": {"conditions": [condition("Denied")]}}),
        )
        .await;
    assert_eq!(r.code, 200, "{}", r.body);

    // The status subresource issues the certificate but cannot add or change approvals.
    let pem = base64::engine::general_purpose::STANDARD
        .encode("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    let mut st = h.get(&format!("{CSRS}/c1")).await.json();
    st["status"]["certificate"] = json!(pem);
    st["status"]["conditions"][0]["reason"] = json!("Changed");
    let r = h.put(&format!("{CSRS}/c1/status"), &st).await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.json()["status"]["certificate"], pem);
    assert_eq!(r.json()["status"]["conditions"][0]["reason"], "Test", "approval conditions keep their stored values");
    let mut again = r.json();
    again["status"]["certificate"] =
        json!(base64::engine::general_purpose::STANDARD
            .encode("-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n"));
    let r = h.put(&format!("{CSRS}/c1/status"), &again).await;
    assert_eq!(
        r.json()["details"]["causes"][0]["message"],
        "Forbidden: updates may not modify existing certificate content"
    );
    h.post(CSRS, &csr("c3")).await;
    let mut add = h.get(&format!("{CSRS}/c3")).await.json();
    add["status"] = json!({"conditions": [condition("Approved")]});
    let r = h.put(&format!("{CSRS}/c3/status"), &add).await;
    assert_eq!(r.code, 422);
    assert_eq!(
        r.json()["details"]["causes"][0]["message"],
        "Forbidden: updates may not add a condition of type \"Approved\""
    );
    let mut junk = h.get(&format!("{CSRS}/c3")).await.json();
    junk["status"] = json!({"certificate": base64::engine::general_purpose::STANDARD.encode("not a pem")});
    let r = h.put(&format!("{CSRS}/c3/status"), &junk).await;
    assert_eq!(
        r.json()["details"]["causes"][0]["message"],
        "Invalid value: \"<certificate data>\": must contain at least one CERTIFICATE PEM block"
    );
}

#[tokio::test]
async fn ephemeral_containers_are_added_but_never_changed_or_removed() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    h.post(PODS, &json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": "x"}]}})).await;
    let path = format!("{PODS}/p/ephemeralcontainers");
    let pod = h.get(&path).await.json();
    assert_eq!(pod["kind"], "Pod");
    // kubectl debug's strategic merge patch.
    let debugger =
        json!({"name": "debugger", "image": "busybox", "targetContainerName": "app", "stdin": true, "tty": true});
    let r = h
        .patch(
            &path,
            "application/strategic-merge-patch+json",
            &json!({"spec": {"ephemeralContainers": [debugger]}, "metadata": {"labels": {"ignored": "yes"}}}),
        )
        .await;
    assert_eq!(r.code, 200, "{}", r.body);
    let p = r.json();
    assert_eq!(p["spec"]["ephemeralContainers"][0]["name"], "debugger");
    assert_eq!(p["spec"]["ephemeralContainers"][0]["terminationMessagePath"], "/dev/termination-log", "defaulted");
    assert!(p["metadata"].get("labels").is_none(), "only ephemeral containers change");
    let mf = p["metadata"]["managedFields"].as_array().unwrap();
    assert!(mf.iter().any(|m| m["subresource"] == "ephemeralcontainers"), "{mf:?}");

    // Changing or removing it is refused; other spec changes are ignored.
    let mut changed = p.clone();
    changed["spec"]["ephemeralContainers"][0]["image"] = json!("alpine");
    changed["spec"]["containers"][0]["image"] = json!("y");
    let r = h.put(&path, &changed).await;
    assert_eq!(r.code, 422);
    assert_eq!(
        r.json()["message"],
        "Pod \"p\" is invalid: spec.ephemeralContainers[debugger]: Forbidden: existing ephemeral containers \"debugger\" may not be changed"
    );
    let mut removed = p.clone();
    removed["spec"]["ephemeralContainers"] = json!([]);
    let r = h.put(&path, &removed).await;
    assert_eq!(r.json()["message"], "Pod \"p\" is invalid: spec.ephemeralContainers: Not found: \"debugger\"");
    let mut second = p.clone();
    second["spec"]["containers"][0]["image"] = json!("y");
    second["spec"]["ephemeralContainers"].as_array_mut().unwrap().push(json!({"name": "two", "image": "busybox"}));
    let r = h.put(&path, &second).await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.json()["spec"]["containers"][0]["image"], "x", "other spec changes are ignored");
    assert_eq!(r.json()["spec"]["ephemeralContainers"].as_array().unwrap().len(), 2);

    // The validation of new ones.
    let cur = r.json();
    let mut bad = cur.clone();
    bad["spec"]["ephemeralContainers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "app", "image": "", "ports": [{"containerPort": 80}], "targetContainerName": "nope"}));
    let r = h.put(&path, &bad).await;
    let causes: Vec<String> = r.json()["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{}: {}", c["field"].as_str().unwrap(), c["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        causes,
        [
            "spec.ephemeralContainers[2].image: Required value",
            "spec.ephemeralContainers[2].name: Duplicate value: \"app\"",
            "spec.ephemeralContainers[2].targetContainerName: Not found: \"nope\"",
            "spec.ephemeralContainers[2].ports: Forbidden: cannot be set for an Ephemeral Container",
        ]
    );
    assert_eq!(h.get(&format!("{PODS}/ghost/ephemeralcontainers")).await.code, 404);
}

#[tokio::test]
async fn the_new_subresources_are_in_discovery() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let core = h.get("/api/v1").await.json();
    let find = |doc: &Value, n: &str| doc["resources"].as_array().unwrap().iter().find(|r| r["name"] == n).cloned();
    let token = find(&core, "serviceaccounts/token").expect("serviceaccounts/token");
    assert_eq!(
        (token["group"].as_str(), token["kind"].as_str()),
        (Some("authentication.k8s.io"), Some("TokenRequest"))
    );
    assert_eq!(token["verbs"], json!(["create"]));
    assert_eq!(find(&core, "pods/ephemeralcontainers").unwrap()["verbs"], json!(["get", "patch", "update"]));
    let certs = h.get("/apis/certificates.k8s.io/v1").await.json();
    assert_eq!(
        find(&certs, "certificatesigningrequests/approval").unwrap()["verbs"],
        json!(["get", "patch", "update"])
    );
}

#[tokio::test]
async fn kubectl_create_token_and_certificate_approve() {
    let server = ApiServer::builder().tls().token("kubectl-sub-token").start().await.unwrap();
    let Some(env) = kubectl::Env::new(server) else { return };
    let control = env.server.control();
    let sa = GroupVersionResource::new("", "v1", "serviceaccounts");
    control.insert_many(&sa, vec![json!({"metadata": {"name": "robot", "namespace": "default"}})]);
    // kubectl sends both bodies as protobuf (TokenRequest, CertificateSigningRequest).
    let out = env.run(&["create", "token", "robot", "--duration", "20m", "--audience", "vault"], None).await;
    let c = claims(out.ok().trim());
    assert_eq!((c["sub"].as_str(), c["aud"].clone()), (Some("system:serviceaccount:default:robot"), json!(["vault"])));
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 1200);
    let short = env.run(&["create", "token", "robot", "--duration", "1m"], None).await;
    assert!(!short.ok && short.stderr.contains("may not specify a duration less than 10 minutes"), "{}", short.stderr);

    let gvr = GroupVersionResource::new("certificates.k8s.io", "v1", "certificatesigningrequests");
    control.insert_many(&gvr, vec![csr("kubectl-csr")]);
    let out = env.run(&["certificate", "approve", "kubectl-csr"], None).await;
    assert_eq!(out.ok().trim(), "certificatesigningrequest.certificates.k8s.io/kubectl-csr approved");
    let stored = control.objects(&gvr).pop().unwrap();
    assert_eq!(stored["status"]["conditions"][0]["type"], "Approved");
    assert_eq!(stored["status"]["conditions"][0]["reason"], "KubectlApprove");
    let get = env.ok(&["get", "csr", "kubectl-csr", "-o", "jsonpath={.status.conditions[0].type}"]).await;
    assert_eq!(get, "Approved");
    // kubectl reaches both subresources.
    assert_eq!(control.request_count("create", "serviceaccounts/token"), 2);
    assert_eq!(control.request_count("update", "certificatesigningrequests/approval"), 1);
}
