//! Criterion: rudder's informer over JSON and over protobuf (`ContentType::Protobuf`), same run,
//! same server: the initial sync of 10,000 realistic pods and the throughput of MODIFIED events
//! on 1,000 pods, caching full `Pod`s and the partial `PodView`.
//!
//! Each sync starts from a new client (a new connection) and ends when the handler has seen an
//! add for every pod; each watch round makes the server emit `WATCH_EVENTS` MODIFIED events and
//! ends when the handler has seen them all. The server runs on its own runtime (2 threads), the
//! client on another (2 threads). After the run a table of medians and ratios (protobuf vs
//! JSON) is printed from criterion's estimates, then the memory each format's cache holds: for
//! each case one more sync of the 10,000 pods, the heap in use (glibc's `mallinfo2`) read
//! before it starts and once it has synced, the growth divided by the pod count. The server
//! shares the process, so this pass runs last, when its caches (the embedded server's protobuf
//! messages of every stored pod; the replay server renders both encodings when seeded) are
//! already full and stay the same size through it. RSS is not the measure here: by then the
//! heap holds the freed memory of every earlier round, which a new cache reuses without growing
//! RSS (`informer-mem` measures RSS, one process per case).
//!
//! `RUDDER_BENCH_SERVER=embedded|replay` picks the server (default: the embedded API server);
//! `RUDDER_BENCH_SERVER=replay` serves pre-rendered JSON and protobuf, nearly free server side,
//! so the figures are (nearly) the client's alone.
//!
//! `cargo bench -p rudder-benches --bench protobuf_wire`

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use k8s_openapi::api::core::v1::Pod;
use serde::de::DeserializeOwned;

use rudder_apimachinery::meta::HasMetadata;
use rudder_apimachinery::resource::Resource;
use rudder_benches::memory::heap_stats;
use rudder_benches::pods::PodView;
use rudder_benches::progress::{time_rounds, Progress};
use rudder_benches::server::{Backend, BenchServer};
use rudder_benches::{client_runtime, Shape, WatchArgs};
use rudder_client::api::Api;
use rudder_client::config::ContentType;
use rudder_client::{Client, Config};
use rudder_informer::list_watch::ApiListWatch;
use rudder_informer::processor::HandlerFns;
use rudder_informer::{InformerOptions, SharedIndexInformer};

const SYNC_PODS: usize = 10_000;
const WATCH_PODS: usize = 1_000;
const WATCH_EVENTS: usize = 10_000;
const SYNC_GROUP: &str = "protobuf_sync_10k_pods";
const WATCH_GROUP: &str = "protobuf_watch_10k_events";

const CASES: [(&str, ContentType, Shape); 4] = [
    ("json/full", ContentType::Json, Shape::Full),
    ("protobuf/full", ContentType::Protobuf, Shape::Full),
    ("json/pod-view", ContentType::Json, Shape::View),
    ("protobuf/pod-view", ContentType::Protobuf, Shape::View),
];

/// A synced informer and its handler's counter.
struct Running {
    progress: Arc<Progress>,
    stop: Box<dyn FnOnce() -> futures::future::BoxFuture<'static, ()> + Send>,
}

async fn start<K>(url: &str, n: usize, content_type: ContentType) -> Running
where
    K: Resource + HasMetadata + DeserializeOwned + Send + Sync + 'static,
{
    let uri: http::Uri = url.parse().expect("server URL");
    let config = Config::new(uri).without_rate_limit().content_type(content_type);
    let client = Client::new(config).expect("client");
    let opts = InformerOptions { name: "bench-pods".into(), ..Default::default() };
    let informer = SharedIndexInformer::new(ApiListWatch::new(Api::<K>::all(client)), opts);
    let progress = Arc::new(Progress::default());
    let (p1, p2, p3) = (progress.clone(), progress.clone(), progress.clone());
    informer
        .add_event_handler(
            HandlerFns::new()
                .on_add(move |_o: &Arc<K>, _| p1.bump())
                .on_update(move |_o: &Arc<K>, _n: &Arc<K>| p2.bump())
                .on_delete(move |_d| p3.bump()),
        )
        .expect("handler");
    informer.start();
    if let Err(e) = progress.wait_for(n as u64).await {
        panic!("informer did not sync: {e}; last error: {:?}", informer.last_error().map(|e| e.to_string()));
    }
    let stop = Box::new(move || -> futures::future::BoxFuture<'static, ()> {
        Box::pin(async move {
            informer.shutdown().await;
            drop(informer);
            rudder_client::decode::reclaimed().await;
        })
    });
    Running { progress, stop }
}

