//! The embedded API server's transport: discovery, TLS with h2 via ALPN, bearer-token and
//! client-certificate authentication, and a throughput measurement (ignored by default).

mod common;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};

/// Reads watch frames until `n` newline-terminated events have arrived.
async fn read_lines(body: &mut hyper::body::Incoming, n: usize) {
    let mut lines = 0usize;
    while lines < n {
        let f = body.frame().await.unwrap().unwrap();
        if let Ok(d) = f.into_data() {
            lines += d.iter().filter(|b| **b == b'\n').count();
        }
    }
}

#[tokio::test]
async fn discovery_documents_are_served() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let v = h.get("/version").await.json();
    assert_eq!(v["major"], "1");
    let api = h.get("/api").await.json();
    assert_eq!(api["kind"], "APIVersions");
    let authority = s.url().authority().unwrap().to_string();
    assert_eq!(api["serverAddressByClientCIDRs"][0]["serverAddress"], authority.as_str());
    assert_eq!(h.get("/apis").await.json()["kind"], "APIGroupList");
    let core = h.get("/api/v1").await.json();
    assert_eq!(core["kind"], "APIResourceList");
    assert!(core["resources"].as_array().unwrap().iter().any(|r| r["name"] == "pods/status"));
    assert_eq!(h.get("/apis/apps").await.json()["kind"], "APIGroup");
    assert_eq!(h.get("/apis/apps/v1").await.json()["groupVersion"], "apps/v1");
    assert_eq!(h.get("/apis/apps/v9").await.code, 404);
}

fn tls_client(
    ca: &str,
    identity: Option<(&str, &str)>,
) -> Client<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, Full<Bytes>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let cfg = match identity {
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(cert.as_bytes()).map(|c| c.unwrap()).collect();
            b.with_client_auth_cert(chain, PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap()).unwrap()
        }
        None => b.with_no_client_auth(),
    };
    let conn =
        hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(cfg).https_only().enable_all_versions().build();
    Client::builder(TokioExecutor::new()).build(conn)
}

