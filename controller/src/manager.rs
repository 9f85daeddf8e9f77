//! [`Manager`]: runs several controllers and tasks over one shared informer factory, with
//! optional leader election, signal handling and health probes (controller-runtime's
//! `Manager`).
//!
//! Contract of [`Manager::run`]:
//! - Tasks added with `leader_only: false` start at once; controllers and `leader_only` tasks
//!   start at once without leader election, or when this process acquires the Lease with it.
//! - With leader election and [`Manager::keep_informers_warm`], a standby starts every
//!   controller's informers before it leads, so a new leader starts reconciling from a synced
//!   cache.
//! - Losing the Lease stops reconciling at once: no key is taken after the loss and in-flight
//!   reconciles are abandoned (not awaited), then `run` stops everything and returns
//!   [`ManagerError::LeadershipLost`] (as controller-runtime exits; restart the process to
//!   compete again).
//! - Shutdown (the token given to `run`, or SIGTERM/SIGINT when [`Manager::handle_signals`] is
//!   on, the default): controllers stop as [`Controller::run`] describes (each with its own
//!   shutdown deadline, and always awaited: each stops its own informers), tasks are told
//!   through their token and awaited up to the manager's `shutdown_timeout` (default
//!   [`DEFAULT_SHUTDOWN_TIMEOUT`](crate::DEFAULT_SHUTDOWN_TIMEOUT); then abandoned,
//!   [`ManagerError::TasksAbandoned`]), then the Lease is released (if leading and so
//!   configured) and the shared informers stopped.
//! - A controller failing (its caches did not sync, a bad selector) stops the whole manager,
//!   which returns [`ManagerError::Controller`] naming it.
//! - Health probes ([`Manager::health_probe_address`]) and Prometheus metrics
//!   ([`Manager::metrics_address`]): see [`crate::endpoints`]. With metrics on, the manager's
//!   client (and every clone of it) reports its requests to the registry
//!   ([`Client::set_request_metrics`], replacing any sink set before), and so do the
//!   informers of its factory, their lists and watches
//!   ([`SharedInformerFactory::set_reflector_metrics`]). The addresses the
//!   endpoints actually listen on (port 0 picks a free one) are read through
//!   [`Manager::bound_addresses`].

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use rudder_apimachinery::meta::HasMetadata;
use rudder_apimachinery::resource::Resource;
use rudder_client::Client;
use rudder_informer::leaderelection::{ConfigError, LeaderCallbacks, LeaderElectionConfig, LeaderElector};
use rudder_informer::SharedInformerFactory;

use crate::action::Action;
use crate::context::Context;
use crate::controller::{Controller, DEFAULT_SHUTDOWN_TIMEOUT};
use crate::endpoints::{health_routes, EndpointServer, Readiness, Route};
use crate::error::ControllerError;
use crate::key::ObjectKey;
use crate::metrics::ControllerMetrics;
use crate::prometheus::{ControllersCollector, ReflectorPromMetrics, RestClientMetrics};
use crate::source::WatchOptions;

/// Why a manager stopped other than by a clean shutdown.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// A controller failed.
    #[error("controller {name}: {source}")]
    Controller {
        /// The controller's name.
        name: String,
        /// Its error.
        source: ControllerError,
    },
    /// The leader election configuration is invalid.
    #[error("leader election: {0}")]
    LeaderElection(#[from] ConfigError),
    /// This process led and lost the Lease; everything was stopped.
    #[error("leadership lost")]
    LeadershipLost,
    /// A health probe or metrics listener could not be bound.
    #[error("endpoint on {addr}: {source}")]
    Endpoint {
        /// The address.
        addr: SocketAddr,
        /// The bind error.
        source: std::io::Error,
    },
    /// Signal handlers could not be installed.
    #[error("installing signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    /// Tasks were still running at the shutdown deadline and were abandoned.
    #[error("{0} task(s) still running after the shutdown deadline were abandoned")]
    TasksAbandoned(usize),
}

/// Something the manager runs: a controller with its reconcile, or a task.
trait Runnable: Send {
    fn name(&self) -> &str;
    fn is_controller(&self) -> bool;
    fn leader_only(&self) -> bool;
    fn warm(&self);
    /// Runs until `shutdown`; `abandon` ends the wait for in-flight work at once.
    fn run(self: Box<Self>, shutdown: CancellationToken, abandon: CancellationToken) -> BoxFuture<'static, Outcome>;
}

