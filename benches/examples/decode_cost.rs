//! The decode cost of one realistic Pod, JSON against protobuf, for an instruction counter.
//!
//! Decodes the same Pod (`rudder_apiserver::seed::realistic_pod_bytes`) `N` times, from JSON
//! with `rudder_apimachinery::json::from_slice` and from Kubernetes' protobuf (the bare `Pod`
//! message of a list item, as the informer decodes it, through
//! `rudder_apimachinery::protobuf::from_message`), as the full k8s-openapi `Pod` or as the
//! benches' `PodView`. Everything but the decode loop is the same for every `N`, so the
//! instructions of one decode are the difference between two counts divided by the difference
//! in `N`:
//!
//! ```text
//! cargo build -p rudder-benches --profile bench --example decode_cost
//! for n in 0 1000; do
//!   valgrind --tool=callgrind --callgrind-out-file=cg.$n target/release/examples/decode_cost protobuf full $n
//! done
//! callgrind_annotate cg.1000 | head -40    # where the instructions go
//! ```
//!
//! `decode_cost encode - N` counts the embedded server's side instead: turning the stored JSON
//! of a new object version into its protobuf message (what a protobuf watch pays per MODIFIED
//! event, where a JSON watch copies the stored bytes).
//!
//! `decode_cost all` prints each case's wall time per decode instead (no valgrind needed).

use std::hint::black_box;
use std::time::Instant;

use k8s_openapi::api::core::v1::Pod;
use serde::de::DeserializeOwned;

use rudder_apimachinery::protobuf;
use rudder_benches::pods::PodView;

/// The Pod as JSON and as its bare protobuf message.
fn inputs() -> (Vec<u8>, Vec<u8>) {
    let json = rudder_apiserver::seed::realistic_pod_bytes(3, "default");
    let value: serde_json::Value = serde_json::from_slice(&json).expect("seed pod is JSON");
    let enveloped = protobuf::to_vec(&value).expect("seed pod encodes");
    let raw = protobuf::Unknown::decode(&enveloped).expect("own envelope").raw.to_vec();
    (json, raw)
}

fn decode<K: DeserializeOwned>(format: &str, json: &[u8], raw: &[u8]) -> K {
    match format {
        "json" => rudder_apimachinery::json::from_slice::<K>(json).expect("JSON decodes"),
        "serde_json" => serde_json::from_slice::<K>(json).expect("JSON decodes"),
        _ => protobuf::from_message::<K>(raw, "v1", "Pod").expect("protobuf decodes"),
    }
}

/// The embedded server's encoding of a stored object version (`negotiate::EncodeCache`).
fn encode(json: &[u8]) -> Vec<u8> {
    protobuf::json_to_message(json, "v1", "Pod").expect("seed pod encodes")
}

fn run<K: DeserializeOwned>(format: &str, n: usize, json: &[u8], raw: &[u8]) {
    if format == "encode" {
        for _ in 0..n {
            black_box(encode(black_box(json)));
        }
        return;
    }
    for _ in 0..n {
        black_box(decode::<K>(format, black_box(json), black_box(raw)));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (json, raw) = inputs();
    if args.first().map(String::as_str) == Some("all") {
        println!("pod: {} bytes of JSON, {} bytes of protobuf", json.len(), raw.len());
        for format in ["json", "serde_json", "protobuf", "encode"] {
            for shape in ["full", "view"] {
                if format == "encode" && shape == "view" {
                    continue;
                }
                let n = 20_000;
                let t = Instant::now();
                match shape {
                    "full" => run::<Pod>(format, n, &json, &raw),
                    _ => run::<PodView>(format, n, &json, &raw),
                }
                println!("{format:8} {shape:4} {:8.2} µs each", t.elapsed().as_secs_f64() * 1e6 / n as f64);
            }
        }
        return;
    }
    let (Some(format), Some(shape), Some(n)) = (args.first(), args.get(1), args.get(2).and_then(|n| n.parse().ok()))
    else {
        eprintln!("usage: decode_cost <json|serde_json|protobuf|encode> <full|view> <N>  |  decode_cost all");
        std::process::exit(2);
    };
    match shape.as_str() {
        "full" => run::<Pod>(format, n, &json, &raw),
        _ => run::<PodView>(format, n, &json, &raw),
    }
}
