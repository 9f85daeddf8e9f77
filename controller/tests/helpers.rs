//! The helpers against the embedded API server: finalizers (add, apply, cleanup, remove,
//! conflicts) and retry_on_conflict.

mod controller_common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use parking_lot::Mutex;

use rudder_apimachinery::meta::HasMetadata;
use rudder_apiserver::ApiServer;
use rudder_client::api::UpdateOptions;
use rudder_controller::finalizer::{finalizer, FinalizerError, FinalizerEvent, STALE_CACHE_REQUEUE};
use rudder_controller::retry::{retry_on_conflict, Backoff};
use rudder_controller::Action;

use controller_common::*;

const FIN: &str = "example.com/cleanup";

type Seen = Arc<Mutex<Vec<String>>>;

/// Records which event the finalizer reconcile received.
fn recorder() -> (Seen, impl Fn(FinalizerEvent<ConfigMap>) -> std::future::Ready<Result<Action, String>>) {
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let f = move |ev: FinalizerEvent<ConfigMap>| {
        let label = match &ev {
            FinalizerEvent::Apply(o) => format!("apply {} {:?}", o.name(), o.finalizers()),
            FinalizerEvent::Cleanup(o) => format!("cleanup {}", o.name()),
        };
        s.lock().push(label);
        std::future::ready(Ok(Action::done()))
    };
    (seen, f)
}

#[tokio::test]
async fn finalizer_is_added_then_cleanup_runs_on_deletion_and_removes_it() {
    let server = ApiServer::start().await.expect("server");
    let client = server.client();
    let created = Arc::new(create_cm(&client, "a", &[]).await);

    // First reconcile: the finalizer is added and Apply runs on the patched object.
    let (seen, f) = recorder();
    finalizer(&client, FIN, created.clone(), f).await.expect("add + apply");
    assert_eq!(*seen.lock(), [format!("apply a [{FIN:?}]")]);
    let live = cms(&client).get("a").await.expect("get");
    assert_eq!(live.finalizers(), [FIN]);

    // The cached object is now stale: adding again would conflict, but it is present on the
    // live object, so Apply runs without a write.
    let (seen, f) = recorder();
    finalizer(&client, FIN, Arc::new(live.clone()), f).await.expect("apply");
    assert_eq!(seen.lock().len(), 1);

    // Deletion: the object stays (finalizer), Cleanup runs, the finalizer goes, the object goes.
    cms(&client).delete("a", &Default::default()).await.expect("delete");
    let deleting = cms(&client).get("a").await.expect("still there");
    assert!(deleting.deletion_timestamp().is_some());
    let (seen, f) = recorder();
    finalizer(&client, FIN, Arc::new(deleting.clone()), f).await.expect("cleanup + remove");
    assert_eq!(*seen.lock(), ["cleanup a"]);
    assert!(cms(&client).get_opt("a").await.expect("get").is_none(), "deleted once the finalizer was removed");

    // Being deleted without our finalizer: nothing to do.
    let (seen, f) = recorder();
    assert_eq!(finalizer(&client, FIN, Arc::new(deleting_without(&deleting)), f).await.expect("noop"), Action::done());
    assert!(seen.lock().is_empty());
}

#[tokio::test]
async fn cleanup_of_an_object_already_gone_is_done_not_an_error() {
    let server = ApiServer::start().await.expect("server");
    let client = server.client();
    let created = Arc::new(create_cm(&client, "gone", &[]).await);
    finalizer(&client, FIN, created, recorder().1).await.expect("add + apply");
    cms(&client).delete("gone", &Default::default()).await.expect("delete");
    let deleting = cms(&client).get("gone").await.expect("held by the finalizer");
    // One worker finishes the cleanup and the object goes ...
    finalizer(&client, FIN, Arc::new(deleting.clone()), recorder().1).await.expect("cleanup + remove");
    assert!(cms(&client).get_opt("gone").await.expect("get").is_none());
    // ... and a reconcile from a cache that still holds it runs the cleanup again (it must be
    // idempotent), finds nothing to remove the finalizer from, and is done.
    let (seen, f) = recorder();
    let again = finalizer(&client, FIN, Arc::new(deleting), f).await;
    assert_eq!(again.expect("an object already gone is not an error"), Action::done());
    assert_eq!(*seen.lock(), ["cleanup gone"]);
}

