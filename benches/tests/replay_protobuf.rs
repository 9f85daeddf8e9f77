//! The replay server in protobuf, through rudder's client: lists (whole and paged), watches
//! (live, resumed from history, streaming lists) and the 410 of an expired watch decode to the
//! same pods as in JSON, with events in resourceVersion order.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;

use rudder_apimachinery::options::ListOptions;
use rudder_apimachinery::watch::WatchEvent;
use rudder_benches::server::control::Controlled;
use rudder_benches::server::replay::ReplayServer;
use rudder_client::api::Api;
use rudder_client::config::ContentType;
use rudder_client::decode::WatchEvents;
use rudder_client::{Client, Config};

/// Every wait is bounded: a broken server fails the test instead of hanging it.
const WAIT: Duration = Duration::from_secs(30);

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: nothing within {WAIT:?}"),
    }
}

async fn start(n: usize) -> (ReplayServer, String) {
    let server = ReplayServer::seeded(n).expect("seeded");
    let addr = server.serve().await.expect("serve");
    (server, format!("http://{addr}"))
}

fn api(url: &str, content_type: ContentType) -> Api<Pod> {
    let config = Config::new(url.parse().expect("url")).without_rate_limit().content_type(content_type);
    Api::all(Client::new(config).expect("client"))
}

fn rv_of(pod: &Pod) -> u64 {
    pod.metadata.resource_version.as_deref().expect("resourceVersion").parse().expect("numeric resourceVersion")
}

/// The next `n` events of `events`, each within [`WAIT`].
async fn take(events: &mut WatchEvents<Pod>, n: usize, what: &str) -> Vec<WatchEvent<Pod>> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match within(what, events.next()).await {
            Some(Ok(ev)) => out.push(ev),
            Some(Err(e)) => panic!("{what}: event {}: {e}", out.len()),
            None => panic!("{what}: stream ended after {} of {n} events", out.len()),
        }
    }
    out
}