enum Outcome {
    Controller(String, Result<(), ControllerError>),
    Task,
}

type ReconcileRun<K> = Box<
    dyn FnOnce(Controller<K>, CancellationToken, CancellationToken) -> BoxFuture<'static, Result<(), ControllerError>>
        + Send,
>;

struct ControllerRunnable<K> {
    name: String,
    controller: Controller<K>,
    run: ReconcileRun<K>,
}

impl<K> Runnable for ControllerRunnable<K>
where
    K: Resource + HasMetadata + DeserializeOwned + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }
    fn is_controller(&self) -> bool {
        true
    }
    fn leader_only(&self) -> bool {
        true
    }
    fn warm(&self) {
        self.controller.start_informers();
    }
    fn run(self: Box<Self>, shutdown: CancellationToken, abandon: CancellationToken) -> BoxFuture<'static, Outcome> {
        let this = *self;
        Box::pin(async move {
            let r = (this.run)(this.controller, shutdown, abandon).await;
            Outcome::Controller(this.name, r)
        })
    }
}

type TaskFn = Box<dyn FnOnce(CancellationToken) -> BoxFuture<'static, ()> + Send>;

struct TaskRunnable {
    name: String,
    leader_only: bool,
    f: TaskFn,
}

impl Runnable for TaskRunnable {
    fn name(&self) -> &str {
        &self.name
    }
    fn is_controller(&self) -> bool {
        false
    }
    fn leader_only(&self) -> bool {
        self.leader_only
    }
    fn warm(&self) {}
    fn run(self: Box<Self>, shutdown: CancellationToken, _abandon: CancellationToken) -> BoxFuture<'static, Outcome> {
        let fut = (self.f)(shutdown);
        Box::pin(async move {
            fut.await;
            Outcome::Task
        })
    }
}

/// Runs controllers and tasks; see the module docs.
///
/// ```no_run
/// # async fn f(client: rudder_client::Client) -> Result<(), rudder_controller::ManagerError> {
/// use k8s_openapi::api::core::v1::ConfigMap;
/// use rudder_controller::{Action, CancellationToken, Context, Manager, ObjectKey, WatchOptions};
/// use rudder_informer::leaderelection::{LeaderElectionConfig, LeaseLock};
///
/// async fn reconcile(key: ObjectKey, _ctx: Context<()>) -> Result<Action, std::convert::Infallible> {
///     println!("{key}");
///     Ok(Action::done())
/// }
///
/// let lock = LeaseLock::new(client.clone(), "kube-system", "my-operator", "pod-1");
/// let mut manager = Manager::new(client)
///     .leader_election(LeaderElectionConfig::new(lock).release_on_cancel(true))
///     .health_probe_address(([0, 0, 0, 0], 8081).into());
/// let controller = manager.controller::<ConfigMap>(WatchOptions::new());
/// manager.add(controller, reconcile, ());
/// manager.run(CancellationToken::new()).await
/// # }
/// ```
pub struct Manager {
    client: Client,
    factory: SharedInformerFactory,
    runnables: Vec<Box<dyn Runnable>>,
    metrics: Vec<(String, ControllerMetrics)>,
    leader_election: Option<LeaderElectionConfig>,
    warm: bool,
    signals: bool,
    health: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    registry: prometheus_client::registry::Registry,
    shutdown_timeout: Duration,
    elector: Arc<Mutex<Option<LeaderElector>>>,
    bound: tokio::sync::watch::Sender<Option<Bound>>,
}

/// The addresses a running manager's endpoints listen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// `/metrics`, if served.
    pub metrics: Option<SocketAddr>,
    /// `/healthz` and `/readyz`, if served.
    pub health: Option<SocketAddr>,
}

/// Tells where a manager's endpoints listen once it has bound them (from
/// [`Manager::bound_addresses`]). Cheap to clone.
#[derive(Debug, Clone)]
pub struct BoundAddresses(tokio::sync::watch::Receiver<Option<Bound>>);

