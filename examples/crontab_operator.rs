//! A CRD operator: `CronTab` (`ops.rudder.example.com/v1`, declared with
//! `#[derive(CustomResource)]`, with status and the scale subresource) reconciled by
//! `rudder::controller` into
//! - one owned Job per CronTab (ownerReference with `controller` and `blockOwnerDeletion`;
//!   `parallelism` follows `spec.replicas`, so `kubectl scale crontab/x --replicas=3` reaches the
//!   Job), removed by the garbage collector when its CronTab goes;
//! - an entry in a shared `crontab-schedules` ConfigMap (name -> schedule) that no ownerReference
//!   can clean up: the finalizer removes it before the CronTab is deleted;
//! - `status.observedGeneration`, `status.replicas` (what the Job runs) and a `Ready` condition.
//!
//! `cargo run --example crontab_operator --features derive [-- --for N]` drives itself: it
//! creates a CronTab, checks the Job, the schedule entry and the status, scales it through the
//! scale subresource, deletes it and checks that the finalizer and the garbage collector cleaned
//! up; then keeps running N more seconds. On a real cluster (`-- --yes`) it works in the
//! context's namespace and deletes what it created.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use rudder::apimachinery::options::{DeleteOptions, PatchOptions, WriteOptions};
use rudder::apimachinery::{HasMetadata, Patch};
use rudder::client::{api::Api, Client};
use rudder::controller::finalizer::{finalizer, FinalizerError, FinalizerEvent};
use rudder::controller::owner::set_controller_reference;
use rudder::controller::wait::poll_until;
use rudder::controller::{Action, CancellationToken, Context, Manager, ObjectKey, WatchOptions};
use rudder::crd::{apply_crd, wait_established};
use rudder::schemars::JsonSchema;
use rudder::CustomResource;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

const FINALIZER: &str = "ops.rudder.example.com/schedule";
/// The ConfigMap holding every CronTab's schedule (not owned by any of them).
pub const SCHEDULES: &str = "crontab-schedules";
const FIELD_MANAGER: &str = "crontab-operator";
/// How long each check waits for the operator to catch up.
const DEADLINE: Duration = Duration::from_secs(30);

/// Runs an image on a schedule, `replicas` copies at once.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[schemars(crate = "rudder::schemars")]
#[resource(
    group = "ops.rudder.example.com",
    version = "v1",
    kind = "CronTab",
    namespaced,
    status = "CronTabStatus",
    shortname = "ct",
    scale(spec = ".spec.replicas", status = ".status.replicas"),
    printcolumn(name = "Schedule", json_path = ".spec.cronSpec", type = "string"),
    printcolumn(name = "Replicas", json_path = ".status.replicas", type = "integer")
)]
#[serde(rename_all = "camelCase")]
pub struct CronTabSpec {
    /// The schedule, in cron format.
    #[schemars(regex(pattern = r"^(\S+\s){4}\S+$"))]
    pub cron_spec: String,
    /// The image to run.
    #[schemars(length(min = 1))]
    pub image: String,
    /// Copies that run at once.
    #[schemars(range(min = 0, max = 10))]
    pub replicas: i32,
}

