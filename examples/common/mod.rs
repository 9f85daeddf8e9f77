//! Shared by the examples (included with `mod common;`, not an example itself): connects to a
//! cluster and says how in the first line of output.
//!
//! Order: the current kubeconfig / in-cluster config (`Config::infer`), else an embedded API
//! server started in-process, so every example runs anywhere.
//!
//! Examples that write call [`connect_to_write`]: on a real cluster they first say which
//! cluster, context and namespace they would write to, and go on only when run with `--yes`;
//! each deletes what it created before it ends.
//!
//! [`wait_for`] is how an example (and its test) waits for the cluster to reach a state: it
//! polls a check until it holds or a deadline passes, and answers an error naming what was
//! awaited instead of panicking.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use rudder_apiserver::ApiServer;
use rudder_client::{Client, Config};

/// A connected client; keeps the embedded server (if any) alive while it lives.
pub struct Connection {
    /// The client.
    pub client: Client,
    /// The embedded server, when no cluster config was found.
    #[allow(dead_code)]
    pub server: Option<ApiServer>,
}

/// Connects, printing where to.
pub async fn connect() -> Result<Connection, Box<dyn std::error::Error>> {
    if let Some(config) = infer_config().await {
        println!("using the current kubeconfig context / in-cluster config: {}", config.redacted_server_url());
        return Ok(Connection { client: Client::new(config)?, server: None });
    }
    let server = ApiServer::start().await?;
    println!("no cluster configuration found: using an embedded API server at {}", server.url());
    Ok(Connection { client: server.client(), server: Some(server) })
}

/// Connects for an example that creates and deletes objects in the returned namespace. On a real
/// cluster it names the cluster, context and namespace, and refuses unless `--yes` was passed.
#[allow(dead_code)] // examples that only read do not call it
pub async fn connect_to_write() -> Result<(Connection, String), Box<dyn std::error::Error>> {
    let conn = connect().await?;
    let namespace = conn.client.default_namespace().to_string();
    if conn.server.is_none() {
        let config = conn.client.config();
        let context = config.context.as_deref().unwrap_or("(in-cluster)");
        println!("this example writes to namespace {namespace:?} of that cluster (context {context}) and deletes what it creates");
        if !std::env::args().any(|a| a == "--yes") {
            return Err("not writing to a real cluster without --yes (pass `-- --yes` to cargo run)".into());
        }
    }
    Ok((conn, namespace))
}

/// The one place that decides whether a real cluster is used: `Config::infer` (the current
/// kubeconfig, else in-cluster); `None` when neither exists.
async fn infer_config() -> Option<Config> {
    match Config::infer().await {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("no cluster configuration ({e})");
            None
        }
    }
}

/// The `--for N` argument (whole seconds): `None` when absent, an error when N is not a whole
/// number of seconds.
#[allow(dead_code)] // not every example runs on
pub fn for_seconds() -> Result<Option<Duration>, String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--for") {
        None => Ok(None),
        Some(i) => args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .map(|n| Some(Duration::from_secs(n)))
            .ok_or_else(|| "--for takes whole seconds".to_owned()),
    }
}

/// An example's exit: 0, or `<name> FAILED: <error>` on stderr and 1.
#[allow(dead_code)] // examples that cannot fail do not call it
pub fn exit_code(name: &str, result: Result<(), impl std::fmt::Display>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name} FAILED: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// What a [`wait_for`] check answers: `true`, or `Some(value)`, ends the wait.
#[allow(dead_code)] // examples that do not wait do not use it
pub trait Awaited {
    /// What the wait returns.
    type Value;
    /// `Some` when the awaited state has been reached.
    fn reached(self) -> Option<Self::Value>;
}

impl Awaited for bool {
    type Value = ();
    fn reached(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Awaited for Option<T> {
    type Value = T;
    fn reached(self) -> Option<T> {
        self
    }
}

/// Runs `check` every 100 ms until it answers `true` (or `Some(value)`, which is returned), for
/// at most `deadline`. The error names `what` was awaited and why the wait ended: the deadline
/// passed, or a check failed (a failed check ends the wait; a check still running at the
/// deadline is dropped).
#[allow(dead_code)] // examples that do not wait do not call it
pub async fn wait_for<A, F, Fut>(
    what: impl Display,
    deadline: Duration,
    mut check: F,
) -> Result<A::Value, Box<dyn std::error::Error + Send + Sync>>
where
    A: Awaited,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<A, rudder_client::Error>>,
{
    let poll = rudder_controller::wait::poll_until(Duration::from_millis(100), deadline, || {
        let f = check();
        async move { f.await.map(A::reached) }
    });
    poll.await.map_err(|e| format!("waiting for {what}: {e}").into())
}