impl BoundAddresses {
    /// Waits until the manager has bound its endpoints; `None` if `run` ended (or was never
    /// called and the manager dropped) before that. Cancel-safe.
    pub async fn wait(&self) -> Option<Bound> {
        let mut rx = self.0.clone();
        rx.wait_for(Option::is_some).await.ok().and_then(|b| *b)
    }
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("runnables", &self.runnables.iter().map(|r| r.name().to_owned()).collect::<Vec<_>>())
            .field("leader_election", &self.leader_election.is_some())
            .field("keep_informers_warm", &self.warm)
            .field("handle_signals", &self.signals)
            .field("health_probe_address", &self.health)
            .finish_non_exhaustive()
    }
}

impl Manager {
    /// A manager with its own informer factory over `client`.
    pub fn new(client: Client) -> Self {
        let factory = SharedInformerFactory::new(client.clone());
        Self::with_factory(client, factory)
    }

    /// A manager sharing `factory` (stopped by the manager when it stops).
    pub fn with_factory(client: Client, factory: SharedInformerFactory) -> Self {
        Self {
            client,
            factory,
            runnables: Vec::new(),
            metrics: Vec::new(),
            leader_election: None,
            warm: false,
            signals: true,
            health: None,
            metrics_addr: None,
            registry: prometheus_client::registry::Registry::default(),
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            elector: Arc::new(Mutex::new(None)),
            bound: tokio::sync::watch::Sender::new(None),
        }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The informer factory every controller of this manager shares.
    pub fn factory(&self) -> &SharedInformerFactory {
        &self.factory
    }

    /// A controller of `K` on the manager's factory (configure it, then [`Manager::add`] it).
    pub fn controller<K>(&self, options: WatchOptions) -> Controller<K>
    where
        K: Resource + HasMetadata + DeserializeOwned + Send + Sync + 'static,
    {
        Controller::with_factory(self.client.clone(), &self.factory, options)
    }

    /// Adds a controller and its reconcile (it runs only while leading, with leader election).
    pub fn add<K, S, R, Fut, E>(&mut self, controller: Controller<K>, reconcile: R, state: S)
    where
        K: Resource + HasMetadata + DeserializeOwned + Send + Sync + 'static,
        S: Send + Sync + 'static,
        R: Fn(ObjectKey, Context<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        let name = controller.controller_name().to_owned();
        self.metrics.push((name.clone(), controller.metrics()));
        let run: ReconcileRun<K> = Box::new(move |c: Controller<K>, shutdown, abandon| {
            Box::pin(c.run_until(reconcile, state, shutdown, abandon))
        });
        self.runnables.push(Box::new(ControllerRunnable { name, controller, run }));
    }

    /// Adds a task: it gets a token cancelled at shutdown (or when leadership ends, if
    /// `leader_only`) and should return soon after.
    pub fn add_task<F, Fut>(&mut self, name: &str, leader_only: bool, f: F)
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let f: TaskFn = Box::new(move |token| Box::pin(f(token)));
        self.runnables.push(Box::new(TaskRunnable { name: name.to_owned(), leader_only, f }));
    }

    /// Runs controllers only while holding the Lease `config` describes.
    pub fn leader_election(mut self, config: LeaderElectionConfig) -> Self {
        self.leader_election = Some(config);
        self
    }

    /// With leader election, starts the controllers' informers while waiting to lead
    /// (default off).
    pub fn keep_informers_warm(mut self, on: bool) -> Self {
        self.warm = on;
        self
    }

    /// Shuts down on SIGTERM and SIGINT (default on; on non-Unix systems, Ctrl-C only).
    pub fn handle_signals(mut self, on: bool) -> Self {
        self.signals = on;
        self
    }

    /// Serves `/healthz` and `/readyz` on `addr` while running.
    pub fn health_probe_address(mut self, addr: SocketAddr) -> Self {
        self.health = Some(addr);
        self
    }

    /// Serves `/metrics` (the Prometheus text format) on `addr` while running.
    pub fn metrics_address(mut self, addr: SocketAddr) -> Self {
        self.metrics_addr = Some(addr);
        self
    }

    /// The registry `/metrics` serves: register your own metrics here before [`Manager::run`];
    /// the controllers' are added when it starts.
    pub fn metrics_registry(&mut self) -> &mut prometheus_client::registry::Registry {
        &mut self.registry
    }

    /// How long tasks may run after shutdown starts (default
    /// [`DEFAULT_SHUTDOWN_TIMEOUT`](crate::DEFAULT_SHUTDOWN_TIMEOUT)).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// A handle telling the addresses the endpoints listen on once [`Manager::run`] has bound
    /// them (useful with port 0).
    pub fn bound_addresses(&self) -> BoundAddresses {
        BoundAddresses(self.bound.subscribe())
    }

