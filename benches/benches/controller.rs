//! Criterion benchmark: reconciles per second of the controller runtimes under a no-op
//! reconcile, for 10,000 realistic pods, against the same server in the same run:
//!
//! - `rudder-informer-sync`: rudder's informer alone syncing the pods into its cache with one
//!   handler, in the mode rudder's `Controller` uses (the factory's streaming list): the floor
//!   under the controller.
//! - `rudder-controller`: rudder's `Controller<Pod>` (defaults: one worker) from client creation
//!   until every pod was reconciled once (sync, queue, reconcile).
//! - with `--features kube-rs`: `kube-rs-reflector-sync` (kube-rs's watcher + reflector store
//!   alone, default paged list) and `kube-rs-controller` (kube-rs's `runtime::Controller`, its
//!   defaults: unbounded concurrency, paged list), measured the same way.
//!
//! The server runs on its own runtime (2 worker threads), the client under test on another (2
//! worker threads). Each iteration starts from a new client; the controller is stopped and its
//! cache freed after the timed part. Flat sampling, 10 samples. After the run, a Markdown table
//! of medians, reconciles per second and ratios is printed from criterion's estimates.
//!
//! `cargo bench -p rudder-benches --features kube-rs --bench controller`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use futures::future::BoxFuture;
use futures::FutureExt;
use k8s_openapi::api::core::v1::Pod;

use rudder_benches::progress::Progress;
use rudder_benches::server::{Backend, BenchServer};
use rudder_benches::{client_runtime, BenchError, Result, Shape, SyncArgs};
use rudder_client::{Client, Config};
use rudder_controller::{Action, CancellationToken, Context, Controller, ObjectKey, WatchOptions};

const PODS: usize = 10_000;
const GROUP: &str = "reconcile_10k_pods";

type Run = fn(String, usize) -> BoxFuture<'static, Result<Duration>>;

fn runs() -> Vec<(&'static str, Run)> {
    #[allow(unused_mut)]
    let mut v: Vec<(&'static str, Run)> = vec![
        ("rudder-informer-sync", |url, n| rudder_informer_sync(url, n).boxed()),
        ("rudder-controller", |url, n| rudder_controller(url, n).boxed()),
    ];
    #[cfg(feature = "kube-rs")]
    v.extend([
        ("kube-rs-reflector-sync", (|url, n| kube_rs_reflector_sync(url, n).boxed()) as Run),
        ("kube-rs-controller", |url, n| kube_rs_controller(url, n).boxed()),
    ]);
    v
}

async fn rudder_informer_sync(url: String, n: usize) -> Result<Duration> {
    let synced = rudder_benches::rudder_informer::sync_streaming(SyncArgs { url, n, shape: Shape::Full }).await?;
    synced.keep_alive.stop().await;
    Ok(synced.elapsed)
}

async fn count(_key: ObjectKey, ctx: Context<Arc<Progress>>) -> Result<Action, std::convert::Infallible> {
    ctx.state().bump();
    Ok(Action::done())
}

async fn rudder_controller(url: String, n: usize) -> Result<Duration> {
    let start = Instant::now();
    let uri: http::Uri = url.parse().map_err(|e| BenchError::ctx("server URL", e))?;
    let client = Client::new(Config::new(uri).without_rate_limit()).map_err(|e| BenchError::ctx("rudder client", e))?;
    let progress = Arc::new(Progress::default());
    let shutdown = CancellationToken::new();
    let controller = Controller::<Pod>::new(client, WatchOptions::new());
    let run = tokio::spawn(controller.run(count, progress.clone(), shutdown.clone()));
    let reached = progress.wait_for(n as u64).await;
    let elapsed = start.elapsed();
    // Untimed: stop, and free the cache before the next iteration.
    shutdown.cancel();
    let stopped = run.await.map_err(|e| BenchError::ctx("rudder controller task", e))?;
    reached?;
    stopped.map_err(|e| BenchError::ctx("rudder controller", e))?;
    rudder_client::decode::reclaimed().await;
    Ok(elapsed)
}

