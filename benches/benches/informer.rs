//! Criterion benchmarks: initial sync of 10,000 and 100,000 realistic pods, and watch
//! throughput of 50,000 MODIFIED events, for every variant in `rudder_benches::variants()`.
//!
//! Four sync groups: `sync_10k_pods` runs every sync in this process, one after another, so
//! each starts on the heap the previous one freed (glibc then spends part of the next sync
//! consolidating the freed chunks: see BENCHMARKS.md); `sync_10k_pod_views` does the same
//! caching the partial `PodView` (metadata + nodeName + phase) instead of full Pods, for the
//! variants that can; `initial_sync_10k_pods` runs each sync in a fresh `informer-mem client`
//! process against the same server, as a controller's first sync runs, and takes the time that
//! process measured (client creation to synced) and records its peak RSS (`VmHWM`);
//! `initial_sync_100k_pods` does the same with
//! 100,000 pods, for the bare loop, rudder's informer and kube-rs only (each sample is a 7-20 s
//! sync; the group takes about ten minutes).
//!
//! The server runs on its own runtime (2 worker threads); the client under test on another
//! (2 worker threads). Flat sampling, 10 samples: the whole run takes about twenty minutes.
//! After the criterion run, a Markdown table of medians and ratios (vs kube-rs, vs the bare
//! loop) is printed from criterion's estimates, then the median peak RSS of the fresh processes
//! per variant (over every process the group started in this run, warm-up included).
//!
//! `RUDDER_BENCH_SERVER=embedded|replay` picks the server; `cargo bench -p rudder-benches
//! --features kube-rs -- sync_10k` runs only the 10k sync groups.

use std::collections::BTreeMap;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use parking_lot::Mutex;

use rudder_benches::server::{Backend, BenchServer};
use rudder_benches::{client_runtime, criterion_median, median_of, variants, Shape, SyncArgs, WatchArgs};

const SYNC_PODS: usize = 10_000;
const WATCH_PODS: usize = 1_000;
const WATCH_EVENTS: usize = 50_000;
const SYNC_GROUP: &str = "sync_10k_pods";
const COLD_SYNC_GROUP: &str = "initial_sync_10k_pods";
const BIG_SYNC_PODS: usize = 100_000;
const BIG_COLD_SYNC_GROUP: &str = "initial_sync_100k_pods";
/// The variants synced at 100k (each sample is a 7-20 s sync holding 4.5 GB): the floor,
/// rudder's informer and kube-rs.
const BIG_SYNC_VARIANTS: &[&str] = &["bare-hyper-serde", "rudder-informer", "kube-rs"];
const WATCH_GROUP: &str = "watch_50k_events";
const VIEW_SYNC_GROUP: &str = "sync_10k_pod_views";

/// Peak RSS (bytes) of every fresh client process, by (group, variant).
static PEAKS: Mutex<BTreeMap<(&'static str, &'static str), Vec<f64>>> = Mutex::new(BTreeMap::new());

fn main() {
    let backend = match Backend::from_env() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let (sync_server, watch_server, rt) = match (
        BenchServer::start(backend, SYNC_PODS, 2),
        BenchServer::start(backend, WATCH_PODS, 2),
        client_runtime(2),
    ) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (a, b, c) => {
            eprintln!("benchmark setup failed: {:?} {:?} {:?}", a.err(), b.err(), c.err());
            std::process::exit(2);
        }
    };
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();

    for (group, shape) in [(SYNC_GROUP, Shape::Full), (VIEW_SYNC_GROUP, Shape::View)] {
        let mut g = c.benchmark_group(group);
        g.sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(SYNC_PODS as u64));
        for v in variants().into_iter().filter(|v| v.shapes.contains(&shape)) {
            let url = sync_server.url().to_string();
            g.bench_function(BenchmarkId::from_parameter(v.name), |b| {
                b.to_async(&rt).iter_custom(|iters| {
                    let url = url.clone();
                    async move {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let args = SyncArgs { url: url.clone(), n: SYNC_PODS, shape };
                            match (v.sync)(args).await {
                                Ok(s) => {
                                    total += s.elapsed;
                                    // Untimed: this cache is freed before the next sync starts.
                                    s.keep_alive.stop().await;
                                }
                                Err(e) => panic!("{}: {e}", v.name),
                            }
                        }
                        total
                    }
                })
            });
        }
        g.finish();
    }
    // The 100k server is seeded only if a 100k benchmark is selected (criterion runs a
    // function's closure only when its id passes the filter).
    let big_server = std::sync::OnceLock::new();
    for (group, n) in [(COLD_SYNC_GROUP, SYNC_PODS), (BIG_COLD_SYNC_GROUP, BIG_SYNC_PODS)] {
        let mut g = c.benchmark_group(group);
        g.sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(n as u64));
        let selected = variants().into_iter().filter(|v| n == SYNC_PODS || BIG_SYNC_VARIANTS.contains(&v.name));
        for v in selected {
            g.bench_function(BenchmarkId::from_parameter(v.name), |b| {
                let url = if n == SYNC_PODS {
                    sync_server.url().to_string()
                } else {
                    let server = big_server.get_or_init(|| match BenchServer::start(backend, BIG_SYNC_PODS, 2) {
                        Ok(s) => s,
                        Err(e) => panic!("starting the {BIG_SYNC_PODS}-pod server: {e}"),
                    });
                    server.url().to_string()
                };
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| match sync_in_new_process(&url, n, v.name) {
                            Ok((d, peak)) => {
                                PEAKS.lock().entry((group, v.name)).or_default().push(peak);
                                d
                            }
                            Err(e) => panic!("{}: {e}", v.name),
                        })
                        .sum()
                })
            });
        }
        g.finish();
    }
    {
        let mut g = c.benchmark_group(WATCH_GROUP);
        g.sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(WATCH_EVENTS as u64));
        for v in variants() {
            let url = watch_server.url().to_string();
            let trigger = watch_server.trigger();
            g.bench_function(BenchmarkId::from_parameter(v.name), |b| {
                b.to_async(&rt).iter_custom(|iters| {
                    let args = WatchArgs {
                        url: url.clone(),
                        n_pods: WATCH_PODS,
                        events: WATCH_EVENTS,
                        rounds: iters,
                        shape: Shape::Full,
                        trigger: trigger.clone(),
                    };
                    async move {
                        match (v.watch)(args).await {
                            Ok(d) => d,
                            Err(e) => panic!("{}: {e}", v.name),
                        }
                    }
                })
            });
        }
        g.finish();
    }
    c.final_summary();
    summary(backend);
}

