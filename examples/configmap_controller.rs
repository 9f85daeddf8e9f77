//! A controller for a small custom resource, `Greeting` (`demo.rudder.dev/v1`, spec
//! `{message, replicas?}`): it keeps one ConfigMap per Greeting (controlled through an
//! ownerReference, data from the spec), deletes it through a finalizer when the Greeting goes,
//! and reports `status.observedGeneration` and a `Ready` condition through the status
//! subresource. A `Manager` runs it with leader election on a Lease and `/metrics` on loopback.
//!
//! `cargo run --example configmap_controller [-- --for N]`. The example drives itself: it
//! creates two Greetings, checks their ConfigMaps and status, updates one, deletes the other,
//! scrapes its own `/metrics`, keeps running N more seconds (default 0; Ctrl-C ends early),
//! then cleans up and exits 0; a failed check exits non-zero naming it. On a real cluster
//! (`-- --yes`) it works in the context's namespace and deletes what it created (the CRD only
//! when it registered it).

mod common;
use common::wait_for;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use rudder_apimachinery::meta::{HasMetadata, ObjectMeta};
use rudder_apimachinery::options::{DeleteOptions, ListOptions, PatchOptions};
use rudder_apimachinery::resource::{Resource, Scope, WholeObject};
use rudder_apimachinery::Patch;
use rudder_client::{api::Api, clientset::ClientSet, Client};
use rudder_controller::finalizer::{finalizer, FinalizerError, FinalizerEvent};
use rudder_controller::owner::set_controller_reference;
use rudder_controller::{Action, CancellationToken, Context, Manager, ManagerError, ObjectKey, WatchOptions};
use rudder_informer::leaderelection::{LeaderElectionConfig, LeaseLock};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const CRD_NAME: &str = "greetings.demo.rudder.dev";
const FINALIZER: &str = "demo.rudder.dev/configmap";
const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "greeting-controller");
const LEASE: &str = "greeting-controller";
/// How long each check waits for the controller to catch up.
const DEADLINE: Duration = Duration::from_secs(30);

/// The custom resource, written by hand to show what a type needs to be one; `#[derive(CustomResource)]`
/// (feature `derive`, see `examples/crontab_operator.rs`) generates all of it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Greeting {
    metadata: ObjectMeta,
    spec: GreetingSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<GreetingStatus>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct GreetingSpec {
    message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replicas: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GreetingStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    observed_generation: Option<i64>,
    #[serde(default)]
    conditions: Vec<Condition>,
}

impl Resource for Greeting {
    const GROUP: &'static str = "demo.rudder.dev";
    const VERSION: &'static str = "v1";
    const API_VERSION: &'static str = "demo.rudder.dev/v1";
    const KIND: &'static str = "Greeting";
    const PLURAL: &'static str = "greetings";
    const SCOPE: Scope = Scope::Namespaced;
}
impl HasMetadata for Greeting {
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}
impl WholeObject for Greeting {} // it declares every field, so it may be created and replaced

fn configmap_name(greeting_name: &str) -> String {
    format!("greeting-{greeting_name}")
}

/// Reconciles one Greeting from the caches; writes go through the client.
async fn reconcile(key: ObjectKey, ctx: Context<()>) -> Result<Action, FinalizerError<BoxError>> {
    let Some(greeting) = ctx.get::<Greeting>(&key) else { return Ok(Action::done()) }; // gone
    let client = ctx.client().clone();
    let result = finalizer(&client, FINALIZER, greeting, |event| async move {
        match event {
            FinalizerEvent::Apply(g) => apply(&ctx, &g).await,
            FinalizerEvent::Cleanup(g) => cleanup(ctx.client(), &g).await,
        }
    })
    .await;
    match result {
        // A stale cache ran the cleanup again after the object was gone: nothing left to do.
        Err(FinalizerError::RemoveFinalizer(e)) if e.is_not_found() => Ok(Action::done()),
        other => other,
    }
}