async fn start_shape(url: &str, n: usize, content_type: ContentType, shape: Shape) -> Running {
    match shape {
        Shape::View => start::<PodView>(url, n, content_type).await,
        _ => start::<Pod>(url, n, content_type).await,
    }
}

fn main() {
    let backend = match Backend::from_env() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    println!("server: {}", backend.name());
    let sync_server = BenchServer::start(backend, SYNC_PODS, 2).expect("sync server");
    let watch_server = BenchServer::start(backend, WATCH_PODS, 2).expect("watch server");
    let rt = client_runtime(2).expect("client runtime");
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();

    {
        let mut g = c.benchmark_group(SYNC_GROUP);
        g.sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(SYNC_PODS as u64));
        for (name, content_type, shape) in CASES {
            let url = sync_server.url().to_string();
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.to_async(&rt).iter_custom(|iters| {
                    let url = url.clone();
                    async move {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let t = Instant::now();
                            let running = start_shape(&url, SYNC_PODS, content_type, shape).await;
                            total += t.elapsed();
                            (running.stop)().await;
                        }
                        total
                    }
                })
            });
        }
        g.finish();
    }
    {
        let mut g = c.benchmark_group(WATCH_GROUP);
        g.sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(WATCH_EVENTS as u64));
        for (name, content_type, shape) in CASES {
            let url = watch_server.url().to_string();
            let trigger = watch_server.trigger();
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.to_async(&rt).iter_custom(|iters| {
                    let args = WatchArgs {
                        url: url.clone(),
                        n_pods: WATCH_PODS,
                        events: WATCH_EVENTS,
                        rounds: iters,
                        shape,
                        trigger: trigger.clone(),
                    };
                    async move {
                        let running = start_shape(&args.url, WATCH_PODS, content_type, shape).await;
                        let d = time_rounds(&running.progress, &args).await.expect("watch rounds");
                        (running.stop)().await;
                        d
                    }
                })
            });
        }
        g.finish();
    }
    c.final_summary();
    print_table();
    rt.block_on(print_memory(sync_server.url()));
}

/// Heap in use added per cached object by one sync of each case (see the module docs).
async fn print_memory(url: &str) {
    println!("\n| shape | format | heap in use per cached pod |");
    println!("|---|---|---|");
    for (name, content_type, shape) in CASES {
        rudder_client::decode::reclaimed().await;
        let before = heap_stats();
        let running = start_shape(url, SYNC_PODS, content_type, shape).await;
        let heap = match (before, heap_stats()) {
            (Some(b), Some(a)) => format!("{:.0} B", (a.in_use as f64 - b.in_use as f64) / SYNC_PODS as f64),
            _ => "n/a (not glibc)".into(),
        };
        let (format, shape_name) = name.split_once('/').unwrap_or((name, ""));
        println!("| {shape_name} | {format} | {heap} |");
        (running.stop)().await;
    }
}

/// Criterion's median for `group/id`, in nanoseconds.
fn median(group: &str, id: &str) -> Option<f64> {
    rudder_benches::criterion_median(group, id).map(|s| s * 1e9)
}

fn print_table() {
    println!("\n| group | shape | JSON median | protobuf median | protobuf speed-up |");
    println!("|---|---|---|---|---|");
    for (group, per) in [(SYNC_GROUP, SYNC_PODS), (WATCH_GROUP, WATCH_EVENTS)] {
        for shape in ["full", "pod-view"] {
            let (Some(j), Some(p)) =
                (median(group, &format!("json/{shape}")), median(group, &format!("protobuf/{shape}")))
            else {
                continue;
            };
            println!(
                "| {group} | {shape} | {:.1} ms ({:.0}/s) | {:.1} ms ({:.0}/s) | {:.2}x |",
                j / 1e6,
                per as f64 / (j / 1e9),
                p / 1e6,
                per as f64 / (p / 1e9),
                j / p
            );
        }
    }
}
