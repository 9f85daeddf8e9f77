//! Graceful deletion, as kube-apiserver's generic registry (`rest.BeforeDelete`,
//! `markAsDeleting`, `ShouldDeleteDuringUpdate`) and the pod strategy's `CheckGracefulDelete` do
//! it, and the kubelet's confirmation that finishes it.
//!
//! Contract:
//! - Only Pods delete gracefully. A pod's grace period is the request's `gracePeriodSeconds`,
//!   else its `spec.terminationGracePeriodSeconds` (defaulted to 30), and 0 when the pod is not
//!   bound to a node (`spec.nodeName` empty) or has finished (phase `Succeeded`/`Failed`); a
//!   negative grace period counts as 1 s. The first DELETE sets `deletionTimestamp` (now +
//!   grace) and `deletionGracePeriodSeconds` and bumps `generation`; with a grace period of 0
//!   the pod then goes at once, otherwise it stays (Terminating) until a kubelet confirms.
//! - A later DELETE may only shorten the grace period (the deadline moves by the difference);
//!   an equal or longer one, or none, changes nothing.
//! - Finalizers hold any object after its grace period: an object whose last finalizer goes is
//!   removed only when its `deletionGracePeriodSeconds` is 0 (or absent). Objects without
//!   graceful deletion that have finalizers are marked deleting with a grace period of 0.
//! - [`Control::finish_deletion`] and [`Control::finish_all_deletions`] confirm as a kubelet
//!   would (a DELETE with grace period 0 and the pod's uid as precondition).
//!   [`ApiServerBuilder::finish_deletions_after_grace`](crate::ApiServerBuilder::finish_deletions_after_grace)
//!   makes the server confirm by itself when a pod's grace period ends (off by default, so
//!   tests see Terminating pods until they confirm).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::control::Control;
use crate::handlers::meta_mut;
use crate::registry::ResourceInfo;
use crate::server::{Shared, State};

/// What `rest.BeforeDelete` decided for one DELETE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Before {
    /// The kind has no graceful deletion, or the object's grace period is already 0: delete
    /// now unless finalizers hold it.
    NotGraceful,
    /// The object was marked (or its grace period shortened) to this many seconds.
    Graceful(i64),
    /// A graceful deletion is already under way and this request does not shorten it.
    Pending,
}

/// Whether a resource deletes gracefully (only Pods do among the built-in kinds).
pub(crate) fn is_graceful_kind(info: &ResourceInfo) -> bool {
    info.api.group.is_empty() && info.api.plural == "pods"
}

/// The pod strategy's `CheckGracefulDelete`: the grace period a DELETE gives this pod.
pub(crate) fn pod_grace_period(pod: &Value, requested: Option<i64>) -> i64 {
    let mut period =
        requested.or_else(|| pod.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64)).unwrap_or(0);
    if pod.pointer("/spec/nodeName").and_then(Value::as_str).is_none_or(str::is_empty) {
        period = 0;
    }
    if matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed")) {
        period = 0;
    }
    if period < 0 {
        period = 1;
    }
    period
}

