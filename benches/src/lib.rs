//! # rudder-benches
//!
//! The shared harness of rudder's informer benchmarks: a registry of *variants* (one client
//! stack each — rudder's pieces, kube-rs, a bare hyper + serde_json loop), each reduced to two
//! functions, [`Variant::sync`] (list/watch `n` pods into a cache until synced) and
//! [`Variant::watch`] (sync, then time rounds of MODIFIED events until the cache has processed
//! them), plus the servers they run against ([`server`]) and resident-memory probes ([`memory`]).
//!
//! Contract:
//! - Every variant talks HTTP/1.1 over a real loopback socket to a server that runs on its own
//!   tokio runtime (its own threads) in benchmarks, and in its own process for memory figures.
//! - `sync` starts from nothing (a new client, a new connection) and returns once all `n`
//!   objects are in the variant's cache; the returned [`Synced`] keeps the cache (and any task
//!   feeding it) alive until dropped, so resident memory can be read while it lives.
//! - `watch` syncs first (untimed), then for each round calls the trigger (which makes the server
//!   emit `events` MODIFIED events) and waits until the variant's cache has applied all of them;
//!   it returns the total time of the rounds only.
//! - Everything uses the system allocator, so figures reflect what users get by default.
//!
//! Adding a variant is one entry in [`variants`].

#![warn(missing_docs)]

pub mod bare;
#[cfg(feature = "kube-rs")]
pub mod kube_rs;
pub mod memory;
pub mod pods;
pub mod progress;
pub mod rudder_informer;
pub mod rudder_reflector;
pub mod server;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

/// A benchmark failure (setup, server or client), with a message saying where.
#[derive(Debug, Clone)]
pub struct BenchError(pub String);

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BenchError {}

impl BenchError {
    /// Wraps any displayable error with context.
    pub fn ctx(what: &str, e: impl fmt::Display) -> Self {
        BenchError(format!("{what}: {e}"))
    }
}

/// Result alias for the harness.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;

/// What the cache holds per pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// The full `k8s_openapi::api::core::v1::Pod`.
    Full,
    /// The full Pod with `metadata.managedFields` dropped before caching (a transform).
    NoManagedFields,
    /// A partial view: metadata + `spec.nodeName` + `status.phase` ([`pods::PodView`]).
    View,
}

impl Shape {
    /// Short name used in benchmark ids and the memory table.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Full => "full",
            Shape::NoManagedFields => "no-managed-fields",
            Shape::View => "pod-view",
        }
    }

    /// Parses [`Shape::name`].
    pub fn parse(s: &str) -> Option<Shape> {
        [Shape::Full, Shape::NoManagedFields, Shape::View].into_iter().find(|sh| sh.name() == s)
    }
}

/// Inputs of [`Variant::sync`].
#[derive(Debug, Clone)]
pub struct SyncArgs {
    /// Server base URL (`http://127.0.0.1:port`).
    pub url: String,
    /// How many pods the server holds (the variant is synced when it has cached all of them).
    pub n: usize,
    /// What to cache per pod.
    pub shape: Shape,
}

/// A running cache kept alive for measurement.
///
/// `stop` tears it down and resolves once everything it held is freed, so that one
/// iteration's teardown (freeing 10,000 Pods is tens of milliseconds) never runs inside the
/// next iteration's timing, whichever variant it belongs to. Dropping it without `stop` also
/// stops it, in the background.
///
/// `next_relist` takes a snapshot of how many complete lists the cache has applied when it is
/// called (so call it before the relist is provoked) and resolves once one more complete list
/// has been applied to the cache as the variant's own readers see it (an error after
/// [`progress::ROUND_TIMEOUT`]): every variant relists when its watch gets 410 Expired.
pub trait Cache: Send {
    /// Stops the cache and frees it.
    fn stop(self: Box<Self>) -> BoxFuture<'static, ()>;
    /// Resolves once the cache has applied one more complete (re)list than now.
    fn next_relist(&self) -> BoxFuture<'static, Result<()>>;
}

/// A synced cache: how long syncing took, and the live cache.
pub struct Synced {
    /// From the start of the variant (client creation) until all objects were cached.
    pub elapsed: Duration,
    /// How many objects the cache held at that point.
    pub cached: usize,
    /// The cache and whatever feeds it; kept alive for memory measurements.
    pub keep_alive: Box<dyn Cache>,
}

/// Makes the server emit `n` MODIFIED pod events; resolves once the server has emitted them
/// (the client may still be processing).
pub type Trigger = Arc<dyn Fn(usize) -> BoxFuture<'static, Result<()>> + Send + Sync>;

/// Inputs of [`Variant::watch`].
#[derive(Clone)]
pub struct WatchArgs {
    /// Server base URL.
    pub url: String,
    /// How many pods the server holds.
    pub n_pods: usize,
    /// MODIFIED events per round.
    pub events: usize,
    /// Rounds to time (criterion's `iters`).
    pub rounds: u64,
    /// What to cache per pod.
    pub shape: Shape,
    /// Makes the server emit events.
    pub trigger: Trigger,
}