#[cfg(feature = "kube-rs")]
async fn kube_rs_reflector_sync(url: String, n: usize) -> Result<Duration> {
    let synced = rudder_benches::kube_rs::sync_paged(SyncArgs { url, n, shape: Shape::Full }).await?;
    synced.keep_alive.stop().await;
    Ok(synced.elapsed)
}

#[cfg(feature = "kube-rs")]
async fn kube_rs_controller(url: String, n: usize) -> Result<Duration> {
    use futures::StreamExt;
    use kube::runtime::controller::{Action as KubeAction, Controller as KubeController};
    use kube::runtime::watcher;

    #[derive(Debug)]
    struct Never;
    impl std::fmt::Display for Never {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("never")
        }
    }
    impl std::error::Error for Never {}

    let start = Instant::now();
    let uri: http::Uri = url.parse().map_err(|e| BenchError::ctx("server URL", e))?;
    let client = kube::Client::try_from(kube::Config::new(uri)).map_err(|e| BenchError::ctx("kube client", e))?;
    let api: kube::Api<Pod> = kube::Api::all(client);
    let progress = Arc::new(Progress::default());
    let stream = KubeController::new(api, watcher::Config::default()).run(
        |_pod: Arc<Pod>, p: Arc<Progress>| async move {
            p.bump();
            Ok::<_, Never>(KubeAction::await_change())
        },
        |_pod: Arc<Pod>, _e: &Never, _p: Arc<Progress>| KubeAction::await_change(),
        progress.clone(),
    );
    let task = tokio::spawn(stream.for_each(|_| async {}));
    let reached = progress.wait_for(n as u64).await;
    let elapsed = start.elapsed();
    task.abort();
    let _ = task.await;
    reached?;
    Ok(elapsed)
}

fn main() {
    let backend = match Backend::from_env() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let (server, rt) = match (BenchServer::start(backend, PODS, 2), client_runtime(2)) {
        (Ok(s), Ok(rt)) => (s, rt),
        (s, rt) => {
            eprintln!("benchmark setup failed: {:?} {:?}", s.err(), rt.err());
            std::process::exit(2);
        }
    };
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    let mut g = c.benchmark_group(GROUP);
    g.sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(PODS as u64));
    for (name, run) in runs() {
        let url = server.url().to_string();
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let url = url.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        match run(url.clone(), PODS).await {
                            Ok(d) => total += d,
                            Err(e) => panic!("{name}: {e}"),
                        }
                    }
                    total
                }
            })
        });
    }
    g.finish();
    c.final_summary();
    summary(backend);
}

/// Median seconds per iteration of `GROUP/id` from criterion's saved estimates.
fn median(id: &str) -> Option<f64> {
    rudder_benches::criterion_median(GROUP, id)
}

fn summary(backend: Backend) {
    println!("\nMedians (server `{}`), {PODS} pods reconciled once:\n", backend.name());
    println!("| run | median | reconciles per second | vs kube-rs-controller |");
    println!("|---|---:|---:|---:|");
    let kube = median("kube-rs-controller");
    for (name, _) in runs() {
        let Some(m) = median(name) else { continue };
        let vs = kube.map(|k| format!("{:.2}", k / m)).unwrap_or_else(|| "-".into());
        println!("| {name} | {m:.3} s | {:.0} | {vs} |", PODS as f64 / m);
    }
    for (runtime, floor) in
        [("rudder-controller", "rudder-informer-sync"), ("kube-rs-controller", "kube-rs-reflector-sync")]
    {
        if let (Some(r), Some(f)) = (median(runtime), median(floor)) {
            println!("\n{runtime} over {floor}: {:+.1}%", (r / f - 1.0) * 100.0);
        }
    }
}
