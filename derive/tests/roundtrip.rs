//! A derived custom resource against the embedded API server: its CRD is applied and
//! established, then typed objects are created, read, listed, watched, informed, scaled and
//! given a status through `Api<CronTab>`.

mod types;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use rudder::apimachinery::options::{ListOptions, PatchOptions, WriteOptions};
use rudder::apimachinery::{HasMetadata, Patch, Resource, WatchEvent};
use rudder::client::api::Api;
use rudder::client::Client;
use rudder::crd::{apply_crd, wait_established, CrdError};
use rudder::informer::processor::HandlerFns;
use rudder::informer::SharedInformerFactory;
use rudder_apiserver::ApiServer;
use types::{Concurrency, CronTab, CronTabSpec, CronTabStatus};

const SETTLE: Duration = Duration::from_secs(5);

fn spec(schedule: &str, replicas: i32) -> CronTabSpec {
    CronTabSpec {
        cron_spec: schedule.into(),
        replicas,
        image: "busybox".into(),
        concurrency: Concurrency::Forbid,
        args: vec!["-c".into()],
        starting_deadline: None,
        env: Default::default(),
        extra: Some(serde_json::json!({"any": ["thing", 1]})),
        history: 3,
    }
}

async fn install(client: &Client) {
    let crd = CronTab::crd().expect("structural CRD");
    let applied = apply_crd(client, &crd, "rudder-derive-test").await.expect("apply the CRD");
    assert_eq!(applied.metadata.name.as_deref(), Some("crontabs.stable.example.com"));
    let established = wait_established(client, "crontabs.stable.example.com", SETTLE).await.expect("established");
    assert_eq!(established.spec.names.short_names.as_deref(), Some(&["ct".to_string()][..]));
}

#[tokio::test]
async fn typed_objects_round_trip() {
    let server = ApiServer::start().await.unwrap();
    let client = server.client();
    install(&client).await;
    // Applying the same CRD again is a no-op apply, not a conflict.
    apply_crd(&client, &CronTab::crd().unwrap(), "rudder-derive-test").await.expect("re-apply");

    let cts: Api<CronTab> = Api::namespaced(client.clone(), "default");
    let start = cts.list(&ListOptions::default()).await.unwrap();
    assert!(start.items.is_empty());
    let mut watch = cts
        .watch(&ListOptions { resource_version: start.metadata.resource_version.clone(), ..Default::default() })
        .await
        .unwrap();

    let created = cts.create(&WriteOptions::default(), &CronTab::new("nightly", spec("0 3 * * *", 1))).await.unwrap();
    assert_eq!(created.spec, spec("0 3 * * *", 1));
    assert!(created.uid().is_some());
    assert_eq!(created.namespace(), Some("default"));

    let got = cts.get("nightly").await.unwrap();
    assert_eq!(got.spec, created.spec);
    let raw = serde_json::to_value(&got).unwrap();
    assert_eq!((raw["apiVersion"].as_str(), raw["kind"].as_str()), (Some("stable.example.com/v1"), Some("CronTab")));

    cts.create(&WriteOptions::default(), &CronTab::new("hourly", spec("0 * * * *", 2))).await.unwrap();
    let list = cts.list(&ListOptions::default()).await.unwrap();
    let mut names: Vec<&str> = list.items.iter().map(|c| c.name()).collect();
    names.sort_unstable();
    assert_eq!(names, ["hourly", "nightly"]);

    let mut seen = Vec::new();
    while seen.len() < 2 {
        match tokio::time::timeout(SETTLE, watch.next()).await.expect("watch event in time") {
            Some(Ok(WatchEvent::Added(ct))) => seen.push(ct.name().to_string()),
            Some(Ok(WatchEvent::Bookmark(_))) => {}
            other => panic!("unexpected watch item {other:?}"),
        }
    }
    assert_eq!(seen, ["nightly", "hourly"]);

    // The scale subresource reads .spec.replicas and writes it back.
    let mut scale = cts.get_scale("nightly").await.unwrap();
    assert_eq!(scale.spec.as_ref().and_then(|s| s.replicas), Some(1));
    scale.spec.get_or_insert_with(Default::default).replicas = Some(4);
    let scaled = cts.replace_scale("nightly", &WriteOptions::default(), &scale).await.unwrap();
    assert_eq!(scaled.spec.and_then(|s| s.replicas), Some(4));
    assert_eq!(cts.get("nightly").await.unwrap().spec.replicas, 4);

    // The status subresource.
    let status = CronTabStatus { replicas: 4, selector: Some("app=nightly".into()), last_schedule: None };
    let patched = cts
        .patch_status("nightly", &PatchOptions::default(), &Patch::Merge(serde_json::json!({"status": status})))
        .await
        .unwrap();
    assert_eq!(patched.status, Some(status));
    assert_eq!(cts.get_scale("nightly").await.unwrap().status.map(|s| s.replicas), Some(4));
}

#[tokio::test]
async fn an_informer_caches_typed_custom_objects() {
    let server = ApiServer::start().await.unwrap();
    let client = server.client();
    install(&client).await;
    let cts: Api<CronTab> = Api::namespaced(client.clone(), "default");
    cts.create(&WriteOptions::default(), &CronTab::new("before", spec("0 1 * * *", 1))).await.unwrap();

    let factory = SharedInformerFactory::new(client.clone());
    let informer = factory.informer::<CronTab>();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    informer
        .add_event_handler(HandlerFns::new().on_add(move |c: &Arc<CronTab>, _| {
            let _ = tx.send(c.name().to_string());
        }))
        .unwrap();
    factory.start();
    factory.wait_for_cache_sync(SETTLE).await.unwrap();
    assert_eq!(tokio::time::timeout(SETTLE, rx.recv()).await.unwrap().as_deref(), Some("before"));

    cts.create(&WriteOptions::default(), &CronTab::new("after", spec("0 2 * * *", 3))).await.unwrap();
    assert_eq!(tokio::time::timeout(SETTLE, rx.recv()).await.unwrap().as_deref(), Some("after"));
    let cached = informer.lister().namespace("default").get("after").expect("cached");
    assert_eq!(cached.spec.replicas, 3);
    assert_eq!(CronTab::KIND, "CronTab");
    factory.shutdown().await;
}

#[tokio::test]
async fn waiting_sees_a_crd_created_while_it_waits() {
    let server = ApiServer::start().await.unwrap();
    let client = server.client();
    let waiter = {
        let client = client.clone();
        tokio::spawn(async move { wait_established(&client, "crontabs.stable.example.com", SETTLE).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiter.is_finished(), "the wait ended before the CRD existed");
    apply_crd(&client, &CronTab::crd().unwrap(), "rudder-derive-test").await.unwrap();
    let crd = waiter.await.unwrap().expect("established while waiting");
    assert_eq!(crd.spec.names.kind, "CronTab");
}

#[tokio::test]
async fn a_crd_without_a_name_is_not_applied() {
    let server = ApiServer::start().await.unwrap();
    let mut crd = CronTab::crd().unwrap();
    crd.metadata.name = None;
    let err = apply_crd(&server.client(), &crd, "rudder-derive-test").await.unwrap_err();
    assert!(matches!(err, CrdError::NoName), "{err}");
}

#[tokio::test]
async fn waiting_for_a_missing_crd_times_out() {
    let server = ApiServer::start().await.unwrap();
    let err = wait_established(&server.client(), "nothings.example.com", Duration::from_millis(200)).await.unwrap_err();
    assert!(matches!(err, CrdError::Timeout { ref name, .. } if name == "nothings.example.com"), "{err}");
}
