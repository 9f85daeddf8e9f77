//! `rudder_client::decode::watch_events`: parallel watch decoding gives exactly the items that
//! decoding on the polling task (a pool of no threads) gives, whatever the chunking.

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::StreamBody;
use hyper::body::Frame;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use rand::{Rng, SeedableRng};
use rudder_apimachinery::watch::WatchEvent;
use rudder_client::decode::{watch_events, DecodeOptions, DecodePool, WatchEvents};
use rudder_client::{Error, Result};

type Chunks = futures::stream::Iter<std::vec::IntoIter<std::result::Result<Frame<Bytes>, std::io::Error>>>;

fn body(all: &[u8], seed: u64, max: usize) -> StreamBody<Chunks> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut frames = Vec::new();
    let mut i = 0;
    while i < all.len() {
        let n = rng.random_range(1..=max).min(all.len() - i);
        frames.push(Ok(Frame::data(Bytes::copy_from_slice(&all[i..i + n]))));
        i += n;
    }
    StreamBody::new(futures::stream::iter(frames))
}

/// Events as comparable text: the event or the error message.
fn render<T: serde::Serialize>(items: Vec<Result<WatchEvent<T>>>) -> Vec<String> {
    items
        .into_iter()
        .map(|r| match r {
            Ok(ev) => serde_json::to_string(&ev).unwrap(),
            Err(e) => format!("error: {e}"),
        })
        .collect()
}

/// The events decoded on the polling task, one whole body at a time: the reference.
fn inline<T: serde::de::DeserializeOwned + Send + 'static>(
    b: StreamBody<Chunks>,
) -> WatchEvents<T, StreamBody<Chunks>> {
    WatchEvents::with_pool(b, "/w", DecodePool::new(0), DecodeOptions::default())
}

fn event(name: &str, pad: usize) -> String {
    format!(r#"{{"type":"MODIFIED","object":{{"metadata":{{"name":"{name}"}},"data":{{"k":"{}"}}}}}}"#, "x".repeat(pad))
}

#[tokio::test]
async fn fixture_streams_give_the_same_items_on_threads_as_inline() {
    let dir = format!("{}/../testdata/apiserver", env!("CARGO_MANIFEST_DIR"));
    let pool = DecodePool::new(2);
    for f in ["watch-stream-pods.jsonl", "watch-stream-initial-events.jsonl"] {
        let all = std::fs::read(format!("{dir}/{f}")).unwrap();
        let want = render(inline::<Pod>(body(&all, 0, all.len())).collect().await);
        assert!(want.len() > 2, "{f}");
        for (seed, max) in [(1, 1), (2, 13), (3, 4096)] {
            let got: Vec<_> =
                WatchEvents::<Pod, _>::with_pool(body(&all, seed, max), "/w", pool.clone(), DecodeOptions::default())
                    .collect()
                    .await;
            assert_eq!(render(got), want, "{f} chunks up to {max}");
        }
    }
}

#[tokio::test]
async fn many_events_stay_in_order_and_blank_lines_are_skipped() {
    let mut all = String::new();
    for i in 0..5000 {
        all.push_str(&event(&format!("cm{i}"), i % 300));
        all.push_str(if i % 7 == 0 { "\n \r\n\n" } else { "\n" });
    }
    let opts = DecodeOptions { batch_records: 8, max_in_flight: 32, ..DecodeOptions::default() };
    let names: Vec<String> =
        WatchEvents::<ConfigMap, _>::with_pool(body(all.as_bytes(), 9, 3000), "/w", DecodePool::new(2), opts)
            .map(|e| match e.unwrap() {
                WatchEvent::Modified(cm) => cm.metadata.name.unwrap(),
                other => panic!("{other:?}"),
            })
            .collect()
            .await;
    assert_eq!(names, (0..5000).map(|i| format!("cm{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn an_error_event_ends_the_stream_and_malformed_lines_do_not() {
    let mut all = String::new();
    for i in 0..100 {
        all.push_str(&event(&format!("a{i}"), 10));
        all.push('\n');
    }
    all.push_str("{not json}\n");
    all.push_str(&event("b", 1));
    all.push('\n');
    all.push_str(r#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 45 (58)","reason":"Expired","code":410}}"#);
    all.push('\n');
    for i in 0..100 {
        all.push_str(&event(&format!("after{i}"), 10));
        all.push('\n');
    }
    let want = render(inline::<ConfigMap>(body(all.as_bytes(), 0, all.len())).collect().await);
    let got: Vec<Result<WatchEvent<ConfigMap>>> = watch_events(body(all.as_bytes(), 4, 200), "/w").collect().await;
    assert_eq!(got.len(), 103);
    assert!(matches!(got[100], Err(Error::Decode { .. })));
    assert!(got[101].is_ok());
    assert!(got[102].as_ref().unwrap_err().is_expired());
    assert_eq!(render(got), want);
}

#[tokio::test]
async fn a_broken_body_is_an_error_and_ends_the_stream() {
    let frames: Vec<std::result::Result<Frame<Bytes>, std::io::Error>> = vec![
        Ok(Frame::data(Bytes::from(event("a", 1) + "\n" + &event("b", 1)[..20]))),
        Err(std::io::Error::other("reset by peer")),
    ];
    let got: Vec<_> =
        watch_events::<ConfigMap, _>(StreamBody::new(futures::stream::iter(frames)), "/w").collect().await;
    assert_eq!(got.len(), 2);
    assert!(got[0].is_ok());
    assert!(matches!(&got[1], Err(Error::Body { message, .. }) if message.contains("reset by peer")));
}