/// The pods of `n` MODIFIED events, checking their type and that their resourceVersions
/// follow each other from `after + 1`.
fn modified(events: Vec<WatchEvent<Pod>>, after: u64, what: &str) -> Vec<Pod> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, ev)| match ev {
            WatchEvent::Modified(p) => {
                assert_eq!(rv_of(&p), after + 1 + i as u64, "{what}: event {i} out of order");
                p
            }
            other => panic!("{what}: event {i} is {}", other.type_name()),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_list_equals_json_list_whole_and_paged() {
    let (_server, url) = start(250).await;
    let (json, proto) = (api(&url, ContentType::Json), api(&url, ContentType::Protobuf));

    let j = within("json list", json.list(&ListOptions::default())).await.expect("json list");
    let p = within("protobuf list", proto.list(&ListOptions::default())).await.expect("protobuf list");
    assert_eq!(j.items.len(), 250);
    assert_eq!(p.metadata.resource_version, j.metadata.resource_version);
    assert_eq!(p.metadata.resource_version.as_deref(), Some("250"));
    assert_eq!(p.metadata.continue_, None);
    assert_eq!(p.items, j.items);

    // Pages of 64: the same tokens, counts and items in both encodings.
    let mut paged = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut opts = ListOptions::default().limit(64);
        opts.continue_token = token.clone();
        let jp = within("json page", json.list(&opts)).await.expect("json page");
        let pp = within("protobuf page", proto.list(&opts)).await.expect("protobuf page");
        assert_eq!(pp.metadata.continue_, jp.metadata.continue_);
        assert_eq!(pp.metadata.remaining_item_count, jp.metadata.remaining_item_count);
        assert_eq!(pp.metadata.resource_version, jp.metadata.resource_version);
        assert_eq!(pp.items, jp.items);
        paged.extend(pp.items);
        token = pp.metadata.continue_;
        if token.is_none() {
            break;
        }
        assert!(paged.len() < 250, "a continue token after the last page");
    }
    assert_eq!(paged, j.items, "the pages together are the whole list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_watch_equals_json_watch_live_and_resumed() {
    const PODS: usize = 200;
    const EVENTS: usize = 1500;
    let (server, url) = start(PODS).await;
    let (json, proto) = (api(&url, ContentType::Json), api(&url, ContentType::Protobuf));
    let list = within("list", proto.list(&ListOptions::default())).await.expect("list");
    let rv = list.metadata.resource_version.clone().expect("list resourceVersion");
    let from: u64 = rv.parse().expect("numeric");

    let opts = ListOptions::default().at(rv.clone());
    let mut jw = within("json watch", json.watch(&opts)).await.expect("json watch");
    let mut pw = within("protobuf watch", proto.watch(&opts)).await.expect("protobuf watch");
    // Each pod changes 7 or 8 times: many events queued at once, coalesced into chunks.
    within("modify", server.modify(EVENTS)).await;
    let j = modified(take(&mut jw, EVENTS, "json watch").await, from, "json watch");
    let p = modified(take(&mut pw, EVENTS, "protobuf watch").await, from, "protobuf watch");
    assert_eq!(p, j);
    // The objects are the listed pods, round-robin, with only the resourceVersion changed.
    for (i, pod) in p.iter().enumerate() {
        let mut listed = list.items[i % PODS].clone();
        listed.metadata.resource_version = pod.metadata.resource_version.clone();
        assert_eq!(*pod, listed, "event {i}");
    }

    // A watch from the same resourceVersion now replays the history: the same events.
    let mut jr = within("json resume", json.watch(&opts)).await.expect("json resume");
    let mut pr = within("protobuf resume", proto.watch(&opts)).await.expect("protobuf resume");
    let jh = modified(take(&mut jr, EVENTS, "json resume").await, from, "json resume");
    let ph = modified(take(&mut pr, EVENTS, "protobuf resume").await, from, "protobuf resume");
    assert_eq!(jh, j);
    assert_eq!(ph, j);
    // ...then the live ones, to every watcher.
    within("modify", server.modify(10)).await;
    let after = from + EVENTS as u64;
    for (w, what) in
        [(&mut jw, "json"), (&mut pw, "protobuf"), (&mut jr, "json resumed"), (&mut pr, "protobuf resumed")]
    {
        modified(take(w, 10, what).await, after, what);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_streaming_list_yields_every_pod_then_the_bookmark() {
    const PODS: usize = 300;
    let (server, url) = start(PODS).await;
    let (json, proto) = (api(&url, ContentType::Json), api(&url, ContentType::Protobuf));
    let list = within("list", json.list(&ListOptions::default())).await.expect("list");
    let opts = ListOptions { send_initial_events: Some(true), allow_watch_bookmarks: true, ..Default::default() };
    let mut pw = within("protobuf", proto.watch(&opts)).await.expect("protobuf streaming list");
    let mut jw = within("json", json.watch(&opts)).await.expect("json streaming list");
    for (w, what) in [(&mut pw, "protobuf"), (&mut jw, "json")] {
        let events = take(w, PODS + 1, what).await;
        let mut added = Vec::new();
        for (i, ev) in events.into_iter().enumerate() {
            match ev {
                WatchEvent::Added(p) if i < PODS => added.push(p),
                WatchEvent::Bookmark(b) if i == PODS => {
                    assert!(b.is_initial_events_end(), "{what}: {b:?}");
                    assert_eq!(b.metadata.resource_version, PODS.to_string(), "{what}");
                }
                other => panic!("{what}: event {i} is {}", other.type_name()),
            }
        }
        assert_eq!(added, list.items, "{what}: every pod, in key order");
    }
    // Live events follow the initial ones.
    within("modify", server.modify(5)).await;
    for (w, what) in [(&mut pw, "protobuf"), (&mut jw, "json")] {
        modified(take(w, 5, what).await, PODS as u64, what);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_watch_is_a_410_error_event_in_protobuf() {
    let (server, url) = start(10).await;
    let proto = api(&url, ContentType::Protobuf);
    let mut open = within("watch", proto.watch(&ListOptions::default().at("10"))).await.expect("watch");
    server.expire_watches();
    assert!(within("end of the expired watch", open.next()).await.is_none(), "the open watch ends");
    let mut w = within("watch", proto.watch(&ListOptions::default().at("10"))).await.expect("watch");
    match within("error event", w.next()).await {
        Some(Err(e)) => {
            let status = e.status().unwrap_or_else(|| panic!("not an API error: {e}"));
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"), "{e}");
        }
        other => panic!("expected a 410 ERROR event, got {:?}", other.map(|r| r.map(|ev| ev.type_name()))),
    }
    assert!(within("end", w.next()).await.is_none());
}

/// A raw HTTP/1.1 response being read: what has arrived and not been consumed yet.
struct Raw {
    sock: tokio::net::TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    /// Sends `GET path` with `accept`; the response and its lowercased head.
    async fn get(url: &str, path: &str, accept: &str) -> (Raw, String) {
        use tokio::io::AsyncWriteExt;
        let addr = url.trim_start_matches("http://");
        let sock = within("connect", tokio::net::TcpStream::connect(addr)).await.expect("connect");
        let mut raw = Raw { sock, buf: Vec::new() };
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\n\r\n");
        raw.sock.write_all(req.as_bytes()).await.expect("write");
        let end = loop {
            if let Some(end) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            raw.read().await;
        };
        let head = String::from_utf8_lossy(&raw.buf[..end]).to_ascii_lowercase();
        raw.buf.drain(..end + 4);
        (raw, head)
    }

    async fn read(&mut self) {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 64 * 1024];
        let n = within("read", self.sock.read(&mut chunk)).await.expect("read");
        assert!(n > 0, "connection closed");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// At least `n` bytes of body.
    async fn fill(&mut self, n: usize) -> &[u8] {
        while self.buf.len() < n {
            self.read().await;
        }
        &self.buf
    }

    /// The next chunk of a chunked body (as the server's body frames become chunks).
    async fn chunk(&mut self) -> Vec<u8> {
        let line = loop {
            if let Some(line) = self.buf.windows(2).position(|w| w == b"\r\n") {
                break line;
            }
            self.read().await;
        };
        let size = std::str::from_utf8(&self.buf[..line]).ok().and_then(|s| usize::from_str_radix(s, 16).ok());
        let size = size.unwrap_or_else(|| panic!("bad chunk size line {:?}", &self.buf[..line]));
        self.fill(line + 2 + size + 2).await;
        let data = self.buf[line + 2..line + 2 + size].to_vec();
        self.buf.drain(..line + 2 + size + 2);
        data
    }
}

/// The server and this client share one thread, so every event `modify` emits is queued before
/// the connection runs: what goes out shows how the body groups them.
#[tokio::test(flavor = "current_thread")]
async fn protobuf_on_the_wire_and_watch_bodies_in_large_chunks() {
    const PODS: usize = 100;
    let (server, url) = start(PODS).await;
    let pb = "application/vnd.kubernetes.protobuf, application/json";

    let (mut r, head) = Raw::get(&url, "/api/v1/pods?limit=3", pb).await;
    assert!(head.contains("content-type: application/vnd.kubernetes.protobuf\r\n"), "{head}");
    assert_eq!(&r.fill(4).await[..4], b"k8s\0");
    let (mut r, head) = Raw::get(&url, "/api/v1/pods?limit=3", "application/json").await;
    assert!(head.contains("content-type: application/json"), "{head}");
    assert_eq!(r.fill(1).await[0], b'{');

    // A streaming list of 100 pods (~600 KB): the first body chunk holds many events and
    // starts with a frame: its length, then a WatchEvent of type ADDED.
    let path = "/api/v1/pods?watch=1&sendInitialEvents=true&allowWatchBookmarks=true";
    let (mut r, head) = Raw::get(&url, path, pb).await;
    assert!(head.contains("content-type: application/vnd.kubernetes.protobuf;stream=watch"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let first = r.chunk().await;
    assert!(first.len() >= 64 * 1024, "first chunk of {} bytes", first.len());
    let frame = u32::from_be_bytes([first[0], first[1], first[2], first[3]]) as usize;
    assert!(frame > 1000 && frame < first.len(), "frame of {frame} bytes");
    assert_eq!(&first[4..11], b"\x0a\x05ADDED");
    drop(r);

    // Live events queued together go out in a few large chunks, in order.
    const EVENTS: usize = 200;
    let (mut r, head) =
        Raw::get(&url, &format!("/api/v1/pods?watch=1&resourceVersion={PODS}"), "application/json").await;
    assert!(head.contains("content-type: application/json"), "{head}");
    within("modify", server.modify(EVENTS)).await;
    let (mut chunks, mut lines) = (0, Vec::new());
    while lines.len() < EVENTS {
        let chunk = r.chunk().await;
        chunks += 1;
        assert!(chunk.ends_with(b"\n"), "a chunk holds whole events");
        for line in chunk.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let ev: serde_json::Value = serde_json::from_slice(line).expect("event line");
            lines.push(ev["object"]["metadata"]["resourceVersion"].as_str().expect("rv").parse::<u64>().expect("rv"));
        }
    }
    let want: Vec<u64> = (PODS as u64 + 1..=(PODS + EVENTS) as u64).collect();
    assert_eq!(lines, want, "events in resourceVersion order");
    // ~1.3 MB of events: about 20 chunks of 64 KiB, not 200.
    assert!(chunks <= EVENTS / 5, "{EVENTS} events in {chunks} chunks");
}
