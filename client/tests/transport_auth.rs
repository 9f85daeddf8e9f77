//! Credentials, impersonation and warnings, over real loopback sockets.

mod transport_support;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rudder_client::config::{ExecConfig, Impersonation, Secret};
use rudder_client::transport::{RequestKind, Transport};
use rudder_client::Error;
use transport_support::{get, ok, respond, serve_http, serve_https, Pki, TestServer, TlsOpts};

async fn tls_server(handler: transport_support::Handler) -> (Pki, TestServer) {
    let pki = Pki::new("test-ca");
    let (cert_pem, key_pem) = pki.server_cert(&["127.0.0.1"]);
    let server = serve_https(TlsOpts { cert_pem, key_pem, client_ca_pem: None, h2: true }, handler).await;
    (pki, server)
}

#[tokio::test]
async fn bearer_token_is_sent_over_https_only() {
    let (pki, server) = tls_server(ok()).await;
    let mut config = transport_support::config(server.https_url(), Some(&pki.ca_pem));
    config.auth.token = Some(Secret::new("s3cret".to_string()));
    let t = Transport::new(&config).unwrap();
    t.send(get(server.url("https", "/api")), RequestKind::Normal).await.unwrap();
    assert_eq!(server.seen()[0].header("authorization"), Some("Bearer s3cret"));
    assert!(!format!("{t:?}").contains("s3cret"));

    let plain = serve_http(ok()).await;
    let mut config = transport_support::config(plain.http_url(), None);
    config.auth.token = Some(Secret::new("s3cret".to_string()));
    config.auth.username = Some("admin".into());
    let t = Transport::new(&config).unwrap();
    t.send(get(plain.url("http", "/api")), RequestKind::Normal).await.unwrap();
    assert_eq!(plain.seen()[0].header("authorization"), None, "no credentials over plain http");
}

#[tokio::test]
async fn basic_auth_over_https() {
    let (pki, server) = tls_server(ok()).await;
    let mut config = transport_support::config(server.https_url(), Some(&pki.ca_pem));
    config.auth.username = Some("admin".into());
    config.auth.password = Some(Secret::new("pw".to_string()));
    let t = Transport::new(&config).unwrap();
    t.send(get(server.url("https", "/api")), RequestKind::Normal).await.unwrap();
    // base64("admin:pw")
    assert_eq!(server.seen()[0].header("authorization"), Some("Basic YWRtaW46cHc="));
}

/// A server that accepts only `Bearer <expected>` (401 otherwise).
fn accepts_only(expected: Arc<Mutex<String>>) -> transport_support::Handler {
    Arc::new(move |seen, _| {
        let want = format!("Bearer {}", expected.lock());
        if seen.header("authorization") == Some(want.as_str()) {
            respond(200, &[])
        } else {
            respond(401, &[])
        }
    })
}

