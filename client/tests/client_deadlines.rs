//! One deadline per request and no endless waits: `Config.timeout` bounds a request from
//! sending to its last body byte (retries and their sleeps included), `Retry-After` is capped,
//! opening a connection is bounded by `Config.connect_timeout`, and watches have no deadline.
//! Raw-socket servers stall on purpose; time-driven parts run on tokio's paused clock.

mod raw_server;
mod transport_support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use rudder_apimachinery::options::ListOptions;
use rudder_client::api::Api;
use rudder_client::{Client, Config, Error};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use raw_server::{chunked_head, serve, stall, write_chunk};
use transport_support::{respond, serve_http};

/// A guard so a regression fails the test instead of hanging it.
const GUARD: Duration = Duration::from_secs(20);

fn config(url: http::Uri, timeout: Option<Duration>) -> Config {
    let mut c = Config::new(url).without_rate_limit();
    c.max_retries = 10;
    c.timeout = timeout;
    c
}

fn assert_timeout(err: &Error, after: Duration) {
    match err {
        Error::Timeout { after: a, .. } => assert_eq!(*a, after),
        other => panic!("expected Timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn a_body_that_stalls_after_the_headers_times_out_a_get() {
    let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"meta";
    let server = serve(move |tcp, _| stall(tcp, head, Duration::from_secs(60))).await;
    let timeout = Duration::from_millis(300);
    let api: Api<ConfigMap> = Api::namespaced(Client::new(config(server.url(), Some(timeout))).unwrap(), "default");
    let err = tokio::time::timeout(GUARD, api.get("a")).await.expect("get must not hang").unwrap_err();
    assert_timeout(&err, timeout);
}

#[tokio::test]
async fn a_body_that_stalls_times_out_the_streaming_list() {
    let server = serve(|mut tcp, _| async move {
        let _ = tcp.write_all(chunked_head("application/json").as_bytes()).await;
        let prefix = br#"{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[{"metadata":{"name":"a"}},"#;
        let _ = write_chunk(&mut tcp, prefix).await;
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    let timeout = Duration::from_millis(300);
    let api: Api<ConfigMap> = Api::all(Client::new(config(server.url(), Some(timeout))).unwrap());
    let err =
        tokio::time::timeout(GUARD, api.list(&ListOptions::default())).await.expect("list must not hang").unwrap_err();
    assert_timeout(&err, timeout);
}

#[tokio::test]
async fn watches_have_no_deadline() {
    // The event comes after three times the request timeout: a watch still gets it.
    let server = serve(|mut tcp, _| async move {
        let _ = tcp.write_all(chunked_head("application/json").as_bytes()).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        let event = br#"{"type":"ADDED","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"late"}}}"#;
        let _ = write_chunk(&mut tcp, &[&event[..], b"\n"].concat()).await;
        let _ = tcp.write_all(b"0\r\n\r\n").await;
    })
    .await;
    let api: Api<ConfigMap> = Api::all(Client::new(config(server.url(), Some(Duration::from_millis(200)))).unwrap());
    let events: Vec<_> = api.watch(&ListOptions::default()).await.unwrap().collect().await;
    assert_eq!(events.len(), 1);
    assert!(events[0].is_ok(), "{:?}", events[0]);
}

#[tokio::test(start_paused = true)]
async fn retries_and_their_sleeps_count_against_the_deadline() {
    let server = serve_http(Arc::new(|_, _| respond(503, &[("retry-after", "1")]))).await;
    let timeout = Duration::from_millis(2500);
    let api: Api<ConfigMap> =
        Api::namespaced(Client::new(config(server.http_url(), Some(timeout))).unwrap(), "default");
    let start = Instant::now();
    let err = api.get("a").await.unwrap_err();
    // Attempts at 0 s, 1 s and 2 s; the next would start past the deadline, so the last 503
    // is the answer.
    assert_eq!(err.status().map(|s| s.code), Some(503), "{err:?}");
    assert_eq!(server.seen().len(), 3);
    assert!(start.elapsed() < timeout, "took {:?}", start.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_the_deadline_returns_at_once() {
    let server = serve_http(Arc::new(|_, _| respond(503, &[("retry-after", "86400")]))).await;
    let api: Api<ConfigMap> =
        Api::namespaced(Client::new(config(server.http_url(), Some(Duration::from_secs(5)))).unwrap(), "default");
    let start = Instant::now();
    let err = api.get("a").await.unwrap_err();
    assert_eq!(err.status().map(|s| s.code), Some(503));
    assert_eq!(err.status().and_then(|s| s.details.as_ref()).and_then(|d| d.retry_after_seconds), Some(86400));
    assert_eq!(server.seen().len(), 1);
    assert!(start.elapsed() < Duration::from_secs(1), "took {:?}", start.elapsed());
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_capped_without_a_deadline() {
    let server = serve_http(Arc::new(|_, n| {
        if n == 0 {
            respond(503, &[("retry-after", "86400")])
        } else {
            let mut r = respond(200, &[("content-type", "application/json")]);
            *r.body_mut() = http_body_util::Full::new(bytes::Bytes::from_static(br#"{"metadata":{"name":"a"}}"#));
            r
        }
    }))
    .await;
    let api: Api<ConfigMap> = Api::namespaced(Client::new(config(server.http_url(), None)).unwrap(), "default");
    let start = Instant::now();
    api.get("a").await.unwrap();
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(60) && waited < Duration::from_secs(70), "waited {waited:?}");
}

#[tokio::test(start_paused = true)]
async fn a_stalled_error_body_of_a_watch_does_not_hang_it() {
    let head = b"HTTP/1.1 410 Gone\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"kind\":";
    let server = serve(move |tcp, _| stall(tcp, head, Duration::from_secs(3600))).await;
    let api: Api<ConfigMap> = Api::all(Client::new(config(server.url(), None)).unwrap());
    let err = tokio::time::timeout(GUARD, api.watch(&ListOptions::default()))
        .await
        .expect("must not hang")
        .err()
        .expect("a 410 is an error");
    assert!(err.is_expired(), "{err:?}");
}

/// A "proxy" that reads the CONNECT request and never answers.
#[tokio::test]
async fn a_proxy_that_never_answers_connect_is_bounded_by_connect_timeout() {
    let proxy = serve(|tcp, _| stall(tcp, b"", Duration::from_secs(60))).await;
    let mut c = config("https://127.0.0.1:9".parse().unwrap(), None);
    c.max_retries = 0;
    c.proxy_url = Some(proxy.url());
    c.connect_timeout = Duration::from_millis(300);
    let api: Api<ConfigMap> = Api::all(Client::new(c).unwrap());
    // A watch: no request deadline, only the connect timeout.
    let err = tokio::time::timeout(GUARD, api.watch(&ListOptions::default()))
        .await
        .expect("must not hang")
        .err()
        .expect("no tunnel, no watch");
    assert!(err.to_string().contains("Config.connect_timeout"), "{err}");
    assert_eq!(proxy.requests(), 1, "the proxy got the CONNECT");
}

#[tokio::test]
async fn a_server_that_never_answers_the_tls_handshake_is_bounded_by_connect_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    let mut c = config(format!("https://{addr}").parse().unwrap(), None);
    c.max_retries = 0;
    c.connect_timeout = Duration::from_millis(300);
    let api: Api<ConfigMap> = Api::all(Client::new(c).unwrap());
    let err = tokio::time::timeout(GUARD, api.watch(&ListOptions::default()))
        .await
        .expect("must not hang")
        .err()
        .expect("no handshake, no watch");
    assert!(err.to_string().contains("Config.connect_timeout"), "{err}");
    hold.abort();
}

#[tokio::test]
async fn followed_logs_read_whole_have_no_deadline() {
    let server = serve(|mut tcp, _| async move {
        let _ = tcp.write_all(chunked_head("text/plain").as_bytes()).await;
        let _ = write_chunk(&mut tcp, b"one\n").await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        let _ = write_chunk(&mut tcp, b"two\n").await;
        let _ = tcp.write_all(b"0\r\n\r\n").await;
    })
    .await;
    let api: Api<k8s_openapi::api::core::v1::Pod> =
        Api::namespaced(Client::new(config(server.url(), Some(Duration::from_millis(200)))).unwrap(), "default");
    let opts = rudder_client::request::LogOptions { follow: true, ..Default::default() };
    let text = tokio::time::timeout(GUARD, api.logs("p", &opts)).await.expect("must end with the stream").unwrap();
    assert_eq!(text, "one\ntwo\n");
}