#[tokio::test]
async fn tls_h2_with_token_auth() {
    let s = ApiServer::builder().tls().token("secret").start().await.unwrap();
    assert_eq!(s.url().scheme_str(), Some("https"));
    let client = tls_client(s.ca_pem().unwrap(), None);
    let url = format!("{}api/v1/namespaces", s.url());
    let req = |tok: Option<&str>| {
        let mut b = http::Request::get(&url);
        if let Some(t) = tok {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        b.body(Full::new(Bytes::new())).unwrap()
    };
    let r = client.request(req(Some("secret"))).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), http::Version::HTTP_2);
    let body = r.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    let r = client.request(req(Some("wrong"))).await.unwrap();
    assert_eq!(r.status(), 401);
    let body = r.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        &body[..],
        b"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"Unauthorized\",\"reason\":\"Unauthorized\",\"code\":401}\n"
    );
    let r = client.request(req(None)).await.unwrap();
    assert_eq!(r.status(), 401);
    // Health is anonymous.
    let r = client
        .request(http::Request::get(format!("{}healthz", s.url())).body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A watch over h2.
    let w = client
        .request(
            http::Request::get(format!("{}api/v1/namespaces?watch=1", s.url()))
                .header("authorization", "Bearer secret")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    let mut body = w.into_body();
    let f = tokio::time::timeout(Duration::from_secs(5), body.frame()).await.unwrap().unwrap().unwrap();
    let line = String::from_utf8_lossy(f.data_ref().unwrap()).to_string();
    assert!(line.starts_with("{\"type\":\"ADDED\""), "{line}");
}

#[tokio::test]
async fn client_certificate_auth() {
    let s = ApiServer::builder().client_cert_auth().start().await.unwrap();
    let cfg = s.config();
    let cert = String::from_utf8(cfg.auth.client_certificate_pem.clone().unwrap()).unwrap();
    let key = String::from_utf8(cfg.auth.client_key_pem.as_ref().unwrap().expose().clone()).unwrap();
    let client = tls_client(s.ca_pem().unwrap(), Some((&cert, &key)));
    let r = client
        .request(
            http::Request::get(format!("{}api/v1/namespaces/default", s.url())).body(Full::new(Bytes::new())).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    s.write_kubeconfig(&path).unwrap();
    assert!(std::fs::read_to_string(&path).unwrap().contains("client-certificate-data"));
}

/// Measures seeding, list and watch throughput with 100 000 realistic pods (~6 KB each). Run
/// with `cargo test --release -p rudder-apiserver --test transport
/// throughput -- --ignored --nocapture`. The client side only counts bytes and newlines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run explicitly in release mode"]
async fn throughput() {
    use rudder_apiserver::seed;
    let n = 100_000;
    let s = ApiServer::builder().history_limit(200_000).start().await.unwrap();
    let gvr = rudder_client::apimachinery::schema::GroupVersionResource::new("", "v1", "pods");
    let t = std::time::Instant::now();
    let pods = seed::realistic_pods(10_000, "values");
    let el_gen = t.elapsed();
    let t = std::time::Instant::now();
    s.control().insert_many(&gvr, pods);
    println!("insert_many (Values): 10000 pods in {:?} (+{el_gen:?} to build the Values)", t.elapsed());
    let t = std::time::Instant::now();
    let rv = s.control().insert_realistic_pods("default", n);
    let el = t.elapsed();
    println!("insert_realistic_pods (bytes): {n} pods in {el:?} ({:.0} pods/s)", n as f64 / el.as_secs_f64());
    let h = Http::new(&s);
    for _ in 0..2 {
        let t = std::time::Instant::now();
        let r = h.raw("GET", "/api/v1/namespaces/default/pods", None, "").await;
        let mut body = r.into_body();
        let mut bytes = 0usize;
        while let Some(f) = body.frame().await {
            if let Ok(d) = f.unwrap().into_data() {
                bytes += d.len();
            }
        }
        let el = t.elapsed();
        println!(
            "list: {n} pods, {} MB in {el:?} ({:.0} pods/s, {:.0} MB/s)",
            bytes / 1_000_000,
            n as f64 / el.as_secs_f64(),
            bytes as f64 / 1e6 / el.as_secs_f64()
        );
    }
    let events = 50_000;
    let t = std::time::Instant::now();
    let rv = s.control().modify_many(&gvr, events).max(rv);
    let el = t.elapsed();
    println!(
        "modify_many without watchers: {events} events in {el:?} ({:.0} events/s)",
        events as f64 / el.as_secs_f64()
    );
    let w = h.raw("GET", &format!("/api/v1/pods?watch=1&resourceVersion={rv}"), None, "").await;
    let mut body = w.into_body();
    let t = std::time::Instant::now();
    let c = s.control();
    let gvr2 = gvr.clone();
    let modify = tokio::task::spawn_blocking(move || {
        let t = std::time::Instant::now();
        c.modify_many(&gvr2, events);
        t.elapsed()
    });
    read_lines(&mut body, events).await;
    let el = t.elapsed();
    let el_modify = modify.await.unwrap();
    println!(
        "watch (concurrent with modify_many): {events} events in {el:?} ({:.0} events/s; modify_many took {el_modify:?})",
        events as f64 / el.as_secs_f64()
    );
    // Fan-out alone: queue the events first (stalled watch), then time the delivery.
    s.control().stall_watches();
    s.control().modify_many(&gvr, events);
    let t = std::time::Instant::now();
    s.control().release_watches();
    read_lines(&mut body, events).await;
    let el = t.elapsed();
    println!(
        "watch fan-out of queued events: {events} events in {el:?} ({:.0} events/s)",
        events as f64 / el.as_secs_f64()
    );
    let _ = json!({});
}
