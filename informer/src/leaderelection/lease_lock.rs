//! [`LeaseLock`]: the leader-election record kept in a `coordination.k8s.io/v1` Lease.
//!
//! Contract (client-go's `resourcelock.LeaseLock`):
//! - [`LeaseLock::get`] reads the Lease and remembers it; `Ok(None)` when it does not exist.
//! - [`LeaseLock::create`] creates the Lease holding a record; [`LeaseLock::update`] replaces the
//!   spec of the Lease last read or written, sending that object's `resourceVersion`, so a write
//!   by anyone else in between fails with 409 Conflict (`err.is_conflict()`): a lost race, not a
//!   fault. Updating before any get/create is [`LockError::NotInitialized`].
//! - Every successful call answers the record *as the server stored it* (MicroTime keeps
//!   microseconds), so records compare equal exactly when the stored Lease did not change.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use parking_lot::Mutex;

use rudder_client::api::{Api, CreateOptions, UpdateOptions};
use rudder_client::Client;

/// What a leader election stores in its lock: who holds it, since when, and for how long.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaderElectionRecord {
    /// The holder's identity; empty when nobody holds the lock (after a release).
    pub holder_identity: String,
    /// How long, in seconds, the holder's claim lasts after `renew_time`.
    pub lease_duration_seconds: i32,
    /// When the current holder acquired the lock.
    pub acquire_time: Option<Timestamp>,
    /// When the holder last renewed its claim.
    pub renew_time: Option<Timestamp>,
    /// How many times the lock changed holders.
    pub leader_transitions: i32,
}

impl LeaderElectionRecord {
    /// The record a Lease's spec holds (absent fields read as empty / zero).
    pub fn from_lease(lease: &Lease) -> Self {
        let spec = lease.spec.as_ref();
        Self {
            holder_identity: spec.and_then(|s| s.holder_identity.clone()).unwrap_or_default(),
            lease_duration_seconds: spec.and_then(|s| s.lease_duration_seconds).unwrap_or(0),
            acquire_time: spec.and_then(|s| s.acquire_time.as_ref()).map(|t| t.0),
            renew_time: spec.and_then(|s| s.renew_time.as_ref()).map(|t| t.0),
            leader_transitions: spec.and_then(|s| s.lease_transitions).unwrap_or(0),
        }
    }

    /// The Lease spec that stores this record.
    pub fn to_lease_spec(&self) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.holder_identity.clone()),
            lease_duration_seconds: Some(self.lease_duration_seconds),
            acquire_time: self.acquire_time.map(MicroTime),
            renew_time: self.renew_time.map(MicroTime),
            lease_transitions: Some(self.leader_transitions),
            ..LeaseSpec::default()
        }
    }
}

/// Why a lock operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The API server call failed (`err.is_conflict()` when someone else wrote first).
    #[error("lease {lock}: {source}")]
    Api {
        /// `namespace/name` of the Lease.
        lock: String,
        /// The client error.
        #[source]
        source: rudder_client::Error,
    },
    /// `update` was called before any `get` or `create` saw the Lease.
    #[error("lease {0} not initialized: get or create it before updating")]
    NotInitialized(String),
}

impl LockError {
    /// Whether the failure is a 409 Conflict (another writer got there first).
    pub fn is_conflict(&self) -> bool {
        matches!(self, LockError::Api { source, .. } if source.is_conflict())
    }

    /// Whether the failure is a 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        matches!(self, LockError::Api { source, .. } if source.is_not_found())
    }
}

/// A leader-election lock on one `coordination.k8s.io/v1` Lease (see the module docs).
pub struct LeaseLock {
    api: Api<Lease>,
    namespace: String,
    name: String,
    identity: String,
    /// The Lease as last read or written (its resourceVersion guards the next update).
    lease: Mutex<Option<Lease>>,
}

impl std::fmt::Debug for LeaseLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseLock")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl LeaseLock {
    /// A lock on Lease `namespace/name`, claimed as `identity` (unique per candidate, e.g. the
    /// pod name).
    pub fn new(client: Client, namespace: &str, name: &str, identity: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            identity: identity.to_owned(),
            lease: Mutex::new(None),
        }
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// `namespace/name` of the Lease, for messages.
    pub fn describe(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    fn api_err(&self, source: rudder_client::Error) -> LockError {
        LockError::Api { lock: self.describe(), source }
    }

    /// Reads the Lease; `Ok(None)` when it does not exist.
    pub async fn get(&self) -> Result<Option<LeaderElectionRecord>, LockError> {
        match self.api.get_opt(&self.name).await.map_err(|e| self.api_err(e))? {
            Some(lease) => {
                let record = LeaderElectionRecord::from_lease(&lease);
                *self.lease.lock() = Some(lease);
                Ok(Some(record))
            }
            None => Ok(None),
        }
    }

    /// Creates the Lease holding `record` (409 AlreadyExists when another candidate was first).
    pub async fn create(&self, record: &LeaderElectionRecord) -> Result<LeaderElectionRecord, LockError> {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(record.to_lease_spec()),
        };
        let stored = self.api.create(&CreateOptions::default(), &lease).await.map_err(|e| self.api_err(e))?;
        Ok(self.remember(stored))
    }

    /// Replaces the spec of the Lease last seen with `record`, guarded by its resourceVersion.
    pub async fn update(&self, record: &LeaderElectionRecord) -> Result<LeaderElectionRecord, LockError> {
        let mut lease = self.lease.lock().clone().ok_or_else(|| LockError::NotInitialized(self.describe()))?;
        lease.spec = Some(record.to_lease_spec());
        let stored =
            self.api.replace(&self.name, &UpdateOptions::default(), &lease).await.map_err(|e| self.api_err(e))?;
        Ok(self.remember(stored))
    }

    fn remember(&self, stored: Lease) -> LeaderElectionRecord {
        let record = LeaderElectionRecord::from_lease(&stored);
        *self.lease.lock() = Some(stored);
        record
    }
}
