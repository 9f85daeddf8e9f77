//! What a reflector reports about itself, for metrics, without depending on a metrics crate
//! (the reflector metrics client-go's `tools/cache` used to export: lists, watches, items per
//! list and per watch).
//!
//! Contract: a reflector whose [`ReflectorMetricsSink`] holds a [`ReflectorMetrics`] calls
//! - [`ReflectorMetrics::list`] once per complete list: a paged list after its last page (all
//!   pages together), a streaming list when its initial events end, and a list that failed,
//!   with `ok: false`;
//! - [`ReflectorMetrics::watch_started`] when a watch is established (a streaming list's watch
//!   when its initial events end), and [`ReflectorMetrics::watch`] once per established watch
//!   when it ends (closed by the server, failed, idle or cancelled), with the events it
//!   delivered.
//!
//! Calls happen on the reflector's task, never per event and never under a lock; they must be
//! short and must not block. The sink is a shared slot: a sink set on it after the informers
//! were built (as `rudder-controller`'s Manager does when it starts serving `/metrics`) reaches
//! every reflector holding a clone of the slot from then on.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

/// One complete list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListDone {
    /// Objects received.
    pub items: usize,
    /// From the first request to the last item.
    pub duration: Duration,
    /// Whether it was a streaming list (a watch with `sendInitialEvents`).
    pub streaming: bool,
    /// Whether it completed (false: it failed and nothing was stored).
    pub ok: bool,
}

impl ListDone {
    /// A report as a reflector makes it (for testing a [`ReflectorMetrics`]).
    pub fn new(items: usize, duration: Duration, streaming: bool, ok: bool) -> Self {
        Self { items, duration, streaming, ok }
    }
}

/// One watch, from its response to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchDone {
    /// Events delivered (bookmarks included, initial events of a streaming list not).
    pub events: usize,
    /// How long it ran.
    pub duration: Duration,
}

/// Receives a reflector's lists and watches; see the module docs. Every method defaults to
/// doing nothing. `name` is the informer's name (e.g. `pods`).
pub trait ReflectorMetrics: Send + Sync + 'static {
    /// A list finished.
    fn list(&self, name: &str, done: &ListDone) {
        let _ = (name, done);
    }
    /// A watch was established.
    fn watch_started(&self, name: &str) {
        let _ = name;
    }
    /// A watch ended.
    fn watch(&self, name: &str, done: &WatchDone) {
        let _ = (name, done);
    }
}

/// A shared, settable slot for a [`ReflectorMetrics`]; empty by default (nothing is reported).
/// Clones share the slot.
#[derive(Clone, Default)]
pub struct ReflectorMetricsSink(Arc<RwLock<Option<Arc<dyn ReflectorMetrics>>>>);

impl fmt::Debug for ReflectorMetricsSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReflectorMetricsSink").field("set", &self.0.read().is_some()).finish()
    }
}

impl ReflectorMetricsSink {
    /// Reports to `metrics` from now on (replacing what was set before).
    pub fn set(&self, metrics: Arc<dyn ReflectorMetrics>) {
        *self.0.write() = Some(metrics);
    }

    pub(crate) fn list(&self, name: &str, done: ListDone) {
        let m = self.0.read().clone();
        if let Some(m) = m {
            m.list(name, &done);
        }
    }

    pub(crate) fn watch_started(&self, name: &str) {
        let m = self.0.read().clone();
        if let Some(m) = m {
            m.watch_started(name);
        }
    }

    pub(crate) fn watch(&self, name: &str, done: WatchDone) {
        let m = self.0.read().clone();
        if let Some(m) = m {
            m.watch(name, &done);
        }
    }
}
