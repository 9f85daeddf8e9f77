//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go's `tools/leaderelection`.
//!
//! Contract of [`LeaderElector::run`]:
//! - **Acquire**: every `retry_period` (stretched by up to [`JITTER_FACTOR`] at random) try to
//!   take the lock. It is taken when the Lease is absent (created), held by this identity, has
//!   an empty holder (released), or has expired. Expiry is judged with the *local* clock only:
//!   a record is valid until `leaseDurationSeconds` after the moment this candidate last saw it
//!   change, so clock skew between candidates never matters.
//! - **Lead**: `on_started_leading` is spawned with a token that is cancelled when leadership
//!   ends. The lease is renewed every `retry_period`; when a renewal has not succeeded within
//!   `renew_deadline` (failures, conflicts, or a slow server), leadership ends. Writes are
//!   optimistic (resourceVersion); a 409 Conflict is a lost race and is simply retried.
//! - **End**: on cancellation or a failed renewal the token is cancelled, the lock is released
//!   when `release_on_cancel` is set (empty holder, 1 s lease, so others take over at once), then
//!   `on_stopped_leading` runs. `run` returns only then, or on cancellation while not leading.
//! - `on_new_leader` fires whenever the observed holder changes to a non-empty identity.
//!
//! Unlike client-go, `on_stopped_leading` runs only if this candidate actually led (client-go
//! also calls it when `Run` returns without ever leading).
//!
//! ```no_run
//! # async fn f(client: rudder_client::Client) -> Result<(), rudder_informer::leaderelection::ConfigError> {
//! use rudder_informer::leaderelection::{LeaderCallbacks, LeaderElectionConfig, LeaderElector, LeaseLock};
//! use tokio_util::sync::CancellationToken;
//! let lock = LeaseLock::new(client, "kube-system", "my-controller", "pod-1");
//! let config = LeaderElectionConfig::new(lock).release_on_cancel(true);
//! let elector = LeaderElector::new(config, LeaderCallbacks::new(|lost| async move {
//!     lost.cancelled().await; // run the controller here until leadership is lost
//! }))?;
//! elector.run(CancellationToken::new()).await;
//! # Ok(()) }
//! ```

mod config;
mod lease_lock;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use config::{BoxFuture, ConfigError, LeaderCallbacks, LeaderElectionConfig, JITTER_FACTOR};
pub use lease_lock::{LeaderElectionRecord, LeaseLock, LockError};

/// Runs a leader election (see the module docs). Cheap to clone; clones share state, so one
/// clone can run while another answers [`LeaderElector::is_leader`].
#[derive(Clone, Debug)]
pub struct LeaderElector {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: LeaderElectionConfig,
    callbacks: LeaderCallbacks,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The record as last read or written.
    observed: LeaderElectionRecord,
    /// When (local clock) `observed` last changed; `None` before anything was seen.
    observed_time: Option<Instant>,
    /// The last holder reported to `on_new_leader`.
    reported_leader: String,
    /// Between `on_started_leading` and the end of leadership.
    leading: bool,
}

impl State {
    fn set_observed(&mut self, record: LeaderElectionRecord) {
        self.observed = record;
        self.observed_time = Some(Instant::now());
    }

    /// Whether the observed record is still within its lease, judged by the local clock.
    fn lease_valid(&self, now: Instant) -> bool {
        let secs = u64::try_from(self.observed.lease_duration_seconds).unwrap_or(0);
        self.observed_time.is_some_and(|t| t + Duration::from_secs(secs) > now)
    }
}

