//! TLS, HTTP/2 negotiation, client certificates and proxies, over real loopback sockets.

mod transport_support;

use rudder_client::transport::{RequestKind, Transport};
use rudder_client::Error;
use transport_support::{keys, ok, serve_http, serve_https, serve_proxy, Pki, TlsOpts};

fn tls_opts(pki: &Pki, sans: &[&str], h2: bool) -> TlsOpts {
    let (cert_pem, key_pem) = pki.server_cert(sans);
    TlsOpts { cert_pem, key_pem, client_ca_pem: None, h2 }
}

#[tokio::test]
async fn custom_ca_ip_san_and_h2_negotiated() {
    let pki = Pki::new("test-ca");
    let server = serve_https(tls_opts(&pki, &["127.0.0.1"], true), ok()).await;
    let t = Transport::new(&transport_support::config(server.https_url(), Some(&pki.ca_pem))).unwrap();
    for _ in 0..3 {
        let resp = t.send(transport_support::get(server.url("https", "/api")), RequestKind::Normal).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), http::Version::HTTP_2);
    }
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].version, http::Version::HTTP_2);
    assert!(seen[0].header("user-agent").unwrap().starts_with("rudder/"));
    assert_eq!(*server.accepted.lock(), 1, "h2 requests share one pooled connection");
}

#[tokio::test]
async fn http1_fallback_when_server_has_no_h2_and_pool_reuse() {
    let pki = Pki::new("test-ca");
    let server = serve_https(tls_opts(&pki, &["127.0.0.1"], false), ok()).await;
    let t = Transport::new(&transport_support::config(server.https_url(), Some(&pki.ca_pem))).unwrap();
    for _ in 0..2 {
        let resp = t.send(transport_support::get(server.url("https", "/api")), RequestKind::Normal).await.unwrap();
        assert_eq!(resp.version(), http::Version::HTTP_11);
        use http_body_util::BodyExt;
        resp.into_body().collect().await.unwrap();
    }
    assert_eq!(*server.accepted.lock(), 1, "the HTTP/1.1 connection is reused");
}

#[tokio::test]
async fn plain_http_uses_http1_and_pools() {
    let server = serve_http(ok()).await;
    let t = Transport::new(&transport_support::config(server.http_url(), None)).unwrap();
    for _ in 0..2 {
        let resp = t.send(transport_support::get(server.url("http", "/version")), RequestKind::Normal).await.unwrap();
        assert_eq!(resp.version(), http::Version::HTTP_11);
        use http_body_util::BodyExt;
        resp.into_body().collect().await.unwrap();
    }
    assert_eq!(*server.accepted.lock(), 1);
}

