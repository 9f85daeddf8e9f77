//! The reflector's list/watch rules, driven by a scripted lister-watcher under tokio's paused
//! clock (the wire itself is covered by the reliability tests against the embedded server).

mod informer_common;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use informer_common::PlainEvents;
use rudder_apimachinery::list::ObjectList;
use rudder_apimachinery::meta::{HasMetadata, ListMeta};
use rudder_apimachinery::options::{ListOptions, ResourceVersionMatch};
use rudder_apimachinery::status::{ReasonKind, Status};
use rudder_apimachinery::watch::{Bookmark, BookmarkMeta, WatchEvent, INITIAL_EVENTS_END_ANNOTATION};
use rudder_client::Error;
use rudder_informer::backoff::Backoff;

use rudder_informer::reflector::{Reflector, ReflectorOptions, ReflectorStore};

fn cm(name: &str, rv: &str) -> ConfigMap {
    let mut c = ConfigMap::default();
    c.metadata.name = Some(name.into());
    c.metadata.namespace = Some("ns".into());
    c.metadata.resource_version = Some(rv.into());
    c
}

fn page(items: Vec<ConfigMap>, rv: &str, cont: Option<&str>) -> ObjectList<ConfigMap> {
    ObjectList {
        metadata: ListMeta {
            resource_version: Some(rv.into()),
            continue_: cont.map(String::from),
            ..Default::default()
        },
        items,
    }
}

fn api_err(code: u16, kind: ReasonKind) -> Error {
    Error::Api { status: Box::new(Status::failure(code, kind, "scripted")), method: "GET".into(), url: "/x".into() }
}

fn refused() -> Error {
    Error::Connect { url: "http://127.0.0.1:1".into(), message: "connection refused".into(), source: None }
}

fn bookmark(rv: &str, end: bool) -> WatchEvent<ConfigMap> {
    let annotations = end.then(|| [(INITIAL_EVENTS_END_ANNOTATION.to_string(), "true".to_string())].into());
    WatchEvent::Bookmark(Bookmark {
        metadata: BookmarkMeta { resource_version: rv.into(), annotations },
        ..Default::default()
    })
}

/// A scripted watch: events, then either the end of the stream or a hang.
struct ScriptedWatch {
    events: Vec<Result<WatchEvent<ConfigMap>, Error>>,
    hang: bool,
    /// Advance the clock by this much before ending (to avoid the very-short-watch rule).
    lasts: Duration,
    /// Wait this long before each event.
    gap: Duration,
}

fn watch_of(events: Vec<Result<WatchEvent<ConfigMap>, Error>>) -> Result<ScriptedWatch, Error> {
    Ok(ScriptedWatch { events, hang: false, lasts: Duration::from_secs(5), gap: Duration::ZERO })
}

fn hanging(events: Vec<Result<WatchEvent<ConfigMap>, Error>>) -> Result<ScriptedWatch, Error> {
    Ok(ScriptedWatch { events, hang: true, lasts: Duration::ZERO, gap: Duration::ZERO })
}

/// Events `gap` apart, then a hang.
fn paced(events: Vec<Result<WatchEvent<ConfigMap>, Error>>, gap: Duration) -> Result<ScriptedWatch, Error> {
    Ok(ScriptedWatch { events, hang: true, lasts: Duration::ZERO, gap })
}

#[derive(Debug, Clone)]
enum Call {
    List(ListOptions, Instant),
    Watch(ListOptions, Instant),
}

#[derive(Default)]
struct Script {
    lists: Mutex<VecDeque<Result<ObjectList<ConfigMap>, Error>>>,
    watches: Mutex<VecDeque<Result<ScriptedWatch, Error>>>,
    calls: Mutex<Vec<Call>>,
}

impl Script {
    fn lists(&self) -> Vec<ListOptions> {
        self.calls.lock().iter().filter_map(|c| if let Call::List(o, _) = c { Some(o.clone()) } else { None }).collect()
    }
    fn watches(&self) -> Vec<(ListOptions, Instant)> {
        self.calls
            .lock()
            .iter()
            .filter_map(|c| if let Call::Watch(o, t) = c { Some((o.clone(), *t)) } else { None })
            .collect()
    }
}

informer_common::plain_lister_watcher!(Script, ConfigMap);

impl Script {
    fn plain_list<'a>(&'a self, opts: &'a ListOptions) -> BoxFuture<'a, Result<ObjectList<ConfigMap>, Error>> {
        self.calls.lock().push(Call::List(opts.clone(), Instant::now()));
        let next = self.lists.lock().pop_front();
        Box::pin(async move {
            match next {
                Some(r) => r,
                None => std::future::pending().await,
            }
        })
    }

