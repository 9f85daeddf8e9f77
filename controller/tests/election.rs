//! Leader election safety of the Manager against the embedded API server: three managers elect
//! on one Lease (lease 1 s, renew deadline 600 ms, retry 200 ms).
//!
//! - Takeover: the leader is stopped through its token and another manager leads and reconciles
//!   within the lease duration (plus the candidates' retry and a margin).
//! - Abandon: a leader that cannot renew gives up, and its in-flight reconcile is dropped before
//!   the next leader reconciles.
//! - Safety: over 20 seeds, a seeded RNG injects failures, 409s and 429s on the Lease requests
//!   and latency on every request, and stops and restarts managers (a restarted manager has a new identity, as
//!   controller-runtime's `<host>_<uuid>`); a shared recorder notes every reconcile's start and
//!   end (a reconcile abandoned on a lost Lease ends when its future is dropped) and asserts no
//!   two managers ever reconcile at once.
//!
//! What this relies on is what the Manager documents: a manager reconciles only while its
//! elector leads, losing the Lease abandons in-flight reconciles at once, and a graceful stop
//! awaits the controllers before releasing the Lease. With the elector's contract (a leader
//! gives up when a renewal has not succeeded within the renew deadline; others wait a full
//! lease after they last saw the record change), that excludes two leaders as long as clocks
//! run at the same rate and a renewal's response is not delayed after the server stored it by
//! more than `lease - renew_deadline - retry` (200 ms here). The embedded server's latency is
//! applied before a request is handled, so every injected fault stays inside that envelope.
//!
//! Tests run on tokio's current-thread runtime, so the recorder sees starts and ends in the
//! order they happen; every wait is bounded by [`GUARD`].

mod controller_common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use rudder_apiserver::{ApiServer, Control};
use rudder_client::Client;
use rudder_controller::{
    Action, CancellationToken, Context, LeaderStatus, Manager, ManagerError, ObjectKey, WatchOptions,
};
use rudder_informer::leaderelection::{LeaderElectionConfig, LeaseLock, JITTER_FACTOR};

use controller_common::*;

const LEASE: Duration = Duration::from_millis(1000);
const RENEW_DEADLINE: Duration = Duration::from_millis(600);
const RETRY: Duration = Duration::from_millis(200);
/// Reconcile durations: up to 400 ms, or up to 1.5 s (often still running when a Lease is lost).
const SHORT: Duration = Duration::from_millis(400);
const LONG: Duration = Duration::from_millis(1500);

/// Every reconcile's start and end, by manager identity, checked as they happen.
#[derive(Default)]
struct Recorder {
    state: Mutex<RecState>,
}

#[derive(Default)]
struct RecState {
    /// Reconciles running now, by identity.
    running: HashMap<String, usize>,
    /// Reconciles started, by identity.
    started: HashMap<String, usize>,
    /// Every start that overlapped another manager's reconcile.
    overlaps: Vec<String>,
    /// (when, identity, started) for the report on failure.
    log: Vec<(Instant, String, bool)>,
}

/// Ends a recorded reconcile when dropped: when it returns, or when its future is dropped
/// because the manager abandoned it.
struct Running {
    recorder: Arc<Recorder>,
    id: String,
}

impl Recorder {
    fn start(self: &Arc<Self>, id: &str) -> Running {
        let mut st = self.state.lock();
        let now = Instant::now();
        let others: Vec<String> = st
            .running
            .iter()
            .filter(|(other, n)| other.as_str() != id && **n > 0)
            .map(|(o, n)| format!("{o} ({n})"))
            .collect();
        if !others.is_empty() {
            st.overlaps.push(format!("{id} started while {} reconciled", others.join(", ")));
        }
        *st.running.entry(id.to_owned()).or_insert(0) += 1;
        *st.started.entry(id.to_owned()).or_insert(0) += 1;
        st.log.push((now, id.to_owned(), true));
        Running { recorder: self.clone(), id: id.to_owned() }
    }

    fn started(&self, id: &str) -> usize {
        self.state.lock().started.get(id).copied().unwrap_or(0)
    }