fn deleting_without(obj: &ConfigMap) -> ConfigMap {
    let mut o = obj.clone();
    o.metadata.finalizers = None;
    o
}

#[tokio::test]
async fn finalizer_failures_are_typed_and_keep_the_finalizer() {
    let server = ApiServer::start().await.expect("server");
    let client = server.client();
    let stale = Arc::new(create_cm(&client, "a", &[]).await);
    touch_cm(&client, "a", "changed").await;
    let (seen, f) = recorder();
    // A stale cache is not an error: a quiet, short requeue, and nothing applied.
    let stale_result = finalizer(&client, FIN, stale, f).await.expect("a stale cache is not an error");
    assert_eq!(stale_result, Action::requeue_after(STALE_CACHE_REQUEUE));
    assert!(seen.lock().is_empty(), "no apply after a failed add");
    assert!(cms(&client).get("a").await.expect("get").finalizers().is_empty());

    let live = Arc::new(cms(&client).get("a").await.expect("get"));
    finalizer(&client, FIN, live, |_| std::future::ready(Ok::<_, String>(Action::done()))).await.expect("added");
    cms(&client).delete("a", &Default::default()).await.expect("delete");
    let deleting = Arc::new(cms(&client).get("a").await.expect("get"));
    let err = finalizer(&client, FIN, deleting, |_| std::future::ready(Err::<Action, _>("cannot release".to_string())))
        .await
        .expect_err("cleanup fails");
    assert!(matches!(&err, FinalizerError::CleanupFailed(m) if m == "cannot release"), "{err}");
    assert_eq!(cms(&client).get("a").await.expect("kept").finalizers(), [FIN]);

    let err =
        finalizer(&client, "", Arc::new(ConfigMap::default()), |_| std::future::ready(Ok::<_, String>(Action::done())))
            .await
            .expect_err("empty name");
    assert!(matches!(err, FinalizerError::EmptyName));
}

#[tokio::test]
async fn retry_on_conflict_rereads_and_retries_until_the_write_lands() {
    let server = ApiServer::start().await.expect("server");
    let client = server.client();
    let original = create_cm(&client, "a", &[]).await;
    let attempts = AtomicUsize::new(0);
    let updated = retry_on_conflict(Backoff::DEFAULT_RETRY, || {
        let n = attempts.fetch_add(1, Ordering::SeqCst);
        let client = client.clone();
        let original = original.clone();
        async move {
            // The first attempt writes a stale copy (as if someone wrote in between); later ones re-read.
            let mut obj = if n == 0 {
                touch_cm(&client, "a", "someone else").await;
                original
            } else {
                cms(&client).get("a").await?
            };
            obj.data.get_or_insert_with(Default::default).insert("mine".into(), "yes".into());
            cms(&client).replace("a", &UpdateOptions::default(), &obj).await
        }
    })
    .await
    .expect("lands on the second attempt");
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    let data = updated.data.unwrap_or_default();
    assert_eq!(
        (data.get("v").map(String::as_str), data.get("mine").map(String::as_str)),
        (Some("someone else"), Some("yes"))
    );

    // Other errors are returned at once.
    let attempts = AtomicUsize::new(0);
    let err = retry_on_conflict(Backoff::DEFAULT_RETRY, || {
        attempts.fetch_add(1, Ordering::SeqCst);
        let client = client.clone();
        async move { cms(&client).get("missing").await }
    })
    .await
    .expect_err("not found");
    assert!(err.is_not_found());
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
}