    fn plain_watch<'a>(&'a self, opts: &'a ListOptions) -> BoxFuture<'a, Result<PlainEvents<ConfigMap>, Error>> {
        self.calls.lock().push(Call::Watch(opts.clone(), Instant::now()));
        let next = self.watches.lock().pop_front();
        Box::pin(async move {
            let w = match next {
                Some(r) => r?,
                None => ScriptedWatch { events: vec![], hang: true, lasts: Duration::ZERO, gap: Duration::ZERO },
            };
            let ScriptedWatch { events, hang, lasts, gap } = w;
            let events = futures::stream::iter(events);
            let events = if gap.is_zero() {
                events.boxed()
            } else {
                events
                    .then(move |e| async move {
                        tokio::time::sleep(gap).await;
                        e
                    })
                    .boxed()
            };
            let s = events.chain(
                futures::stream::once(async move {
                    tokio::time::sleep(lasts).await;
                    if hang {
                        std::future::pending::<()>().await;
                    }
                    None
                })
                .filter_map(|x: Option<Result<WatchEvent<ConfigMap>, Error>>| async move { x }),
            );
            Ok(s.boxed())
        })
    }
}

#[derive(Default)]
struct Recorder {
    ops: Mutex<Vec<String>>,
}

impl Recorder {
    fn ops(&self) -> Vec<String> {
        self.ops.lock().clone()
    }
}

impl ReflectorStore<ConfigMap> for Recorder {
    fn add(&self, o: Arc<ConfigMap>) {
        self.ops.lock().push(format!("add {}", o.name()));
    }
    fn update(&self, o: Arc<ConfigMap>) {
        self.ops.lock().push(format!("update {}", o.name()));
    }
    fn delete(&self, o: Arc<ConfigMap>) {
        self.ops.lock().push(format!("delete {}", o.name()));
    }
    fn replace(&self, objs: Vec<Arc<ConfigMap>>, rv: &str) {
        let names: Vec<&str> = objs.iter().map(|o| o.name()).collect();
        self.ops.lock().push(format!("replace {} @{rv}", names.join(",")));
    }
    fn resync(&self) {
        self.ops.lock().push("resync".into());
    }
}

fn opts(watch_list: bool) -> ReflectorOptions<ConfigMap> {
    ReflectorOptions {
        use_watch_list: watch_list,
        backoff: Backoff::default().without_jitter(),
        ..ReflectorOptions::default()
    }
}