    /// A handle saying whether this manager leads (readable while it runs).
    pub fn leader_status(&self) -> LeaderStatus {
        LeaderStatus { elector: self.elector.clone(), elected: self.leader_election.is_some() }
    }

    /// Runs until `shutdown` is cancelled (or a signal arrives); see the module docs.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ManagerError> {
        let leader_status = self.leader_status();
        let Manager {
            client,
            factory,
            runnables,
            metrics,
            leader_election,
            warm,
            signals,
            health,
            metrics_addr,
            mut registry,
            shutdown_timeout,
            elector,
            bound,
            ..
        } = self;
        if let Some(config) = &leader_election {
            config.validate()?;
        }
        let shutdown = shutdown.child_token();
        if signals {
            spawn_signal_handler(shutdown.clone()).map_err(ManagerError::Signals)?;
        }
        let readiness = Readiness::new(metrics.clone());
        let mut servers = Vec::new();
        let mut bound_now = Bound { metrics: None, health: None };
        if let Some(addr) = metrics_addr {
            let lease = leader_election.as_ref().map(|c| (c.name.clone(), leader_status));
            ControllersCollector::register(&mut registry, metrics, lease);
            client.set_request_metrics(Arc::new(RestClientMetrics::register(&mut registry)));
            factory.set_reflector_metrics(Arc::new(ReflectorPromMetrics::register(&mut registry)));
            let registry = Arc::new(registry);
            let route: Route = Arc::new(move || match crate::prometheus::encode(&registry) {
                Ok(text) => (http::StatusCode::OK, prometheus_client::encoding::prometheus_text::CONTENT_TYPE, text),
                Err(_) => {
                    (http::StatusCode::INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", "encoding failed".into())
                }
            });
            let server = start_endpoint(addr, vec![("/metrics", route)], &mut servers).await?;
            bound_now.metrics = Some(server.local_addr());
            servers.push(server);
        }
        if let Some(addr) = health {
            let server = start_endpoint(addr, health_routes(readiness.clone()), &mut servers).await?;
            bound_now.health = Some(server.local_addr());
            servers.push(server);
        }
        bound.send_replace(Some(bound_now));

        let (always, leader_only): (Vec<_>, Vec<_>) = runnables.into_iter().partition(|r| !r.leader_only());
        // Controllers bound their own shutdown; tasks are bounded by the manager's deadline.
        let mut running = Running::default();
        let never = CancellationToken::new();
        for r in always {
            running.spawn(r, shutdown.clone(), never.clone());
        }

        // Without leader election, lead at once; with it, wait for the Lease (or shutdown).
        let mut election = None;
        let lost = match leader_election {
            None => Some(never.clone()),
            Some(config) => {
                if warm {
                    for r in &leader_only {
                        r.warm();
                    }
                }
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let callbacks = LeaderCallbacks::new(move |lost: CancellationToken| {
                    let _ = tx.send(lost);
                    async {}
                });
                let le = LeaderElector::new(config, callbacks)?;
                *elector.lock() = Some(le.clone());
                let cancel = CancellationToken::new();
                let task = tokio::spawn({
                    let cancel = cancel.clone();
                    async move { le.run(cancel).await }
                });
                election = Some((task, cancel));
                loop {
                    tokio::select! {
                        lost = rx.recv() => break lost,
                        _ = shutdown.cancelled() => break None,
                        // Tasks that end on their own are fine.
                        Some(_) = running.next(), if !running.is_empty() => {}
                    }
                }
            }
        };

        let mut result = Ok(());
        let mut lost_leadership = false;
        // Kept to tell, after the drain, whether the Lease was lost while draining.
        let led = lost.clone();
        if let Some(lost) = lost {
            readiness.set_leading(true);
            for r in leader_only {
                // Losing the Lease cancels `shutdown` below and abandons in-flight work.
                running.spawn(r, shutdown.child_token(), lost.clone());
            }
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = lost.cancelled() => {
                        tracing::error!("leader election lost; stopping every controller");
                        lost_leadership = true;
                        break;
                    }
                    done = running.next() => match done {
                        None => {
                            shutdown.cancelled().await;
                            break;
                        }
                        Some(Ok(Outcome::Controller(name, Err(source)))) => {
                            result = Err(ManagerError::Controller { name, source });
                            break;
                        }
                        Some(_) => {}
                    }
                }
            }
        }

        // Shut down: controllers and tasks first, then the Lease, then the informers.
        shutdown.cancel();
        let deadline = tokio::time::sleep(shutdown_timeout);
        tokio::pin!(deadline);
        let mut deadline_passed = false;
        loop {
            tokio::select! {
                done = running.next() => match done {
                    None => break,
                    Some(Ok(Outcome::Controller(name, Err(source)))) if result.is_ok() => {
                        result = Err(ManagerError::Controller { name, source });
                    }
                    Some(_) => {}
                },
                _ = &mut deadline, if !deadline_passed => {
                    deadline_passed = true;
                    let n = running.abort_tasks().await;
                    if n > 0 && result.is_ok() {
                        result = Err(ManagerError::TasksAbandoned(n));
                    }
                }
            }
        }
        // A Lease lost while the controllers drained after a requested stop abandoned them: say
        // so rather than report what the abandoning looked like from inside a controller.
        if led.is_some_and(|lost| lost.is_cancelled()) {
            lost_leadership = true;
        }
        readiness.set_leading(false);
        if let Some((task, cancel)) = election {
            cancel.cancel();
            if tokio::time::timeout(shutdown_timeout, task).await.is_err() {
                tracing::warn!("leader election did not end before the shutdown deadline");
            }
        }
        factory.shutdown().await;
        for server in servers {
            server.stop().await;
        }
        if lost_leadership {
            return Err(ManagerError::LeadershipLost);
        }
        result
    }
}

