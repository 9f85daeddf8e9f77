//! The event recorder against the embedded API server over real sockets: the Events it writes,
//! correlation (counting, aggregation, spam filter), flushing, and behaviour under failures.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, EventSource, Namespace, Node, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use rudder_apimachinery::options::{CreateOptions, ListOptions};
use rudder_apiserver::ApiServer;
use rudder_client::api::Api;
use rudder_client::Client;
use rudder_informer::record::{object_reference, EventRecorder, EventType, RecorderOptions, COMBINED_PREFIX};

/// A server with namespace `ns`.
async fn server() -> ApiServer {
    let server = ApiServer::start().await.expect("server");
    let ns = Namespace { metadata: ObjectMeta { name: Some("ns".into()), ..Default::default() }, ..Default::default() };
    Api::<Namespace>::all(server.client()).create(&CreateOptions::default(), &ns).await.expect("create namespace");
    server
}

async fn pod(client: &Client, name: &str) -> Pod {
    let p = Pod {
        metadata: ObjectMeta { name: Some(name.into()), namespace: Some("ns".into()), ..Default::default() },
        ..Default::default()
    };
    Api::<Pod>::namespaced(client.clone(), "ns").create(&CreateOptions::default(), &p).await.expect("create pod")
}

async fn events(client: &Client, ns: &str) -> Vec<Event> {
    let mut items =
        Api::<Event>::namespaced(client.clone(), ns).list(&ListOptions::default()).await.expect("list").items;
    items.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    items
}

fn recorder(client: Client, options: RecorderOptions) -> EventRecorder {
    let source = EventSource { component: Some("ctrl".into()), host: Some("node-1".into()) };
    EventRecorder::with_options(client, source, options)
}

#[tokio::test]
async fn an_event_is_written_with_client_go_fields() {
    let server = server().await;
    let client = server.client();
    let p = pod(&client, "web-0").await;
    let r = recorder(client.clone(), RecorderOptions::default());
    r.event(&object_reference(&p), EventType::Warning, "BackOff", "restarting");
    r.flush().await;

    let evs = events(&client, "ns").await;
    assert_eq!(evs.len(), 1);
    let e = &evs[0];
    let name = e.metadata.name.as_deref().expect("name");
    let suffix = name.strip_prefix("web-0.").expect("name is <object>.<suffix>");
    assert!(!suffix.is_empty() && suffix.chars().all(|c| c.is_ascii_hexdigit()), "hex suffix: {name}");
    assert_eq!(e.metadata.namespace.as_deref(), Some("ns"));
    let io = &e.involved_object;
    assert_eq!(io.kind.as_deref(), Some("Pod"));
    assert_eq!(io.api_version.as_deref(), Some("v1"));
    assert_eq!(io.name.as_deref(), Some("web-0"));
    assert_eq!(io.namespace.as_deref(), Some("ns"));
    assert_eq!(io.uid, p.metadata.uid);
    assert!(io.uid.is_some());
    assert_eq!(io.resource_version, p.metadata.resource_version);
    assert_eq!(e.type_.as_deref(), Some("Warning"));
    assert_eq!(e.reason.as_deref(), Some("BackOff"));
    assert_eq!(e.message.as_deref(), Some("restarting"));
    assert_eq!(e.count, Some(1));
    assert!(e.first_timestamp.is_some());
    assert_eq!(e.first_timestamp, e.last_timestamp);
    let src = e.source.as_ref().expect("source");
    assert_eq!((src.component.as_deref(), src.host.as_deref()), (Some("ctrl"), Some("node-1")));
    assert_eq!(e.reporting_component.as_deref(), Some("ctrl"));
    assert_eq!(e.reporting_instance.as_deref(), Some("node-1"));

    // A cluster-scoped object's events go to `default`; eventf formats.
    let node = Node { metadata: ObjectMeta { name: Some("n1".into()), ..Default::default() }, ..Default::default() };
    r.eventf(&object_reference(&node), EventType::Normal, "Ready", format_args!("{} of {} ready", 3, 4));
    r.flush().await;
    let evs = events(&client, "default").await;
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].message.as_deref(), Some("3 of 4 ready"));
    assert_eq!(evs[0].involved_object.kind.as_deref(), Some("Node"));
    r.shutdown().await;
}

#[tokio::test]
async fn identical_events_become_one_event_counted_by_patch() {
    let server = server().await;
    let client = server.client();
    let p = pod(&client, "web-0").await;
    let r = recorder(client.clone(), RecorderOptions::default());
    for _ in 0..3 {
        r.event_for(&p, EventType::Normal, "Pulled", "image pulled");
    }
    r.flush().await;
    let evs = events(&client, "ns").await;
    assert_eq!(evs.len(), 1, "one Event for three identical ones");
    assert_eq!(evs[0].count, Some(3));
    assert_eq!(evs[0].message.as_deref(), Some("image pulled"));
    let c = server.control();
    assert_eq!((c.request_count("create", "events"), c.request_count("patch", "events")), (1, 2));

    // A patch to an Event deleted meanwhile falls back to creating it again.
    let name = evs[0].metadata.name.clone().expect("name");
    Api::<Event>::namespaced(client.clone(), "ns").delete(&name, &Default::default()).await.expect("delete");
    r.event_for(&p, EventType::Normal, "Pulled", "image pulled");
    r.flush().await;
    let evs = events(&client, "ns").await;
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].count, Some(4));
    r.shutdown().await;
}