/// What the operator last did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[schemars(crate = "rudder::schemars")]
#[serde(rename_all = "camelCase")]
pub struct CronTabStatus {
    /// The generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Copies the Job runs at once.
    #[serde(default)]
    pub replicas: i32,
    /// `Ready`: the Job and the schedule entry match the spec.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// Adds the operator to `manager`: a controller of CronTabs that owns Jobs.
pub fn add_to(manager: &mut Manager) {
    let controller =
        manager.controller::<CronTab>(WatchOptions::new()).owns::<Job>(WatchOptions::new()).name("crontab");
    manager.add(controller, reconcile, ());
}

async fn reconcile(key: ObjectKey, ctx: Context<()>) -> Result<Action, FinalizerError<BoxError>> {
    let Some(ct) = ctx.get::<CronTab>(&key) else { return Ok(Action::done()) }; // gone
    let client = ctx.client().clone();
    let result = finalizer(&client, FINALIZER, ct, |event| async move {
        match event {
            FinalizerEvent::Apply(ct) => apply(&ctx, &ct).await,
            FinalizerEvent::Cleanup(ct) => set_schedule(ctx.client(), &ct, None).await.map(|()| Action::done()),
        }
    })
    .await;
    match result {
        // A stale cache ran the cleanup again after the object was gone.
        Err(FinalizerError::RemoveFinalizer(e)) if e.is_not_found() => Ok(Action::done()),
        other => other,
    }
}

async fn apply(ctx: &Context<()>, ct: &CronTab) -> Result<Action, BoxError> {
    let ns = ct.namespace().unwrap_or_default();
    let jobs = Api::<Job>::namespaced(ctx.client().clone(), ns);
    let replicas = match ctx.get::<Job>(&ObjectKey::namespaced(ns, ct.name())) {
        None => jobs.create(&WriteOptions::default(), &job_for(ct)?).await?.spec.and_then(|s| s.parallelism),
        Some(job) => {
            let running = job.spec.as_ref().and_then(|s| s.parallelism);
            if running == Some(ct.spec.replicas) {
                running
            } else {
                let patch = Patch::Merge(json!({"spec": {"parallelism": ct.spec.replicas}}));
                jobs.patch(ct.name(), &PatchOptions::default(), &patch).await?.spec.and_then(|s| s.parallelism)
            }
        }
    };
    set_schedule(ctx.client(), ct, Some(&ct.spec.cron_spec)).await?;

    let ready = ct.status.iter().flat_map(|s| &s.conditions).find(|c| c.type_ == "Ready");
    let status = CronTabStatus {
        observed_generation: ct.generation(),
        replicas: replicas.unwrap_or_default(),
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: "JobUpToDate".into(),
            message: format!("Job {} runs {} cop(ies)", ct.name(), ct.spec.replicas),
            observed_generation: ct.generation(),
            // The transition time moves only when the condition's status changes.
            last_transition_time: ready
                .filter(|c| c.status == "True")
                .map_or_else(|| Time(k8s_openapi::jiff::Timestamp::now()), |c| c.last_transition_time.clone()),
        }],
    };
    if ct.status.as_ref() != Some(&status) {
        let cts = Api::<CronTab>::namespaced(ctx.client().clone(), ns);
        cts.patch_status(ct.name(), &PatchOptions::default(), &Patch::Merge(json!({ "status": status }))).await?;
    }
    Ok(Action::done())
}

/// The Job of a CronTab: controlled by it, so the garbage collector deletes it with the CronTab.
fn job_for(ct: &CronTab) -> Result<Job, BoxError> {
    let mut job: Job = serde_json::from_value(json!({
        "metadata": {"name": ct.name(), "namespace": ct.namespace(), "labels": {"crontab": ct.name()}},
        "spec": {
            "parallelism": ct.spec.replicas,
            "template": {
                "metadata": {"labels": {"crontab": ct.name()}},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "containers": [{"name": "crontab", "image": ct.spec.image}]
                }
            }
        }
    }))?;
    set_controller_reference(ct, &mut job)?;
    Ok(job)
}