#[tokio::test]
async fn wrong_ca_is_a_tls_error_naming_host_and_cause() {
    let pki = Pki::new("real-ca");
    let other = Pki::new("other-ca");
    let server = serve_https(tls_opts(&pki, &["127.0.0.1"], true), ok()).await;
    let t = Transport::new(&transport_support::config(server.https_url(), Some(&other.ca_pem))).unwrap();
    let err = t.send(transport_support::get(server.url("https", "/api")), RequestKind::Normal).await.unwrap_err();
    match &err {
        Error::Tls { host, reason } => {
            assert_eq!(host, "127.0.0.1");
            assert!(reason.contains("UnknownIssuer"), "{reason}");
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn tls_server_name_overrides_the_verified_name() {
    let pki = Pki::new("test-ca");
    let server = serve_https(tls_opts(&pki, &["kubernetes.default.svc"], true), ok()).await;
    let mut config = transport_support::config(server.https_url(), Some(&pki.ca_pem));
    // Without the override the certificate does not match 127.0.0.1.
    let err = Transport::new(&config)
        .unwrap()
        .send(transport_support::get(server.url("https", "/api")), RequestKind::Normal)
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::Tls { reason, .. } if reason.contains("not valid for name")), "{err:?}");
    config.tls_server_name = Some("kubernetes.default.svc".into());
    let t = Transport::new(&config).unwrap();
    let resp = t.send(transport_support::get(server.url("https", "/api")), RequestKind::Normal).await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn insecure_skip_tls_verify_accepts_an_unknown_ca() {
    let pki = Pki::new("unknown-ca");
    let server = serve_https(tls_opts(&pki, &["somewhere.else"], true), ok()).await;
    let mut config = transport_support::config(server.https_url(), None);
    config.insecure_skip_tls_verify = true;
    let t = Transport::new(&config).unwrap();
    let resp = t.send(transport_support::get(server.url("https", "/api")), RequestKind::Normal).await.unwrap();
    assert_eq!(resp.status(), 200);
}

async fn mutual_tls_with(key_for_rcgen: &str, key_for_client: &str) {
    let pki = Pki::new("test-ca");
    let mut opts = tls_opts(&pki, &["127.0.0.1"], true);
    opts.client_ca_pem = Some(pki.ca_pem.clone());
    let server = serve_https(opts, ok()).await;
    let mut config = transport_support::config(server.https_url(), Some(&pki.ca_pem));
    config.auth.client_certificate_pem = Some(pki.client_cert("alice", key_for_rcgen).into_bytes());
    config.auth.client_key_pem = Some(key_for_client.as_bytes().to_vec().into());
    let t = Transport::new(&config).unwrap();
    let resp = t.send(transport_support::get(server.url("https", "/api")), RequestKind::Normal).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(server.seen()[0].client_cert);
}

#[tokio::test]
async fn mutual_tls_rsa_pkcs1() {
    mutual_tls_with(keys::RSA_PKCS8, keys::RSA_PKCS1).await;
}

#[tokio::test]
async fn mutual_tls_rsa_pkcs8() {
    mutual_tls_with(keys::RSA_PKCS8, keys::RSA_PKCS8).await;
}

#[tokio::test]
async fn mutual_tls_ec_sec1() {
    mutual_tls_with(keys::EC_PKCS8, keys::EC_SEC1).await;
}

#[tokio::test]
async fn mutual_tls_ec_pkcs8() {
    mutual_tls_with(keys::EC_PKCS8, keys::EC_PKCS8).await;
}

#[tokio::test]
async fn server_requiring_a_client_cert_rejects_none_with_a_tls_error() {
    let pki = Pki::new("test-ca");
    let mut opts = tls_opts(&pki, &["127.0.0.1"], false);
    opts.client_ca_pem = Some(pki.ca_pem.clone());
    let server = serve_https(opts, ok()).await;
    let t = Transport::new(&transport_support::config(server.https_url(), Some(&pki.ca_pem))).unwrap();
    let err = t.send(transport_support::get(server.url("https", "/api")), RequestKind::Normal).await.unwrap_err();
    assert!(matches!(&err, Error::Tls { host, .. } if host == "127.0.0.1"), "{err:?}");
}

#[tokio::test]
async fn bad_client_key_is_reported_at_construction() {
    let pki = Pki::new("test-ca");
    let mut config = transport_support::config("https://127.0.0.1:1".parse().unwrap(), Some(&pki.ca_pem));
    config.auth.client_certificate_pem = Some(pki.client_cert("alice", keys::EC_PKCS8).into_bytes());
    config.auth.client_key_pem = Some(b"not a key".to_vec().into());
    let err = Transport::new(&config).unwrap_err();
    assert!(matches!(&err, Error::Tls { reason, .. } if reason.contains("client key")), "{err:?}");
    assert!(!err.to_string().contains("not a key"), "key material must not be echoed: {err}");
}

#[tokio::test]
async fn https_through_a_connect_proxy() {
    let pki = Pki::new("test-ca");
    let server = serve_https(tls_opts(&pki, &["127.0.0.1"], true), ok()).await;
    let proxy = serve_proxy().await;
    let mut config = transport_support::config(server.https_url(), Some(&pki.ca_pem));
    config.proxy_url = Some(format!("http://user:p%40ss@{}", proxy.addr).parse().unwrap());
    let t = Transport::new(&config).unwrap();
    let resp = t.send(transport_support::get(server.url("https", "/api")), RequestKind::Normal).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_2, "TLS (and ALPN) run end to end through the tunnel");
    let heads = proxy.heads.lock().clone();
    assert_eq!(heads.len(), 1);
    assert!(heads[0].starts_with(&format!("CONNECT {} HTTP/1.1\r\n", server.addr)), "{}", heads[0]);
    // base64("user:p@ss")
    assert!(heads[0].contains("Proxy-Authorization: Basic dXNlcjpwQHNz\r\n"), "{}", heads[0]);
}

#[tokio::test]
async fn plain_http_through_a_proxy_uses_absolute_form() {
    let server = serve_http(ok()).await;
    let proxy = serve_proxy().await;
    let mut config = transport_support::config(server.http_url(), None);
    config.proxy_url = Some(format!("http://{}", proxy.addr).parse().unwrap());
    let t = Transport::new(&config).unwrap();
    let resp = t.send(transport_support::get(server.url("http", "/api/v1?x=1")), RequestKind::Normal).await.unwrap();
    assert_eq!(resp.status(), 200);
    let heads = proxy.heads.lock().clone();
    assert!(heads[0].starts_with(&format!("GET http://{}/api/v1?x=1 HTTP/1.1\r\n", server.addr)), "{}", heads[0]);
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn a_proxy_that_refuses_gives_its_status_line() {
    // The proxy cannot reach port 1 and answers 502.
    let proxy = serve_proxy().await;
    let pki = Pki::new("test-ca");
    let mut config = transport_support::config("https://127.0.0.1:1".parse().unwrap(), Some(&pki.ca_pem));
    config.proxy_url = Some(format!("http://{}", proxy.addr).parse().unwrap());
    let t = Transport::new(&config).unwrap();
    let err = t.send(transport_support::get("https://127.0.0.1:1/api".parse().unwrap()), RequestKind::Normal).await;
    let err = err.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("502"), "{err}");
}
