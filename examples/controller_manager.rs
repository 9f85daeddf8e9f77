//! A leader-elected controller manager, like kube-controller-manager: the CronTab operator
//! (`examples/crontab_operator.rs`) and the node lifecycle controller
//! (`examples/node_lifecycle.rs`) in one `Manager` per replica, three replicas competing for one
//! Lease. Only the leader reconciles; each replica's `/metrics` says whether it leads
//! (`leader_election_master_status`). Stopping the leader hands over within the lease duration.
//!
//! `cargo run --example controller_manager --features derive [-- --for N]` runs the three
//! replicas in this process: it shows which leads, has it reconcile a CronTab, stops it, shows
//! another take over and reconcile a second CronTab, then keeps the rest running N more seconds.
//! On a real cluster (`-- --yes`) it does the same in the context's namespace (the node lifecycle
//! controller then watches the cluster's nodes, as the cluster's own one does) and deletes what
//! it created.

// The two included examples each bring their own copy of `common` (an example is one file).
#![allow(clippy::duplicate_mod)]

mod common;

#[path = "crontab_operator.rs"]
#[allow(dead_code)]
pub mod crontab_operator;
#[path = "node_lifecycle.rs"]
#[allow(dead_code)]
pub mod node_lifecycle;

use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use rudder::apimachinery::options::DeleteOptions;
use rudder::client::{api::Api, Client};
use rudder::controller::{CancellationToken, Manager, ManagerError};
use rudder::informer::leaderelection::{LeaderElectionConfig, LeaseLock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The Lease the replicas compete for.
pub const LEASE: &str = "rudder-controller-manager";
/// How long a leader's Lease lasts without renewal (also the longest a handover takes).
pub const LEASE_DURATION: Duration = Duration::from_secs(4);
const DEADLINE: Duration = Duration::from_secs(30);

/// One running replica.
pub struct Replica {
    /// Its identity in the Lease.
    pub identity: String,
    /// Where its `/metrics` listens.
    pub metrics: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), ManagerError>>,
}

impl Replica {
    /// Stops it (it releases the Lease if it leads) and waits for it.
    pub async fn stop(self) -> Result<(), BoxError> {
        self.stop.cancel();
        match tokio::time::timeout(DEADLINE, self.task).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(format!("replica {}: {e}", self.identity).into()),
            Ok(Err(e)) => Err(format!("replica {}: {e}", self.identity).into()),
            Err(_) => Err(format!("replica {} did not stop within {DEADLINE:?}", self.identity).into()),
        }
    }
}

/// Starts one replica: a manager with both controllers, leader election on [`LEASE`] in
/// `namespace`, `/metrics` on a free loopback port.
pub async fn start_replica(client: &Client, namespace: &str, identity: &str) -> Result<Replica, BoxError> {
    let lock = LeaseLock::new(client.clone(), namespace, LEASE, identity);
    let election = LeaderElectionConfig::new(lock)
        .durations(LEASE_DURATION, LEASE_DURATION / 2, Duration::from_millis(500))
        .release_on_cancel(true);
    let mut manager = Manager::new(client.clone())
        .leader_election(election)
        .keep_informers_warm(true) // a standby takes over with synced caches
        .metrics_address(([127, 0, 0, 1], 0).into())
        .handle_signals(false);
    crontab_operator::add_to(&mut manager);
    node_lifecycle::add_to(&mut manager, node_lifecycle::Options::default());
    let bound = manager.bound_addresses();
    let stop = CancellationToken::new();
    let task = tokio::spawn(manager.run(stop.clone()));
    let metrics = match tokio::time::timeout(DEADLINE, bound.wait()).await {
        Ok(Some(b)) => b.metrics.ok_or("no /metrics")?,
        _ => return Err(format!("replica {identity} did not start").into()),
    };
    Ok(Replica { identity: identity.to_owned(), metrics, stop, task })
}

