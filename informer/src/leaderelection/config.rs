//! [`LeaderElectionConfig`] and [`LeaderCallbacks`]: what a [`LeaderElector`](super::LeaderElector)
//! needs, validated as client-go validates it.
//!
//! Contract: [`LeaderElectionConfig::validate`] accepts a configuration exactly when
//! `lease_duration > renew_deadline > retry_period * JITTER_FACTOR`, `retry_period > 0`, the
//! lease duration is at least one second (the Lease stores whole seconds) and the lock has an
//! identity; otherwise it names the offending setting.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::lease_lock::LeaseLock;

/// The jitter factor of the acquire loop (client-go's `JitterFactor`): a candidate waits between
/// `retry_period` and `retry_period * (1 + JITTER_FACTOR)` between attempts.
pub const JITTER_FACTOR: f64 = 1.2;

/// How a leader election is run (client-go's `LeaderElectionConfig`).
#[derive(Debug)]
pub struct LeaderElectionConfig {
    /// The lock the candidates compete for.
    pub lock: LeaseLock,
    /// How long a non-leader waits, after it last saw the record change, before it may take over
    /// (client-go default 15 s). Stored in the Lease in whole seconds (rounded up).
    pub lease_duration: Duration,
    /// How long the leader keeps retrying a failing renewal before it gives up leading
    /// (default 10 s).
    pub renew_deadline: Duration,
    /// How long to wait between attempts to acquire or renew (default 2 s).
    pub retry_period: Duration,
    /// On cancellation, if leading, release the lock (empty holder, 1 s lease) so another
    /// candidate can take over at once instead of waiting for the lease to expire. Only set it
    /// when the code guarded by the lease has stopped before cancelling.
    pub release_on_cancel: bool,
    /// Name of this election, for logs.
    pub name: String,
}

impl LeaderElectionConfig {
    /// client-go's defaults (15 s lease, 10 s renew deadline, 2 s retry, no release on cancel).
    pub fn new(lock: LeaseLock) -> Self {
        let name = lock.describe();
        Self {
            lock,
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            release_on_cancel: false,
            name,
        }
    }

    /// Sets the three durations (builder style).
    pub fn durations(mut self, lease_duration: Duration, renew_deadline: Duration, retry_period: Duration) -> Self {
        self.lease_duration = lease_duration;
        self.renew_deadline = renew_deadline;
        self.retry_period = retry_period;
        self
    }

    /// Sets [`LeaderElectionConfig::release_on_cancel`] (builder style).
    pub fn release_on_cancel(mut self, release: bool) -> Self {
        self.release_on_cancel = release;
        self
    }

    /// Checks the configuration (see the module docs).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.retry_period.is_zero() {
            return Err(ConfigError::NonPositive("retry_period"));
        }
        if self.renew_deadline.is_zero() {
            return Err(ConfigError::NonPositive("renew_deadline"));
        }
        if self.lease_duration < Duration::from_secs(1) {
            return Err(ConfigError::LeaseTooShort(self.lease_duration));
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(ConfigError::LeaseNotLongerThanDeadline {
                lease_duration: self.lease_duration,
                renew_deadline: self.renew_deadline,
            });
        }
        if self.renew_deadline.as_secs_f64() <= self.retry_period.as_secs_f64() * JITTER_FACTOR {
            return Err(ConfigError::DeadlineTooShort {
                renew_deadline: self.renew_deadline,
                retry_period: self.retry_period,
            });
        }
        if self.lock.identity().is_empty() {
            return Err(ConfigError::EmptyIdentity(self.lock.describe()));
        }
        Ok(())
    }

    /// The lease duration as the Lease stores it: whole seconds, rounded up.
    pub(crate) fn lease_duration_seconds(&self) -> i32 {
        let secs = self.lease_duration.as_secs() + u64::from(self.lease_duration.subsec_nanos() > 0);
        i32::try_from(secs).unwrap_or(i32::MAX)
    }
}

/// A [`LeaderElectionConfig`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A duration is zero.
    #[error("{0} must be greater than zero")]
    NonPositive(&'static str),
    /// The lease is shorter than the one-second granularity of a Lease.
    #[error("lease_duration {0:?} must be at least 1s")]
    LeaseTooShort(Duration),
    /// `lease_duration <= renew_deadline`.
    #[error("lease_duration {lease_duration:?} must be greater than renew_deadline {renew_deadline:?}")]
    LeaseNotLongerThanDeadline {
        /// The lease duration.
        lease_duration: Duration,
        /// The renew deadline.
        renew_deadline: Duration,
    },
    /// `renew_deadline <= retry_period * JITTER_FACTOR`.
    #[error("renew_deadline {renew_deadline:?} must be greater than retry_period {retry_period:?} * {JITTER_FACTOR}")]
    DeadlineTooShort {
        /// The renew deadline.
        renew_deadline: Duration,
        /// The retry period.
        retry_period: Duration,
    },
    /// The lock's identity is empty.
    #[error("lock {0} has an empty identity")]
    EmptyIdentity(String),
}

/// A boxed, sendable future.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

type StartedFn = dyn Fn(CancellationToken) -> BoxFuture + Send + Sync;
type StoppedFn = dyn Fn() + Send + Sync;
type NewLeaderFn = dyn Fn(&str) + Send + Sync;

/// What to do when leadership changes (client-go's `LeaderCallbacks`).
///
/// ```
/// use rudder_informer::leaderelection::LeaderCallbacks;
/// let callbacks = LeaderCallbacks::new(|lost| async move {
///     // run the controller until `lost` is cancelled
///     lost.cancelled().await;
/// })
/// .on_stopped_leading(|| println!("no longer leading"))
/// .on_new_leader(|id| println!("leader is now {id}"));
/// # drop(callbacks);
/// ```
#[derive(Clone)]
pub struct LeaderCallbacks {
    pub(crate) started: Arc<StartedFn>,
    pub(crate) stopped: Option<Arc<StoppedFn>>,
    pub(crate) new_leader: Option<Arc<NewLeaderFn>>,
}

impl std::fmt::Debug for LeaderCallbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderCallbacks")
            .field("on_stopped_leading", &self.stopped.is_some())
            .field("on_new_leader", &self.new_leader.is_some())
            .finish_non_exhaustive()
    }
}

impl LeaderCallbacks {
    /// Callbacks whose `on_started_leading` is `started`: it is spawned as a task when this
    /// candidate becomes leader, and the token it gets is cancelled when leadership is lost or
    /// the election is cancelled. The task is not awaited; it should stop when the token fires.
    pub fn new<F, Fut>(started: F) -> Self
    where
        F: Fn(CancellationToken) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self { started: Arc::new(move |token| Box::pin(started(token)) as BoxFuture), stopped: None, new_leader: None }
    }

    /// Called once when this candidate stops leading (after having led), after the
    /// `on_started_leading` token was cancelled and the lock released if configured.
    pub fn on_stopped_leading(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.stopped = Some(Arc::new(f));
        self
    }

    /// Called with the new holder's identity whenever the observed leader changes (this
    /// candidate included). Runs on the election task: keep it short and non-blocking.
    pub fn on_new_leader(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.new_leader = Some(Arc::new(f));
        self
    }
}