/// Runs one full-pod sync of `n` pods in a new `informer-mem client` process; the time it
/// measured from creating its client to having every pod cached, and its peak RSS in bytes.
fn sync_in_new_process(url: &str, n: usize, variant: &str) -> Result<(Duration, f64), String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_informer-mem"))
        .args(["client", "--url", url, "--n", &n.to_string(), "--variant", variant, "--shape", "full"])
        .args(["--threads", "2"])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("starting informer-mem: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let result = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| format!("informer-mem client ({}) printed no result: {text}", out.status))?;
    let v: serde_json::Value = serde_json::from_str(result).map_err(|e| format!("bad result {result:?}: {e}"))?;
    let secs = v["seconds"].as_f64().ok_or_else(|| format!("no seconds in {result}"))?;
    let peak = v["peak_rss"].as_f64().ok_or_else(|| format!("no peak_rss in {result}"))?;
    Ok((Duration::from_secs_f64(secs), peak))
}

fn summary(backend: Backend) {
    println!("\nMedians (server `{}`), objects per second and ratios:\n", backend.name());
    println!("| benchmark | variant | median | per second | vs kube-rs | vs bare |");
    println!("|---|---|---:|---:|---:|---:|");
    let groups = [
        (SYNC_GROUP, SYNC_PODS),
        (VIEW_SYNC_GROUP, SYNC_PODS),
        (COLD_SYNC_GROUP, SYNC_PODS),
        (BIG_COLD_SYNC_GROUP, BIG_SYNC_PODS),
        (WATCH_GROUP, WATCH_EVENTS),
    ];
    for (group, n) in groups {
        let kube = criterion_median(group, "kube-rs");
        let bare = criterion_median(group, "bare-hyper-serde");
        for v in variants() {
            let Some(m) = criterion_median(group, v.name) else { continue };
            let ratio = |peer: Option<f64>| peer.map(|p| format!("{:.2}", p / m)).unwrap_or_else(|| "-".into());
            println!("| {group} | {} | {:.3} s | {:.0} | {} | {} |", v.name, m, n as f64 / m, ratio(kube), ratio(bare));
        }
    }
    // The goal for views: a view's sync against kube-rs syncing full Pods (kube-rs has no
    // views; its row in the view group decodes the same struct, for comparison).
    if let (Some(view), Some(full)) =
        (criterion_median(VIEW_SYNC_GROUP, "rudder-informer"), criterion_median(SYNC_GROUP, "kube-rs"))
    {
        println!("\nrudder-informer syncing pod views vs kube-rs syncing full Pods: {:.2}x", full / view);
    }
    let peaks = PEAKS.lock();
    if !peaks.is_empty() {
        println!("\nPeak RSS of the fresh client processes (VmHWM), median over the processes of this run:\n");
        println!("| benchmark | variant | processes | median peak RSS | vs kube-rs |");
        println!("|---|---|---:|---:|---:|");
        for group in [COLD_SYNC_GROUP, BIG_COLD_SYNC_GROUP] {
            let kube = peaks.get(&(group, "kube-rs")).and_then(|k| median_of(k));
            for v in variants() {
                let Some(values) = peaks.get(&(group, v.name)) else { continue };
                let Some(m) = median_of(values) else { continue };
                let vs = kube.map(|k| format!("{:.2}", m / k)).unwrap_or_else(|| "-".into());
                println!("| {group} | {} | {} | {:.1} MB | {vs} |", v.name, values.len(), m / 1e6);
            }
        }
    }
}