impl LeaderElector {
    /// Validates `config` and builds an elector.
    pub fn new(config: LeaderElectionConfig, callbacks: LeaderCallbacks) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self { inner: Arc::new(Inner { config, callbacks, state: Mutex::new(State::default()) }) })
    }

    /// Whether this candidate is currently leading.
    pub fn is_leader(&self) -> bool {
        self.inner.state.lock().leading
    }

    /// The identity of the last observed holder (empty if none seen, or released).
    pub fn get_leader(&self) -> String {
        self.inner.state.lock().observed.holder_identity.clone()
    }

    /// The record as last read or written.
    pub fn observed_record(&self) -> LeaderElectionRecord {
        self.inner.state.lock().observed.clone()
    }

    /// The configuration.
    pub fn config(&self) -> &LeaderElectionConfig {
        &self.inner.config
    }

    /// Competes for the lock until `cancel` fires or, once leading, until leadership is lost
    /// (see the module docs). Run one `run` per elector at a time; run it again to compete again.
    pub async fn run(&self, cancel: CancellationToken) {
        if !self.acquire(&cancel).await {
            return;
        }
        let lost = cancel.child_token();
        self.inner.state.lock().leading = true;
        tokio::spawn((self.inner.callbacks.started)(lost.clone()));
        self.renew(&cancel).await;
        lost.cancel();
        self.inner.state.lock().leading = false;
        if self.inner.config.release_on_cancel {
            self.release().await;
        }
        if let Some(stopped) = &self.inner.callbacks.stopped {
            stopped();
        }
    }

    fn name(&self) -> &str {
        &self.inner.config.name
    }

    async fn acquire(&self, cancel: &CancellationToken) -> bool {
        tracing::info!(election = self.name(), "attempting to acquire leader lease");
        loop {
            let acquired = tokio::select! {
                biased;
                _ = cancel.cancelled() => return false,
                ok = self.try_acquire_or_renew() => ok,
            };
            self.maybe_report_transition();
            if acquired {
                tracing::info!(election = self.name(), "successfully acquired lease");
                return true;
            }
            let wait = jittered(self.inner.config.retry_period);
            tokio::select! {
                _ = cancel.cancelled() => return false,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Renews until a renewal misses its deadline or `cancel` fires.
    async fn renew(&self, cancel: &CancellationToken) {
        let retry = self.inner.config.retry_period;
        loop {
            let deadline = Instant::now() + self.inner.config.renew_deadline;
            let renewed = loop {
                let attempt = tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return,
                    r = tokio::time::timeout_at(deadline, self.try_acquire_or_renew()) => r,
                };
                self.maybe_report_transition();
                if attempt == Ok(true) {
                    break true;
                }
                let next = (Instant::now() + retry).min(deadline);
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep_until(next) => {}
                }
                if Instant::now() >= deadline {
                    break false;
                }
            };
            if !renewed {
                tracing::warn!(
                    election = self.name(),
                    "failed to renew lease within the renew deadline; stopping leading"
                );
                return;
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(retry) => {}
            }
        }
    }

    /// One attempt to take or keep the lock; `true` when this candidate holds it afterwards.
    async fn try_acquire_or_renew(&self) -> bool {
        let config = &self.inner.config;
        let lock = &config.lock;
        let me = lock.identity();
        let now = Timestamp::now();
        let mut desired = LeaderElectionRecord {
            holder_identity: me.to_owned(),
            lease_duration_seconds: config.lease_duration_seconds(),
            acquire_time: Some(now),
            renew_time: Some(now),
            leader_transitions: 0,
        };

        // 1. Fast path: the leader updates optimistically against the record it wrote last.
        let fast = {
            let st = self.inner.state.lock();
            (st.observed.holder_identity == me && st.lease_valid(Instant::now())).then(|| st.observed.clone())
        };
        if let Some(observed) = fast {
            desired.acquire_time = observed.acquire_time;
            desired.leader_transitions = observed.leader_transitions;
            match lock.update(&desired).await {
                Ok(stored) => {
                    self.inner.state.lock().set_observed(stored);
                    return true;
                }
                Err(e) => tracing::debug!(election = self.name(), error = %e, "optimistic renew failed; re-reading"),
            }
        }

        // 2. Read the record, creating it when absent.
        let current = match lock.get().await {
            Ok(Some(current)) => current,
            Ok(None) => {
                return match lock.create(&desired).await {
                    Ok(stored) => {
                        self.inner.state.lock().set_observed(stored);
                        true
                    }
                    Err(e) => {
                        tracing::debug!(election = self.name(), error = %e, "cannot create lease");
                        false
                    }
                };
            }
            Err(e) => {
                tracing::warn!(election = self.name(), error = %e, "cannot read lease");
                return false;
            }
        };

        // 3. Someone else holds a valid lease: wait.
        let is_me = {
            let mut st = self.inner.state.lock();
            if st.observed != current || st.observed_time.is_none() {
                st.set_observed(current.clone());
            }
            let is_me = st.observed.holder_identity == me;
            if !current.holder_identity.is_empty() && st.lease_valid(Instant::now()) && !is_me {
                tracing::trace!(election = self.name(), holder = %current.holder_identity, "lease held and not expired");
                return false;
            }
            is_me
        };

        // 4. Take it over (or renew through the slow path).
        if is_me {
            desired.acquire_time = current.acquire_time;
            desired.leader_transitions = current.leader_transitions;
        } else {
            desired.leader_transitions = current.leader_transitions.saturating_add(1);
        }
        match lock.update(&desired).await {
            Ok(stored) => {
                self.inner.state.lock().set_observed(stored);
                true
            }
            Err(e) if e.is_conflict() => {
                tracing::debug!(election = self.name(), "lost a race for the lease (409 Conflict)");
                false
            }
            Err(e) => {
                tracing::warn!(election = self.name(), error = %e, "cannot update lease");
                false
            }
        }
    }

    /// Gives the lock up if this candidate holds it; `true` when nothing is left to release.
    async fn release(&self) -> bool {
        let transitions = {
            let st = self.inner.state.lock();
            if st.observed.holder_identity != self.inner.config.lock.identity() {
                return true;
            }
            st.observed.leader_transitions
        };
        let now = Timestamp::now();
        let record = LeaderElectionRecord {
            holder_identity: String::new(),
            lease_duration_seconds: 1,
            acquire_time: Some(now),
            renew_time: Some(now),
            leader_transitions: transitions,
        };
        let bound = self.inner.config.renew_deadline;
        match tokio::time::timeout(bound, self.inner.config.lock.update(&record)).await {
            Ok(Ok(stored)) => {
                self.inner.state.lock().set_observed(stored);
                tracing::info!(election = self.name(), "released leader lease");
                true
            }
            Ok(Err(e)) => {
                tracing::warn!(election = self.name(), error = %e, "cannot release lease");
                false
            }
            Err(_) => {
                tracing::warn!(election = self.name(), "releasing the lease timed out");
                false
            }
        }
    }

    fn maybe_report_transition(&self) {
        let holder = {
            let mut st = self.inner.state.lock();
            if st.observed.holder_identity == st.reported_leader {
                return;
            }
            st.reported_leader = st.observed.holder_identity.clone();
            st.reported_leader.clone()
        };
        if holder.is_empty() {
            return;
        }
        tracing::info!(election = self.name(), leader = %holder, "new leader observed");
        if let Some(f) = &self.inner.callbacks.new_leader {
            f(&holder);
        }
    }
}

/// Validates `config` and runs one election to its end (client-go's `RunOrDie`, without dying).
pub async fn run(
    config: LeaderElectionConfig,
    callbacks: LeaderCallbacks,
    cancel: CancellationToken,
) -> Result<(), ConfigError> {
    LeaderElector::new(config, callbacks)?.run(cancel).await;
    Ok(())
}

/// `d` stretched by a random factor in `[1, 1 + JITTER_FACTOR)`.
fn jittered(d: Duration) -> Duration {
    d.mul_f64(1.0 + rand::random::<f64>() * JITTER_FACTOR)
}