    fn total_started(&self) -> usize {
        self.state.lock().started.values().sum()
    }

    fn running_ids(&self) -> Vec<String> {
        self.state.lock().running.iter().filter(|(_, n)| **n > 0).map(|(id, _)| id.clone()).collect()
    }

    /// The overlaps seen, and the tail of the log (relative to `origin`) to explain them.
    fn report(&self, origin: Instant) -> (Vec<String>, String) {
        let st = self.state.lock();
        let tail = st.log.len().saturating_sub(60);
        let log = st.log[tail..]
            .iter()
            .map(|(t, id, start)| {
                format!("{:>6}ms {id} {}", t.duration_since(origin).as_millis(), if *start { "start" } else { "end" })
            })
            .collect::<Vec<_>>()
            .join("\n");
        (st.overlaps.clone(), log)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut st = self.recorder.state.lock();
        if let Some(n) = st.running.get_mut(&self.id) {
            *n = n.saturating_sub(1);
        }
        st.log.push((Instant::now(), self.id.clone(), false));
    }
}

/// One manager's reconcile state: its identity, the recorder and how long reconciles take.
struct Member {
    id: String,
    recorder: Arc<Recorder>,
    rng: Mutex<StdRng>,
    /// Upper bound of a reconcile's duration.
    max_reconcile: Duration,
}

/// Records itself, works for a while (a tenth of `max_reconcile` up to all of it) and asks to run again soon, so a
/// leader is always reconciling something.
async fn reconcile(_key: ObjectKey, ctx: Context<Arc<Member>>) -> Result<Action, Infallible> {
    let member = ctx.state().clone();
    let _running = member.recorder.start(&member.id);
    let (work, again) = {
        let mut rng = member.rng.lock();
        let max = member.max_reconcile.as_millis() as u64;
        (Duration::from_millis(rng.random_range(max / 10..=max)), Duration::from_millis(rng.random_range(0..=30)))
    };
    tokio::time::sleep(work).await;
    Ok(Action::requeue_after(again))
}

/// A running manager.
struct Handle {
    id: String,
    shutdown: CancellationToken,
    status: LeaderStatus,
    task: JoinHandle<Result<(), ManagerError>>,
}

