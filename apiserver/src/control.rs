//! Fault injection and observation for tests: [`Control`], a cheap cloneable handle on a running
//! embedded API server.
//!
//! Contract: faults apply to the next matching requests in arrival order and are consumed as
//! they fire; counters count every resource request by (verb, resource) before faults apply, where
//! verb is one of `get list watch create update patch delete deletecollection` and resource is the
//! plural (`pods`) or `plural/subresource` (`pods/status`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use rudder_apimachinery::schema::GroupVersionResource;

use super::registry::ResourceInfo;
use super::server::Shared;
use super::store::{encode_bytes, EventKind};

/// Bulk writers wake watchers once per this many events.
const NOTIFY_BATCH: usize = 256;

/// One injected failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Verb to match (`*` for any).
    pub verb: String,
    /// Resource to match (`pods`, `pods/status`, `*` for any).
    pub resource: String,
    /// HTTP code to answer with: 429 (with Retry-After), 500, 503, 504, 410 (for a watch: an
    /// ERROR event in a 200 stream; for a list: HTTP 410 Expired), or any other code.
    pub code: u16,
    /// Seconds for `Retry-After` (429 defaults to 1).
    pub retry_after: Option<u32>,
    /// How many more requests fail.
    pub remaining: usize,
}

impl Fault {
    fn matches(&self, verb: &str, resource: &str) -> bool {
        (self.verb == "*" || self.verb == verb) && (self.resource == "*" || self.resource == resource)
    }
}

/// Test handle on a running server (see the module docs).
#[derive(Clone)]
pub struct Control {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").finish_non_exhaustive()
    }
}

impl Control {
    /// Fails the next `n` requests matching `(verb, resource)` (`*` matches anything) with
    /// `code`.
    pub fn fail_next(&self, n: usize, verb: &str, resource: &str, code: u16) {
        self.inject(Fault { verb: verb.into(), resource: resource.into(), code, retry_after: None, remaining: n });
    }

    /// Answers the next `n` matching requests with 429 and `Retry-After: secs`.
    pub fn throttle_next(&self, n: usize, verb: &str, resource: &str, retry_after_secs: u32) {
        self.inject(Fault {
            verb: verb.into(),
            resource: resource.into(),
            code: 429,
            retry_after: Some(retry_after_secs),
            remaining: n,
        });
    }

    /// Adds a fault.
    pub fn inject(&self, fault: Fault) {
        self.shared.faults.lock().push(fault);
    }

    /// Removes every pending fault.
    pub fn clear_faults(&self) {
        self.shared.faults.lock().clear();
    }

    /// Consumes a matching fault, if any.
    pub(crate) fn take_fault(&self, verb: &str, resource: &str) -> Option<Fault> {
        let mut faults = self.shared.faults.lock();
        let i = faults.iter().position(|f| f.remaining > 0 && f.matches(verb, resource))?;
        faults[i].remaining -= 1;
        let f = faults[i].clone();
        if faults[i].remaining == 0 {
            faults.remove(i);
        }
        Some(f)
    }

    /// Adds latency before every request is handled.
    pub fn set_latency(&self, latency: Duration) {
        *self.shared.latency.lock() = latency;
    }

    /// Ends every open watch stream now (clients see a clean end of body).
    pub fn drop_watches(&self) {
        self.shared.state.lock().store.drop_watchers();
        self.shared.watch_epoch.send_modify(|e| *e += 1);
    }

    /// Stops sending events on every watch stream (events queue up) until [`Control::release_watches`].
    pub fn stall_watches(&self) {
        self.shared.stalled.send_replace(true);
    }

    /// Resumes stalled watch streams.
    pub fn release_watches(&self) {
        self.shared.stalled.send_replace(false);
    }

    /// Simulates an API server restart: every open connection (watches included) is dropped; the
    /// data is kept and the listener keeps its port.
    pub fn restart(&self) {
        self.drop_watches();
        self.shared.conn_epoch.send_modify(|e| *e += 1);
    }

    /// Forgets the whole change history: every watch from an older resourceVersion and every
    /// continue token now gets 410.
    pub fn compact(&self) {
        self.shared.state.lock().store.compact_all();
    }

    /// Requests counted for `(verb, resource)`.
    pub fn request_count(&self, verb: &str, resource: &str) -> u64 {
        self.shared.counts.lock().get(&(verb.to_string(), resource.to_string())).copied().unwrap_or(0)
    }

    /// Every counter.
    pub fn request_counts(&self) -> HashMap<(String, String), u64> {
        self.shared.counts.lock().clone()
    }

    /// Resets every counter.
    pub fn reset_counts(&self) {
        self.shared.counts.lock().clear();
    }

    /// The number of open watches (a watch closed for falling behind no longer counts).
    pub fn open_watches(&self) -> usize {
        self.shared.state.lock().store.watcher_count()
    }

    /// The current resourceVersion.
    pub fn current_resource_version(&self) -> u64 {
        self.shared.state.lock().store.rv
    }

    /// Serves a resource (for example a custom kind without a CRD).
    pub fn register(&self, info: ResourceInfo) {
        self.shared.register(info);
    }

