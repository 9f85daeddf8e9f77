//! Controller metrics in a `prometheus-client` registry, under controller-runtime's names and
//! labels, read from each controller's [`ControllerMetrics`] at scrape time (no second copy of
//! any counter).
//!
//! Contract: one descriptor per metric, one sample (or histogram) per controller; the names,
//! labels and meanings are listed in [`crate::endpoints`]. The client's requests are counted
//! through its [`RequestMetrics`] hooks, and the informers' lists and watches through the
//! factory's [`ReflectorMetrics`] hook, into families of the same registry.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use rudder_client::metrics::{Attempt, RequestDone, RequestMetrics};
use rudder_informer::reflector_metrics::{ListDone, ReflectorMetrics, WatchDone};

use crate::manager::LeaderStatus;
use crate::metrics::{ControllerMetrics, MetricsSnapshot};

type Labels = Vec<(&'static str, String)>;

#[derive(Debug)]
pub(crate) struct ControllersCollector {
    controllers: Vec<(String, ControllerMetrics)>,
    leader: Option<(String, LeaderStatus)>,
}

impl ControllersCollector {
    pub(crate) fn register(
        registry: &mut Registry,
        controllers: Vec<(String, ControllerMetrics)>,
        leader: Option<(String, LeaderStatus)>,
    ) {
        registry.register_collector(Box::new(Arc::new(Self { controllers, leader })));
    }

    fn samples(&self) -> Vec<(String, MetricsSnapshot, &ControllerMetrics)> {
        self.controllers.iter().map(|(n, m)| (n.clone(), m.snapshot(), m)).collect()
    }
}

fn controller(name: &str) -> Labels {
    vec![("controller", name.to_owned())]
}

fn queue(name: &str) -> Labels {
    vec![("controller", name.to_owned()), ("name", name.to_owned())]
}

fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Labels, u64)>,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in rows {
        ConstCounter::new(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Labels, i64)>,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in rows {
        ConstGauge::new(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn seconds_gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Labels, std::time::Duration)>,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in rows {
        ConstGauge::new(v.as_secs_f64()).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn histogram<'a>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Labels, &'a Histogram)>,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (labels, h) in rows {
        h.encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn as_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Collector for ControllersCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let all = self.samples();
        let results = all.iter().flat_map(|(n, s, _)| {
            [("success", s.success), ("error", s.errors + s.panics), ("requeue", 0), ("requeue_after", s.requeue_after)]
                .map(|(result, v)| (vec![("controller", n.clone()), ("result", result.to_owned())], v))
        });
        counter(&mut enc, "controller_runtime_reconcile", "Total number of reconciliations per controller", results)?;
        counter(
            &mut enc,
            "controller_runtime_reconcile_errors",
            "Total number of reconciliation errors per controller",
            all.iter().map(|(n, s, _)| (controller(n), s.errors + s.panics)),
        )?;
        counter(
            &mut enc,
            "controller_runtime_reconcile_panics",
            "Total number of reconciliation panics per controller",
            all.iter().map(|(n, s, _)| (controller(n), s.panics)),
        )?;
        histogram(
            &mut enc,
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            all.iter().map(|(n, _, m)| (controller(n), m.reconcile_time())),
        )?;
        gauge(
            &mut enc,
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            all.iter().map(|(n, s, _)| (controller(n), as_i64(s.max_concurrent_reconciles))),
        )?;
        gauge(
            &mut enc,
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            all.iter().map(|(n, s, _)| (controller(n), as_i64(s.active_workers))),
        )?;
        gauge(
            &mut enc,
            "workqueue_depth",
            "Current depth of workqueue",
            all.iter().map(|(n, s, _)| (queue(n), as_i64(s.queue_depth))),
        )?;
        counter(
            &mut enc,
            "workqueue_adds",
            "Total number of adds handled by workqueue",
            all.iter().map(|(n, s, _)| (queue(n), s.adds)),
        )?;
        histogram(
            &mut enc,
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
            all.iter().map(|(n, _, m)| (queue(n), m.queue_duration())),
        )?;
        histogram(
            &mut enc,
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes",
            all.iter().map(|(n, _, m)| (queue(n), m.work_duration())),
        )?;
        seconds_gauge(
            &mut enc,
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases",
            all.iter().map(|(n, s, _)| (queue(n), s.unfinished_work)),
        )?;
        seconds_gauge(
            &mut enc,
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running",
            all.iter().map(|(n, s, _)| (queue(n), s.longest_running)),
        )?;
        counter(
            &mut enc,
            "workqueue_retries",
            "Total number of retries handled by workqueue",
            all.iter().map(|(n, s, _)| (queue(n), s.retries)),
        )?;
        if let Some((name, status)) = &self.leader {
            gauge(
                &mut enc,
                "leader_election_master_status",
                "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease. Please make sure to group by name.",
                [(vec![("name", name.clone())], i64::from(status.is_leader()))],
            )?;
        }
        Ok(())
    }
}

/// The registry in the Prometheus text format.
pub(crate) fn encode(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, registry)?;
    Ok(out)
}