/// `leader_election_master_status` from a replica's `/metrics` (1 leading, 0 standby).
pub async fn leading(metrics: SocketAddr, namespace: &str) -> Result<bool, BoxError> {
    let text = scrape(metrics).await?;
    let series = format!("leader_election_master_status{{name=\"{namespace}/{LEASE}\"}} ");
    let value = text.lines().find_map(|l| l.strip_prefix(series.as_str())).ok_or("no leader_election_master_status")?;
    Ok(value.trim() == "1")
}

async fn scrape(addr: SocketAddr) -> Result<String, BoxError> {
    let fetch = async {
        let mut conn = tokio::net::TcpStream::connect(addr).await?;
        conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").await?;
        let mut body = Vec::new();
        conn.take(4 << 20).read_to_end(&mut body).await?; // bounded: the endpoint's text is small
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&body).into_owned())
    };
    Ok(tokio::time::timeout(Duration::from_secs(5), fetch).await??)
}

/// Waits until exactly one replica of `replicas` leads (by its metrics) and returns its index.
pub async fn the_leader(replicas: &[Replica], namespace: &str) -> Result<usize, BoxError> {
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let mut leaders = Vec::new();
        for (i, r) in replicas.iter().enumerate() {
            if leading(r.metrics, namespace).await? {
                leaders.push(i);
            }
        }
        match leaders.as_slice() {
            [one] => return Ok(*one),
            many if many.len() > 1 => return Err(format!("{} replicas lead at once", many.len()).into()),
            _ if tokio::time::Instant::now() > end => return Err("no replica leads".into()),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Runs three replicas; checks that one leads and reconciles, that stopping it hands over
/// within [`LEASE_DURATION`] (plus the retry period) and that the new leader reconciles.
/// Returns the replicas still running.
pub async fn drive_and_check(client: &Client, namespace: &str) -> Result<Vec<Replica>, BoxError> {
    let mut replicas = Vec::new();
    for i in 0..3 {
        replicas.push(start_replica(client, namespace, &format!("replica-{i}")).await?);
    }
    let first = the_leader(&replicas, namespace).await?;
    println!("{} leads; the other two stand by with warm caches", replicas[first].identity);
    crontab_operator::drive_and_check(client, namespace, "first").await?;
    println!("{} reconciled CronTab first (Job, schedule, status, scale, finalizer, GC)", replicas[first].identity);

    let leader = replicas.remove(first);
    let name = leader.identity.clone();
    let stopped_at = tokio::time::Instant::now();
    leader.stop().await?;
    let next = the_leader(&replicas, namespace).await?;
    let took = stopped_at.elapsed();
    println!("stopped {name}; {} took over after {took:?}", replicas[next].identity);
    if took > LEASE_DURATION + Duration::from_secs(1) {
        return Err(format!("the handover took {took:?}, more than the lease duration {LEASE_DURATION:?}").into());
    }
    crontab_operator::drive_and_check(client, namespace, "second").await?;
    println!("{} reconciled CronTab second", replicas[next].identity);
    Ok(replicas)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::exit_code("controller_manager", example().await)
}

async fn example() -> Result<(), BoxError> {
    let keep = common::for_seconds()?.unwrap_or_default();
    let (conn, ns) = common::connect_to_write().await.map_err(|e| e.to_string())?;
    let client = conn.client.clone();
    let created_crd = crontab_operator::install_crd(&client).await?;
    let result = drive_and_check(&client, &ns).await;
    let stopped = match result {
        Ok(replicas) => {
            if !keep.is_zero() {
                println!("running {keep:?} more (Ctrl-C ends early)");
                tokio::select! {
                    _ = tokio::time::sleep(keep) => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            let mut stopped = Ok(());
            for r in replicas {
                stopped = stopped.and(r.stop().await);
            }
            stopped
        }
        Err(e) => Err(e),
    };
    let _ = Api::<Lease>::namespaced(client.clone(), &ns).delete(LEASE, &DeleteOptions::default()).await;
    crontab_operator::cleanup(&client, &ns, created_crd).await;
    stopped?;
    println!("all replicas stopped; all checks passed");
    Ok(())
}
