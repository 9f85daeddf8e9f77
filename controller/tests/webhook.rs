//! The admission webhook server over real TLS: reviews are decoded as the handler's type, the
//! response echoes the request's uid, a JSON Patch travels base64-encoded, and bad input gets
//! clear HTTP errors while the server keeps serving.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use rudder_apimachinery::admission::{AdmissionResponse, Operation};
use rudder_controller::webhook::{WebhookError, WebhookServer};

struct Tls {
    cert_pem: String,
    key_pem: String,
    ca: rustls_pki_types::CertificateDer<'static>,
}

fn tls() -> Tls {
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    let cert = params.self_signed(&key).expect("cert");
    Tls { cert_pem: cert.pem(), key_pem: key.serialize_pem(), ca: cert.der().clone() }
}

async fn post(
    addr: std::net::SocketAddr,
    ca: &rustls_pki_types::CertificateDer<'static>,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> (u16, Bytes) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.expect("handshake");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.expect("http");
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    let resp = tokio::time::timeout(Duration::from_secs(10), sender.send_request(req))
        .await
        .expect("in time")
        .expect("response");
    let code = resp.status().as_u16();
    (code, resp.into_body().collect().await.expect("body").to_bytes())
}

fn review(pod: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "uid-1",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "default",
            "operation": "CREATE",
            "userInfo": {"username": "alice"},
            "object": pod
        }
    }))
    .expect("json")
}

#[tokio::test]
async fn reviews_are_answered_typed_with_the_uid_and_a_patch() {
    let t = tls();
    let server = WebhookServer::new(t.cert_pem.as_bytes(), t.key_pem.as_bytes())
        .expect("tls config")
        .route("/mutate", |req: rudder_apimachinery::admission::AdmissionRequest<Pod>| async move {
            assert_eq!(req.operation, Operation::Create);
            let has_labels = req.object.as_ref().is_some_and(|p| p.metadata.labels.is_some());
            let ops = if has_labels {
                json!([{"op": "add", "path": "/metadata/labels/admitted", "value": "yes"}])
            } else {
                json!([{"op": "add", "path": "/metadata/labels", "value": {"admitted": "yes"}}])
            };
            let mut resp = AdmissionResponse::allow(&req).with_patch(&ops).expect("patch");
            resp.uid = "the handler may not change this".into();
            resp
        })
        .route("/validate", |req: rudder_apimachinery::admission::AdmissionRequest<Pod>| async move {
            AdmissionResponse::deny(&req, 403, format!("{} may not", req.user_info.username))
        })
        .route("/slow", |req: rudder_apimachinery::admission::AdmissionRequest<Value>| async move {
            if req.name == "panic" {
                panic!("handler bug");
            }
            AdmissionResponse::allow(&req)
        })
        .bind(([127, 0, 0, 1], 0).into())
        .await
        .expect("bind");
    let addr = server.local_addr();
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}});

    let (code, body) = post(addr, &t.ca, "POST", "/mutate", review(pod.clone())).await;
    assert_eq!(code, 200, "{body:?}");
    let out: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(
        (out["apiVersion"].as_str(), out["kind"].as_str()),
        (Some("admission.k8s.io/v1"), Some("AdmissionReview"))
    );
    assert_eq!(out["response"]["uid"], "uid-1", "the request's uid, whatever the handler set");
    assert_eq!(out["response"]["allowed"], true);
    assert_eq!(out["response"]["patchType"], "JSONPatch");
    use base64::Engine as _;
    let patch = base64::engine::general_purpose::STANDARD
        .decode(out["response"]["patch"].as_str().expect("patch"))
        .expect("b64");
    let ops: Value = serde_json::from_slice(&patch).expect("ops");
    assert_eq!(ops[0]["path"], "/metadata/labels");

    let (code, body) = post(addr, &t.ca, "POST", "/validate", review(pod.clone())).await;
    assert_eq!(code, 200);
    let out: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(out["response"]["allowed"], false);
    assert_eq!(out["response"]["result"]["message"], "alice may not");

    // Bad input: clear answers, and the server keeps serving.
    assert_eq!(post(addr, &t.ca, "POST", "/validate", b"{not json".to_vec()).await.0, 400);
    let no_request =
        serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"})).expect("json");
    let (code, body) = post(addr, &t.ca, "POST", "/validate", no_request).await;
    assert_eq!(code, 400);
    assert!(String::from_utf8_lossy(&body).contains("no request"), "{body:?}");
    assert_eq!(post(addr, &t.ca, "GET", "/validate", Vec::new()).await.0, 405);
    assert_eq!(post(addr, &t.ca, "POST", "/nowhere", review(pod.clone())).await.0, 404);
    assert_eq!(post(addr, &t.ca, "POST", "/validate", vec![b' '; 9 << 20]).await.0, 413);
    let mut panicking = pod.clone();
    panicking["metadata"]["name"] = json!("panic");
    let mut r: Value = serde_json::from_slice(&review(panicking)).expect("json");
    r["request"]["name"] = json!("panic");
    assert_eq!(post(addr, &t.ca, "POST", "/slow", serde_json::to_vec(&r).expect("json")).await.0, 500);
    assert_eq!(post(addr, &t.ca, "POST", "/validate", review(pod)).await.0, 200, "still serving after a panic");
    server.stop().await;
}

#[test]
fn unparsable_certificates_and_keys_are_typed_errors_without_the_key() {
    let t = tls();
    let err = WebhookServer::new(b"not a pem", t.key_pem.as_bytes()).expect_err("no cert");
    assert!(matches!(err, WebhookError::Tls(_)), "{err:?}");
    let secret = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n";
    let err = WebhookServer::new(t.cert_pem.as_bytes(), secret.as_bytes()).expect_err("bad key");
    assert!(!err.to_string().contains("c2VjcmV0"), "the key never reaches the error: {err}");
}
