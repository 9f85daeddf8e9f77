//! `rudder_client::decode::list_items`: list bodies split and decoded in parallel, in order,
//! with early metadata, over in-memory bodies and a real socket.

use std::convert::Infallible;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::StreamBody;
use hyper::body::Frame;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use rand::{Rng, SeedableRng};
use rudder_apimachinery::list::ObjectList;
use rudder_client::decode::{list_items, DecodeOptions, DecodePool, ListItems};
use rudder_client::Error;

type Chunks = futures::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, std::io::Error>>>;

fn body(chunks: Vec<Bytes>) -> StreamBody<Chunks> {
    StreamBody::new(futures::stream::iter(chunks.into_iter().map(|c| Ok(Frame::data(c))).collect::<Vec<_>>()))
}

fn random_chunks(all: &[u8], seed: u64, max: usize) -> Vec<Bytes> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut i = 0;
    while i < all.len() {
        let n = rng.random_range(1..=max).min(all.len() - i);
        out.push(Bytes::copy_from_slice(&all[i..i + n]));
        i += n;
    }
    out
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../testdata/apiserver/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn configmaps(n: usize) -> Vec<u8> {
    let items: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"metadata":{{"name":"cm-{i}","namespace":"ns"}},"data":{{"i":"{i}","s":"}}]\"{{"}}}}"#))
        .collect();
    format!(
        r#"{{"kind":"ConfigMapList","apiVersion":"v1","metadata":{{"resourceVersion":"77","continue":"next"}},"items":[{}]}}"#,
        items.join(",")
    )
    .into_bytes()
}

#[tokio::test]
async fn fixture_pages_decode_like_serde_for_random_chunkings() {
    for f in ["list-pods-page1.json", "list-pods-page2.json"] {
        let all = fixture(f);
        let want: ObjectList<Pod> = serde_json::from_slice(&all).unwrap();
        for (seed, max) in [(1, 1), (2, 7), (3, 500), (4, 16 << 10)] {
            let mut items: ListItems<Pod, _> = list_items(body(random_chunks(&all, seed, max)), "/api/v1/pods");
            let meta = items.meta().await.unwrap();
            assert_eq!(meta, want.metadata, "{f}");
            assert_eq!(items.kind(), Some("PodList"));
            assert_eq!(items.api_version(), Some("v1"));
            let got: Vec<Pod> = items.map(|r| r.unwrap()).collect().await;
            assert_eq!(got, want.items, "{f} chunks up to {max}");
        }
    }
}

#[tokio::test]
async fn ten_thousand_items_come_back_in_order_on_two_threads() {
    let all = configmaps(10_000);
    let pool = DecodePool::new(2);
    for (seed, max) in [(5, 3), (6, 4096), (7, 100_000)] {
        let opts = DecodeOptions { batch_records: 16, max_in_flight: 64, ..DecodeOptions::default() };
        let items: ListItems<ConfigMap, _> =
            ListItems::with_pool(body(random_chunks(&all, seed, max)), "/api/v1/configmaps", pool.clone(), opts);
        let names: Vec<String> = items.map(|r| r.unwrap().metadata.name.unwrap()).collect().await;
        assert_eq!(names.len(), 10_000);
        for (i, n) in names.iter().enumerate() {
            assert_eq!(n, &format!("cm-{i}"));
        }
    }
}

#[tokio::test]
async fn metadata_is_available_before_the_items_have_arrived() {
    let all = configmaps(50);
    let split = all.windows(9).position(|w| w == b"\"items\":[").unwrap() + 30;
    let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
    let mut items: ListItems<ConfigMap, _> = list_items(StreamBody::new(rx), "/api/v1/configmaps");
    tx.send(Ok(Frame::data(Bytes::copy_from_slice(&all[..split])))).await.unwrap();
    // The rest of the body has not been sent: the metadata must still arrive.
    let meta = items.meta().await.unwrap();
    assert_eq!(meta.continue_.as_deref(), Some("next"));
    assert_eq!(meta.resource_version.as_deref(), Some("77"));
    tx.send(Ok(Frame::data(Bytes::copy_from_slice(&all[split..])))).await.unwrap();
    drop(tx);
    let n = items.map(|r| r.unwrap()).count().await;
    assert_eq!(n, 50);
}