#[tokio::test]
async fn token_file_is_reread_after_a_401_and_the_request_retried_once() {
    let expected = Arc::new(Mutex::new("one".to_string()));
    let (pki, server) = tls_server(accepts_only(expected.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "one\n").unwrap();
    let mut config = transport_support::config(server.https_url(), Some(&pki.ca_pem));
    config.auth.token_file = Some(path.clone());
    let t = Transport::new(&config).unwrap();
    assert_eq!(t.send(get(server.url("https", "/a")), RequestKind::Normal).await.unwrap().status(), 200);

    // Rotate: the cached token is stale; the server answers 401, the file is re-read.
    std::fs::write(&path, "two").unwrap();
    *expected.lock() = "two".into();
    assert_eq!(t.send(get(server.url("https", "/b")), RequestKind::Normal).await.unwrap().status(), 200);
    let auths: Vec<_> = server.seen().iter().map(|s| s.header("authorization").unwrap().to_string()).collect();
    assert_eq!(auths, ["Bearer one", "Bearer one", "Bearer two"]);

    // A credential that stays wrong: exactly one retry, then the 401 is returned.
    *expected.lock() = "three".into();
    assert_eq!(t.send(get(server.url("https", "/c")), RequestKind::Normal).await.unwrap().status(), 401);
    assert_eq!(server.seen().len(), 5);
}

#[tokio::test]
async fn static_token_401_is_not_retried() {
    let expected = Arc::new(Mutex::new("right".to_string()));
    let (pki, server) = tls_server(accepts_only(expected)).await;
    let mut config = transport_support::config(server.https_url(), Some(&pki.ca_pem));
    config.auth.token = Some(Secret::new("wrong".to_string()));
    let t = Transport::new(&config).unwrap();
    assert_eq!(t.send(get(server.url("https", "/a")), RequestKind::Normal).await.unwrap().status(), 401);
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn token_file_is_rechecked_after_a_minute() {
    let (pki, server) = tls_server(ok()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "one").unwrap();
    let mut config = transport_support::config(server.https_url(), Some(&pki.ca_pem));
    config.auth.token_file = Some(path.clone());
    config.timeout = None;
    let t = Transport::new(&config).unwrap();
    t.send(get(server.url("https", "/a")), RequestKind::Normal).await.unwrap();
    std::fs::write(&path, "two").unwrap();
    // Make sure the modification time differs even on coarse-grained file systems.
    let f = std::fs::File::options().write(true).open(&path).unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(5)).unwrap();
    drop(f);
    tokio::time::advance(Duration::from_secs(61)).await;
    t.send(get(server.url("https", "/b")), RequestKind::Normal).await.unwrap();
    let auths: Vec<_> = server.seen().iter().map(|s| s.header("authorization").unwrap().to_string()).collect();
    assert_eq!(auths, ["Bearer one", "Bearer two"]);
}

#[tokio::test]
async fn missing_token_file_is_an_auth_error_naming_the_file() {
    let (pki, server) = tls_server(ok()).await;
    let mut config = transport_support::config(server.https_url(), Some(&pki.ca_pem));
    config.auth.token_file = Some("/nonexistent/rudder/token".into());
    let t = Transport::new(&config).unwrap();
    let err = t.send(get(server.url("https", "/a")), RequestKind::Normal).await.unwrap_err();
    assert!(matches!(&err, Error::Auth(m) if m.contains("/nonexistent/rudder/token")), "{err:?}");
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn failing_exec_plugin_is_an_auth_error() {
    let (pki, server) = tls_server(ok()).await;
    let mut config = transport_support::config(server.https_url(), Some(&pki.ca_pem));
    config.auth.exec = Some(ExecConfig {
        api_version: "client.authentication.k8s.io/v1".into(),
        command: "/nonexistent/rudder-credential-plugin".into(),
        ..Default::default()
    });
    let t = Transport::new(&config).unwrap();
    let err = t.send(get(server.url("https", "/a")), RequestKind::Normal).await.unwrap_err();
    assert!(matches!(&err, Error::Auth(m) if m.contains("rudder-credential-plugin")), "{err:?}");
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn impersonation_headers() {
    let server = serve_http(ok()).await;
    let mut config = transport_support::config(server.http_url(), None);
    config.impersonate = Some(Impersonation {
        user: Some("jane".into()),
        uid: Some("42".into()),
        groups: vec!["devs".into(), "ops".into()],
        extra: vec![("example.com/scopes".into(), vec!["view".into(), "edit".into()])],
    });
    let t = Transport::new(&config).unwrap();
    t.send(get(server.url("http", "/api")), RequestKind::Normal).await.unwrap();
    let seen = &server.seen()[0];
    assert_eq!(seen.header("impersonate-user"), Some("jane"));
    assert_eq!(seen.header("impersonate-uid"), Some("42"));
    let groups: Vec<_> = seen.headers.get_all("impersonate-group").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(groups, ["devs", "ops"]);
    let extra: Vec<_> =
        seen.headers.get_all("impersonate-extra-example.com%2Fscopes").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(extra, ["view", "edit"]);
}

#[tokio::test]
async fn warnings_reach_the_handler() {
    let server = serve_http(Arc::new(|_, _| {
        respond(200, &[("warning", r#"299 - "v1beta1 Foo is deprecated""#), ("warning", r#"299 - "second""#)])
    }))
    .await;
    let t = Transport::new(&transport_support::config(server.http_url(), None)).unwrap();
    let got = Arc::new(Mutex::new(Vec::<String>::new()));
    let g = got.clone();
    t.on_warning(move |w| g.lock().push(w.to_string()));
    t.send(get(server.url("http", "/api")), RequestKind::Normal).await.unwrap();
    assert_eq!(*got.lock(), ["v1beta1 Foo is deprecated", "second"]);
}

#[tokio::test]
async fn explicit_user_agent_is_kept() {
    let server = serve_http(ok()).await;
    let t = Transport::new(&transport_support::config(server.http_url(), None)).unwrap();
    let req = http::Request::get(server.url("http", "/api")).header("user-agent", "mine/1").body(bytes::Bytes::new());
    t.send(req.unwrap(), RequestKind::Normal).await.unwrap();
    assert_eq!(server.seen()[0].header("user-agent"), Some("mine/1"));
}