#[tokio::test]
async fn similar_events_are_aggregated() {
    let server = server().await;
    let client = server.client();
    let p = pod(&client, "web-0").await;
    let r = recorder(client.clone(), RecorderOptions::default());
    let reference = object_reference(&p);
    for i in 0..12 {
        r.event(&reference, EventType::Warning, "FailedMount", &format!("volume v{i} not ready"));
    }
    r.flush().await;
    let evs = events(&client, "ns").await;
    // 9 individual events, then one combined event counted up by the 10th, 11th and 12th.
    assert_eq!(evs.len(), 10);
    let combined: Vec<_> =
        evs.iter().filter(|e| e.message.as_deref().unwrap_or("").starts_with(COMBINED_PREFIX)).collect();
    assert_eq!(combined.len(), 1);
    assert_eq!(combined[0].message.as_deref(), Some("(combined from similar events): volume v11 not ready"));
    assert_eq!(combined[0].count, Some(3));
    assert_eq!(combined[0].reason.as_deref(), Some("FailedMount"));
    assert_eq!(evs.iter().filter(|e| e.count == Some(1)).count(), 9);
    r.shutdown().await;
}

#[tokio::test]
async fn spam_filter_drops_beyond_the_burst_per_object() {
    let server = server().await;
    let client = server.client();
    let a = pod(&client, "a").await;
    let b = pod(&client, "b").await;
    let r = recorder(client.clone(), RecorderOptions::default());
    for i in 0..30 {
        r.event_for(&a, EventType::Normal, &format!("Reason{i}"), "m");
    }
    r.event_for(&b, EventType::Normal, "Other", "m");
    r.shutdown().await;
    let evs = events(&client, "ns").await;
    let on = |name: &str| evs.iter().filter(|e| e.involved_object.name.as_deref() == Some(name)).count();
    assert_eq!(on("a"), 25, "burst of 25 per object");
    assert_eq!(on("b"), 1, "another object has its own budget");
    assert_eq!(server.control().request_count("create", "events"), 26);
}

#[tokio::test]
async fn shutdown_flushes_and_later_events_are_dropped() {
    let server = server().await;
    let client = server.client();
    let p = pod(&client, "web-0").await;
    server.control().set_latency(Duration::from_millis(10));
    let r = recorder(client.clone(), RecorderOptions::default());
    for i in 0..20 {
        r.event_for(&p, EventType::Normal, &format!("R{i}"), "m");
    }
    r.shutdown().await;
    assert_eq!(events(&client, "ns").await.len(), 20, "every queued event written before shutdown returns");
    r.event_for(&p, EventType::Normal, "Late", "m");
    r.shutdown().await; // idempotent
    r.flush().await; // returns at once on a stopped recorder
    assert_eq!(events(&client, "ns").await.len(), 20);
}

#[tokio::test]
async fn a_full_queue_drops_instead_of_blocking() {
    let server = server().await;
    let client = server.client();
    server.control().set_latency(Duration::from_millis(100));
    let r = recorder(client.clone(), RecorderOptions { queue_capacity: 4, ..Default::default() });
    let t0 = tokio::time::Instant::now();
    for i in 0..50 {
        let reference = ObjectReference {
            kind: Some("Pod".into()),
            name: Some(format!("p{i}")),
            namespace: Some("ns".into()),
            ..Default::default()
        };
        r.event(&reference, EventType::Normal, "R", "m");
    }
    assert!(t0.elapsed() < Duration::from_millis(100), "event() never waits for the server");
    r.shutdown().await;
    let written = events(&client, "ns").await.len();
    assert!((4..50).contains(&written), "{written} of 50 written: the overflow was dropped");
}

#[tokio::test]
async fn server_errors_are_retried_then_dropped() {
    let server = server().await;
    let client = server.client();
    let p = pod(&client, "web-0").await;
    let options = RecorderOptions { max_tries: 3, retry_interval: Duration::from_millis(50), ..Default::default() };
    let r = recorder(client.clone(), options);
    let c = server.control();

    // Two failures, then success on the third try.
    c.fail_next(2, "create", "events", 500);
    r.event_for(&p, EventType::Normal, "First", "m");
    r.flush().await;
    assert_eq!(c.request_count("create", "events"), 3);
    assert_eq!(events(&client, "ns").await.len(), 1);

    // Persistent failure: three tries, then dropped; the recorder keeps working.
    c.fail_next(100, "create", "events", 503);
    r.event_for(&p, EventType::Normal, "Second", "m");
    r.flush().await;
    assert_eq!(c.request_count("create", "events"), 6);
    c.clear_faults();
    // A request the server rejects (not retriable) is dropped after one try.
    c.fail_next(1, "create", "events", 403);
    r.event_for(&p, EventType::Normal, "Third", "m");
    r.event_for(&p, EventType::Normal, "Fourth", "m");
    r.shutdown().await;
    assert_eq!(c.request_count("create", "events"), 8);
    let reasons: Vec<_> = events(&client, "ns").await.into_iter().filter_map(|e| e.reason).collect();
    assert_eq!(reasons.len(), 2);
    assert!(reasons.contains(&"First".to_string()) && reasons.contains(&"Fourth".to_string()), "{reasons:?}");
}