/// Starts a manager whose reconciles take up to `max_reconcile` each.
fn start_manager(
    client: Client,
    id: &str,
    recorder: &Arc<Recorder>,
    seed: u64,
    (warm, release): (bool, bool),
    max_reconcile: Duration,
) -> Handle {
    let lock = LeaseLock::new(client.clone(), "kube-system", "election", id);
    let config = LeaderElectionConfig::new(lock).durations(LEASE, RENEW_DEADLINE, RETRY).release_on_cancel(release);
    let mut manager = Manager::new(client).handle_signals(false).leader_election(config).keep_informers_warm(warm);
    let member = Arc::new(Member {
        id: id.to_owned(),
        recorder: recorder.clone(),
        rng: Mutex::new(StdRng::seed_from_u64(seed)),
        max_reconcile,
    });
    let controller = manager
        .controller::<ConfigMap>(WatchOptions::new())
        .max_concurrent_reconciles(2)
        .shutdown_timeout(Duration::from_secs(3));
    manager.add(controller, reconcile, member);
    let status = manager.leader_status();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(manager.run(shutdown.clone()));
    Handle { id: id.to_owned(), shutdown, status, task }
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + GUARD;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn takeover(release_on_cancel: bool) {
    let server = ApiServer::start().await.expect("server");
    let client = server.client();
    for name in ["a", "b", "c"] {
        create_cm(&client, name, &[]).await;
    }
    let recorder = Arc::new(Recorder::default());
    let mut managers: Vec<Handle> = ["m1", "m2", "m3"]
        .iter()
        .enumerate()
        .map(|(i, id)| start_manager(server.client(), id, &recorder, i as u64, (true, release_on_cancel), SHORT))
        .collect();

    wait_for("a leader reconciling", || recorder.total_started() > 0).await;
    let leaders: Vec<usize> = (0..3).filter(|&i| managers[i].status.is_leader()).collect();
    assert_eq!(leaders.len(), 1, "exactly one leader");
    let old = managers.remove(leaders[0]);
    let reconciled: Vec<String> = (1..=3).map(|i| format!("m{i}")).filter(|id| recorder.started(id) > 0).collect();
    assert_eq!(reconciled, std::slice::from_ref(&old.id), "only the leader reconciled");

    // Stop the leader: its reconciles are awaited, then (if so configured) the Lease released.
    old.shutdown.cancel();
    let result = tokio::time::timeout(GUARD, old.task).await.expect("the old leader stops").expect("task");
    result.expect("a clean stop");
    // It renewed the Lease until its reconciles had ended, so the clock starts here.
    let stopped = Instant::now();
    assert!(!recorder.running_ids().contains(&old.id), "the old leader reconciles nothing after run returns");

    // Another leads and reconciles: on its next attempt after a release, else once the lease
    // expired as the candidates last saw it renewed (up to one jittered retry after the stop)
    // plus one more jittered retry to take it.
    let jittered_retry = RETRY.mul_f64(1.0 + JITTER_FACTOR);
    let bound = if release_on_cancel { LEASE } else { LEASE + 2 * jittered_retry } + Duration::from_millis(300);
    let new_leader = loop {
        if let Some(m) = managers.iter().find(|m| recorder.started(&m.id) > 0) {
            break m.id.clone();
        }
        assert!(stopped.elapsed() < bound, "no manager reconciled within {bound:?} of the leader's stop");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let leader = managers.iter().find(|m| m.id == new_leader).expect("known");
    assert!(leader.status.is_leader(), "{new_leader} reconciles while leading");
    let others: Vec<&Handle> = managers.iter().filter(|m| m.id != new_leader).collect();
    assert!(others.iter().all(|m| recorder.started(&m.id) == 0 && !m.status.is_leader()), "one new leader");

    for m in &managers {
        m.shutdown.cancel();
    }
    for m in managers {
        let result = tokio::time::timeout(GUARD, m.task).await.expect("run returns").expect("task");
        result.expect("a clean stop");
    }
    let (overlaps, log) = recorder.report(stopped);
    assert!(overlaps.is_empty(), "overlapping reconciles: {overlaps:?}\n{log}");
}

#[tokio::test]
async fn another_manager_takes_over_within_the_lease_when_the_leader_stops_and_releases() {
    takeover(true).await;
}

#[tokio::test]
async fn another_manager_takes_over_once_the_lease_expires_when_the_leader_stops_without_release() {
    takeover(false).await;
}

#[tokio::test]
async fn a_lost_lease_abandons_reconciles_before_another_manager_reconciles() {
    let server = ApiServer::start().await.expect("server");
    let client = server.client();
    create_cm(&client, "a", &[]).await;
    let recorder = Arc::new(Recorder::default());
    let origin = Instant::now();
    // The leader's reconcile runs for 6 s or more (its controller would wait 3 s for it on a stop).
    let old = start_manager(server.client(), "old", &recorder, 0, (false, true), Duration::from_secs(60));
    wait_for("the first manager reconciling", || recorder.started("old") > 0).await;
    let new = start_manager(server.client(), "new", &recorder, 1, (true, true), SHORT);

    // The leader cannot renew and gives up leading; then the API server recovers and the other
    // manager takes over once the lease has expired.
    server.control().fail_next(100_000, "update", "leases", 500);
    wait_for("the leader to lose the Lease", || !old.status.is_leader()).await;
    server.control().clear_faults();
    wait_for("the other manager reconciling", || recorder.started("new") > 0).await;
    assert!(new.status.is_leader());

    let result = tokio::time::timeout(GUARD, old.task).await.expect("the old leader stops").expect("task");
    assert!(matches!(result, Err(ManagerError::LeadershipLost)), "{result:?}");
    new.shutdown.cancel();
    let result = tokio::time::timeout(GUARD, new.task).await.expect("run returns").expect("task");
    result.expect("a clean stop");
    let (overlaps, log) = recorder.report(origin);
    assert!(overlaps.is_empty(), "the old leader still reconciled: {overlaps:?}\n{log}");
}

#[tokio::test]
async fn a_lease_lost_while_a_stopped_leader_drains_is_reported_as_lost() {
    let server = ApiServer::start().await.expect("server");
    create_cm(&server.client(), "a", &[]).await;
    let recorder = Arc::new(Recorder::default());
    // Reconciles of 6 s or more; the controller would wait 3 s for them on a stop.
    let old = start_manager(server.client(), "old", &recorder, 0, (false, true), Duration::from_secs(60));
    wait_for("the manager reconciling", || recorder.started("old") > 0).await;
    // Asked to stop, it waits for its reconcile while still renewing; then it cannot renew.
    old.shutdown.cancel();
    server.control().fail_next(100_000, "update", "leases", 500);
    let result = tokio::time::timeout(GUARD, old.task).await.expect("run returns").expect("task");
    server.control().clear_faults();
    // The reconcile was abandoned because the Lease was lost, not because a deadline passed.
    assert!(matches!(result, Err(ManagerError::LeadershipLost)), "{result:?}");
}

/// How long the faults of one seed go on.
const CHAOS: Duration = Duration::from_millis(2500);
/// One step of the fault schedule.
const STEP: Duration = Duration::from_millis(100);

/// One managed slot: the manager running in it (if any) and when to restart it.
struct Slot {
    current: Option<Handle>,
    generation: u32,
    restart_at: Option<Instant>,
    /// Stopped managers still shutting down.
    stopping: Vec<Handle>,
}

/// Injects one random fault on the Lease requests, or changes the latency.
fn random_fault(rng: &mut StdRng, control: &Control) -> Option<String> {
    let roll = rng.random_range(0..100);
    let verbs = ["get", "update", "*"];
    match roll {
        0..=14 => {
            let verb = verbs[rng.random_range(0..verbs.len())];
            let code = [500, 503, 504, 409, 403][rng.random_range(0..5)];
            let n = rng.random_range(1..=4);
            control.fail_next(n, verb, "leases", code);
            Some(format!("fail {n} {verb} leases with {code}"))
        }
        15..=19 => {
            let n = rng.random_range(1..=3);
            let secs = rng.random_range(0..=1);
            control.throttle_next(n, "*", "leases", secs);
            Some(format!("throttle {n} leases requests, Retry-After {secs}"))
        }
        20..=27 => {
            // Enough failed renewals (two updates an attempt) that the leader may lose the Lease.
            let n = rng.random_range(5..=9);
            let code = [500, 503][rng.random_range(0..2)];
            control.fail_next(n, "update", "leases", code);
            Some(format!("fail {n} update leases with {code}"))
        }
        28..=37 => {
            let ms = [0, 10, 40, 80, 150][rng.random_range(0..5)];
            control.set_latency(Duration::from_millis(ms));
            Some(format!("latency {ms}ms"))
        }
        _ => None,
    }
}

/// One seed: three slots under faults, stops and restarts; then calm, a live leader, and a
/// clean stop of everything.
async fn chaos(seed: u64) {
    eprintln!("election chaos seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let server = ApiServer::start().await.expect("server");
    let control = server.control();
    let client = server.client();
    for name in ["a", "b", "c"] {
        create_cm(&client, name, &[]).await;
    }
    let recorder = Arc::new(Recorder::default());
    let origin = Instant::now();
    let mut slots: Vec<Slot> = (0..3)
        .map(|i| {
            let id = format!("s{i}-g0");
            let handle = start_manager(server.client(), &id, &recorder, rng.random(), rng.random(), LONG);
            Slot { current: Some(handle), generation: 0, restart_at: None, stopping: Vec::new() }
        })
        .collect();
    let mut events = Vec::new();
    let restart = |slot: &mut Slot, i: usize, rng: &mut StdRng, events: &mut Vec<String>| {
        slot.generation += 1;
        let id = format!("s{i}-g{}", slot.generation);
        events.push(format!("{:>5}ms start {id}", origin.elapsed().as_millis()));
        slot.current = Some(start_manager(server.client(), &id, &recorder, rng.random(), rng.random(), LONG));
        slot.restart_at = None;
    };

    while origin.elapsed() < CHAOS {
        if let Some(f) = random_fault(&mut rng, &control) {
            events.push(format!("{:>5}ms {f}", origin.elapsed().as_millis()));
        }
        for (i, slot) in slots.iter_mut().enumerate() {
            // A manager that lost the Lease has returned: restart it later, as a new process.
            if slot.current.as_ref().is_some_and(|h| h.task.is_finished()) {
                if let Some(h) = slot.current.take() {
                    events.push(format!("{:>5}ms {} returned", origin.elapsed().as_millis(), h.id));
                    slot.stopping.push(h);
                }
                slot.restart_at = Some(Instant::now() + Duration::from_millis(rng.random_range(0..600)));
            }
            if slot.current.is_some() && rng.random_range(0..100) < 3 {
                if let Some(h) = slot.current.take() {
                    events.push(format!("{:>5}ms stop {}", origin.elapsed().as_millis(), h.id));
                    h.shutdown.cancel();
                    slot.stopping.push(h);
                }
                slot.restart_at = Some(Instant::now() + Duration::from_millis(rng.random_range(0..600)));
            }
            if slot.current.is_none() && slot.restart_at.is_some_and(|t| Instant::now() >= t) {
                restart(slot, i, &mut rng, &mut events);
            }
        }
        tokio::time::sleep(STEP).await;
    }

    // Calm: no more faults, every slot running; some manager leads and reconciles again.
    control.clear_faults();
    control.set_latency(Duration::ZERO);
    for (i, slot) in slots.iter_mut().enumerate() {
        if slot.current.as_ref().is_none_or(|h| h.task.is_finished()) {
            if let Some(h) = slot.current.take() {
                slot.stopping.push(h);
            }
            restart(slot, i, &mut rng, &mut events);
        }
    }
    let before = recorder.total_started();
    let end = Instant::now() + GUARD;
    while recorder.total_started() == before {
        assert!(
            Instant::now() < end,
            "seed {seed}: no manager reconciled after the faults ended\n{}",
            events.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Stop everything; every run ends on its own, cleanly or having lost the Lease.
    for slot in &slots {
        if let Some(h) = &slot.current {
            h.shutdown.cancel();
        }
    }
    let mut lost = 0;
    for slot in slots {
        for h in slot.current.into_iter().chain(slot.stopping) {
            h.shutdown.cancel();
            let result = tokio::time::timeout(GUARD, h.task).await;
            let result = result.unwrap_or_else(|_| panic!("seed {seed}: {} did not stop", h.id)).expect("task");
            lost += usize::from(matches!(result, Err(ManagerError::LeadershipLost)));
            assert!(
                matches!(result, Ok(()) | Err(ManagerError::LeadershipLost)),
                "seed {seed}: {} ended with {result:?}\nschedule:\n{}",
                h.id,
                events.join("\n")
            );
        }
    }
    eprintln!("seed {seed}: {} reconciles, {lost} leases lost, {} events", recorder.total_started(), events.len());
    let (overlaps, log) = recorder.report(origin);
    assert!(
        overlaps.is_empty(),
        "seed {seed}: two managers reconciled at once: {overlaps:?}\nschedule:\n{}\nreconciles (last 60):\n{log}",
        events.join("\n")
    );
    assert!(recorder.running_ids().is_empty(), "seed {seed}: reconciles still running after every run returned");
}

/// Seeds `range`, one after the other (each on its own server).
async fn chaos_seeds(range: std::ops::Range<u64>) {
    for seed in range {
        chaos(seed).await;
    }
}

#[tokio::test]
async fn never_two_leaders_reconciling_at_once_seeds_0_to_4() {
    chaos_seeds(0..5).await;
}

#[tokio::test]
async fn never_two_leaders_reconciling_at_once_seeds_5_to_9() {
    chaos_seeds(5..10).await;
}

#[tokio::test]
async fn never_two_leaders_reconciling_at_once_seeds_10_to_14() {
    chaos_seeds(10..15).await;
}

#[tokio::test]
async fn never_two_leaders_reconciling_at_once_seeds_15_to_19() {
    chaos_seeds(15..20).await;
}
