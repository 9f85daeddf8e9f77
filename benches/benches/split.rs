//! Criterion benchmark of the list splitter: how fast `ListSplitter` finds the items of a
//! 10,000-pod list body (the realistic ~6 KB pods of the informer benchmarks), fed in 64 KB
//! chunks as an HTTP body arrives. The splitter runs on the client's task while the decode
//! threads decode the items it found, so its speed bounds how fast a list of cheap objects
//! (a partial view) can be cached.
//!
//! `cargo bench -p rudder-benches --bench split`

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rudder_apiserver::seed::realistic_pod_bytes;
use rudder_client::decode::split::ListSplitter;

const PODS: usize = 10_000;
const CHUNK: usize = 64 * 1024;

/// A `PodList` body as the API server sends it.
fn pod_list() -> Vec<u8> {
    let mut body = br#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"12345"},"items":["#.to_vec();
    for i in 0..PODS {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&realistic_pod_bytes(i, &format!("ns-{}", i % 10)));
    }
    body.extend_from_slice(b"]}");
    body
}

fn split(c: &mut Criterion) {
    let body = Bytes::from(pod_list());
    let chunks: Vec<Bytes> =
        (0..body.len()).step_by(CHUNK).map(|s| body.slice(s..(s + CHUNK).min(body.len()))).collect();
    let mut g = c.benchmark_group("split_10k_pod_list");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("64k-chunks", |b| {
        b.iter(|| {
            let mut s = ListSplitter::new();
            let mut items = 0;
            for chunk in &chunks {
                s.push(chunk.clone());
                while let Some(split) = s.next().expect("a valid list") {
                    items += usize::from(matches!(split, rudder_client::decode::split::Split::Item(_)));
                }
            }
            s.end_of_input();
            while s.next().expect("a valid list").is_some() {}
            assert_eq!(items, PODS);
        })
    });
    g.finish();
}

criterion_group!(benches, split);
criterion_main!(benches);
