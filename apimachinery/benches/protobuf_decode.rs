//! Criterion micro-benchmark: decoding one realistic Pod (`apiserver/testdata/objects/
//! pod-deployment.json`, compacted to ~6 KB of JSON as the API server sends it) from JSON and from protobuf,
//! into the full k8s-openapi `Pod` and into a 3-field view (metadata without managedFields,
//! `spec.nodeName`, `status.phase`, as the informer benchmarks' `PodView`).
//!
//! JSON goes through `rudder_apimachinery::json::from_slice` (the path the client uses); the
//! protobuf bytes are the same Pod encoded by `protobuf::to_vec`.
//!
//! `cargo bench -p rudder-apimachinery --bench protobuf_decode`
//!
//! Instructions per decode (deterministic, unlike times on a shared machine): run the bench
//! binary with `DECODE_ONLY=<json|protobuf>/<Pod|PodView> DECODE_ITERS=<n>` under
//! `valgrind --tool=callgrind`; it decodes n times and exits, so (Ir(n2) - Ir(n1)) / (n2 - n1)
//! is the cost of one decode with setup removed.

use std::hint::black_box;

use criterion::{criterion_group, Criterion, Throughput};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use rudder_apimachinery::{json, protobuf};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct ViewSpec {
    #[serde(default)]
    node_name: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct ViewStatus {
    #[serde(default)]
    phase: Option<String>,
}

/// The benchmarks' PodView.
#[derive(Deserialize)]
#[allow(dead_code)]
struct PodView {
    #[serde(default, deserialize_with = "rudder_apimachinery::meta::without_managed_fields")]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: Option<ViewSpec>,
    #[serde(default)]
    status: Option<ViewStatus>,
}

fn bodies() -> (Vec<u8>, Vec<u8>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../apiserver/testdata/objects/pod-deployment.json");
    let pretty = std::fs::read(path).expect("the pod fixture");
    // Compact, as the API server sends it.
    let json = serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(&pretty).expect("JSON")).expect("JSON");
    let pod: Pod = serde_json::from_slice(&json).expect("a Pod");
    let pb = protobuf::to_vec(&pod).expect("encodes");
    (json, pb)
}

fn decode(c: &mut Criterion) {
    let (json, pb) = bodies();
    let mut g = c.benchmark_group("decode_pod");
    g.throughput(Throughput::Elements(1));
    g.bench_function("json/Pod", |b| b.iter(|| json::from_slice::<Pod>(black_box(&json)).unwrap()));
    g.bench_function("protobuf/Pod", |b| b.iter(|| protobuf::from_slice::<Pod>(black_box(&pb)).unwrap()));
    g.bench_function("json/PodView", |b| b.iter(|| json::from_slice::<PodView>(black_box(&json)).unwrap()));
    g.bench_function("protobuf/PodView", |b| b.iter(|| protobuf::from_slice::<PodView>(black_box(&pb)).unwrap()));
    g.finish();
    eprintln!("pod: {} bytes of JSON, {} bytes of protobuf", json.len(), pb.len());
}

/// `DECODE_ONLY`: one decode, `DECODE_ITERS` times, for callgrind.
fn decode_only(which: &str, iters: usize) {
    let (json, pb) = bodies();
    for _ in 0..iters {
        match which {
            "json/Pod" => drop(black_box(json::from_slice::<Pod>(black_box(&json)).unwrap())),
            "protobuf/Pod" => drop(black_box(protobuf::from_slice::<Pod>(black_box(&pb)).unwrap())),
            "json/PodView" => drop(black_box(json::from_slice::<PodView>(black_box(&json)).unwrap())),
            "protobuf/PodView" => drop(black_box(protobuf::from_slice::<PodView>(black_box(&pb)).unwrap())),
            other => panic!("DECODE_ONLY={other}: json/Pod, protobuf/Pod, json/PodView or protobuf/PodView"),
        }
    }
}

criterion_group!(benches, decode);

fn main() {
    if let Ok(which) = std::env::var("DECODE_ONLY") {
        let iters = std::env::var("DECODE_ITERS").ok().and_then(|n| n.parse().ok()).unwrap_or(100);
        decode_only(&which, iters);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