/// A sync function: see [`Variant::sync`].
pub type SyncFn = fn(SyncArgs) -> BoxFuture<'static, Result<Synced>>;
/// A watch function: see [`Variant::watch`].
pub type WatchFn = fn(WatchArgs) -> BoxFuture<'static, Result<Duration>>;

/// One client stack under test.
#[derive(Clone, Copy)]
pub struct Variant {
    /// Stable name (benchmark ids, command-line selection).
    pub name: &'static str,
    /// The shapes it supports.
    pub shapes: &'static [Shape],
    /// Lists (and watches) until synced.
    pub sync: SyncFn,
    /// Syncs, then times rounds of MODIFIED events.
    pub watch: WatchFn,
}

impl fmt::Debug for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Variant").field("name", &self.name).field("shapes", &self.shapes).finish()
    }
}

const ALL_SHAPES: &[Shape] = &[Shape::Full, Shape::NoManagedFields, Shape::View];

/// Every variant compiled in, in report order. The first is the floor (no informer machinery).
pub fn variants() -> Vec<Variant> {
    #[allow(unused_mut)]
    let mut v = vec![
        Variant { name: "bare-hyper-serde", shapes: ALL_SHAPES, sync: bare::sync, watch: bare::watch },
        Variant {
            name: "rudder-informer",
            shapes: ALL_SHAPES,
            sync: rudder_informer::sync_parallel,
            watch: rudder_informer::watch_parallel,
        },
        Variant {
            name: "rudder-informer-seqdecode",
            shapes: &[Shape::Full],
            sync: rudder_informer::sync_sequential,
            watch: rudder_informer::watch_sequential,
        },
        Variant {
            name: "rudder-informer-streaming",
            shapes: ALL_SHAPES,
            sync: rudder_informer::sync_streaming,
            watch: rudder_informer::watch_streaming,
        },
        Variant {
            name: "rudder-reflector",
            shapes: ALL_SHAPES,
            sync: rudder_reflector::sync_list_watch,
            watch: rudder_reflector::watch_list_watch,
        },
        Variant {
            name: "rudder-reflector-streaming",
            shapes: &[Shape::Full],
            sync: rudder_reflector::sync_streaming,
            watch: rudder_reflector::watch_streaming,
        },
    ];
    #[cfg(feature = "kube-rs")]
    v.extend([
        Variant { name: "kube-rs", shapes: ALL_SHAPES, sync: kube_rs::sync_paged, watch: kube_rs::watch_paged },
        Variant {
            name: "kube-rs-streaming",
            shapes: &[Shape::Full],
            sync: kube_rs::sync_streaming,
            watch: kube_rs::watch_streaming,
        },
    ]);
    v
}

/// The variant called `name`.
pub fn variant(name: &str) -> Option<Variant> {
    variants().into_iter().find(|v| v.name == name)
}

/// A multi-threaded tokio runtime with `threads` workers, for the client side.
pub fn client_runtime(threads: usize) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("client")
        .enable_all()
        .build()
        .map_err(|e| BenchError::ctx("building the client runtime", e))
}

/// Where criterion keeps its results: `$CARGO_TARGET_DIR/criterion` (a relative
/// `CARGO_TARGET_DIR` is taken from the workspace root, where cargo resolves it), else the
/// workspace's `target/criterion`.
pub fn criterion_dir() -> PathBuf {
    let workspace = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace.join(dir),
        _ => workspace.join("target"),
    };
    target.join("criterion")
}

/// Median seconds per iteration of benchmark `group/id` from criterion's saved estimates
/// (`<criterion_dir>/<group>/<id>/new/estimates.json`, `id` with `/` and the other characters
/// criterion cannot put in a file name written as `_`); `None` if it has not run.
pub fn criterion_median(group: &str, id: &str) -> Option<f64> {
    criterion_median_in(&criterion_dir(), group, id)
}

fn criterion_median_in(dir: &std::path::Path, group: &str, id: &str) -> Option<f64> {
    let safe = |s: &str| s.replace(['?', '"', '/', '\\', '*', '<', '>', ':', '|', '^'], "_");
    let path = dir.join(safe(group)).join(safe(id)).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64().map(|ns| ns / 1e9)
}

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
/// NaNs sort last.
pub fn median_of(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[mid]),
        _ => Some((v[mid - 1] + v[mid]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median_of(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median_of(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median_of(&[]), None);
    }

    #[test]
    fn criterion_medians_are_read_from_sanitized_directories() {
        let dir = std::env::temp_dir().join(format!("rudder-benches-criterion-{}", std::process::id()));
        let est = dir.join("criterion/grp/json_full/new");
        std::fs::create_dir_all(&est).unwrap();
        std::fs::write(est.join("estimates.json"), r#"{"median":{"point_estimate":2.5e9}}"#).unwrap();
        let found = criterion_median_in(&dir.join("criterion"), "grp", "json/full");
        let missing = criterion_median_in(&dir.join("criterion"), "grp", "protobuf/full");
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found, Some(2.5));
        assert_eq!(missing, None);
    }
}
