//! Untrusted bytes are bounded: a watch line, a streamed list item, a followed log line and a
//! whole body beyond the configured limit each end in `Error::TooLarge` naming the setting,
//! instead of growing memory without end. Raw-socket servers send the endless data.

mod raw_server;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use rudder_apimachinery::options::ListOptions;
use rudder_apimachinery::WatchEvent;
use rudder_client::api::{Api, Decoding};
use rudder_client::request::LogOptions;
use rudder_client::{Client, Config, Error};

use raw_server::{endless, serve, stall};

const LIMIT: usize = 1 << 20;
/// What the servers send at most before giving up (far beyond the limit).
const CAP: usize = 64 << 20;

fn client(url: http::Uri) -> Client {
    let mut c = Config::new(url).without_rate_limit();
    c.max_retries = 0;
    c.max_object_bytes = LIMIT;
    c.max_body_bytes = LIMIT;
    Client::new(c).unwrap()
}

const EVENT: &[u8] =
    b"{\"type\":\"ADDED\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\"}}}\n";

fn assert_too_large(err: &Error, what: &str, setting: &str) {
    match err {
        Error::TooLarge { what: w, limit, setting: s, .. } => {
            assert!(w.contains(what), "{err}");
            assert_eq!(*limit, LIMIT);
            assert_eq!(*s, setting);
            let msg = err.to_string();
            assert!(msg.contains(setting) && msg.contains(&LIMIT.to_string()), "{msg}");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[tokio::test]
async fn endless_watch_line_is_too_large_after_the_events_before_it_decoded_inline() {
    let server = serve(|tcp, _| endless(tcp, "application/json", EVENT, CAP)).await;
    let api: Api<ConfigMap> = Api::all(client(server.url()));
    let inline = Decoding::default().pool(rudder_client::decode::DecodePool::new(0));
    let items: Vec<_> = api.watch_with(&ListOptions::default(), inline).await.unwrap().collect().await;
    assert_eq!(items.len(), 2, "one event, the error, then the end");
    assert!(matches!(&items[0], Ok(WatchEvent::Added(cm)) if cm.metadata.name.as_deref() == Some("a")));
    assert_too_large(items[1].as_ref().unwrap_err(), "watch event", "Config.max_object_bytes");
}

#[tokio::test]
async fn endless_watch_line_is_too_large_on_the_parallel_decoder() {
    let server = serve(|tcp, _| endless(tcp, "application/json", EVENT, CAP)).await;
    let api: Api<ConfigMap> = Api::all(client(server.url()));
    let items: Vec<_> = api.watch(&ListOptions::default()).await.unwrap().collect().await;
    assert_eq!(items.len(), 2, "one event, the error, then the end");
    assert!(items[0].is_ok());
    assert_too_large(items[1].as_ref().unwrap_err(), "watch event", "Config.max_object_bytes");
}

#[tokio::test]
async fn endless_list_item_is_too_large_on_the_streaming_list() {
    let prefix = br#"{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[{"metadata":{"name":""#;
    let server = serve(move |tcp, _| endless(tcp, "application/json", prefix, CAP)).await;
    let api: Api<ConfigMap> = Api::all(client(server.url()));
    let err = api.list(&ListOptions::default()).await.unwrap_err();
    assert_too_large(&err, "list item", "Config.max_object_bytes");
}

#[tokio::test]
async fn endless_followed_log_line_is_too_large() {
    let server = serve(|tcp, _| endless(tcp, "text/plain", b"first line\n", CAP)).await;
    let api: Api<Pod> = Api::namespaced(client(server.url()), "default");
    let lines: Vec<_> = api.log_stream("p", &LogOptions::default()).await.unwrap().collect().await;
    assert_eq!(lines.len(), 2);
    assert_eq!(&lines[0].as_ref().unwrap()[..], b"first line");
    assert_too_large(lines[1].as_ref().unwrap_err(), "line", "Config.max_object_bytes");
}

#[tokio::test]
async fn endless_body_of_a_get_is_too_large() {
    let server = serve(|tcp, _| endless(tcp, "application/json", b"{\"metadata\":{\"name\":\"", CAP)).await;
    let api: Api<ConfigMap> = Api::namespaced(client(server.url()), "default");
    let err = api.get("a").await.unwrap_err();
    assert_too_large(&err, "response body", "Config.max_body_bytes");
    // A list is streamed: the same endless body is bounded by the per-item limit.
    let err = api.list(&ListOptions::default()).await.unwrap_err();
    assert_too_large(&err, "list item", "Config.max_object_bytes");
    // Discovery reads whole bodies as a get does.
    let err = rudder_client::discovery::DiscoveryClient::new(api.client().clone()).server_version().await.unwrap_err();
    assert_too_large(&err, "response body", "Config.max_body_bytes");
}

#[tokio::test]
async fn content_length_over_the_limit_fails_before_reading() {
    // The server announces a body far over the limit and then sends nothing: the client must
    // not wait for it.
    let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", 10u64 << 30);
    let server = serve(move |tcp, _| {
        let head = head.clone();
        async move { stall(tcp, head.as_bytes(), std::time::Duration::from_secs(30)).await }
    })
    .await;
    let api: Api<ConfigMap> = Api::namespaced(client(server.url()), "default");
    let err =
        tokio::time::timeout(std::time::Duration::from_secs(10), api.get("a")).await.expect("no wait").unwrap_err();
    assert_too_large(&err, "response body", "Config.max_body_bytes");
}

#[tokio::test]
async fn bodies_within_the_limits_are_read() {
    // A 600 KiB object (within the 1 MiB limits) as a get and as a watch event.
    let big = "y".repeat(600 << 10);
    let obj = format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"big"}},"data":{{"k":"{big}"}}}}"#);
    let event = format!(r#"{{"type":"ADDED","object":{obj}}}"#);
    let server = serve(move |mut tcp, head| {
        let body = if head.contains("watch=") { format!("{event}\n") } else { obj.clone() };
        async move {
            use tokio::io::AsyncWriteExt;
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tcp.write_all(resp.as_bytes()).await;
        }
    })
    .await;
    let api: Api<ConfigMap> = Api::namespaced(client(server.url()), "default");
    assert_eq!(api.get("big").await.unwrap().data.unwrap()["k"].len(), 600 << 10);
    let items: Vec<_> = api.watch(&ListOptions::default()).await.unwrap().collect().await;
    assert_eq!(items.len(), 1);
    assert!(items[0].is_ok(), "{:?}", items[0].as_ref().err());
}