#[tokio::test]
async fn a_bad_item_names_its_index_and_the_rest_still_decode() {
    let all =
        br#"{"metadata":{},"items":[{"metadata":{"name":"a"}},{"metadata":{"name":5}},{"metadata":{"name":"c"}}]}"#;
    let got: Vec<_> =
        list_items::<ConfigMap, _>(body(vec![Bytes::from_static(all)]), "/api/v1/configmaps").collect().await;
    assert_eq!(got.len(), 3);
    assert!(got[0].is_ok() && got[2].is_ok());
    match &got[1] {
        Err(Error::Decode { what, .. }) => assert_eq!(what, "ConfigMap #1 of the list from /api/v1/configmaps"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn truncated_and_broken_bodies_end_with_an_error_after_the_good_items() {
    let all = configmaps(10);
    let cut = all.len() - 40;
    let got: Vec<_> = list_items::<ConfigMap, _>(body(vec![Bytes::copy_from_slice(&all[..cut])]), "/l").collect().await;
    assert!(got[..got.len() - 1].iter().all(|r| r.is_ok()));
    let last = got.last().unwrap().as_ref().unwrap_err();
    assert!(matches!(last, Error::Decode { .. }), "{last}");
    assert!(last.to_string().contains("ended at byte"), "{last}");

    let frames: Vec<Result<Frame<Bytes>, std::io::Error>> =
        vec![Ok(Frame::data(Bytes::copy_from_slice(&all[..cut]))), Err(std::io::Error::other("connection reset"))];
    let got: Vec<_> = list_items::<ConfigMap, _>(StreamBody::new(futures::stream::iter(frames)), "/l").collect().await;
    let last = got.last().unwrap().as_ref().unwrap_err();
    assert!(matches!(last, Error::Body { .. }) && last.to_string().contains("connection reset"), "{last}");
    assert_eq!(got.len(), 10, "9 complete items then the error");

    let mut items = list_items::<ConfigMap, _>(body(vec![Bytes::from_static(b"<html>")]), "/l");
    assert!(items.meta().await.is_err());
    assert!(items.next().await.unwrap().is_err());
    assert!(items.next().await.is_none());
}

/// Over a real HTTP/1.1 connection (hyper `Incoming`), chunked by the server.
#[tokio::test]
async fn over_a_real_socket() {
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    let all = Bytes::from(configmaps(3000));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = all.clone();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let svc = service_fn(move |_req| {
            let chunks: Vec<Result<Frame<Bytes>, Infallible>> =
                served.chunks(16 << 10).map(|c| Ok(Frame::data(Bytes::copy_from_slice(c)))).collect();
            async move { Ok::<_, Infallible>(hyper::Response::new(StreamBody::new(futures::stream::iter(chunks)))) }
        });
        let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(sock), svc).await;
    });
    let sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(sock)).await.unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get("/api/v1/configmaps").body(http_body_util::Empty::<Bytes>::new()).unwrap();
    let resp = send.send_request(req).await.unwrap();
    let mut items: ListItems<ConfigMap> = list_items(resp.into_body(), "/api/v1/configmaps");
    assert_eq!(items.meta().await.unwrap().continue_.as_deref(), Some("next"));
    let names: Vec<String> = items.map(|r| r.unwrap().metadata.name.unwrap()).collect().await;
    assert_eq!(names, (0..3000).map(|i| format!("cm-{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn decoded_as_finishes_each_item_on_the_pool_in_order() {
    let all = configmaps(2_000);
    let want: ObjectList<ConfigMap> = serde_json::from_slice(&all).unwrap();
    let pool = DecodePool::new(2);
    let opts = DecodeOptions { batch_records: 16, max_in_flight: 64, ..DecodeOptions::default() };
    let threads = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let seen = threads.clone();
    let items = ListItems::<std::sync::Arc<ConfigMap>, _>::decoded_as(
        body(random_chunks(&all, 8, 4096)),
        "/api/v1/configmaps",
        pool,
        opts,
        move |cm: ConfigMap| {
            seen.lock().unwrap().insert(std::thread::current().name().unwrap_or("").to_string());
            std::sync::Arc::new(cm)
        },
    );
    let got: Vec<std::sync::Arc<ConfigMap>> = items.map(|r| r.unwrap()).collect().await;
    assert_eq!(got.len(), want.items.len());
    assert!(got.iter().zip(&want.items).all(|(g, w)| **g == *w), "same items, same order");
    let threads = threads.lock().unwrap();
    assert!(threads.iter().any(|t| t.starts_with("rudder-decode-")), "finished on the pool: {threads:?}");
}