/// Bucket bounds of `rest_client_request_duration_seconds` (client-go's).
pub const REST_CLIENT_DURATION_BUCKETS: [f64; 12] =
    [0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0];

type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// The client's request hooks as client-go's `rest_client_requests_total{code,method,host}`
/// and `rest_client_request_duration_seconds{verb,host}`.
#[derive(Debug, Clone)]
pub(crate) struct RestClientMetrics {
    requests: Family<Labels, Counter>,
    duration: HistogramFamily,
}

impl RestClientMetrics {
    /// Registers both families in `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(|| Histogram::new(REST_CLIENT_DURATION_BUCKETS)),
        };
        registry.register(
            "rest_client_requests",
            "Number of HTTP requests, partitioned by status code, method, and host",
            m.requests.clone(),
        );
        registry.register(
            "rest_client_request_duration_seconds",
            "Request latency in seconds. Broken down by verb and host",
            m.duration.clone(),
        );
        m
    }
}

impl RequestMetrics for RestClientMetrics {
    fn attempt(&self, a: &Attempt<'_>) {
        let labels = vec![("code", a.code_label()), ("method", a.method.to_owned()), ("host", a.host.to_owned())];
        self.requests.get_or_create(&labels).inc();
    }
    fn request(&self, r: &RequestDone<'_>) {
        let labels = vec![("verb", r.method.to_owned()), ("host", r.host.to_owned())];
        self.duration.get_or_create(&labels).observe(r.duration.as_secs_f64());
    }
}

/// Bucket bounds of `reflector_list_duration_seconds` and `reflector_watch_duration_seconds`.
const REFLECTOR_DURATION_BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0, 600.0];
/// Bucket bounds of `reflector_items_per_list` and `reflector_items_per_watch`.
const REFLECTOR_ITEMS_BUCKETS: [f64; 8] = [0.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0, 10_000_000.0];

/// The informers' reflector hooks under the names client-go's reflector metrics had, one
/// series per informer (`name`, e.g. `pods`): `reflector_lists_total{name,result}`,
/// `reflector_list_duration_seconds`, `reflector_items_per_list`, `reflector_watches_total`,
/// `reflector_watch_duration_seconds`, `reflector_items_per_watch`.
#[derive(Debug, Clone)]
pub(crate) struct ReflectorPromMetrics {
    lists: Family<Labels, Counter>,
    list_duration: HistogramFamily,
    items_per_list: HistogramFamily,
    watches: Family<Labels, Counter>,
    watch_duration: HistogramFamily,
    items_per_watch: HistogramFamily,
}

impl ReflectorPromMetrics {
    /// Registers every family in `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self {
            lists: Family::default(),
            list_duration: Family::new_with_constructor(|| Histogram::new(REFLECTOR_DURATION_BUCKETS)),
            items_per_list: Family::new_with_constructor(|| Histogram::new(REFLECTOR_ITEMS_BUCKETS)),
            watches: Family::default(),
            watch_duration: Family::new_with_constructor(|| Histogram::new(REFLECTOR_DURATION_BUCKETS)),
            items_per_watch: Family::new_with_constructor(|| Histogram::new(REFLECTOR_ITEMS_BUCKETS)),
        };
        registry.register(
            "reflector_lists",
            "Total number of API lists done by the reflectors (result: success or error)",
            m.lists.clone(),
        );
        registry.register(
            "reflector_list_duration_seconds",
            "How long an API list takes to return and decode for the reflectors",
            m.list_duration.clone(),
        );
        registry.register(
            "reflector_items_per_list",
            "How many items an API list returns to the reflectors",
            m.items_per_list.clone(),
        );
        registry.register(
            "reflector_watches",
            "Total number of API watches done by the reflectors (counted when established)",
            m.watches.clone(),
        );
        registry.register("reflector_watch_duration_seconds", "How long an API watch takes", m.watch_duration.clone());
        registry.register(
            "reflector_items_per_watch",
            "How many items an API watch returns to the reflectors",
            m.items_per_watch.clone(),
        );
        m
    }
}

impl ReflectorMetrics for ReflectorPromMetrics {
    fn list(&self, name: &str, done: &ListDone) {
        let result = if done.ok { "success" } else { "error" };
        self.lists.get_or_create(&vec![("name", name.to_owned()), ("result", result.to_owned())]).inc();
        if done.ok {
            let labels = vec![("name", name.to_owned())];
            self.list_duration.get_or_create(&labels).observe(done.duration.as_secs_f64());
            self.items_per_list.get_or_create(&labels).observe(done.items as f64);
        }
    }
    fn watch_started(&self, name: &str) {
        self.watches.get_or_create(&vec![("name", name.to_owned())]).inc();
    }
    fn watch(&self, name: &str, done: &WatchDone) {
        let labels = vec![("name", name.to_owned())];
        self.watch_duration.get_or_create(&labels).observe(done.duration.as_secs_f64());
        self.items_per_watch.get_or_create(&labels).observe(done.events as f64);
    }
}
