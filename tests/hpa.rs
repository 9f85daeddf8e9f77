//! The HPA example: its replica calculator against upstream's rules, its stabilization window,
//! and the controller scaling a Deployment and a custom resource through their scale
//! subresources on the embedded server, driven by PodMetrics usage.

#[path = "../examples/hpa.rs"]
#[allow(dead_code)]
mod example;

use std::time::Duration;

use example::{
    app_pod, cpu_hpa, cpu_replicas, replicas_are, wait_for, worker_crd, worker_resource, Options, PodSample, Stabilizer,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use rudder_apimachinery::dynamic::DynamicObject;
use rudder_apimachinery::options::PatchOptions;
use rudder_apimachinery::resource::ApiResource;
use rudder_apimachinery::Patch;
use rudder_apiserver::ApiServer;
use rudder_client::{api::Api, clientset::ClientSet};
use rudder_controller::CancellationToken;
use serde_json::json;
use tokio::time::Instant;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const NS: &str = "default";

/// A Running pod started 10 minutes ago, Ready since 9, requesting 100m, using `usage`
/// millicores (`None`: no metrics).
fn pod(name: &str, usage: Option<i64>, now: Timestamp) -> PodSample {
    let start = now - SignedDuration::from_mins(10);
    PodSample {
        name: name.into(),
        phase: "Running".into(),
        deleting: false,
        ready: Some((true, start + SignedDuration::from_mins(1))),
        start: Some(start),
        request_milli: Some(100),
        usage: usage.map(|u| (u, now, SignedDuration::from_secs(15))),
    }
}

/// Ready=False since 10 s after its start (so within the initial readiness delay: unready).
fn unready(mut p: PodSample) -> PodSample {
    let start = p.start.unwrap_or_default();
    p.ready = Some((false, start + SignedDuration::from_secs(10)));
    p
}

fn replicas(current: i32, pods: &[PodSample], now: Timestamp) -> i32 {
    cpu_replicas(current, 50, pods, now, &Options::default()).map(|r| r.replicas).unwrap_or(-1)
}

#[test]
fn replica_calculator_follows_upstream() {
    let now = Timestamp::now();
    // Ratio of mean usage to mean request over the 50% target, times the ready pods.
    assert_eq!(replicas(2, &[pod("a", Some(100), now), pod("b", Some(100), now)], now), 4);
    assert_eq!(replicas(4, &[pod("a", Some(10), now), pod("b", Some(20), now)], now), 1);
    // Within the 10% tolerance (54% of a 50% target): no change.
    assert_eq!(replicas(2, &[pod("a", Some(54), now), pod("b", Some(54), now)], now), 2);
    assert_eq!(replicas(7, &[pod("a", Some(46), now), pod("b", Some(46), now)], now), 7);

    // Missing metrics on a scale-up count as 0: one pod at 200% and three without metrics
    // average 25%, the other way: no change (ignoring them would scale 4 down to 2).
    let up = [pod("a", Some(100), now), pod("b", None, now), pod("c", None, now), pod("d", None, now)];
    assert_eq!(replicas(4, &up, now), 4);
    // On a scale-down they count as their full request: (0 + 0 + 100 + 100) / 400 = 50% of a
    // 100% target -> ceil(0.5 * 4) = 2 (ignoring them would say 0).
    let down = [pod("a", Some(0), now), pod("b", Some(0), now), pod("c", None, now), pod("d", None, now)];
    assert_eq!(cpu_replicas(4, 100, &down, now, &Options::default()).map(|r| r.replicas), Ok(2));

    // Unready pods on a scale-up count as 0: (100 + 0) / 200 = 50% = the target: no change
    // (counting b's usage would say 4).
    assert_eq!(replicas(2, &[pod("a", Some(100), now), unready(pod("b", Some(100), now))], now), 2);
    // On a scale-down they are left out: 10% over one ready pod -> 1.
    assert_eq!(replicas(2, &[pod("a", Some(10), now), unready(pod("b", Some(100), now))], now), 1);
    // Not Ready long after its start is ready for the calculator (upstream's 30 s rule).
    let mut late = pod("b", Some(100), now);
    late.ready = Some((false, now - SignedDuration::from_mins(2)));
    assert_eq!(replicas(2, &[pod("a", Some(100), now), late], now), 4);
    // Within the CPU initialization period a sample older than readiness plus its window is unready.
    let mut young = pod("b", Some(100), now);
    young.start = Some(now - SignedDuration::from_secs(60));
    young.ready = Some((true, now - SignedDuration::from_secs(5)));
    assert_eq!(replicas(2, &[pod("a", Some(100), now), young.clone()], now), 2);
    let zero_init = Options { cpu_initialization_period: Duration::ZERO, ..Default::default() };
    assert_eq!(cpu_replicas(2, 50, &[pod("a", Some(100), now), young], now, &zero_init).map(|r| r.replicas), Ok(4));

    // Pending pods are unready; deleted and Failed ones are ignored.
    let mut pending = pod("p", None, now);
    pending.phase = "Pending".into();
    let mut failed = pod("f", Some(1000), now);
    failed.phase = "Failed".into();
    let mut deleting = pod("d", Some(1000), now);
    deleting.deleting = true;
    assert_eq!(replicas(3, &[pod("a", Some(10), now), pending, failed, deleting], now), 1);

    // Errors: no pods, no usable metrics, a pod without a CPU request.
    assert!(cpu_replicas(1, 50, &[], now, &Options::default()).is_err());
    assert!(cpu_replicas(1, 50, &[pod("a", None, now)], now, &Options::default()).is_err());
    let mut no_request = pod("b", Some(10), now);
    no_request.request_milli = None;
    assert!(cpu_replicas(1, 50, &[pod("a", Some(10), now), no_request], now, &Options::default()).is_err());
    // The answer also reports what was measured.
    let r = cpu_replicas(2, 50, &[pod("a", Some(150), now), pod("b", Some(50), now)], now, &Options::default());
    assert_eq!(r.map(|r| (r.utilization, r.average_milli)), Ok((100, 100)));
}

#[test]
fn stabilization_keeps_the_highest_recommendation_of_the_window() {
    let t0 = Instant::now();
    let s = |secs: u64| t0 + Duration::from_secs(secs);
    let down = Duration::from_secs(10);
    let mut st = Stabilizer::default();
    assert_eq!(st.stabilize(2, 6, Duration::ZERO, down, s(0)), 6, "scale-ups are immediate");
    assert_eq!(st.stabilize(6, 1, Duration::ZERO, down, s(3)), 6, "6 was recommended 3 s ago");
    assert_eq!(st.stabilize(6, 3, Duration::ZERO, down, s(8)), 6);
    assert_eq!(st.stabilize(6, 1, Duration::ZERO, down, s(11)), 3, "the highest of the last 10 s");
    assert_eq!(st.stabilize(3, 1, Duration::ZERO, down, s(19)), 1);
    // A scale-up window holds scale-ups to the lowest recommendation in it.
    let mut st = Stabilizer::default();
    let up = Duration::from_secs(5);
    assert_eq!(st.stabilize(2, 2, up, down, s(0)), 2);
    assert_eq!(st.stabilize(2, 8, up, down, s(1)), 2);
    assert_eq!(st.stabilize(2, 8, up, down, s(6)), 8);
}

#[tokio::test]
async fn hpa_scales_a_deployment_and_a_custom_resource() -> Result<(), BoxError> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let control = server.control();
    control.add_node("node-1", &[("cpu", "16")]); // the kubelet stand-in runs the pods
    ClientSet::new(client.clone())
        .apiextensions_v1()
        .custom_resource_definitions()
        .create(&Default::default(), &worker_crd()?)
        .await?;
    let deployment: Deployment = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}))?;
    Api::<Deployment>::namespaced(client.clone(), NS).create(&Default::default(), &deployment).await?;
    let workers = Api::<DynamicObject>::with_resource(client.clone(), &worker_resource(), Some(NS));
    let worker: DynamicObject = serde_json::from_value(json!({"apiVersion": "demo.rudder.dev/v1", "kind": "Worker",
        "metadata": {"name": "queue"}, "spec": {"replicas": 1}}))?;
    wait_for("the Worker resource served", Duration::from_secs(5), || async {
        match workers.create(&Default::default(), &worker).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    })
    .await?;
    let status = json!({"status": {"replicas": 1, "selector": "app=queue"}});
    workers.patch_status("queue", &PatchOptions::default(), &Patch::Merge(status)).await?;
    let pods = Api::<Pod>::namespaced(client.clone(), NS);
    for (name, app) in [("web-0", "web"), ("web-1", "web"), ("queue-0", "queue")] {
        pods.create(&Default::default(), &app_pod(name, app, "node-1", "100m")?).await?;
        control.set_container_usage(NS, name, "c", &[("cpu", "150m")])?;
    }
    wait_for("the pods Ready", Duration::from_secs(10), || async {
        let list = pods.list(&Default::default()).await?;
        Ok(list.items.iter().all(|p| {
            p.status
                .iter()
                .flat_map(|s| s.conditions.iter().flatten())
                .any(|c| c.type_ == "Ready" && c.status == "True")
        }))
    })
    .await?;
    let hpas = Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), NS);
    // web: its own 2 s scale-down window; the Worker: the controller's default (1 s here) and max 2.
    hpas.create(&Default::default(), &cpu_hpa("web", "apps/v1", "Deployment", 10, 50, Some(2))?).await?;
    hpas.create(&Default::default(), &cpu_hpa("queue", "demo.rudder.dev/v1", "Worker", 2, 50, None)?).await?;

    let sync = Duration::from_millis(200);
    let opts = Options {
        namespace: Some(NS.into()),
        sync_period: sync,
        downscale_stabilization: Duration::from_secs(1),
        cpu_initialization_period: Duration::ZERO, // the pods just started
        ..Default::default()
    };
    let shutdown = CancellationToken::new();
    let controller = tokio::spawn(example::run(client.clone(), opts, shutdown.clone()));

    // 150m of 100m requested against a 50% target: ratio 3.
    let web = Api::<DynamicObject>::with_resource(client.clone(), &ApiResource::of::<Deployment>(), Some(NS));
    let deadline = Duration::from_secs(10);
    wait_for("web at 6 replicas", deadline, || replicas_are(&web, "web", 6)).await?;
    wait_for("the Worker at its maximum, 2", deadline, || replicas_are(&workers, "queue", 2)).await?;
    wait_for("web's HPA status", deadline, || async {
        let s = hpas.get("web").await?.status.unwrap_or_default();
        let utilization =
            s.current_metrics.iter().flatten().find_map(|m| m.resource.as_ref()?.current.average_utilization);
        Ok(s.desired_replicas == 6 && s.last_scale_time.is_some() && utilization == Some(150))
    })
    .await?;
    let worker = workers.get("queue").await?;
    assert_eq!(
        worker.data.get("spec").and_then(|s| s.get("replicas")),
        Some(&json!(2)),
        "the scale subresource wrote spec.replicas"
    );

    // Usage drops to 10m (10%): the recommendation is 1, held for the 2 s window.
    for name in ["web-0", "web-1", "queue-0"] {
        control.set_container_usage(NS, name, "c", &[("cpu", "10m")])?;
    }
    let lowered = Instant::now();
    wait_for("web down to 1", deadline, || replicas_are(&web, "web", 1)).await?;
    let held = lowered.elapsed();
    // The last recommendation of 6 was made about one sync period before the drop at the earliest.
    assert!(held >= Duration::from_secs(2) - 2 * sync, "web scaled down after {held:?}, inside its 2 s window");
    wait_for("the Worker down to 1", deadline, || replicas_are(&workers, "queue", 1)).await?;
    wait_for("web's HPA status desiring 1", deadline, || async {
        Ok(hpas.get("web").await?.status.is_some_and(|s| s.desired_replicas == 1))
    })
    .await?;

    shutdown.cancel();
    controller.await??;
    Ok(())
}