async fn apply(ctx: &Context<()>, g: &Greeting) -> Result<Action, BoxError> {
    let ns = g.namespace().unwrap_or_default();
    let name = configmap_name(g.name());
    let data = BTreeMap::from([
        ("message".to_owned(), g.spec.message.clone()),
        ("replicas".to_owned(), g.spec.replicas.unwrap_or(1).to_string()),
    ]);
    let cms = Api::<ConfigMap>::namespaced(ctx.client().clone(), ns);
    let mut cm = match ctx.get::<ConfigMap>(&ObjectKey::namespaced(ns, &name)) {
        Some(cached) => (*cached).clone(),
        None => ConfigMap::default(),
    };
    let before = cm.clone();
    cm.metadata.name = Some(name.clone());
    cm.metadata.namespace = Some(ns.to_owned());
    cm.metadata.labels.get_or_insert_with(BTreeMap::new).insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
    set_controller_reference(g, &mut cm)?; // refuses a ConfigMap another object controls
    cm.data = Some(data);
    if before.metadata.resource_version.is_none() {
        cms.create(&Default::default(), &cm).await?;
    } else if cm != before {
        // The cached resourceVersion makes this a compare-and-swap: a stale cache gets 409 and a retry.
        cms.replace(&name, &Default::default(), &cm).await?;
    }

    let ready = g.status.iter().flat_map(|s| &s.conditions).find(|c| c.type_ == "Ready" && c.status == "True");
    let status = GreetingStatus {
        observed_generation: g.generation(),
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: "ConfigMapUpToDate".into(),
            message: format!("ConfigMap {name} holds the greeting"),
            observed_generation: g.generation(),
            // The transition time moves only when the condition's status changes.
            last_transition_time: ready
                .map_or_else(|| Time(k8s_openapi::jiff::Timestamp::now()), |c| c.last_transition_time.clone()),
        }],
    };
    if g.status.as_ref() != Some(&status) {
        let greetings = Api::<Greeting>::namespaced(ctx.client().clone(), ns);
        greetings.patch_status(g.name(), &PatchOptions::default(), &Patch::Merge(json!({ "status": status }))).await?;
    }
    Ok(Action::done())
}