    /// Every stored object of a resource, typed with kind/apiVersion, in key order.
    pub fn objects(&self, gvr: &GroupVersionResource) -> Vec<Value> {
        let st = self.shared.state.lock();
        let Some(info) = st.registry.get(&gvr.group, &gvr.version, &gvr.resource).cloned() else {
            return Vec::new();
        };
        let res = (gvr.group.clone(), gvr.resource.clone());
        st.store
            .tables
            .get(&res)
            .map(|t| {
                t.objects
                    .values()
                    .map(|o| {
                        let mut v = o.value();
                        if let Value::Object(m) = &mut v {
                            m.insert("kind".into(), Value::String(info.api.kind.to_string()));
                            m.insert("apiVersion".into(), Value::String(info.api.api_version.to_string()));
                        }
                        v
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Stores many objects quickly (no validation, no managedFields), assigning each a uid,
    /// creationTimestamp and resourceVersion; existing objects with the same key are replaced.
    /// Each object's namespace must be set for namespaced kinds. Returns the last RV.
    /// Objects that are not JSON objects are skipped.
    pub fn insert_many(&self, gvr: &GroupVersionResource, objects: Vec<Value>) -> u64 {
        self.insert_generated(gvr, objects.len(), |i| match objects.get(i) {
            Some(v) if v.get("metadata").is_some_and(Value::is_object) => serde_json::to_vec(v).unwrap_or_default(),
            _ => Vec::new(),
        })
    }

    /// Stores pre-serialized objects (JSON bytes) quickly, the fast path for seeding large data
    /// sets: only each object's members and metadata are split, the rest is copied as bytes (see
    /// [`encode_bytes`]), on every core. Semantics as [`Control::insert_many`]; objects that are
    /// not JSON objects are skipped (their resourceVersions stay unused). Returns the last RV.
    pub fn insert_many_bytes<B: AsRef<[u8]> + Sync>(
        &self,
        gvr: &GroupVersionResource,
        objects: impl IntoIterator<Item = B>,
    ) -> u64 {
        let objects: Vec<B> = objects.into_iter().collect();
        self.insert_generated(gvr, objects.len(), |i| objects.get(i).map(|b| b.as_ref()).unwrap_or_default())
    }

    /// Seeds `n` realistic pods (`seed::realistic_pod_bytes(i, namespace)` for `i in 0..n`)
    /// through the bytes fast path. Returns the last RV.
    pub fn insert_realistic_pods(&self, namespace: &str, n: usize) -> u64 {
        let gvr = GroupVersionResource::new("", "v1", "pods");
        self.insert_generated(&gvr, n, |i| super::seed::realistic_pod_bytes(i, namespace))
    }

    /// Encodes `gen(0..n)` in parallel (under the store lock, so the resourceVersions are
    /// consecutive), then commits in order, telling watchers in batches.
    fn insert_generated<R: AsRef<[u8]>>(
        &self,
        gvr: &GroupVersionResource,
        n: usize,
        gen: impl Fn(usize) -> R + Sync,
    ) -> u64 {
        let now = super::server::now_rfc3339();
        let mut st = self.shared.state.lock();
        let Some(info) = st.registry.get(&gvr.group, &gvr.version, &gvr.resource).cloned() else {
            return st.store.rv;
        };
        let res = (gvr.group.clone(), gvr.resource.clone());
        let fields = super::field_selectors::selectable(&info);
        let base = st.store.rv + 1;
        let encode_range = |range: std::ops::Range<usize>| -> Vec<Option<super::store::Obj>> {
            range
                .map(|i| {
                    let uid = super::server::new_uid();
                    let defaults = [("uid", uid.as_str()), ("creationTimestamp", now.as_str())];
                    encode_bytes(gen(i).as_ref(), base + i as u64, fields, &defaults).ok()
                })
                .collect()
        };
        let threads = if n < 2048 { 1 } else { std::thread::available_parallelism().map_or(1, |p| p.get()).min(8) };
        let chunk = n.div_ceil(threads.max(1)).max(1);
        let encoded: Vec<Option<super::store::Obj>> = if threads <= 1 {
            encode_range(0..n)
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..n)
                    .step_by(chunk)
                    .map(|start| {
                        let encode_range = &encode_range;
                        s.spawn(move || encode_range(start..(start + chunk).min(n)))
                    })
                    .collect();
                handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
            })
        };
        let mut batch = Vec::with_capacity(NOTIFY_BATCH);
        for obj in encoded.into_iter().flatten() {
            let kind =
                if st.store.get(&res, &obj.ns, &obj.name).is_some() { EventKind::Modified } else { EventKind::Added };
            batch.push(st.store.commit_quiet(&res, kind, obj));
            if batch.len() == NOTIFY_BATCH {
                st.store.notify(&res, &batch);
                batch.clear();
            }
        }
        st.store.notify(&res, &batch);
        st.store.rv
    }

    /// Generates `n` MODIFIED events fast: objects of the resource are re-stored in key order
    /// (cycling) with a new resourceVersion and otherwise identical content. Returns the last RV.
    pub fn modify_many(&self, gvr: &GroupVersionResource, n: usize) -> u64 {
        let mut st = self.shared.state.lock();
        let res = (gvr.group.clone(), gvr.resource.clone());
        let objs: Vec<_> = match st.store.tables.get(&res) {
            Some(t) if !t.objects.is_empty() => t.objects.values().cloned().collect(),
            _ => return st.store.rv,
        };
        let mut batch = Vec::with_capacity(NOTIFY_BATCH);
        for i in 0..n {
            let rv = st.store.next_rv();
            let o = objs[i % objs.len()].with_rv(rv);
            batch.push(st.store.commit_quiet(&res, EventKind::Modified, o));
            if batch.len() == NOTIFY_BATCH {
                st.store.notify(&res, &batch);
                batch.clear();
            }
        }
        st.store.notify(&res, &batch);
        st.store.rv
    }
}