fn timestamp(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(crate) fn parse_time(v: &Value) -> Option<jiff::Timestamp> {
    v.as_str()?.parse().ok()
}

fn bump_generation(m: &mut Map<String, Value>) {
    if let Some(g) = m.get("generation").and_then(Value::as_i64).filter(|g| *g > 0) {
        m.insert("generation".into(), Value::from(g + 1));
    }
}

/// `rest.BeforeDelete` on the object's JSON `v` (changed in place when the answer is
/// `Graceful`). `grace` is the request's `gracePeriodSeconds`.
pub(crate) fn before_delete(info: &ResourceInfo, v: &mut Value, grace: Option<i64>) -> Before {
    let grace = grace.map(|g| if g < 0 { 1 } else { g });
    if !is_graceful_kind(info) {
        return Before::NotGraceful;
    }
    let now = jiff::Timestamp::now();
    let m = meta_mut(v);
    if let Some(ts) = m.get("deletionTimestamp").filter(|t| !t.is_null()) {
        // A negative grace period on record counts as 1 s.
        let current = m.get("deletionGracePeriodSeconds").and_then(Value::as_i64).map(|g| if g < 0 { 1 } else { g });
        let Some(current) = current.filter(|g| *g != 0) else { return Before::NotGraceful };
        return match grace {
            Some(period) if period < current => {
                let deadline = parse_time(ts).unwrap_or(now);
                let moved = deadline.checked_sub(jiff::SignedDuration::from_secs(current - period)).unwrap_or(deadline);
                m.insert("deletionTimestamp".into(), Value::String(timestamp(moved)));
                m.insert("deletionGracePeriodSeconds".into(), Value::from(period));
                Before::Graceful(period)
            }
            _ => Before::Pending,
        };
    }
    let period = pod_grace_period(v, grace);
    let deadline = now.checked_add(jiff::SignedDuration::from_secs(period)).unwrap_or(now);
    let m = meta_mut(v);
    m.insert("deletionTimestamp".into(), Value::String(timestamp(deadline)));
    m.insert("deletionGracePeriodSeconds".into(), Value::from(period));
    bump_generation(m);
    Before::Graceful(period)
}

/// `markAsDeleting`: a deletion held by finalizers on a kind without (or past) graceful
/// deletion: grace period 0, `deletionTimestamp` now unless an earlier one is set, and the
/// generation bumped on the first mark.
pub(crate) fn mark_as_deleting(v: &mut Value) {
    let now = jiff::Timestamp::now();
    let m = meta_mut(v);
    let existing = m.get("deletionTimestamp").and_then(parse_time);
    if existing.is_none() {
        bump_generation(m);
    }
    if existing.is_none_or(|t| t > now) {
        m.insert("deletionTimestamp".into(), Value::String(timestamp(now)));
    }
    m.insert("deletionGracePeriodSeconds".into(), Value::from(0));
}

/// The finalizers of an object.
pub(crate) fn finalizers(v: &Value) -> Vec<String> {
    v.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// Whether an object is being deleted.
pub(crate) fn is_deleting(v: &Value) -> bool {
    v.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
}

/// `ShouldDeleteDuringUpdate` (with the namespace registry's extra rule): an update removes the
/// object when it was being deleted, no finalizer is left, its grace period is over (0 or
/// absent), and, for a Namespace, `spec.finalizers` is empty too.
pub(crate) fn should_delete_during_update(info: &ResourceInfo, old: &Value, new: &Value) -> bool {
    if !finalizers(new).is_empty() || !is_deleting(old) {
        return false;
    }
    if info.api.group.is_empty() && info.api.plural == "namespaces" {
        let spec_fins = new.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
        if spec_fins {
            return false;
        }
    }
    old.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).is_none_or(|g| g == 0)
}

/// After a pod was marked for graceful deletion: with
/// [`finish_deletions_after_grace`](crate::ApiServerBuilder::finish_deletions_after_grace) on,
/// confirms it when the grace period ends (if the same pod is still waiting by then).
pub(crate) fn schedule_finish(shared: &Arc<Shared>, ns: &str, name: &str, uid: &str, grace: i64) {
    if !shared.opts.finish_deletions_after_grace || grace <= 0 {
        return;
    }
    let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
    let (shared, ns, name, uid) = (Arc::downgrade(shared), ns.to_string(), name.to_string(), uid.to_string());
    // Waits exactly the grace period: the task ends with it, or with the server (weak handle).
    rt.spawn(async move {
        tokio::time::sleep(Duration::from_secs(grace.unsigned_abs())).await;
        let Some(shared) = shared.upgrade() else { return };
        let mut st = shared.state.lock();
        let due = pod_value(&st, &ns, &name).is_some_and(|v| {
            let deadline = v.pointer("/metadata/deletionTimestamp").and_then(parse_time);
            v.pointer("/metadata/uid").and_then(Value::as_str) == Some(uid.as_str())
                && deadline.is_some_and(|d| d <= jiff::Timestamp::now())
        });
        if due {
            confirm(&shared, &mut st, &ns, &name);
        }
    });
}

fn pod_value(st: &State, ns: &str, name: &str) -> Option<Value> {
    st.store.get(&(String::new(), "pods".into()), ns, name).map(|o| o.value())
}

/// The kubelet's confirmation: DELETE with grace period 0 and the pod's uid as precondition.
/// Returns whether the pod was waiting for one.
pub(crate) fn confirm(shared: &Arc<Shared>, st: &mut State, ns: &str, name: &str) -> bool {
    let Some(v) = pod_value(st, ns, name) else { return false };
    let waiting =
        is_deleting(&v) && v.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64) != Some(0);
    if !waiting {
        return false;
    }
    let Some(t) = crate::handlers::target_of(st, &(String::new(), "pods".into())) else { return false };
    let o = crate::handlers::DeleteOpts {
        grace: Some(0),
        uid: v.pointer("/metadata/uid").and_then(Value::as_str).map(String::from),
        ..Default::default()
    };
    crate::handlers::delete_object(shared, st, &t, ns, name, &o).is_ok()
}

