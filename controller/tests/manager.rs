//! The Manager against the embedded API server: several controllers and tasks on one factory,
//! health probes, a failing controller stopping everything, and leader election (only the
//! leader reconciles, a warm standby, losing the Lease stops reconciling at once). Leader
//! election uses short durations (lease 1 s, renew deadline 700 ms, retry 200 ms).

mod controller_common;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use rudder_apiserver::ApiServer;
use rudder_controller::{CancellationToken, ControllerError, Manager, ManagerError, WatchOptions};
use rudder_informer::leaderelection::{LeaderElectionConfig, LeaseLock};

use controller_common::*;

/// A free local port (bound and released; the probe server binds it again at once).
fn free_addr() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// `GET path` over a fresh connection: the status code and body.
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = String::new();
    tokio::time::timeout(GUARD, s.read_to_string(&mut out)).await.expect("response in time").expect("read");
    let code = out.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("status line");
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (code, body)
}

/// The value of the sample `series` (name and labels) in a Prometheus text scrape.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + GUARD;
    while !f() {
        assert!(tokio::time::Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Ev>) -> Ev {
    tokio::time::timeout(GUARD, rx.recv()).await.expect("a reconcile event in time").expect("open channel")
}

#[tokio::test]
async fn runs_several_controllers_and_tasks_serves_probes_and_shuts_down_cleanly() {
    let server = ApiServer::start().await.expect("server");
    let client = server.client();
    create_cm(&client, "cm", &[]).await;
    let mut s = Secret::default();
    s.metadata.name = Some("sec".into());
    secrets(&client).create(&Default::default(), &s).await.expect("secret");

    let any_port: std::net::SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let mut manager =
        Manager::new(client.clone()).handle_signals(false).health_probe_address(any_port).metrics_address(any_port);
    let bound = manager.bound_addresses();
    let mine = prometheus_client::metrics::counter::Counter::<u64>::default();
    manager.metrics_registry().register("my_things", "Things of mine", mine.clone());
    mine.inc();
    let (probe, mut rx) = Probe::new();
    let cms = manager.controller::<ConfigMap>(WatchOptions::new());
    let cms_metrics = cms.metrics();
    manager.add(cms, probe_reconcile, probe.clone());
    let secs = manager.controller::<Secret>(WatchOptions::new()).name("secrets");
    manager.add(secs, probe_reconcile, probe.clone());
    let task_saw_cancel = Arc::new(Mutex::new(false));
    let flag = task_saw_cancel.clone();
    manager.add_task("side", false, move |token| async move {
        token.cancelled().await;
        *flag.lock() = true;
    });
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(manager.run(shutdown.clone()));
    // Port 0: the manager reports the ports it bound.
    let b = tokio::time::timeout(GUARD, bound.wait()).await.expect("bound in time").expect("bound");
    let (addr, metrics_addr) = (b.health.expect("health address"), b.metrics.expect("metrics address"));
    assert!(addr.port() != 0 && metrics_addr.port() != 0 && addr != metrics_addr, "{b:?}");

    let mut names = Vec::new();
    while names.len() < 2 {
        if let Ev::Start { name, .. } = next(&mut rx).await {
            names.push(name);
        }
    }
    names.sort();
    assert_eq!(names, ["cm", "sec"], "both controllers reconcile");
    assert_eq!(get(addr, "/healthz").await, (200, "ok".to_owned()));
    wait_for("cms synced", || cms_metrics.snapshot().caches_synced).await;
    let mut ready = get(addr, "/readyz").await;
    for _ in 0..200 {
        if ready.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        ready = get(addr, "/readyz").await;
    }
    assert_eq!(ready, (200, "ok".to_owned()));
    assert_eq!(get(addr, "/nope").await.0, 404);

    // Metrics under controller-runtime's names, read at scrape time, and the user's own.
    wait_for("both reconciles counted", || cms_metrics.snapshot().success == 1).await;
    let (code, text) = get(metrics_addr, "/metrics").await;
    assert_eq!(code, 200);
    for line in [
        "# TYPE controller_runtime_reconcile_total counter",
        r#"controller_runtime_reconcile_total{controller="configmap",result="success"} 1"#,
        r#"controller_runtime_reconcile_total{controller="secrets",result="error"} 0"#,
        r#"controller_runtime_reconcile_panics_total{controller="configmap"} 0"#,
        r#"controller_runtime_reconcile_time_seconds_count{controller="configmap"} 1"#,
        r#"controller_runtime_max_concurrent_reconciles{controller="secrets"} 1"#,
        r#"controller_runtime_active_workers{controller="configmap"} 0"#,
        r#"workqueue_depth{controller="configmap",name="configmap"} 0"#,
        r#"workqueue_adds_total{controller="configmap",name="configmap"} 1"#,
        r#"workqueue_queue_duration_seconds_count{controller="configmap",name="configmap"} 1"#,
        r#"workqueue_work_duration_seconds_count{controller="configmap",name="configmap"} 1"#,
        r#"workqueue_unfinished_work_seconds{controller="configmap",name="configmap"} 0.0"#,
        r#"workqueue_longest_running_processor_seconds{controller="configmap",name="configmap"} 0.0"#,
        r#"workqueue_retries_total{controller="configmap",name="configmap"} 0"#,
        "my_things_total 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
    }
    assert!(!text.contains("leader_election_master_status"), "no election, no lease metric");
    let host = server.url().authority().expect("authority").to_string();
    let lists = format!(r#"rest_client_requests_total{{code="200",method="GET",host="{host}"}}"#);
    assert!(sample(&text, &lists) >= 2.0, "the informers' requests are counted: {lists} in:\n{text}");
    // The informers' lists and watches, one series per informer.
    for name in ["configmaps", "secrets"] {
        let listed = format!(r#"reflector_lists_total{{name="{name}",result="success"}}"#);
        assert!(sample(&text, &listed) >= 1.0, "{listed} in:\n{text}");
        let items = format!(r#"reflector_items_per_list_count{{name="{name}"}}"#);
        assert!(sample(&text, &items) >= 1.0, "{items} in:\n{text}");
        let watches = format!(r#"reflector_watches_total{{name="{name}"}}"#);
        assert!(sample(&text, &watches) >= 1.0, "{watches} in:\n{text}");
    }

    // They move: a held reconcile is unfinished work; a create is counted; a second key is one
    // more add, queue wait and work.
    let held = probe.close_gate("held");
    create_cm(&client, "held", &[]).await;
    loop {
        if let Ev::Start { name, .. } = next(&mut rx).await {
            if name == "held" {
                break;
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (_, text) = get(metrics_addr, "/metrics").await;
    let q = r#"{controller="configmap",name="configmap"}"#;
    assert!(sample(&text, &format!("workqueue_longest_running_processor_seconds{q}")) >= 0.02, "{text}");
    assert!(sample(&text, &format!("workqueue_unfinished_work_seconds{q}")) >= 0.02, "{text}");
    assert_eq!(sample(&text, &format!(r#"rest_client_requests_total{{code="201",method="POST",host="{host}"}}"#)), 1.0);
    let timed = format!(r#"rest_client_request_duration_seconds_count{{verb="POST",host="{host}"}}"#);
    assert_eq!(sample(&text, &timed), 1.0);
    held.add_permits(1);
    wait_for("held reconciled", || cms_metrics.snapshot().success == 2).await;
    let (_, text) = get(metrics_addr, "/metrics").await;
    assert_eq!(sample(&text, &format!("workqueue_adds_total{q}")), 2.0, "{text}");
    assert_eq!(sample(&text, &format!("workqueue_work_duration_seconds_count{q}")), 2.0, "{text}");
    assert_eq!(sample(&text, &format!("workqueue_longest_running_processor_seconds{q}")), 0.0, "{text}");
    assert!(sample(&text, &format!("workqueue_work_duration_seconds_sum{q}")) >= 0.02, "{text}");

    shutdown.cancel();
    let result = tokio::time::timeout(GUARD, task).await.expect("run returns").expect("task");
    result.expect("clean shutdown");
    assert!(*task_saw_cancel.lock(), "the task was told to stop and awaited");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the probe server stopped");
}

#[tokio::test]
async fn a_failing_controller_stops_the_manager_and_is_named() {
    let server = ApiServer::start().await.expect("server");
    let client = server.client();
    server.control().fail_next(100_000, "*", "secrets", 403);
    let mut manager = Manager::new(client.clone()).handle_signals(false);
    let (probe, _rx) = Probe::new();
    let c = manager
        .controller::<ConfigMap>(WatchOptions::new())
        .owns::<Secret>(WatchOptions::new())
        .cache_sync_timeout(Duration::from_millis(300));
    manager.add(c, probe_reconcile, probe);
    let result = tokio::time::timeout(GUARD, manager.run(CancellationToken::new())).await.expect("run returns");
    match result {
        Err(ManagerError::Controller { name, source: ControllerError::CacheSync { .. } }) => {
            assert_eq!(name, "configmap")
        }
        other => panic!("expected the controller's cache sync error, got {other:?}"),
    }
}

fn elected(client: &rudder_client::Client, id: &str) -> Manager {
    let lock = LeaseLock::new(client.clone(), "kube-system", "ctrl", id);
    let config = LeaderElectionConfig::new(lock)
        .durations(Duration::from_millis(1000), Duration::from_millis(700), Duration::from_millis(200))
        .release_on_cancel(true);
    Manager::new(client.clone()).handle_signals(false).leader_election(config).keep_informers_warm(true)
}

#[tokio::test]
async fn only_the_leader_reconciles_and_losing_the_lease_stops_reconciling_at_once() {
    let server = ApiServer::start().await.expect("server");
    let client = server.client();
    create_cm(&client, "a", &[]).await;

    // The first candidate leads and reconciles; its reconcile of `a` blocks.
    let mut first = elected(&client, "first");
    let (probe1, mut rx1) = Probe::new();
    probe1.close_gate("a");
    let c = first.controller::<ConfigMap>(WatchOptions::new()).shutdown_timeout(Duration::from_secs(60));
    first.add(c, probe_reconcile, probe1.clone());
    let status1 = first.leader_status();
    let task1 = tokio::spawn(first.run(CancellationToken::new()));
    assert!(matches!(next(&mut rx1).await, Ev::Start { ref name, .. } if name == "a"));
    assert!(status1.is_leader());

    // The second is a warm standby: its cache syncs, it reconciles nothing, it is ready.
    let addr = free_addr();
    let metrics_addr = free_addr();
    let mut second = elected(&client, "second").health_probe_address(addr).metrics_address(metrics_addr);
    let (probe2, mut rx2) = Probe::new();
    let c = second.controller::<ConfigMap>(WatchOptions::new());
    let metrics2 = c.metrics();
    second.add(c, probe_reconcile, probe2.clone());
    let warm = second.factory().informer::<ConfigMap>();
    let status2 = second.leader_status();
    let shutdown2 = CancellationToken::new();
    let task2 = tokio::spawn(second.run(shutdown2.clone()));
    wait_for("the standby's cache to sync", || warm.has_synced()).await;
    assert_eq!(get(addr, "/readyz").await.0, 200, "a standby is ready");
    assert!(!status2.is_leader());
    let lease_metric =
        |text: &str| text.lines().find(|l| l.starts_with("leader_election_master_status{")).map(|l| l.ends_with(" 1"));
    assert_eq!(lease_metric(&get(metrics_addr, "/metrics").await.1), Some(false), "a standby reports 0");
    assert_eq!(metrics2.snapshot().reconciles(), 0);
    assert!(rx2.try_recv().is_err(), "the standby reconciled nothing");

    // The leader cannot renew: it loses the Lease and stops at once, abandoning the reconcile
    // still blocked (its controller's own shutdown deadline is a minute).
    server.control().fail_next(100_000, "*", "leases", 403);
    let result = tokio::time::timeout(GUARD, task1).await.expect("the old leader stops at once").expect("task");
    assert!(matches!(result, Err(ManagerError::LeadershipLost)), "{result:?}");
    assert!(rx1.try_recv().is_err(), "the abandoned reconcile never finished");
    server.control().clear_faults();

    // The standby takes over (after the lease expires) and reconciles from its warm cache.
    assert!(matches!(next(&mut rx2).await, Ev::Start { ref name, .. } if name == "a"));
    assert!(status2.is_leader());
    assert_eq!(lease_metric(&get(metrics_addr, "/metrics").await.1), Some(true), "the leader reports 1");
    shutdown2.cancel();
    let result = tokio::time::timeout(GUARD, task2).await.expect("run returns").expect("task");
    result.expect("clean shutdown");
}

#[tokio::test]
async fn tasks_are_abandoned_at_the_shutdown_deadline_and_bad_election_settings_are_typed() {
    let server = ApiServer::start().await.expect("server");
    let client = server.client();
    let mut manager = Manager::new(client.clone()).handle_signals(false).shutdown_timeout(Duration::from_millis(100));
    manager.add_task("stubborn", false, |_token| std::future::pending());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(manager.run(shutdown.clone()));
    shutdown.cancel();
    let result = tokio::time::timeout(GUARD, task).await.expect("run returns").expect("task");
    assert!(matches!(result, Err(ManagerError::TasksAbandoned(1))), "{result:?}");

    let lock = LeaseLock::new(client.clone(), "kube-system", "ctrl", "me");
    let config = LeaderElectionConfig::new(lock).durations(
        Duration::from_secs(1),
        Duration::from_secs(2),
        Duration::from_millis(200),
    );
    let result = Manager::new(client).handle_signals(false).leader_election(config).run(CancellationToken::new()).await;
    assert!(matches!(result, Err(ManagerError::LeaderElection(_))), "{result:?}");
}