/// Deletes the ConfigMap before the Greeting goes. The garbage collector (a real cluster's, and
/// the embedded server's) would also delete it through the ownerReference, but only after the
/// Greeting is gone; the finalizer is the pattern for cleanup that must happen first, or that a
/// collector cannot reach.
async fn cleanup(client: &Client, g: &Greeting) -> Result<Action, BoxError> {
    let cms = Api::<ConfigMap>::namespaced(client.clone(), g.namespace().unwrap_or_default());
    match cms.delete(&configmap_name(g.name()), &DeleteOptions::default()).await {
        Err(e) if !e.is_not_found() => Err(e.into()),
        _ => Ok(Action::done()),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::exit_code("configmap_controller", example().await)
}

async fn example() -> Result<(), BoxError> {
    // Reconcile errors (retried with back-off) and leader election are logged; RUST_LOG=info shows more.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let keep_running = common::for_seconds()?.unwrap_or_default();
    let (conn, ns) = common::connect_to_write().await.map_err(|e| e.to_string())?;
    let client = conn.client.clone();
    let crds = ClientSet::new(client.clone()).apiextensions_v1().custom_resource_definitions();
    let created_crd = match crds.create(&Default::default(), &greeting_crd()?).await {
        Ok(_) => true,
        Err(e) if e.is_already_exists() => false,
        Err(e) => return Err(e.into()),
    };
    println!("CRD {CRD_NAME} {}", if created_crd { "registered" } else { "already registered (it stays)" });

    let result = run(&client, &ns, keep_running).await;
    if created_crd {
        match crds.delete(CRD_NAME, &DeleteOptions::default()).await {
            Ok(_) => println!("deleted CRD {CRD_NAME}"),
            Err(e) if result.is_ok() => return Err(e.into()),
            Err(e) => eprintln!("deleting CRD {CRD_NAME}: {e}"), // the failed check is the error
        }
    }
    result
}

async fn run(client: &Client, ns: &str, keep_running: Duration) -> Result<(), BoxError> {
    let greetings = Api::<Greeting>::namespaced(client.clone(), ns);
    wait_for("the Greeting resource to be served", DEADLINE, || async {
        match greetings.list(&ListOptions::default()).await {
            Err(e) if e.is_not_found() => Ok(false),
            r => r.map(|_| true),
        }
    })
    .await?;

    let identity = format!("configmap-controller-{}", std::process::id());
    let lock = LeaseLock::new(client.clone(), ns, LEASE, &identity);
    let mut manager = Manager::new(client.clone())
        .leader_election(LeaderElectionConfig::new(lock).release_on_cancel(true))
        .metrics_address(([127, 0, 0, 1], 0).into()) // port 0: a free one, read back below
        .handle_signals(false); // Ctrl-C during --for ends the wait below, then cleanup runs
    let controller = manager
        .controller::<Greeting>(WatchOptions::new().namespace(ns))
        .owns::<ConfigMap>(WatchOptions::new().namespace(ns).labels(format!("{}={}", MANAGED_BY.0, MANAGED_BY.1)))
        .name("greeting");
    manager.add(controller, reconcile, ());
    let shutdown = CancellationToken::new();
    let bound = manager.bound_addresses();
    let mut manager = tokio::spawn(manager.run(shutdown.clone()));
    let metrics_addr = match tokio::time::timeout(DEADLINE, bound.wait()).await {
        Ok(Some(b)) => b.metrics.ok_or("the manager serves no /metrics")?,
        Ok(None) => {
            return Err(
                format!("the manager stopped early: {}", outcome(manager.await).err().unwrap_or_default()).into()
            )
        }
        Err(_) => return Err(format!("the manager did not bind /metrics within {DEADLINE:?}").into()),
    };
    println!("manager running as {identity} (Lease {ns}/{LEASE}), metrics on http://{metrics_addr}/metrics");

    let mut created = Vec::new(); // cleanup deletes only these
    let drive = async {
        for (name, message) in [("hello", "hello, world"), ("bye", "goodbye")] {
            let mut g = Greeting::default();
            g.metadata.name = Some(name.into());
            g.spec.message = message.into();
            greetings.create(&Default::default(), &g).await?;
            created.push(name);
            println!("created Greeting {name}");
        }
        checks(&greetings, &Api::namespaced(client.clone(), ns), metrics_addr).await
    };
    let checked = tokio::select! {
        r = drive => r,
        r = &mut manager => Err(format!("the manager stopped early: {}", outcome(r).err().unwrap_or_default()).into()),
    };
    if checked.is_ok() && !keep_running.is_zero() {
        println!("all checks passed; running {keep_running:?} more (Ctrl-C ends early)");
        tokio::select! {
            _ = tokio::time::sleep(keep_running) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }

    // Clean up while the controller still runs, so its finalizer releases each Greeting.
    for name in &created {
        let _ = greetings.delete(name, &DeleteOptions::default()).await;
    }
    let gone = wait_for("the Greetings to be deleted", DEADLINE, || async {
        Ok(greetings.list(&ListOptions::default()).await?.items.iter().all(|g| !created.contains(&g.name())))
    });
    if gone.await.is_err() {
        // The controller is not there to finalize: release the objects by hand.
        for name in &created {
            let _ = greetings
                .patch(name, &PatchOptions::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}})))
                .await;
            let _ = Api::<ConfigMap>::namespaced(client.clone(), ns)
                .delete(&configmap_name(name), &DeleteOptions::default())
                .await;
        }
    }
    shutdown.cancel();
    let stopped = tokio::time::timeout(DEADLINE, manager).await;
    // The Lease was released on shutdown (empty holder); delete it unless another instance took it.
    let leases = Api::<Lease>::namespaced(client.clone(), ns);
    if let Ok(lease) = leases.get(LEASE).await {
        let holder = lease.spec.and_then(|s| s.holder_identity).unwrap_or_default();
        if holder.is_empty() || holder == identity {
            let _ = leases.delete(LEASE, &DeleteOptions::default()).await;
        }
    }
    checked?;
    outcome(stopped.map_err(|_| format!("the manager did not stop within {DEADLINE:?}"))?)?;
    println!("manager stopped; all checks passed");
    Ok(())
}