struct Running {
    script: Arc<Script>,
    store: Arc<Recorder>,
    status: Arc<rudder_informer::reflector::ReflectorStatus>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn start(script: Script, o: ReflectorOptions<ConfigMap>) -> Running {
    let script = Arc::new(script);
    let store = Arc::new(Recorder::default());
    let r = Reflector::new(script.clone(), store.clone(), o);
    let status = r.status();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(r.run(cancel.clone()));
    Running { script, store, status, cancel, task }
}

async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn first_list_is_paged_at_rv_0_then_watch_from_list_rv() {
    let s = Script::default();
    s.lists.lock().extend([Ok(page(vec![cm("a", "5")], "10", Some("tok"))), Ok(page(vec![cm("b", "6")], "10", None))]);
    s.watches.lock().push_back(hanging(vec![Ok(WatchEvent::Added(cm("c", "11")))]));
    let r = start(s, opts(false));
    settle().await;
    let lists = r.script.lists();
    assert_eq!(lists[0].resource_version.as_deref(), Some("0"));
    assert_eq!(lists[0].limit, Some(500));
    assert_eq!(lists[1].continue_token.as_deref(), Some("tok"));
    assert_eq!(lists[1].resource_version, None, "continue pages carry no resourceVersion");
    let (w, _) = &r.script.watches()[0];
    assert_eq!(w.resource_version.as_deref(), Some("10"));
    assert!(w.allow_watch_bookmarks);
    let t = w.timeout_seconds.unwrap();
    assert!((300..600).contains(&t), "timeout {t}");
    assert_eq!(r.store.ops(), ["replace a,b @10", "add c"]);
    assert_eq!(r.status.last_sync_resource_version(), "11");
    r.cancel.cancel();
    r.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn normal_watch_end_resumes_without_list_from_bookmark_rv() {
    let s = Script::default();
    s.lists.lock().push_back(Ok(page(vec![], "10", None)));
    s.watches.lock().push_back(watch_of(vec![Ok(WatchEvent::Modified(cm("a", "12"))), Ok(bookmark("20", false))]));
    s.watches.lock().push_back(hanging(vec![]));
    let r = start(s, opts(false));
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(r.script.lists().len(), 1, "no relist after a normal end");
    let w = r.script.watches();
    assert_eq!(w.len(), 2);
    assert_eq!(w[1].0.resource_version.as_deref(), Some("20"), "resumes from the bookmark's RV");
    assert_eq!(r.store.ops(), ["replace  @10", "update a"]);
    r.cancel.cancel();
    r.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn gone_on_watch_relists_at_last_rv_then_consistent() {
    let s = Script::default();
    s.lists.lock().push_back(Ok(page(vec![cm("a", "5")], "10", None)));
    s.watches.lock().push_back(watch_of(vec![Err(api_err(410, ReasonKind::Expired))]));
    // The relist at "10" is also 410; then "" succeeds.
    s.lists.lock().push_back(Err(api_err(410, ReasonKind::Gone)));
    s.lists.lock().push_back(Ok(page(vec![cm("b", "30")], "30", None)));
    s.watches.lock().push_back(hanging(vec![]));
    let r = start(s, opts(false));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let lists = r.script.lists();
    let rvs: Vec<Option<&str>> = lists.iter().map(|l| l.resource_version.as_deref()).collect();
    assert_eq!(rvs, [Some("0"), Some("10"), None]);
    assert_eq!(lists[1].limit, None, "no paging at a specific resourceVersion");
    assert_eq!(lists[2].limit, Some(500), "paging for the consistent read");
    assert_eq!(r.script.watches().last().unwrap().0.resource_version.as_deref(), Some("30"));
    assert_eq!(r.store.ops(), ["replace a @10", "replace b @30"]);
    r.cancel.cancel();
    r.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn connection_refused_and_429_retry_the_watch_only_with_backoff() {
    let s = Script::default();
    s.lists.lock().push_back(Ok(page(vec![], "10", None)));
    s.watches.lock().extend([Err(refused()), Err(api_err(429, ReasonKind::TooManyRequests)), hanging(vec![])]);
    let r = start(s, opts(false));
    tokio::time::sleep(Duration::from_secs(10)).await;
    let w = r.script.watches();
    assert_eq!(w.len(), 3);
    assert_eq!(r.script.lists().len(), 1);
    assert_eq!(w[1].1 - w[0].1, Duration::from_millis(800));
    assert_eq!(w[2].1 - w[1].1, Duration::from_millis(1600));
    assert!(r.status.last_error().unwrap().is_too_many_requests());
    r.cancel.cancel();
    r.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn very_short_empty_watch_counts_as_failure() {
    let s = Script::default();
    s.lists.lock().push_back(Ok(page(vec![], "10", None)));
    s.watches.lock().push_back(Ok(ScriptedWatch {
        events: vec![],
        hang: false,
        lasts: Duration::from_millis(10),
        gap: Duration::ZERO,
    }));
    s.watches.lock().push_back(hanging(vec![]));
    let r = start(s, opts(false));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let w = r.script.watches();
    assert_eq!(w.len(), 2);
    assert!(w[1].1 - w[0].1 >= Duration::from_millis(810), "backed off before resuming");
    assert_eq!(r.script.lists().len(), 1);
    r.cancel.cancel();
    r.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn expired_continue_token_falls_back_to_a_full_list() {
    let s = Script::default();
    s.lists.lock().extend([
        Ok(page(vec![cm("a", "1")], "10", Some("tok"))),
        Err(api_err(410, ReasonKind::Expired)),
        Ok(page(vec![cm("a", "1"), cm("b", "2")], "12", None)),
    ]);
    let r = start(s, opts(false));
    settle().await;
    let lists = r.script.lists();
    assert_eq!(lists.len(), 3);
    assert_eq!(lists[2].limit, None);
    assert_eq!(lists[2].resource_version.as_deref(), Some("0"));
    assert_eq!(r.store.ops(), ["replace a,b @12"]);
    r.cancel.cancel();
    r.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn streaming_list_replaces_then_continues_on_the_same_stream() {
    let s = Script::default();
    s.watches.lock().push_back(hanging(vec![
        Ok(WatchEvent::Added(cm("a", "3"))),
        Ok(WatchEvent::Added(cm("b", "4"))),
        Ok(WatchEvent::Modified(cm("a", "5"))),
        Ok(bookmark("7", true)),
        Ok(WatchEvent::Deleted(cm("b", "8"))),
    ]));
    let r = start(s, opts(true));
    settle().await;
    assert!(r.script.lists().is_empty());
    let w = r.script.watches();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].0.send_initial_events, Some(true));
    assert_eq!(w[0].0.resource_version_match, Some(ResourceVersionMatch::NotOlderThan));
    assert_eq!(r.store.ops(), ["replace a,b @7", "delete b"]);
    assert!(r.status.has_listed());
    r.cancel.cancel();
    r.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn refused_streaming_list_falls_back_to_list_and_watch_for_good() {
    let s = Script::default();
    s.watches.lock().push_back(Err(api_err(422, ReasonKind::Invalid)));
    s.lists.lock().push_back(Ok(page(vec![cm("a", "1")], "10", None)));
    s.watches.lock().push_back(watch_of(vec![Err(api_err(410, ReasonKind::Expired))]));
    s.lists.lock().push_back(Ok(page(vec![cm("a", "1")], "11", None)));
    s.watches.lock().push_back(hanging(vec![]));
    let r = start(s, opts(true));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(r.status.watch_list_refused());
    let w = r.script.watches();
    assert_eq!(w.len(), 3);
    assert!(w[1..].iter().all(|(o, _)| o.send_initial_events.is_none()), "never asks again");
    assert_eq!(r.script.lists().len(), 2);
    r.cancel.cancel();
    r.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn list_errors_back_off_and_retry() {
    let s = Script::default();
    s.lists.lock().extend([Err(api_err(500, ReasonKind::InternalError)), Err(refused()), Ok(page(vec![], "3", None))]);
    let r = start(s, opts(false));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let times: Vec<Instant> =
        r.script.calls.lock().iter().filter_map(|c| if let Call::List(_, t) = c { Some(*t) } else { None }).collect();
    assert_eq!(times.len(), 3);
    assert_eq!(times[1] - times[0], Duration::from_millis(800));
    assert_eq!(times[2] - times[1], Duration::from_millis(1600));
    assert!(r.status.last_error().is_none(), "a successful list clears the error");
    r.cancel.cancel();
    r.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn resync_ticks_respect_should_resync() {
    let s = Script::default();
    s.lists.lock().push_back(Ok(page(vec![], "1", None)));
    let allow = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let a2 = allow.clone();
    let o = ReflectorOptions {
        resync_period: Some(Duration::from_secs(10)),
        should_resync: Some(Arc::new(move || a2.load(std::sync::atomic::Ordering::SeqCst))),
        ..opts(false)
    };
    let r = start(s, o);
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert!(!r.store.ops().contains(&"resync".to_string()));
    allow.store(true, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(r.store.ops().iter().filter(|o| *o == "resync").count(), 1);
    r.cancel.cancel();
    r.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn cancel_stops_promptly_even_while_backing_off() {
    let s = Script::default();
    s.lists.lock().push_back(Err(refused()));
    let r = start(s, opts(false));
    settle().await;
    r.cancel.cancel();
    tokio::time::timeout(Duration::from_millis(10), r.task).await.expect("stopped at once").unwrap();
}

#[tokio::test(start_paused = true)]
async fn streaming_list_applies_deletes_and_re_adds_during_initial_events() {
    let s = Script::default();
    s.watches.lock().push_back(hanging(vec![
        Ok(WatchEvent::Added(cm("a", "1"))),
        Ok(WatchEvent::Added(cm("b", "2"))),
        Ok(WatchEvent::Added(cm("c", "3"))),
        Ok(WatchEvent::Deleted(cm("b", "4"))),
        Ok(WatchEvent::Added(cm("d", "5"))),
        Ok(WatchEvent::Modified(cm("b", "6"))),
        Ok(bookmark("6", true)),
    ]));
    let r = start(s, opts(true));
    settle().await;
    assert_eq!(r.store.ops(), ["replace a,c,d,b @6"]);
    r.cancel.cancel();
    r.task.await.unwrap();
}

/// The idle timeouts each error handler call named (other errors are ignored).
fn idle_errors(o: &mut ReflectorOptions<ConfigMap>) -> Arc<Mutex<Vec<Duration>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    o.error_handler = Some(Arc::new(move |e: &Error| {
        if let Error::WatchIdle { idle, .. } = e {
            s2.lock().push(*idle);
        }
    }));
    seen
}

#[tokio::test(start_paused = true)]
async fn silent_watch_is_restarted_from_the_last_rv_without_list_or_backoff() {
    let s = Script::default();
    s.lists.lock().push_back(Ok(page(vec![], "10", None)));
    // Two events, then a dead connection.
    s.watches.lock().push_back(hanging(vec![Ok(WatchEvent::Added(cm("a", "12"))), Ok(bookmark("15", false))]));
    s.watches.lock().push_back(hanging(vec![Ok(WatchEvent::Added(cm("b", "16")))]));
    let mut o = opts(false);
    o.watch_idle_timeout = Some(Duration::from_secs(60));
    let idle = idle_errors(&mut o);
    let r = start(s, o);
    tokio::time::sleep(Duration::from_secs(90)).await;
    let w = r.script.watches();
    assert_eq!(w.len(), 2, "one restart so far");
    assert_eq!(w[1].1 - w[0].1, Duration::from_secs(60), "restarted after the idle limit, without backoff");
    assert_eq!(w[1].0.resource_version.as_deref(), Some("15"), "resumed from the last resourceVersion seen");
    assert_eq!(r.script.lists().len(), 1, "no relist");
    assert_eq!(r.store.ops(), ["replace  @10", "add a", "add b"]);
    assert_eq!(idle.lock().clone(), [Duration::from_secs(60)]);
    assert!(matches!(r.status.last_error().as_deref(), Some(Error::WatchIdle { .. })));
    // The resumed watch goes silent too: restarted again, from the newer resourceVersion.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let w = r.script.watches();
    assert_eq!(w.len(), 3);
    assert_eq!(w[2].0.resource_version.as_deref(), Some("16"));
    r.cancel.cancel();
    r.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn default_idle_limit_spares_a_watch_with_bookmarks_every_minute() {
    let s = Script::default();
    s.lists.lock().push_back(Ok(page(vec![], "10", None)));
    // kube-apiserver's pace: a bookmark about every minute, here for 20 minutes, then silence.
    let bookmarks = (11..31).map(|rv| Ok(bookmark(&rv.to_string(), false))).collect();
    s.watches.lock().push_back(paced(bookmarks, Duration::from_secs(60)));
    let mut o = opts(false);
    let idle = idle_errors(&mut o);
    let r = start(s, o);
    tokio::time::sleep(Duration::from_secs(24 * 60)).await;
    assert_eq!(r.script.watches().len(), 1, "a watch with bookmarks is never idle");
    assert!(idle.lock().is_empty());
    tokio::time::sleep(Duration::from_secs(2 * 60)).await;
    let w = r.script.watches();
    assert_eq!(w.len(), 2, "silent for 5 minutes after its last bookmark: restarted");
    assert_eq!(w[1].0.resource_version.as_deref(), Some("30"));
    assert_eq!(idle.lock().clone(), [Duration::from_secs(300)]);
    r.cancel.cancel();
    r.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn silent_streaming_list_falls_back_to_list_and_watch() {
    let s = Script::default();
    // The streaming list sends one object and then nothing, not even the end bookmark.
    s.watches.lock().push_back(hanging(vec![Ok(WatchEvent::Added(cm("a", "5")))]));
    s.lists.lock().push_back(Ok(page(vec![cm("a", "5")], "10", None)));
    s.watches.lock().push_back(hanging(vec![]));
    let mut o = opts(true);
    o.watch_idle_timeout = Some(Duration::from_secs(30));
    let idle = idle_errors(&mut o);
    let r = start(s, o);
    tokio::time::sleep(Duration::from_secs(45)).await;
    assert_eq!(idle.lock().clone(), [Duration::from_secs(30)]);
    assert_eq!(r.script.lists().len(), 1, "this attempt listed instead");
    assert_eq!(r.store.ops(), ["replace a @10"]);
    assert!(r.status.has_listed());
    r.cancel.cancel();
    r.task.await.unwrap();
}

// On the real clock: a zero limit taken literally would restart the watch in a loop.
#[tokio::test]
async fn zero_idle_limit_means_no_limit() {
    for limit in [None, Some(Duration::ZERO)] {
        let s = Script::default();
        s.lists.lock().push_back(Ok(page(vec![], "10", None)));
        let mut o = opts(false);
        o.watch_idle_timeout = limit;
        let idle = idle_errors(&mut o);
        let r = start(s, o);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(r.script.watches().len(), 1, "{limit:?}: the silent watch is kept");
        assert!(idle.lock().is_empty());
        r.cancel.cancel();
        r.task.await.unwrap();
    }
}
