//! Micro-measurement of the decode machinery (ignored; run in release with
//! `cargo test --release -p rudder-client --test decode_bench -- --ignored --nocapture`).
//!
//! Builds a `PodList` of realistic ~6 KB pods (the deployment pod fixture with varied names),
//! feeds it in 16 KB chunks and prints: the splitter's scan rate, sequential decode, and parallel
//! decode on 1 and 2 threads; then the same for a watch stream of MODIFIED events.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::StreamBody;
use hyper::body::Frame;
use k8s_openapi::api::core::v1::Pod;
use rudder_apimachinery::list::ObjectList;
use rudder_client::decode::{DecodeOptions, DecodePool, ListItems, ListSplitter, Split, WatchEvents};

const PODS: usize = 20_000;
const CHUNK: usize = 16 << 10;
const ROUNDS: usize = 3;

type Chunks = futures::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, std::io::Error>>>;

fn pods() -> Vec<String> {
    let p = format!("{}/../apiserver/testdata/objects/pod-deployment.json", env!("CARGO_MANIFEST_DIR"));
    let base: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    (0..PODS)
        .map(|i| {
            let mut v = base.clone();
            v["metadata"]["name"] = format!("reviews-{i:08}-x7k2p").into();
            v["metadata"]["uid"] = format!("5f0c1d2e-{i:08x}-4a5b-9c8d-7e6f5a4b3c2d").into();
            v.to_string()
        })
        .collect()
}

fn chunks(all: &Bytes) -> Vec<Bytes> {
    (0..all.len()).step_by(CHUNK).map(|i| all.slice(i..(i + CHUNK).min(all.len()))).collect()
}

fn body(chunks: &[Bytes]) -> StreamBody<Chunks> {
    StreamBody::new(futures::stream::iter(chunks.iter().map(|c| Ok(Frame::data(c.clone()))).collect::<Vec<_>>()))
}

/// CPU time consumed so far by all threads of this process (from /proc, in ns; 0 elsewhere).
fn process_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Duration::ZERO };
    let ns: u64 = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()))
        .sum();
    Duration::from_nanos(ns)
}

/// Best of `ROUNDS` runs of `f` (which returns the number of items it handled): wall time and
/// CPU time of the whole process (the machine is shared, so CPU time is the steadier figure).
fn best(mut f: impl FnMut() -> usize) -> (Duration, Duration) {
    (0..ROUNDS)
        .map(|_| {
            let (t, c) = (Instant::now(), process_cpu());
            assert_eq!(f(), PODS);
            (t.elapsed(), process_cpu().saturating_sub(c))
        })
        .min()
        .unwrap()
}

fn report(what: &str, bytes: usize, (wall, cpu): (Duration, Duration)) {
    let (w, c) = (wall.as_secs_f64(), cpu.as_secs_f64().max(1e-9));
    println!(
        "{what:<48} wall {:>7.0} items/s {:>6.0} MB/s | per CPU-s {:>7.0} items/s {:>6.0} MB/s | cpu/wall {:.2}",
        PODS as f64 / w,
        bytes as f64 / w / 1e6,
        PODS as f64 / c,
        bytes as f64 / c / 1e6,
        c / w
    );
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

#[test]
#[ignore = "measurement; run in release with --nocapture"]
fn decode_rates() {
    let pods = pods();
    let avg = pods.iter().map(|p| p.len()).sum::<usize>() / PODS;
    let list = format!(
        r#"{{"kind":"PodList","apiVersion":"v1","metadata":{{"resourceVersion":"123456","continue":"abc"}},"items":[{}]}}"#,
        pods.join(",")
    );
    let list = Bytes::from(list);
    let list_chunks = chunks(&list);
    println!(
        "\n{PODS} pods of ~{avg} B: list body {:.1} MB in {} chunks of {CHUNK} B",
        list.len() as f64 / 1e6,
        list_chunks.len()
    );
    println!("threads available: {:?}", std::thread::available_parallelism());

    // (a) scan only.
    let d = best(|| {
        let mut s = ListSplitter::new();
        let mut n = 0;
        for c in &list_chunks {
            s.push(c.clone());
            while let Some(x) = s.next().unwrap() {
                if let Split::Item(b) = x {
                    n += 1;
                    std::hint::black_box(b);
                }
            }
        }
        s.end_of_input();
        assert!(s.next().unwrap().is_none() && s.is_finished());
        n
    });
    report("(a) list: ListSplitter scan only", list.len(), d);
    if std::env::var_os("DECODE_BENCH_SCAN_ONLY").is_some() {
        return;
    }

    // (b) sequential: the whole body with serde_json (the bare loop), and split + decode inline.
    let d = best(|| serde_json::from_slice::<ObjectList<Pod>>(&list).unwrap().items.len());
    report("(b) list: serde_json whole-body ObjectList<Pod>", list.len(), d);
    let d = best(|| {
        let mut s = ListSplitter::new();
        let mut n = 0;
        for c in &list_chunks {
            s.push(c.clone());
            while let Some(x) = s.next().unwrap() {
                if let Split::Item(b) = x {
                    std::hint::black_box(serde_json::from_slice::<Pod>(&b).unwrap());
                    n += 1;
                }
            }
        }
        n
    });
    report("(b) list: split + sequential decode", list.len(), d);

    // (c) parallel.
    for threads in [1, 2] {
        let pool = DecodePool::new(threads);
        let d = best(|| {
            block_on(async {
                let mut items: ListItems<Pod, _> =
                    ListItems::with_pool(body(&list_chunks), "/api/v1/pods", pool.clone(), DecodeOptions::default());
                assert_eq!(items.meta().await.unwrap().continue_.as_deref(), Some("abc"));
                items.map(|p| std::hint::black_box(p.unwrap())).count().await
            })
        });
        report(&format!("(c) list: list_items, {threads} decode thread(s)"), list.len(), d);
    }

    // (d) watch stream of MODIFIED events.
    let mut watch = String::with_capacity(list.len() + PODS * 40);
    for p in &pods {
        watch.push_str(r#"{"type":"MODIFIED","object":"#);
        watch.push_str(p);
        watch.push_str("}\n");
    }
    let watch = Bytes::from(watch);
    let watch_chunks = chunks(&watch);
    let d = best(|| {
        block_on(async {
            WatchEvents::<Pod, _>::with_pool(body(&watch_chunks), "/w", DecodePool::new(0), DecodeOptions::default())
                .map(|e| std::hint::black_box(e.unwrap()))
                .count()
                .await
        })
    });
    report("(d) watch: inline (no pool threads)", watch.len(), d);
    for threads in [1, 2] {
        let pool = DecodePool::new(threads);
        let d = best(|| {
            block_on(async {
                WatchEvents::<Pod, _>::with_pool(body(&watch_chunks), "/w", pool.clone(), DecodeOptions::default())
                    .map(|e| std::hint::black_box(e.unwrap()))
                    .count()
                    .await
            })
        });
        report(&format!("(d) watch: watch_events, {threads} decode thread(s)"), watch.len(), d);
    }
}
