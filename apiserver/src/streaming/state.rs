//! What tests register for the streaming endpoints of one server (exec and attach handlers,
//! port targets, container file systems), kept beside the server's `Shared` state.
//!
//! Contract: one [`Streams`] per server, created on first use and dropped with the server (the
//! table holds it only while the server's `Shared` is alive). Lookups go from the most
//! specific registration (pod and container) to the least (pod), then to the built-ins.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;

use super::exec::ExecHandler;
use super::fs::Fs;
use crate::server::Shared;

/// `(namespace, pod, container)`; an empty container matches every container of the pod.
pub(crate) type ContainerKey = (String, String, String);

/// One server's registrations.
#[derive(Default)]
pub(crate) struct Streams {
    pub(crate) exec: Mutex<HashMap<ContainerKey, ExecHandler>>,
    pub(crate) attach: Mutex<HashMap<ContainerKey, ExecHandler>>,
    /// `(namespace, pod, port)` to the address that answers for it.
    pub(crate) ports: Mutex<HashMap<(String, String, u16), SocketAddr>>,
    /// Each container's files (created on first use).
    pub(crate) files: Mutex<HashMap<ContainerKey, Arc<Mutex<Fs>>>>,
    /// Responders started by `Control::serve_http`, stopped with these registrations.
    pub(crate) responders: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Drop for Streams {
    fn drop(&mut self) {
        for r in self.responders.get_mut().drain(..) {
            r.abort();
        }
    }
}

impl Streams {
    /// The most specific handler registered in `map` for the container.
    pub(crate) fn handler(map: &Mutex<HashMap<ContainerKey, ExecHandler>>, key: &ContainerKey) -> Option<ExecHandler> {
        let map = map.lock();
        map.get(key).or_else(|| map.get(&(key.0.clone(), key.1.clone(), String::new()))).cloned()
    }

    /// The container's file system.
    pub(crate) fn fs(&self, key: &ContainerKey) -> Arc<Mutex<Fs>> {
        self.files.lock().entry(key.clone()).or_insert_with(|| Arc::new(Mutex::new(Fs::new()))).clone()
    }
}

type Table = Mutex<Vec<(Weak<Shared>, Arc<Streams>)>>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(Table::default)
}

/// The registrations of the server whose state is `shared`.
pub(crate) fn of(shared: &Arc<Shared>) -> Arc<Streams> {
    let mut t = table().lock();
    t.retain(|(w, _)| w.strong_count() > 0);
    if let Some((_, s)) = t.iter().find(|(w, _)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(shared))) {
        return s.clone();
    }
    let s = Arc::new(Streams::default());
    t.push((Arc::downgrade(shared), s.clone()));
    s
}
