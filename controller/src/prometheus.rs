//! Controller metrics in a `prometheus-client` registry, under controller-runtime's names and
//! labels, read from each controller's [`ControllerMetrics`] at scrape time (no second copy of
//! any counter).
//!
//! Contract: one descriptor per metric, one sample (or histogram) per controller; the names,
//! labels and meanings are listed in [`crate::endpoints`].

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

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
        {
            let mut m = enc.encode_descriptor(
                "controller_runtime_reconcile_time_seconds",
                "Length of time per reconciliation per controller",
                None,
                MetricType::Histogram,
            )?;
            for (n, _, metrics) in &all {
                let labels = controller(n);
                metrics.reconcile_time().encode(m.encode_family(&labels)?)?;
            }
        }
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
            all.iter().map(|(n, s, _)| (queue(n), s.enqueued)),
        )?;
        counter(
            &mut enc,
            "workqueue_retries",
            "Total number of retries handled by workqueue",
            all.iter().map(|(n, s, _)| (queue(n), s.errors + s.panics)),
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
