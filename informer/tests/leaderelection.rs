//! Leader election against the embedded API server over real sockets, with tokio's real clock
//! and short durations (lease 1 s, renew deadline 700 ms, retry 200 ms unless a test needs
//! otherwise). Time assertions are loose upper bounds only.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use rudder_apiserver::ApiServer;
use rudder_client::api::{Api, UpdateOptions};
use rudder_client::Client;
use rudder_informer::leaderelection::{
    ConfigError, LeaderCallbacks, LeaderElectionConfig, LeaderElectionRecord, LeaderElector, LeaseLock, LockError,
};

const NS: &str = "kube-system";
const LEASE: &str = "ctrl";

struct Candidate {
    elector: LeaderElector,
    cancel: CancellationToken,
    started: Arc<AtomicUsize>,
    stopped: Arc<AtomicUsize>,
    /// Identities reported to on_new_leader, in order.
    leaders: Arc<Mutex<Vec<String>>>,
    /// The token given to on_started_leading.
    lost: Arc<Mutex<Option<CancellationToken>>>,
    task: tokio::task::JoinHandle<()>,
}

fn durations(lease_ms: u64, renew_ms: u64, retry_ms: u64) -> (Duration, Duration, Duration) {
    (Duration::from_millis(lease_ms), Duration::from_millis(renew_ms), Duration::from_millis(retry_ms))
}

const FAST: (u64, u64, u64) = (1000, 700, 200);

fn candidate(client: Client, id: &str, d: (u64, u64, u64), release_on_cancel: bool) -> Candidate {
    let (lease, renew, retry) = durations(d.0, d.1, d.2);
    let config = LeaderElectionConfig::new(LeaseLock::new(client, NS, LEASE, id))
        .durations(lease, renew, retry)
        .release_on_cancel(release_on_cancel);
    let started = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicUsize::new(0));
    let leaders = Arc::new(Mutex::new(Vec::new()));
    let lost = Arc::new(Mutex::new(None));
    let callbacks = {
        let (started, stopped, leaders, lost) = (started.clone(), stopped.clone(), leaders.clone(), lost.clone());
        LeaderCallbacks::new(move |token: CancellationToken| {
            started.fetch_add(1, Ordering::SeqCst);
            *lost.lock() = Some(token.clone());
            async move { token.cancelled().await }
        })
        .on_stopped_leading(move || {
            stopped.fetch_add(1, Ordering::SeqCst);
        })
        .on_new_leader(move |id| leaders.lock().push(id.to_owned()))
    };
    let elector = LeaderElector::new(config, callbacks).expect("valid config");
    let cancel = CancellationToken::new();
    let task = tokio::spawn({
        let (elector, cancel) = (elector.clone(), cancel.clone());
        async move { elector.run(cancel).await }
    });
    Candidate { elector, cancel, started, stopped, leaders, lost, task }
}

async fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < end, "timed out after {limit:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn lease(client: &Client) -> Lease {
    Api::<Lease>::namespaced(client.clone(), NS).get(LEASE).await.expect("lease exists")
}

fn holder(l: &Lease) -> String {
    l.spec.as_ref().and_then(|s| s.holder_identity.clone()).unwrap_or_default()
}

fn transitions(l: &Lease) -> i32 {
    l.spec.as_ref().and_then(|s| s.lease_transitions).unwrap_or(-1)
}

#[tokio::test]
async fn single_candidate_creates_the_lease_and_leads() {
    let server = ApiServer::start().await.expect("server");
    let client = server.client();
    let a = candidate(client.clone(), "a", FAST, false);
    wait_until("a leads", Duration::from_secs(3), || a.elector.is_leader()).await;
    assert_eq!(a.started.load(Ordering::SeqCst), 1);
    assert_eq!(a.elector.get_leader(), "a");
    assert_eq!(*a.leaders.lock(), vec!["a".to_string()]);

    let l = lease(&client).await;
    let spec = l.spec.clone().expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("a"));
    assert_eq!(spec.lease_duration_seconds, Some(1));
    assert_eq!(spec.lease_transitions, Some(0));
    assert!(spec.acquire_time.is_some());
    let first_renew = spec.renew_time.expect("renewTime").0;

    // It keeps renewing: renewTime moves forward while acquireTime stays.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = lease(&client).await.spec.expect("spec");
    assert!(later.renew_time.expect("renewTime").0 > first_renew, "lease renewed");
    assert_eq!(later.acquire_time, spec.acquire_time);
    assert!(a.elector.is_leader());

    a.cancel.cancel();
    tokio::time::timeout(Duration::from_secs(2), a.task).await.expect("run returns on cancel").expect("no panic");
    assert!(!a.elector.is_leader());
    assert_eq!(a.stopped.load(Ordering::SeqCst), 1);
    assert!(a.lost.lock().as_ref().expect("token").is_cancelled(), "on_started_leading token cancelled");
    // Without release_on_cancel the lease still names the old holder.
    assert_eq!(holder(&lease(&client).await), "a");
}