/// Sets (or with `None` removes) the CronTab's entry in the shared schedules ConfigMap.
async fn set_schedule(client: &Client, ct: &CronTab, schedule: Option<&str>) -> Result<(), BoxError> {
    let cms = Api::<ConfigMap>::namespaced(client.clone(), ct.namespace().unwrap_or_default());
    let entry = json!({"data": {ct.name(): schedule}});
    match cms.patch(SCHEDULES, &PatchOptions::default(), &Patch::Merge(entry)).await {
        Err(e) if e.is_not_found() && schedule.is_some() => {
            let mut cm = ConfigMap::default();
            cm.metadata.name = Some(SCHEDULES.into());
            cm.data = schedule.map(|s| BTreeMap::from([(ct.name().to_owned(), s.to_owned())]));
            match cms.create(&WriteOptions::default(), &cm).await {
                // Another reconcile created it first: patch again.
                Err(e) if e.is_already_exists() => Box::pin(set_schedule(client, ct, schedule)).await,
                other => other.map(|_| ()).map_err(Into::into),
            }
        }
        Err(e) if e.is_not_found() => Ok(()),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

/// Creates a CronTab, checks every effect of the operator, scales it, deletes it and checks the
/// cleanup. Each check waits up to [`DEADLINE`]; the error names the one that failed.
pub async fn drive_and_check(client: &Client, ns: &str, name: &str) -> Result<(), BoxError> {
    let cts = Api::<CronTab>::namespaced(client.clone(), ns);
    let jobs = Api::<Job>::namespaced(client.clone(), ns);
    let cms = Api::<ConfigMap>::namespaced(client.clone(), ns);
    let spec = CronTabSpec { cron_spec: "*/5 * * * *".into(), image: "busybox".into(), replicas: 1 };
    cts.create(&WriteOptions::default(), &CronTab::new(name, spec)).await?;
    println!("created CronTab {name}");

    let parallelism = |want: i32| {
        let jobs = jobs.clone();
        let name = name.to_owned();
        move || {
            let jobs = jobs.clone();
            let name = name.clone();
            async move {
                let job = jobs.get_opt(&name).await?;
                Ok::<_, BoxError>(job.filter(|j| j.spec.as_ref().and_then(|s| s.parallelism) == Some(want)))
            }
        }
    };
    let job = check("the Job runs 1 copy", parallelism(1)).await?;
    let owner = job.metadata.owner_references.as_deref().unwrap_or_default().first().cloned();
    let owned = owner.is_some_and(|o| o.kind == "CronTab" && o.name == name && o.controller == Some(true));
    if !owned {
        return Err(format!("Job {name} is not controlled by CronTab {name}").into());
    }
    check("the schedule entry", || async {
        let cm = cms.get_opt(SCHEDULES).await?;
        Ok::<_, BoxError>(cm.and_then(|c| c.data).and_then(|d| d.get(name).cloned()).filter(|s| s == "*/5 * * * *"))
    })
    .await?;
    let ready = |replicas: i32| {
        let cts = cts.clone();
        let name = name.to_owned();
        move || {
            let cts = cts.clone();
            let name = name.clone();
            async move {
                let ct = cts.get(&name).await?;
                let Some(status) = &ct.status else { return Ok::<_, BoxError>(None) };
                let ready = status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
                let current = status.observed_generation == ct.generation() && status.replicas == replicas;
                Ok((ready && current).then_some(()))
            }
        }
    };
    check("status: Ready, observedGeneration, replicas 1", ready(1)).await?;
    println!("Job {name} (controlled by the CronTab), schedule entry and Ready status are in place");

    // `kubectl scale crontab/<name> --replicas=3` does this.
    let mut scale = cts.get_scale(name).await?;
    scale.spec.get_or_insert_with(Default::default).replicas = Some(3);
    cts.replace_scale(name, &WriteOptions::default(), &scale).await?;
    check("the Job runs 3 copies after scaling", parallelism(3)).await?;
    check("status: replicas 3", ready(3)).await?;
    let reported = cts.get_scale(name).await?.status.map(|s| s.replicas);
    if reported != Some(3) {
        return Err(format!("the scale subresource reports {reported:?} replicas, not 3").into());
    }
    println!("scaled {name} to 3 through the scale subresource: the Job and the status followed");

    cts.delete(name, &DeleteOptions::default()).await?;
    check("the CronTab is gone (finalizer released)", || async {
        Ok::<_, BoxError>(cts.get_opt(name).await?.is_none().then_some(()))
    })
    .await?;
    check("the schedule entry is removed", || async {
        let cm = cms.get_opt(SCHEDULES).await?;
        Ok::<_, BoxError>(cm.and_then(|c| c.data).is_none_or(|d| !d.contains_key(name)).then_some(()))
    })
    .await?;
    check("the garbage collector deleted the Job", || async {
        Ok::<_, BoxError>(jobs.get_opt(name).await?.is_none().then_some(()))
    })
    .await?;
    println!("deleted {name}: the finalizer removed its schedule entry, the garbage collector its Job");
    Ok(())
}

async fn check<T, F, Fut>(what: &str, condition: F) -> Result<T, BoxError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, BoxError>>,
{
    poll_until(Duration::from_millis(50), DEADLINE, condition).await.map_err(|e| format!("{what}: {e}").into())
}

/// Deletes the schedules ConfigMap when no entry is left, and the CRD when `crd` is true.
pub async fn cleanup(client: &Client, ns: &str, crd: bool) {
    let cms = Api::<ConfigMap>::namespaced(client.clone(), ns);
    if cms.get_opt(SCHEDULES).await.ok().flatten().is_some_and(|c| c.data.unwrap_or_default().is_empty()) {
        let _ = cms.delete(SCHEDULES, &DeleteOptions::default()).await;
    }
    if crd {
        if let Ok(crd) = CronTab::crd() {
            let name = crd.metadata.name.unwrap_or_default();
            let _ = Api::<CustomResourceDefinition>::all(client.clone()).delete(&name, &DeleteOptions::default()).await;
        }
    }
}

/// Installs the CRD (server-side apply) and waits until it is served; `true` when it was new.
pub async fn install_crd(client: &Client) -> Result<bool, BoxError> {
    let crd = CronTab::crd()?;
    let name = crd.metadata.name.clone().unwrap_or_default();
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    let existed = crds.get_opt(&name).await?.is_some();
    apply_crd(client, &crd, FIELD_MANAGER).await?;
    wait_established(client, &name, DEADLINE).await?;
    Ok(!existed)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::exit_code("crontab_operator", example().await)
}

async fn example() -> Result<(), BoxError> {
    let keep_running = common::for_seconds()?.unwrap_or_default();
    let (conn, ns) = common::connect_to_write().await.map_err(|e| e.to_string())?;
    let client = conn.client.clone();
    let created_crd = install_crd(&client).await?;
    let mut manager = Manager::new(client.clone()).handle_signals(false);
    add_to(&mut manager);
    let shutdown = CancellationToken::new();
    let mut running = tokio::spawn(manager.run(shutdown.clone()));
    let name = format!("nightly-{}", std::process::id());
    let checked = tokio::select! {
        r = drive_and_check(&client, &ns, &name) => r,
        r = &mut running => Err(format!("the manager stopped early: {r:?}").into()),
    };
    if checked.is_ok() && !keep_running.is_zero() {
        println!("all checks passed; running {keep_running:?} more (Ctrl-C ends early)");
        tokio::select! {
            _ = tokio::time::sleep(keep_running) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    // Whatever failed, leave nothing behind: the CronTab (its finalizer needs the operator
    // running), the schedules ConfigMap if it holds no other entry, the CRD if it was ours.
    let cts = Api::<CronTab>::namespaced(client.clone(), &ns);
    let _ = cts.delete(&name, &DeleteOptions::default()).await;
    let _ = check("cleanup", || async { Ok::<_, BoxError>(cts.get_opt(&name).await?.is_none().then_some(())) }).await;
    shutdown.cancel();
    let stopped = tokio::time::timeout(DEADLINE, running).await;
    cleanup(&client, &ns, created_crd).await;
    checked?;
    match stopped {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => return Err(format!("manager: {e}").into()),
        Ok(Err(e)) => return Err(format!("manager task: {e}").into()),
        Err(_) => return Err(format!("the manager did not stop within {DEADLINE:?}").into()),
    }
    println!("manager stopped; all checks passed");
    Ok(())
}