/// What the manager runs, split so the shutdown deadline can abandon tasks but never a
/// controller (whose own shutdown is bounded and stops its informers).
#[derive(Default)]
struct Running {
    controllers: JoinSet<Outcome>,
    tasks: JoinSet<Outcome>,
}

impl Running {
    fn spawn(&mut self, r: Box<dyn Runnable>, shutdown: CancellationToken, abandon: CancellationToken) {
        let is_controller = r.is_controller();
        let fut = r.run(shutdown, abandon);
        if is_controller {
            self.controllers.spawn(fut);
        } else {
            self.tasks.spawn(fut);
        }
    }

    fn is_empty(&self) -> bool {
        self.controllers.is_empty() && self.tasks.is_empty()
    }

    /// The next to end (`None` when nothing runs).
    async fn next(&mut self) -> Option<Result<Outcome, tokio::task::JoinError>> {
        tokio::select! {
            Some(r) = self.controllers.join_next() => Some(r),
            Some(r) = self.tasks.join_next() => Some(r),
            else => None,
        }
    }

    /// Abandons every task still running; how many there were.
    async fn abort_tasks(&mut self) -> usize {
        let n = self.tasks.len();
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        n
    }
}

/// Whether a manager leads (see [`Manager::leader_status`]).
#[derive(Debug, Clone)]
pub struct LeaderStatus {
    elector: Arc<Mutex<Option<LeaderElector>>>,
    elected: bool,
}

impl LeaderStatus {
    /// True while the manager holds the Lease (always true without leader election).
    pub fn is_leader(&self) -> bool {
        if !self.elected {
            return true;
        }
        self.elector.lock().as_ref().is_some_and(LeaderElector::is_leader)
    }
}

/// Starts an endpoint server; on failure stops those already started.
async fn start_endpoint(
    addr: SocketAddr,
    routes: Vec<(&'static str, Route)>,
    started: &mut Vec<EndpointServer>,
) -> Result<EndpointServer, ManagerError> {
    match EndpointServer::start(addr, routes).await {
        Ok(s) => Ok(s),
        Err(source) => {
            for s in started.drain(..) {
                s.stop().await;
            }
            Err(ManagerError::Endpoint { addr, source })
        }
    }
}

fn spawn_signal_handler(shutdown: CancellationToken) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = int.recv() => tracing::info!("SIGINT: shutting down"),
                _ = shutdown.cancelled() => return,
            }
            shutdown.cancel();
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        tokio::select! {
            r = tokio::signal::ctrl_c() => if r.is_ok() { shutdown.cancel() },
            _ = shutdown.cancelled() => {}
        }
    });
    Ok(())
}