#[tokio::test]
async fn two_candidates_never_lead_together() {
    let server = ApiServer::start().await.expect("server");
    let client = server.client();
    let a = candidate(client.clone(), "a", FAST, false);
    let b = candidate(client.clone(), "b", FAST, false);
    wait_until("someone leads", Duration::from_secs(3), || a.elector.is_leader() || b.elector.is_leader()).await;
    // Watch for 1.5 s (longer than the lease): exactly one leads at every sample.
    let end = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < end {
        let (la, lb) = (a.elector.is_leader(), b.elector.is_leader());
        assert!(la ^ lb, "exactly one leader (a: {la}, b: {lb})");
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    let (leader, follower) = if a.elector.is_leader() { (&a, &b) } else { (&b, &a) };
    let leader_id = leader.elector.config().lock.identity().to_owned();
    assert_eq!(follower.elector.get_leader(), leader_id);
    assert_eq!(*follower.leaders.lock(), vec![leader_id.clone()], "follower saw the leader via on_new_leader");
    assert_eq!(follower.started.load(Ordering::SeqCst), 0);
    assert_eq!(leader.started.load(Ordering::SeqCst), 1);
    assert_eq!(holder(&lease(&client).await), leader_id);
    a.cancel.cancel();
    b.cancel.cancel();
}

#[tokio::test]
async fn release_on_cancel_hands_over_before_expiry() {
    let server = ApiServer::start().await.expect("server");
    let client = server.client();
    // A long lease (3 s) so that a takeover within 1.5 s can only come from the release.
    let slow_lease = (3000, 2000, 200);
    let a = candidate(client.clone(), "a", slow_lease, true);
    wait_until("a leads", Duration::from_secs(3), || a.elector.is_leader()).await;
    let b = candidate(client.clone(), "b", slow_lease, true);
    wait_until("b sees a", Duration::from_secs(3), || b.elector.get_leader() == "a").await;

    let t0 = Instant::now();
    a.cancel.cancel();
    tokio::time::timeout(Duration::from_secs(2), a.task).await.expect("a returns").expect("no panic");
    assert_eq!(a.stopped.load(Ordering::SeqCst), 1);
    wait_until("b takes over", Duration::from_millis(1500), || b.elector.is_leader()).await;
    assert!(t0.elapsed() < Duration::from_millis(1500), "takeover after {:?}", t0.elapsed());

    let l = lease(&client).await;
    assert_eq!(holder(&l), "b");
    assert_eq!(transitions(&l), 1, "one change of holder");
    assert_eq!(l.spec.as_ref().and_then(|s| s.lease_duration_seconds), Some(3));
    assert_eq!(*b.leaders.lock(), vec!["a".to_string(), "b".to_string()]);

    // b releases too: the Lease is left with no holder and a 1 s duration.
    b.cancel.cancel();
    tokio::time::timeout(Duration::from_secs(2), b.task).await.expect("b returns").expect("no panic");
    let l = lease(&client).await;
    assert_eq!(holder(&l), "");
    assert_eq!(l.spec.as_ref().and_then(|s| s.lease_duration_seconds), Some(1));
}

#[tokio::test]
async fn leader_that_cannot_renew_steps_down_and_the_other_takes_over_after_expiry() {
    let server = ApiServer::start().await.expect("server");
    let client = server.client();
    let a = candidate(client.clone(), "a", FAST, false);
    wait_until("a leads", Duration::from_secs(3), || a.elector.is_leader()).await;
    let b = candidate(client.clone(), "b", FAST, false);
    wait_until("b sees a", Duration::from_secs(3), || b.elector.get_leader() == "a").await;

    // Every lease update now fails with 500: a cannot renew.
    server.control().fail_next(1000, "update", "leases", 500);
    let t0 = Instant::now();
    wait_until("a stops leading", Duration::from_secs(2), || a.stopped.load(Ordering::SeqCst) == 1).await;
    let stepped_down = t0.elapsed();
    assert!(!a.elector.is_leader());
    assert!(a.lost.lock().as_ref().expect("token").is_cancelled(), "controller told to stop");
    // Not before the renew deadline minus one retry period (the last success may predate t0).
    assert!(stepped_down >= Duration::from_millis(400), "stepped down after only {stepped_down:?}");
    tokio::time::timeout(Duration::from_secs(1), a.task).await.expect("a's run returns").expect("no panic");
    assert!(!b.elector.is_leader(), "b cannot have written the lease either");

    // Connectivity comes back for b only (a has given up): b takes over once a's lease expires.
    server.control().clear_faults();
    wait_until("b takes over", Duration::from_secs(3), || b.elector.is_leader()).await;
    let l = lease(&client).await;
    assert_eq!(holder(&l), "b");
    assert_eq!(transitions(&l), 1);
    assert_eq!(b.leaders.lock().last().map(String::as_str), Some("b"));
    b.cancel.cancel();
}

#[tokio::test]
async fn conflicts_on_renew_are_retried_not_fatal() {
    let server = ApiServer::start().await.expect("server");
    let client = server.client();
    let a = candidate(client.clone(), "a", FAST, false);
    wait_until("a leads", Duration::from_secs(3), || a.elector.is_leader()).await;

    // An injected 409 on the next update, and a real one: someone else writes the Lease (a
    // label), so a's cached resourceVersion is stale on its next optimistic renew.
    let api = Api::<Lease>::namespaced(client.clone(), NS);
    loop {
        let mut l = api.get(LEASE).await.expect("lease");
        l.metadata.labels = Some([("touched".to_string(), "yes".to_string())].into());
        match api.replace(LEASE, &UpdateOptions::default(), &l).await {
            Ok(_) => break,
            Err(e) if e.is_conflict() => continue, // raced with a's renew
            Err(e) => panic!("external write: {e}"),
        }
    }
    server.control().fail_next(1, "update", "leases", 409);
    let gets_before = server.control().request_count("get", "leases");

    let end = Instant::now() + Duration::from_millis(1200);
    while Instant::now() < end {
        assert!(a.elector.is_leader(), "a keeps leading through conflicts");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(a.stopped.load(Ordering::SeqCst), 0);
    assert!(server.control().request_count("get", "leases") > gets_before, "re-read after the conflict");
    let l = api.get(LEASE).await.expect("lease");
    assert_eq!(holder(&l), "a");
    assert_eq!(transitions(&l), 0);
    assert_eq!(l.metadata.labels.as_ref().and_then(|m| m.get("touched")).map(String::as_str), Some("yes"));
    a.cancel.cancel();
}

#[tokio::test]
async fn lease_lock_reports_conflicts_and_uninitialized_updates() {
    let server = ApiServer::start().await.expect("server");
    let client = server.client();
    let one = LeaseLock::new(client.clone(), NS, "lock", "one");
    let two = LeaseLock::new(client.clone(), NS, "lock", "two");
    let record =
        LeaderElectionRecord { holder_identity: "one".into(), lease_duration_seconds: 5, ..Default::default() };
    assert!(matches!(one.update(&record).await, Err(LockError::NotInitialized(_))));
    assert_eq!(one.get().await.expect("get"), None);
    one.create(&record).await.expect("create");
    assert!(two.create(&record).await.is_err(), "second create fails (AlreadyExists)");
    assert_eq!(two.get().await.expect("get").map(|r| r.holder_identity), Some("one".into()));
    let taken = LeaderElectionRecord { holder_identity: "two".into(), ..record.clone() };
    assert_eq!(two.update(&taken).await.expect("update").holder_identity, "two");
    let err = one.update(&record).await.expect_err("stale resourceVersion");
    assert!(err.is_conflict(), "{err}");
}

#[test]
fn config_is_validated_as_client_go_does() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let _guard = rt.enter();
    let client = Client::new(rudder_client::Config::new("http://127.0.0.1:1".parse().expect("uri"))).expect("client");
    let cfg = |id: &str, l: u64, r: u64, p: u64| {
        LeaderElectionConfig::new(LeaseLock::new(client.clone(), NS, LEASE, id)).durations(
            Duration::from_millis(l),
            Duration::from_millis(r),
            Duration::from_millis(p),
        )
    };
    assert_eq!(LeaderElectionConfig::new(LeaseLock::new(client.clone(), NS, LEASE, "x")).validate(), Ok(()));
    assert_eq!(cfg("x", 1000, 700, 200).validate(), Ok(()));
    assert!(matches!(cfg("x", 1000, 1000, 200).validate(), Err(ConfigError::LeaseNotLongerThanDeadline { .. })));
    // 2.3 s <= 2 s * 1.2: too short a deadline for the jittered retry.
    assert!(matches!(cfg("x", 15000, 2300, 2000).validate(), Err(ConfigError::DeadlineTooShort { .. })));
    assert_eq!(cfg("x", 15000, 10000, 0).validate(), Err(ConfigError::NonPositive("retry_period")));
    assert_eq!(cfg("x", 15000, 0, 2000).validate(), Err(ConfigError::NonPositive("renew_deadline")));
    assert!(matches!(cfg("x", 900, 700, 200).validate(), Err(ConfigError::LeaseTooShort(_))));
    assert!(matches!(cfg("", 1000, 700, 200).validate(), Err(ConfigError::EmptyIdentity(_))));
    assert!(LeaderElector::new(cfg("x", 1000, 1000, 200), LeaderCallbacks::new(|_| async {})).is_err());
}
