//! `kubectl get csr` (kubectl 1.32) shows the columns kube-apiserver's Table printer gives
//! CertificateSigningRequests (pkg/printers/internalversion/printers.go
//! `printCertificateSigningRequest`): NAME, AGE, SIGNERNAME, REQUESTOR, REQUESTEDDURATION,
//! CONDITION, the condition Denied / Approved / Pending (plus `,Failed`, `,Issued`). The
//! requestor is the user who sent the create, whatever the body says (the CSR strategy's
//! PrepareForCreate). Skips without kubectl.

#[path = "common/kubectl.rs"]
mod kubectl;

use base64::Engine as _;
use rudder_apiserver::ApiServer;
use serde_json::json;

fn csr(name: &str, extra: serde_json::Value) -> String {
    let request = base64::engine::general_purpose::STANDARD
        .encode("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n");
    let mut spec = json!({"request": request, "signerName": "kubernetes.io/kube-apiserver-client",
        "usages": ["client auth"], "username": "someone-else", "groups": ["forged"]});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
        "spec": spec})
    .to_string()
}

#[tokio::test]
async fn kubectl_get_csr_shows_the_real_columns() {
    let Some(env) = kubectl::Env::start(ApiServer::builder()).await else { return };
    env.run(&["create", "-f", "-"], Some(&csr("pending", json!({"expirationSeconds": 3600})))).await.ok();
    env.run(&["create", "-f", "-"], Some(&csr("approved", json!({})))).await.ok();
    env.run(&["create", "-f", "-"], Some(&csr("denied", json!({"expirationSeconds": 86400})))).await.ok();
    env.run(&["certificate", "approve", "approved"], None).await.ok();
    env.run(&["certificate", "deny", "denied"], None).await.ok();

    let out = env.run(&["get", "csr"], None).await.ok();
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION"], "{out}");
    let row = |name: &str| rows.iter().find(|r| r[0] == name).unwrap_or_else(|| panic!("no {name} in {out}")).clone();
    let signer = "kubernetes.io/kube-apiserver-client";
    // AGE (index 1) is a duration such as 0s; the rest is exact.
    // The kubeconfig's bearer token authenticates as `rudder-test` (groups system:masters and
    // system:authenticated).
    let me = "rudder-test";
    assert_eq!(row("pending")[2..], [signer, me, "60m", "Pending"], "{out}");
    assert_eq!(row("approved")[2..], [signer, me, "<none>", "Approved"], "{out}");
    assert_eq!(row("denied")[2..], [signer, me, "24h", "Denied"], "{out}");
    assert!(row("pending")[1].ends_with('s'), "{out}");
    let spec = &env.json(&["get", "csr", "pending", "-o", "json"]).await["spec"];
    assert_eq!(spec["username"], me);
    assert_eq!(spec["groups"], json!(["system:masters", "system:authenticated"]));
}
