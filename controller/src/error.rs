//! The controller's errors: why a controller could not start or stopped uncleanly.
//!
//! Contract: every failure of [`Controller::run`](crate::Controller::run) is one of these
//! variants, each naming the kind or setting involved. Reconcile errors are not here: they are
//! the reconciler's own, logged, counted and retried by the controller.

use std::time::Duration;

use rudder_informer::shared_informer::{InformerError, SyncError};

/// One watched kind whose cache did not sync.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {}", match cause { Some(e) => e.to_string(), None => "its event handler did not finish the initial list in time".to_owned() })]
pub struct CacheSyncFailure {
    /// The kind.
    pub kind: &'static str,
    /// Why the informer did not sync (`None`: the informer synced, its handler did not catch up).
    pub cause: Option<SyncError>,
}

/// Why a controller could not run as asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControllerError {
    /// A label or field selector of a watched kind does not parse.
    #[error("invalid selector for {kind}: {message}")]
    InvalidSelector {
        /// The kind.
        kind: &'static str,
        /// The parse error.
        message: String,
    },
    /// An informer refused the controller's event handler (it was shut down).
    #[error("informer for {kind}: {source}")]
    Informer {
        /// The kind.
        kind: &'static str,
        /// The informer's error.
        source: InformerError,
    },
    /// Some caches did not sync within the cache sync timeout; no reconcile ran.
    #[error("caches did not sync: {}", failures.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("; "))]
    CacheSync {
        /// One entry per kind that did not sync.
        failures: Vec<CacheSyncFailure>,
    },
    /// Reconciles still ran when the shutdown deadline passed; they were abandoned (their
    /// futures dropped) and the informers were stopped anyway.
    #[error("{in_flight} reconcile(s) still running after the {after:?} shutdown deadline were abandoned")]
    ShutdownTimedOut {
        /// How many were abandoned.
        in_flight: usize,
        /// The deadline.
        after: Duration,
    },
}