fn outcome(run: Result<Result<(), ManagerError>, tokio::task::JoinError>) -> Result<(), String> {
    match run {
        Ok(r) => r.map_err(|e| format!("manager: {e}")),
        Err(e) => Err(format!("manager task: {e}")),
    }
}

/// Checks what the controller does with the two Greetings; the first failed check is the error.
async fn checks(greetings: &Api<Greeting>, cms: &Api<ConfigMap>, metrics: SocketAddr) -> Result<(), BoxError> {
    let reconciled = |name: &'static str, message: &'static str| {
        wait_for(
            format!("{name}: ConfigMap with {message:?} and Ready at its generation"),
            DEADLINE,
            move || async move {
                let g = greetings.get(name).await?;
                let cm = cms.get_opt(&configmap_name(name)).await?;
                let controlled = |c: &ConfigMap| {
                    c.owner_references().iter().any(|o| o.controller == Some(true) && g.uid() == Some(&o.uid))
                };
                let has_message =
                    cm.filter(controlled).and_then(|c| c.data?.remove("message")).as_deref() == Some(message);
                let ready = g.status.as_ref().is_some_and(|s| {
                    s.observed_generation == g.generation()
                        && s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                });
                if has_message && ready {
                    println!("{name}: ConfigMap says {message:?}, Ready at generation {}", g.generation().unwrap_or(0));
                }
                Ok(has_message && ready)
            },
        )
    };
    reconciled("hello", "hello, world").await?;
    reconciled("bye", "goodbye").await?;

    let spec = json!({"spec": {"message": "hello again", "replicas": 3}});
    greetings.patch("hello", &PatchOptions::default(), &Patch::Merge(spec)).await?;
    println!("updated Greeting hello");
    reconciled("hello", "hello again").await?;

    greetings.delete("bye", &DeleteOptions::default()).await?;
    println!("deleted Greeting bye");
    wait_for("bye: its ConfigMap and then itself gone (finalizer)", DEADLINE, || async {
        Ok(cms.get_opt(&configmap_name("bye")).await?.is_none() && greetings.get_opt("bye").await?.is_none())
    })
    .await?;
    println!("bye: ConfigMap deleted by the finalizer, Greeting gone");

    let metrics = scrape(metrics).await?;
    let totals: Vec<&str> = metrics.lines().filter(|l| l.starts_with("controller_runtime_reconcile_total")).collect();
    totals.iter().for_each(|l| println!("{l}"));
    let successes = totals.iter().find(|l| l.contains("controller=\"greeting\"") && l.contains("result=\"success\""));
    match successes.and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok()) {
        Some(n) if n > 0.0 => Ok(()),
        _ => Err("/metrics shows no successful reconcile of controller \"greeting\"".into()),
    }
}

/// `GET /metrics` over one connection, bounded in time and size.
async fn scrape(addr: SocketAddr) -> Result<String, BoxError> {
    let get = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await?;
        let mut out = String::new();
        s.take(1 << 20).read_to_string(&mut out).await?;
        Ok::<_, std::io::Error>(out)
    };
    let out = tokio::time::timeout(Duration::from_secs(5), get).await.map_err(|_| "scraping /metrics timed out")??;
    match out.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_owned()),
        _ => Err(format!("/metrics answered {:?}", out.lines().next().unwrap_or("nothing")).into()),
    }
}

fn greeting_crd() -> Result<CustomResourceDefinition, serde_json::Error> {
    // The embedded server does not enforce schemas; a real one prunes fields not declared here.
    let spec = json!({"type": "object", "required": ["message"], "properties": {
        "message": {"type": "string"}, "replicas": {"type": "integer", "minimum": 1}}});
    let status = json!({"type": "object", "properties": {
        "observedGeneration": {"type": "integer"},
        "conditions": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}});
    serde_json::from_value(json!({
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": Greeting::GROUP, "scope": "Namespaced",
            "names": {"plural": Greeting::PLURAL, "singular": "greeting", "kind": Greeting::KIND},
            "versions": [{
                "name": Greeting::VERSION, "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec, "status": status}}}
            }]
        }
    }))
}
