//! Exec credential plugins through the transport: bearer token (refreshed after a 401) and a
//! client certificate, over real loopback TLS.

#![cfg(unix)]

mod transport_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use rudder_client::config::ExecConfig;
use rudder_client::transport::{RequestKind, Transport};
use transport_support::{get, ok, respond, serve_https, Pki, TlsOpts};

/// Writes a plugin that counts its runs in `dir/count` and prints `dir/cred-<n>.json` (or
/// `dir/cred.json`).
fn plugin(dir: &Path) -> ExecConfig {
    let script = dir.join("plugin.sh");
    let d = dir.display();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nn=$(cat {d}/count 2>/dev/null || echo 0)\nn=$((n+1))\necho $n > {d}/count\n\
             if [ -f {d}/cred-$n.json ]; then cat {d}/cred-$n.json; else cat {d}/cred.json; fi\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    ExecConfig {
        api_version: "client.authentication.k8s.io/v1".into(),
        command: script.display().to_string(),
        interactive_mode: Some("Never".into()),
        ..Default::default()
    }
}

fn credential(status: serde_json::Value) -> String {
    serde_json::json!({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": status})
        .to_string()
}

fn runs(dir: &Path) -> u32 {
    std::fs::read_to_string(dir.join("count")).map(|s| s.trim().parse().unwrap()).unwrap_or(0)
}

#[tokio::test]
async fn exec_token_is_used_and_refreshed_after_a_401() {
    let pki = Pki::new("test-ca");
    let (cert_pem, key_pem) = pki.server_cert(&["127.0.0.1"]);
    let handler: transport_support::Handler = Arc::new(|seen, _| {
        if seen.header("authorization") == Some("Bearer tok-2") {
            respond(200, &[])
        } else {
            respond(401, &[])
        }
    });
    let server = serve_https(TlsOpts { cert_pem, key_pem, client_ca_pem: None, h2: true }, handler).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cred-1.json"), credential(serde_json::json!({"token": "tok-1"}))).unwrap();
    std::fs::write(dir.path().join("cred.json"), credential(serde_json::json!({"token": "tok-2"}))).unwrap();
    let mut config = transport_support::config(server.https_url(), Some(&pki.ca_pem));
    config.auth.exec = Some(plugin(dir.path()));
    let t = Transport::new(&config).unwrap();
    assert_eq!(t.send(get(server.url("https", "/a")), RequestKind::Normal).await.unwrap().status(), 200);
    assert_eq!(runs(dir.path()), 2, "run once, then again after the 401");
    assert_eq!(t.send(get(server.url("https", "/b")), RequestKind::Normal).await.unwrap().status(), 200);
    assert_eq!(runs(dir.path()), 2, "credentials are cached");
    let auths: Vec<_> = server.seen().iter().map(|s| s.header("authorization").unwrap().to_string()).collect();
    assert_eq!(auths, ["Bearer tok-1", "Bearer tok-2", "Bearer tok-2"]);
}

#[tokio::test]
async fn exec_client_certificate_is_presented() {
    let pki = Pki::new("test-ca");
    let (cert_pem, key_pem) = pki.server_cert(&["127.0.0.1"]);
    let server =
        serve_https(TlsOpts { cert_pem, key_pem, client_ca_pem: Some(pki.ca_pem.clone()), h2: true }, ok()).await;
    let dir = tempfile::tempdir().unwrap();
    let client_cert = pki.client_cert("exec-user", transport_support::keys::EC_PKCS8);
    std::fs::write(
        dir.path().join("cred.json"),
        credential(serde_json::json!({
            "clientCertificateData": client_cert,
            "clientKeyData": transport_support::keys::EC_SEC1,
        })),
    )
    .unwrap();
    let mut config = transport_support::config(server.https_url(), Some(&pki.ca_pem));
    config.auth.exec = Some(plugin(dir.path()));
    let t = Transport::new(&config).unwrap();
    let resp = t.send(get(server.url("https", "/a")), RequestKind::Normal).await.unwrap();
    assert_eq!(resp.status(), 200);
    let seen = server.seen();
    assert!(seen[0].client_cert);
    assert_eq!(seen[0].header("authorization"), None);
}
