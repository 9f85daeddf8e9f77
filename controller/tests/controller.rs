//! The Controller's guarantees, each against the embedded API server over real sockets: owner
//! mapping, mappers, selectors and predicates; sync before reconcile; one reconcile per key at a
//! time and exactly one more for events during it; no head-of-line blocking and the worker
//! bound; debounce; errors, panics and requeue-after; graceful shutdown and its deadline.

mod controller_common;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use serde_json::json;

use rudder_apimachinery::meta::HasMetadata;
use rudder_apimachinery::options::PatchOptions;
use rudder_apimachinery::patch::Patch;
use rudder_apiserver::ApiServer;
use rudder_client::api::{Api, CreateOptions};
use rudder_controller::owner::owner_reference;
use rudder_controller::{
    fields, Action, CancellationToken, Controller, ControllerError, ObjectKey, Predicate, WatchOptions,
};

use controller_common::*;

async fn server() -> ApiServer {
    ApiServer::start().await.expect("embedded API server")
}

/// The names of the reconciles started among `events`, sorted.
fn started(events: &[Ev]) -> Vec<String> {
    let mut names: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Ev::Start { name, .. } => Some(name.clone()),
            Ev::End(_) => None,
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn owned_object_events_reconcile_their_controller_owner_only() {
    let server = server().await;
    let client = server.client();
    let a = create_cm(&client, "a", &[]).await;
    let b = create_cm(&client, "b", &[]).await;
    create_owned_secret(&client, "a-1", &a).await;
    let (probe, rx) = Probe::new();
    let controller =
        Controller::<ConfigMap>::new(client.clone(), WatchOptions::new()).owns::<Secret>(WatchOptions::new());
    let mut r = run(controller, probe, rx);
    r.until("both primaries reconciled", |s| s.reconciles() >= 2).await;
    let s = r.idle().await;
    assert_eq!(s.reconciles(), 2, "each primary once at start: {s:?}");
    assert_eq!(started(&r.drain()), ["a", "b"]);

    // A Secret merely owned by b (no `controller: true`) maps to nothing; one controlled by a
    // maps to a. The informer hands both to the handler in order and there is one worker, so a
    // reconcile of b would come first.
    let mut plain = Secret::default();
    plain.metadata.name = Some("b-plain".into());
    plain.metadata.owner_references = Some(vec![owner_reference(&b).expect("reference")]);
    secrets(&client).create(&CreateOptions::default(), &plain).await.expect("create");
    create_owned_secret(&client, "a-2", &a).await;
    r.expect_start("a").await;
    r.expect_end("a").await;
    // Deleting the owned Secret reconciles its owner too.
    secrets(&client).delete("a-2", &Default::default()).await.expect("delete");
    r.expect_start("a").await;
    r.expect_end("a").await;
    // Deleting a primary reconciles its key (the reconcile finds it gone from the cache).
    cms(&client).delete("b", &Default::default()).await.expect("delete");
    r.expect_start("b").await;
    r.expect_end("b").await;
    let s = r.idle().await;
    assert_eq!(s.reconciles(), 5);
    r.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn watches_maps_any_kind_to_the_keys_it_affects() {
    let server = server().await;
    let client = server.client();
    create_cm(&client, "a", &[]).await;
    create_cm(&client, "b", &[]).await;
    let (probe, rx) = Probe::new();
    let controller = Controller::<ConfigMap>::new(client.clone(), WatchOptions::new()).watches::<Secret>(
        WatchOptions::new(),
        |s: &Secret| match s.labels().get("target") {
            Some(t) => vec![ObjectKey::namespaced(NS, t.clone())],
            None => Vec::new(),
        },
    );
    let mut r = run(controller, probe, rx);
    r.until("both primaries reconciled", |s| s.reconciles() >= 2).await;
    r.idle().await;
    r.drain();
    let mut s = Secret::default();
    s.metadata.name = Some("points-at-b".into());
    s.metadata.labels = Some([("target".to_string(), "b".to_string())].into());
    secrets(&client).create(&CreateOptions::default(), &s).await.expect("create");
    r.expect_start("b").await;
    r.expect_end("b").await;
    r.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn reconciles_start_only_after_every_cache_synced() {
    let server = server().await;
    let client = server.client();
    let a = create_cm(&client, "a", &[]).await;
    create_owned_secret(&client, "a-1", &a).await;
    // The Secret informer's first request fails, so its cache syncs only after a back-off, long
    // after the ConfigMap cache.
    server.control().fail_next(1, "*", "secrets", 403);
    let (probe, rx) = Probe::new();
    let controller =
        Controller::<ConfigMap>::new(client.clone(), WatchOptions::new()).owns::<Secret>(WatchOptions::new());
    let mut r = run(controller, probe, rx);
    let cached = r.expect_start("a").await;
    assert_eq!(cached, 1, "the first reconcile saw the owned Secret in the cache");
    let c = server.control();
    assert!(c.request_count("list", "secrets") + c.request_count("watch", "secrets") >= 2, "the fault fired");
    r.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_cache_that_cannot_sync_fails_run_with_the_kind_and_cause() {
    let server = server().await;
    let client = server.client();
    create_cm(&client, "a", &[]).await;
    server.control().fail_next(100_000, "*", "secrets", 403);
    let (probe, mut rx) = Probe::new();
    let result = Controller::<ConfigMap>::new(client.clone(), WatchOptions::new())
        .owns::<Secret>(WatchOptions::new())
        .cache_sync_timeout(Duration::from_millis(300))
        .run(probe_reconcile, probe, Default::default())
        .await;
    match result {
        Err(ControllerError::CacheSync { failures }) => {
            assert_eq!(failures.len(), 1, "{failures:?}");
            assert_eq!(failures[0].kind, "Secret");
            let cause = failures[0].cause.as_ref().and_then(|c| c.cause()).expect("the informer's last error");
            assert!(cause.is_forbidden(), "{cause}");
        }
        other => panic!("expected a cache sync error, got {other:?}"),
    }
    assert!(rx.try_recv().is_err(), "no reconcile ran");
}

#[tokio::test]
async fn one_key_is_never_reconciled_twice_at_once_and_events_during_it_cause_exactly_one_more() {
    let server = server().await;
    let client = server.client();
    create_cm(&client, "a", &[]).await;
    let (probe, rx) = Probe::new();
    probe.close_gate("a");
    let mut r =
        run(Controller::<ConfigMap>::new(client.clone(), WatchOptions::new()).max_concurrent_reconciles(4), probe, rx);
    r.expect_start("a").await;
    let before = r.metrics.snapshot().enqueued;
    for i in 1..=3 {
        touch_cm(&client, "a", &i.to_string()).await;
    }
    // Three updates are queued for a while three workers are free.
    r.until("three updates queued", |s| s.enqueued >= before + 3).await;
    assert_eq!(r.drain(), Vec::<Ev>::new(), "no second reconcile of a started");
    r.probe.release("a");
    r.probe.release("a");
    r.expect_end("a").await;
    r.expect_start("a").await;
    r.expect_end("a").await;
    let s = r.idle().await;
    assert_eq!(s.reconciles(), 2, "the three updates caused exactly one more reconcile: {s:?}");
    assert!(r.probe.overlapped.lock().is_empty(), "reconciles of one key overlapped");
    assert_eq!(r.drain(), Vec::<Ev>::new());
    r.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_long_reconcile_never_delays_other_keys_and_workers_are_bounded() {
    let server = server().await;
    let client = server.client();
    for name in ["a", "b", "c"] {
        create_cm(&client, name, &[]).await;
    }
    let (probe, rx) = Probe::new();
    for name in ["a", "b", "c"] {
        probe.close_gate(name);
    }
    let mut r =
        run(Controller::<ConfigMap>::new(client.clone(), WatchOptions::new()).max_concurrent_reconciles(2), probe, rx);
    let first = match r.next().await {
        Ev::Start { name, .. } => name,
        other => panic!("{other:?}"),
    };
    let second = match r.next().await {
        Ev::Start { name, .. } => name,
        other => panic!("{other:?}"),
    };
    let s = r.until("two running, one waiting", |s| s.active_workers == 2 && s.queue_depth == 1).await;
    assert_eq!(s.max_concurrent_reconciles, 2);
    assert_eq!(r.drain(), Vec::<Ev>::new(), "a third reconcile started with two workers");
    // The first key ends; the waiting key starts while the second is still held.
    r.probe.release(&first);
    r.expect_end(&first).await;
    let third = match r.next().await {
        Ev::Start { name, .. } => name,
        other => panic!("{other:?}"),
    };
    let mut all = vec![first.clone(), second.clone(), third.clone()];
    all.sort();
    assert_eq!(all, ["a", "b", "c"]);
    r.probe.release(&third);
    r.expect_end(&third).await;
    // With `second` still held, events of other keys keep flowing through the free worker.
    touch_cm(&client, &first, "1").await;
    r.probe.release(&first);
    r.expect_start(&first).await;
    r.expect_end(&first).await;
    assert!(r.metrics.snapshot().active_workers == 1, "the long reconcile is still running");
    r.probe.release(&second);
    r.expect_end(&second).await;
    let s = r.idle().await;
    assert_eq!(s.reconciles(), 4);
    r.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_burst_of_events_within_the_debounce_window_causes_one_reconcile() {
    let server = server().await;
    let client = server.client();
    let a = create_cm(&client, "a", &[]).await;
    let (probe, rx) = Probe::new();
    let controller = Controller::<ConfigMap>::new(client.clone(), WatchOptions::new())
        .owns::<Secret>(WatchOptions::new())
        .debounce(Duration::from_secs(1));
    let mut r = run(controller, probe, rx);
    r.expect_start("a").await;
    r.expect_end("a").await;
    r.idle().await;
    let before = r.metrics.snapshot().enqueued;
    // A parent creates its children: five events for one key in a few milliseconds.
    let creates = (0..5).map(|i| {
        let (client, a) = (client.clone(), a.clone());
        async move { create_owned_secret(&client, &format!("a-{i}"), &a).await }
    });
    futures::future::join_all(creates).await;
    r.until("five events queued", |s| s.enqueued >= before + 5).await;
    assert_eq!(r.drain(), Vec::<Ev>::new(), "the window is still open");
    r.expect_start("a").await;
    r.expect_end("a").await;
    let s = r.idle().await;
    assert_eq!(s.reconciles(), 2, "one reconcile for the burst: {s:?}");
    assert_eq!(s.adds, 2, "the queue counts a burst as one add, as client-go's workqueue_adds_total: {s:?}");
    assert_eq!(s.retries, 0, "debounced events are not retries: {s:?}");
    r.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_panicking_reconcile_is_caught_counted_and_retried_by_a_surviving_worker() {
    let server = server().await;
    let client = server.client();
    create_cm(&client, "a", &[]).await;
    let (probe, rx) = Probe::new();
    probe.panic_times("a", 1);
    let mut r = run(Controller::<ConfigMap>::new(client.clone(), WatchOptions::new()), probe, rx);
    r.expect_start("a").await;
    r.expect_end("a").await; // then panics
    r.expect_start("a").await; // retried by the one worker, which survived
    r.expect_end("a").await;
    let s = r.idle().await;
    assert_eq!((s.panics, s.success), (1, 1), "{s:?}");
    create_cm(&client, "b", &[]).await;
    r.expect_start("b").await;
    r.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn errors_requeue_through_the_rate_limiter_and_requeue_after_reconciles_again() {
    let server = server().await;
    let client = server.client();
    create_cm(&client, "a", &[]).await;
    create_cm(&client, "b", &[]).await;
    let (probe, rx) = Probe::new();
    probe.fail_times("a", 3);
    probe.requeue_once_after("b", Duration::from_millis(50));
    let r = run(Controller::<ConfigMap>::new(client.clone(), WatchOptions::new()), probe, rx);
    let s = r.until("a failed thrice then succeeded; b requeued once", |s| s.reconciles() == 6).await;
    assert_eq!((s.errors, s.requeue_after, s.success), (3, 1, 2), "{s:?}");
    let s = r.idle().await;
    assert_eq!(s.reconciles(), 6, "{s:?}");
    assert_eq!(s.retries, 4, "three back-offs and one requeue_after are retries: {s:?}");
    r.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn status_only_updates_of_the_primary_do_not_reconcile_by_default() {
    let server = server().await;
    let client = server.client();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": NS},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    }))
    .expect("deployment");
    deployments.create(&CreateOptions::default(), &d).await.expect("create");
    let (probe, rx) = Probe::new();
    let mut r = run(Controller::<Deployment>::new(client.clone(), WatchOptions::new()), probe, rx);
    r.expect_start("web").await;
    r.expect_end("web").await;
    r.idle().await;
    // Status and metadata-only changes: seen, dropped by the predicate.
    let mut status = d.clone();
    status.status = Some(DeploymentStatus { observed_generation: Some(1), replicas: Some(1), ..Default::default() });
    let patch = Patch::Merge(json!({"status": {"replicas": 1, "observedGeneration": 1}}));
    deployments.patch_status("web", &PatchOptions::default(), &patch).await.expect("status");
    let labels = Patch::Merge(json!({"metadata": {"labels": {"tier": "front"}}}));
    deployments.patch("web", &PatchOptions::default(), &labels).await.expect("labels");
    let s = r.until("both updates filtered", |s| s.filtered == 2).await;
    assert_eq!((s.enqueued, s.reconciles()), (1, 1), "{s:?}");
    // A spec change reconciles.
    let spec = Patch::Merge(json!({"spec": {"replicas": 3}}));
    deployments.patch("web", &PatchOptions::default(), &spec).await.expect("spec");
    r.expect_start("web").await;
    r.expect_end("web").await;
    r.stop().await.expect("clean shutdown");

    // A predicate of one's own: labels changes count too.
    let (probe, rx) = Probe::new();
    let options = WatchOptions::new().predicate(Predicate::generation_changed().or(Predicate::labels_changed()));
    let mut r = run(Controller::<Deployment>::new(client.clone(), options), probe, rx);
    r.expect_start("web").await;
    r.expect_end("web").await;
    let labels = Patch::Merge(json!({"metadata": {"labels": {"tier": "back"}}}));
    deployments.patch("web", &PatchOptions::default(), &labels).await.expect("labels");
    r.expect_start("web").await;
    r.expect_end("web").await;
    r.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn selectors_restrict_the_watched_objects_and_bad_ones_are_typed_errors() {
    let server = server().await;
    let client = server.client();
    create_cm(&client, "x", &[("app", "x")]).await;
    create_cm(&client, "x2", &[("app", "x")]).await;
    create_cm(&client, "y", &[]).await;
    let (probe, rx) = Probe::new();
    let options = WatchOptions::new().labels("app=x").fields(fields::one_term_not_equal("metadata.name", "x2"));
    let mut r = run(Controller::<ConfigMap>::new(client.clone(), options), probe, rx);
    r.expect_start("x").await;
    r.expect_end("x").await;
    let s = r.idle().await;
    assert_eq!(s.reconciles(), 1, "{s:?}");
    assert_eq!(r.drain(), Vec::<Ev>::new(), "only x matches both selectors");
    r.stop().await.expect("clean shutdown");

    let (probe, _rx) = Probe::new();
    let bad = Controller::<ConfigMap>::new(client.clone(), WatchOptions::new())
        .owns::<Secret>(WatchOptions::new().labels("app in ("))
        .run(probe_reconcile, probe, Default::default())
        .await;
    assert!(matches!(bad, Err(ControllerError::InvalidSelector { kind: "Secret", .. })), "{bad:?}");
}

#[tokio::test]
async fn shutdown_stops_taking_keys_and_waits_for_in_flight_reconciles() {
    let server = server().await;
    let client = server.client();
    create_cm(&client, "a", &[]).await;
    let (probe, rx) = Probe::new();
    probe.close_gate("a");
    let mut r = run(Controller::<ConfigMap>::new(client.clone(), WatchOptions::new()), probe, rx);
    r.expect_start("a").await;
    create_cm(&client, "b", &[]).await;
    r.until("b waits for the busy worker", |s| s.queue_depth == 1).await;
    r.shutdown.cancel();
    // The in-flight reconcile holds the shutdown until it ends.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!r.task.is_finished(), "run returned while a reconcile was in flight");
    r.probe.release("a");
    r.expect_end("a").await;
    let result = tokio::time::timeout(GUARD, &mut r.task).await.expect("run returns").expect("task");
    result.expect("clean shutdown");
    assert_eq!(*r.probe.saw_shutdown.lock(), ["a"], "the reconcile could see the shutdown");
    assert_eq!(r.drain(), Vec::<Ev>::new(), "b was never taken");
    let s = r.metrics.snapshot();
    assert_eq!((s.reconciles(), s.queue_depth), (1, 0), "{s:?}");
}

#[tokio::test]
async fn shutdown_abandons_reconciles_still_running_at_the_deadline() {
    let server = server().await;
    let client = server.client();
    create_cm(&client, "a", &[]).await;
    let (probe, rx) = Probe::new();
    probe.close_gate("a");
    let controller =
        Controller::<ConfigMap>::new(client.clone(), WatchOptions::new()).shutdown_timeout(Duration::from_millis(100));
    let mut r = run(controller, probe, rx);
    r.expect_start("a").await;
    let metrics = r.metrics.clone();
    let result = r.stop().await;
    assert!(matches!(result, Err(ControllerError::ShutdownTimedOut { in_flight: 1, .. })), "{result:?}");
    assert_eq!(metrics.snapshot().active_workers, 0, "the abandoned reconcile is no longer counted");
}

#[tokio::test]
async fn the_context_gives_the_cache_and_an_event_recorder_flushed_at_shutdown() {
    use k8s_openapi::api::core::v1::Event;
    use rudder_controller::{Action, CancellationToken, Context};
    use rudder_informer::record::EventType;

    let server = server().await;
    let client = server.client();
    create_cm(&client, "a", &[]).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let reconcile = move |key: ObjectKey, ctx: Context<()>| {
        let tx = tx.clone();
        async move {
            let cm = ctx.get::<ConfigMap>(&key).ok_or("not cached")?;
            assert_eq!(ctx.lister::<ConfigMap>().map(|l| l.namespace(NS).list(&Default::default()).len()), Some(1));
            assert!(ctx.informer::<Secret>().is_none(), "Secrets are not watched");
            ctx.recorder().event_for(&*cm, EventType::Normal, "Synced", "reconciled");
            let _ = tx.send(());
            Ok::<_, &str>(Action::done())
        }
    };
    // Every request takes a while, so the Event is still being written when shutdown starts.
    server.control().set_latency(Duration::from_millis(200));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(Controller::<ConfigMap>::new(client.clone(), WatchOptions::new()).run(
        reconcile,
        (),
        shutdown.clone(),
    ));
    tokio::time::timeout(GUARD, rx.recv()).await.expect("reconciled").expect("open");
    shutdown.cancel();
    tokio::time::timeout(GUARD, task).await.expect("run returns").expect("task").expect("clean shutdown");
    // A write still in flight now would be refused.
    server.control().set_latency(Duration::ZERO);
    server.control().fail_next(100, "create", "events", 403);
    server.control().fail_next(100, "patch", "events", 403);
    let events: Api<Event> = Api::namespaced(client.clone(), NS);
    let list = events.list(&Default::default()).await.expect("events");
    let reasons: Vec<_> = list.items.iter().map(|e| (e.reason.clone(), e.involved_object.name.clone())).collect();
    assert_eq!(reasons, [(Some("Synced".to_string()), Some("a".to_string()))], "written before run returned");
}

#[test]
fn a_reconcile_that_requeues_at_once_does_not_starve_a_current_thread_runtime() {
    // Everything (server, informers, controller, this timer) shares one thread; a worker that
    // never yields would keep the timer below from ever firing.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let server = server().await;
            let client = server.client();
            create_cm(&client, "spin", &[]).await;
            let rounds = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let counted = rounds.clone();
            let shutdown = CancellationToken::new();
            let controller = Controller::<ConfigMap>::new(client.clone(), WatchOptions::new());
            let running = tokio::spawn(controller.run(
                move |_key: ObjectKey, _ctx: rudder_controller::Context<()>| {
                    counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    async { Ok::<_, String>(Action::requeue_after(Duration::ZERO)) }
                },
                (),
                shutdown.clone(),
            ));
            while rounds.load(std::sync::atomic::Ordering::Relaxed) < 100 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            shutdown.cancel();
            let _ = running.await;
        });
        let _ = done.send(());
    });
    finished.recv_timeout(Duration::from_secs(60)).expect("the timer fired and the controller stopped");
}