impl Control {
    /// Confirms a pod's graceful deletion as its kubelet would once the containers stopped: the
    /// pod goes (or, if finalizers hold it, waits for them with a grace period of 0). Returns
    /// whether the pod was waiting for a confirmation.
    pub fn finish_deletion(&self, namespace: &str, name: &str) -> bool {
        let mut st = self.shared.state.lock();
        confirm(&self.shared, &mut st, namespace, name)
    }

    /// [`Control::finish_deletion`] for every pod waiting for one; returns how many were.
    pub fn finish_all_deletions(&self) -> usize {
        let mut st = self.shared.state.lock();
        let waiting: Vec<(String, String)> = st
            .store
            .tables
            .get(&(String::new(), "pods".into()))
            .map(|t| t.objects.keys().cloned().collect())
            .unwrap_or_default();
        waiting.into_iter().filter(|(ns, name)| confirm(&self.shared, &mut st, ns, name)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pods() -> ResourceInfo {
        ResourceInfo::of::<k8s_openapi::api::core::v1::Pod>()
    }

    #[test]
    fn pod_grace_follows_the_pod_strategy() {
        let bound = json!({"spec":{"nodeName":"n","terminationGracePeriodSeconds":45}});
        assert_eq!(pod_grace_period(&bound, None), 45);
        assert_eq!(pod_grace_period(&bound, Some(5)), 5);
        assert_eq!(pod_grace_period(&bound, Some(-3)), 1);
        assert_eq!(pod_grace_period(&json!({"spec":{}}), Some(30)), 0, "unbound");
        let done = json!({"spec":{"nodeName":"n"},"status":{"phase":"Succeeded"}});
        assert_eq!(pod_grace_period(&done, Some(30)), 0, "finished");
    }

    #[test]
    fn later_deletes_only_shorten() {
        let mut v = json!({"metadata":{"generation":1},"spec":{"nodeName":"n","terminationGracePeriodSeconds":30}});
        assert_eq!(before_delete(&pods(), &mut v, None), Before::Graceful(30));
        assert_eq!(v["metadata"]["generation"], 2);
        let first = parse_time(&v["metadata"]["deletionTimestamp"]).unwrap();
        assert_eq!(before_delete(&pods(), &mut v, Some(60)), Before::Pending);
        assert_eq!(before_delete(&pods(), &mut v, None), Before::Pending);
        assert_eq!(before_delete(&pods(), &mut v, Some(10)), Before::Graceful(10));
        let moved = parse_time(&v["metadata"]["deletionTimestamp"]).unwrap();
        assert_eq!(first.duration_since(moved).as_secs(), 20);
        assert_eq!(v["metadata"]["generation"], 2, "only the first mark bumps the generation");
        assert_eq!(before_delete(&pods(), &mut v, Some(0)), Before::Graceful(0));
        assert_eq!(before_delete(&pods(), &mut v, Some(5)), Before::NotGraceful, "grace 0: delete now");
    }
}
