//! The servers benchmarks run against, each on its OWN tokio runtime (own threads), so the
//! client under test never shares workers with the server.
//!
//! Contract: [`BenchServer::start`] returns once the server listens on 127.0.0.1 and holds `n`
//! realistic pods; [`BenchServer::trigger`] returns a [`Trigger`] that makes it emit MODIFIED
//! events (run on the server's runtime); [`BenchServer::expire_watches`] ends every open watch
//! and answers the next watch request with a 410 Expired ERROR event (what a client whose
//! resourceVersion fell out of the server's history gets), so clients relist;
//! [`BenchServer::request_counts`] counts the pod lists and watches served;
//! [`BenchServer::serve_control`] offers both to other processes ([`control`]). Dropping the
//! server stops it.
//!
//! Backends ([`Backend`], chosen with `RUDDER_BENCH_SERVER=embedded|replay`):
//! - `embedded`: rudder's embedded API server (`rudder_apiserver::ApiServer`), the
//!   the default;
//! - `replay`: [`replay::ReplayServer`], pre-rendered JSON, nearly free server side.

pub mod control;
pub mod replay;

use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use rudder_apimachinery::schema::GroupVersionResource;
use rudder_apiserver::seed::realistic_pod_bytes;
use rudder_apiserver::ApiServer;

use crate::{BenchError, Result, Trigger};
use control::{Controlled, RequestCounts};

/// Which server implementation to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `rudder_apiserver::ApiServer`.
    Embedded,
    /// [`replay::ReplayServer`].
    Replay,
}

impl Backend {
    /// From `RUDDER_BENCH_SERVER` (default: [`Backend::default_backend`]).
    pub fn from_env() -> Result<Backend> {
        match std::env::var("RUDDER_BENCH_SERVER").as_deref() {
            Err(_) | Ok("") => Ok(Backend::default_backend()),
            Ok(s) => Backend::parse(s)
                .ok_or_else(|| BenchError(format!("RUDDER_BENCH_SERVER={s:?}: expected embedded or replay"))),
        }
    }

    /// Parses `embedded` / `replay`.
    pub fn parse(s: &str) -> Option<Backend> {
        match s {
            "embedded" => Some(Backend::Embedded),
            "replay" => Some(Backend::Replay),
            _ => None,
        }
    }

    /// The name [`Backend::parse`] accepts.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Replay => "replay",
        }
    }

    /// The backend used when none is asked for.
    pub fn default_backend() -> Backend {
        Backend::Embedded
    }
}

enum Handle {
    Replay(replay::ReplayServer),
    Embedded(Box<ApiServer>),
}

/// Pods are spread over this many namespaces (`bench-0` ...).
pub const NAMESPACES: usize = 10;

fn pods_gvr() -> GroupVersionResource {
    GroupVersionResource::new("", "v1", "pods")
}

/// Inserts `n` realistic pods into the embedded server, in batches.
fn seed_embedded(server: &ApiServer, n: usize) {
    let control = server.control();
    let mut i = 0;
    while i < n {
        let end = (i + 5_000).min(n);
        let batch = (i..end)
            .map(|j| Bytes::from(realistic_pod_bytes(j, &format!("bench-{}", j % NAMESPACES))))
            .collect::<Vec<Bytes>>();
        control.insert_many_bytes(&pods_gvr(), batch);
        i = end;
    }
}

/// A running server with its own runtime.
pub struct BenchServer {
    url: String,
    handle: Handle,
    rt: Option<tokio::runtime::Runtime>,
}

impl BenchServer {
    /// Starts `backend` holding `n` pods, on a new runtime with `threads` worker threads.
    pub fn start(backend: Backend, n: usize, threads: usize) -> Result<BenchServer> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("server")
            .enable_all()
            .build()
            .map_err(|e| BenchError::ctx("building the server runtime", e))?;
        let (url, handle) = match backend {
            Backend::Replay => {
                let s = replay::ReplayServer::seeded(n)?;
                let addr = rt.block_on(s.serve())?;
                (format!("http://{addr}"), Handle::Replay(s))
            }
            Backend::Embedded => {
                let server = rt.block_on(ApiServer::start()).map_err(|e| BenchError::ctx("embedded API server", e))?;
                seed_embedded(&server, n);
                (server.url().to_string().trim_end_matches('/').to_string(), Handle::Embedded(Box::new(server)))
            }
        };
        Ok(BenchServer { url, handle, rt: Some(rt) })
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Makes the server emit MODIFIED events (on the server's runtime).
    pub fn trigger(&self) -> Trigger {
        let rt = match &self.rt {
            Some(rt) => rt.handle().clone(),
            None => unreachable!("the runtime lives as long as the server"),
        };
        match &self.handle {
            Handle::Replay(s) => {
                let s = s.clone();
                Arc::new(move |n| {
                    let s = s.clone();
                    let job = rt.spawn(async move { s.modify(n).await });
                    async move { job.await.map_err(|e| BenchError::ctx("modify task", e)) }.boxed()
                })
            }
            Handle::Embedded(s) => {
                let control = s.control();
                Arc::new(move |n| {
                    let control = control.clone();
                    // In chunks, so the server's watch tasks stream while events are generated.
                    let job = rt.spawn(async move {
                        let mut left = n;
                        while left > 0 {
                            let chunk = left.min(1_000);
                            control.modify_many(&pods_gvr(), chunk);
                            left -= chunk;
                            tokio::task::yield_now().await;
                        }
                    });
                    async move { job.await.map_err(|e| BenchError::ctx("modify task", e)) }.boxed()
                })
            }
        }
    }
}

impl BenchServer {
    fn controlled(&self) -> Arc<dyn Controlled> {
        match &self.handle {
            Handle::Replay(s) => Arc::new(s.clone()),
            Handle::Embedded(s) => Arc::new(EmbeddedControl(s.control())),
        }
    }

    /// Ends every open watch; the next watch request (whatever its parameters) gets a 410
    /// Expired ERROR event, so a client that resumes its watch must relist.
    pub fn expire_watches(&self) {
        self.controlled().expire_watches();
    }

    /// Pod lists and watches served so far.
    pub fn request_counts(&self) -> RequestCounts {
        self.controlled().request_counts()
    }

    /// Serves [`control`]'s port for this server (on the server's runtime); its address.
    pub fn serve_control(&self) -> Result<std::net::SocketAddr> {
        let rt = self.rt.as_ref().ok_or_else(|| BenchError("the server has stopped".into()))?;
        rt.block_on(control::serve(self.controlled()))
    }
}

/// [`Controlled`] for the embedded server, through its fault injection.
struct EmbeddedControl(rudder_apiserver::Control);

impl Controlled for EmbeddedControl {
    fn expire_watches(&self) {
        // The fault first: the watch a client opens when its stream ends must already fail.
        self.0.fail_next(1, "watch", "pods", 410);
        self.0.drop_watches();
    }

    fn request_counts(&self) -> RequestCounts {
        RequestCounts { lists: self.0.request_count("list", "pods"), watches: self.0.request_count("watch", "pods") }
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
