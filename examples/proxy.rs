//! A kube-proxy that only prints: it watches Services and EndpointSlices, keeps kube-proxy's
//! table of service ports and their ready endpoints, and prints the iptables rules kube-proxy's
//! iptables mode would program for them each time they change.
//!
//! - The table ([`build_table`], a pure function of the cached objects, as kube-proxy's
//!   ServiceChangeTracker and EndpointsChangeTracker end up): one entry per service port
//!   (`namespace/name:port`, protocol) with its cluster IP and port. Its endpoints come from
//!   every EndpointSlice labelled `kubernetes.io/service-name=<service>` in the namespace (IPv4
//!   slices; several slices merged, duplicates kept once, ordered by `ip:port` text as
//!   kube-proxy orders them), matched to the service port by port name and protocol. An
//!   endpoint is used when `conditions.ready` is true or unset and it is not terminating.
//!   Headless (`clusterIP: None`) and ExternalName services get no entry; a service without a
//!   selector is like any other (its slices are whatever someone wrote).
//! - The rules ([`render`], a pure function of the table): kube-proxy's chains and comments,
//!   `KUBE-SVC-`/`KUBE-SEP-` names hashed as kube-proxy hashes them (SHA-256, base32, 16
//!   characters), a jump per endpoint with probability `1/(n-i)` printed as `%0.10f`
//!   (the last without), and for a port with no endpoint a REJECT in the filter table. Ports are
//!   printed in name order. Only cluster IPs (no node ports, load balancers or traffic
//!   policies).
//! - Printing: a change of either kind wakes the sync loop, which waits `min_sync_period`
//!   (default 1 s, kube-proxy's `minSyncPeriod`) so a burst makes one sync, then prints the
//!   rules if they differ from the last printed ones.
//!
//! `cargo run --example proxy [-- --for N]`. On the embedded server it creates a service, scales
//! its endpoints up and down, marks one not ready, adds a headless service and deletes the first,
//! printing the rules after each step, then runs N more seconds (default 0). Against a real
//! cluster it only reads: it prints the cluster's rules, and again as they change, for N seconds.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use rudder::apimachinery::HasMetadata;
use rudder::client::Client;
use rudder::controller::CancellationToken;
use rudder::informer::{HandlerFns, SharedInformerFactory};
use tokio::sync::{watch, Notify};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The label tying an EndpointSlice to its service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// How the proxy runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long a change waits for more before the rules are recomputed (default 1 s).
    pub min_sync_period: Duration,
    /// How long to wait for the first lists (default 60 s).
    pub cache_sync_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self { min_sync_period: Duration::from_secs(1), cache_sync_timeout: Duration::from_secs(60) }
    }
}

/// One service port and the endpoints traffic to it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// `namespace/name:port` (`namespace/name` for an unnamed port), kube-proxy's ServicePortName.
    pub name: String,
    /// Lower case, as in the rules: `tcp`, `udp`, `sctp`.
    pub protocol: String,
    /// The cluster IP.
    pub cluster_ip: String,
    /// The service port.
    pub port: i32,
    /// Ready endpoints as `ip:port`, ordered by that text.
    pub endpoints: BTreeSet<String>,
}

/// Every service port by (name, protocol).
pub type Table = BTreeMap<(String, String), ServicePort>;

/// The table kube-proxy keeps for these services and slices (see the module docs).
pub fn build_table<'a>(
    services: impl IntoIterator<Item = &'a Service>,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
) -> Table {
    // (namespace, service) -> (port name, protocol) -> endpoints, slices in name order.
    type ByPort = BTreeMap<(String, String), BTreeSet<String>>;
    let mut slices: Vec<&EndpointSlice> = slices.into_iter().collect();
    slices.sort_by(|a, b| (a.namespace(), a.name()).cmp(&(b.namespace(), b.name())));
    let mut endpoints: BTreeMap<(&str, &str), ByPort> = BTreeMap::new();
    for slice in slices {
        let Some(service) = slice.labels().get(SERVICE_NAME_LABEL) else { continue };
        if slice.address_type != "IPv4" {
            continue; // an IPv4 proxier; FQDN slices are not proxied
        }
        let by_port = endpoints.entry((slice.namespace().unwrap_or_default(), service)).or_default();
        for port in slice.ports.as_deref().unwrap_or_default() {
            let Some(number) = port.port else { continue };
            let key = (port.name.clone().unwrap_or_default(), port.protocol.clone().unwrap_or_else(|| "TCP".into()));
            let set = by_port.entry(key).or_default();
            for ep in slice.endpoints.as_deref().unwrap_or_default() {
                let conditions = ep.conditions.clone().unwrap_or_default();
                let usable = conditions.ready != Some(false) && conditions.terminating != Some(true);
                if let (true, Some(ip)) = (usable, ep.addresses.first()) {
                    set.insert(format!("{ip}:{number}"));
                }
            }
        }
    }

    let mut table = Table::new();
    for svc in services {
        let Some(spec) = &svc.spec else { continue };
        let ip = spec.cluster_ip.as_deref().unwrap_or("");
        if ip.is_empty() || ip == "None" || spec.type_.as_deref() == Some("ExternalName") {
            continue; // headless and ExternalName services are not proxied
        }
        let (ns, name) = (svc.namespace().unwrap_or_default(), svc.name());
        let slices = endpoints.get(&(ns, name));
        for port in spec.ports.as_deref().unwrap_or_default() {
            let port_name = port.name.clone().unwrap_or_default();
            let protocol = port.protocol.clone().unwrap_or_else(|| "TCP".into());
            let eps = slices.and_then(|s| s.get(&(port_name.clone(), protocol.clone()))).cloned().unwrap_or_default();
            let full = if port_name.is_empty() { format!("{ns}/{name}") } else { format!("{ns}/{name}:{port_name}") };
            let protocol = protocol.to_ascii_lowercase();
            let entry = ServicePort {
                name: full.clone(),
                protocol: protocol.clone(),
                cluster_ip: ip.to_owned(),
                port: port.port,
                endpoints: eps,
            };
            table.insert((full, protocol), entry);
        }
    }
    table
}

/// The rules kube-proxy's iptables mode programs for `table` (see the module docs), as
/// `iptables-restore` input.
pub fn render(table: &Table) -> String {
    let mut filter = Vec::new();
    let mut nat = Vec::new();
    for sp in table.values() {
        let (name, proto, ip, port) = (&sp.name, &sp.protocol, &sp.cluster_ip, sp.port);
        if sp.endpoints.is_empty() {
            filter.push(format!(
                "-A KUBE-SERVICES -m comment --comment \"{name} has no endpoints\" -m {proto} -p {proto} -d {ip} --dport {port} -j REJECT"
            ));
            continue;
        }
        let svc_chain = format!("KUBE-SVC-{}", hash16(&format!("{name}{proto}")));
        nat.push(format!(
            "-A KUBE-SERVICES -m comment --comment \"{name} cluster IP\" -m {proto} -p {proto} -d {ip} --dport {port} -j {svc_chain}"
        ));
        let n = sp.endpoints.len();
        let mut seps = Vec::new();
        for (i, ep) in sp.endpoints.iter().enumerate() {
            let sep_chain = format!("KUBE-SEP-{}", hash16(&format!("{name}{proto}{ep}")));
            let statistic = if i + 1 < n {
                format!(" -m statistic --mode random --probability {:.10}", 1.0 / (n - i) as f64)
            } else {
                String::new()
            };
            nat.push(format!("-A {svc_chain} -m comment --comment \"{name} -> {ep}\"{statistic} -j {sep_chain}"));
            let ep_ip = ep.rsplit_once(':').map_or(ep.as_str(), |(ip, _)| ip);
            seps.push(format!("-A {sep_chain} -m comment --comment {name} -s {ep_ip} -j KUBE-MARK-MASQ"));
            seps.push(format!(
                "-A {sep_chain} -m comment --comment {name} -m {proto} -p {proto} -j DNAT --to-destination {ep}"
            ));
        }
        nat.extend(seps);
    }
    let mut out = String::from("*filter\n");
    filter.iter().chain(std::iter::once(&"COMMIT\n*nat".to_owned())).chain(&nat).for_each(|l| {
        out.push_str(l);
        out.push('\n');
    });
    out.push_str("COMMIT\n");
    out
}

/// Watches Services and EndpointSlices and publishes the rules on `rules` whenever they change,
/// until `shutdown` is cancelled.
pub async fn run(
    client: Client,
    opts: Options,
    rules: watch::Sender<String>,
    shutdown: CancellationToken,
) -> Result<(), BoxError> {
    let factory = SharedInformerFactory::new(client);
    let services = factory.informer::<Service>();
    let slices = factory.informer::<EndpointSlice>();
    let changed = Arc::new(Notify::new());
    services.add_event_handler(on_any_change(&changed))?;
    slices.add_event_handler(on_any_change(&changed))?;
    factory.start();
    let result = async {
        tokio::select! {
            synced = factory.wait_for_cache_sync(opts.cache_sync_timeout) => synced?,
            _ = shutdown.cancelled() => return Ok(()),
        }
        let (services, slices) = (services.lister(), slices.lister());
        loop {
            let svcs = services.list(&Default::default());
            let eps = slices.list(&Default::default());
            let text = render(&build_table(svcs.iter().map(|s| &**s), eps.iter().map(|s| &**s)));
            rules.send_if_modified(|last| {
                let changed = *last != text;
                if changed {
                    *last = text;
                }
                changed
            });
            tokio::select! {
                _ = changed.notified() => {}
                _ = shutdown.cancelled() => return Ok(()),
            }
            // Let the rest of a burst arrive; a change during the wait is in the next lists.
            tokio::select! {
                _ = tokio::time::sleep(opts.min_sync_period) => {}
                _ = shutdown.cancelled() => return Ok(()),
            }
        }
    }
    .await;
    factory.shutdown().await;
    result
}

fn on_any_change<K: Send + Sync + 'static>(changed: &Arc<Notify>) -> HandlerFns<K> {
    let (a, u, d) = (changed.clone(), changed.clone(), changed.clone());
    HandlerFns::new()
        .on_add(move |_, _| a.notify_one())
        .on_update(move |_, _| u.notify_one())
        .on_delete(move |_| d.notify_one())
}

/// kube-proxy's chain-name hash: the first 16 characters of the base32 (RFC 4648) SHA-256.
pub fn hash16(s: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(s.as_bytes());
    data_encoding::BASE32.encode(&digest)[..16].to_owned()
}

// ---- the self-driving demo (embedded server only) ----

/// A ClusterIP service (no selector: its slices are written by hand) with one TCP port.
pub fn service(name: &str, cluster_ip: &str, port_name: &str, port: i32) -> Result<Service, serde_json::Error> {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {"clusterIP": cluster_ip, "ports": [{"name": port_name, "port": port, "protocol": "TCP"}]}
    }))
}

/// An EndpointSlice of `service` with one TCP port and `(ip, ready)` endpoints.
pub fn slice(
    name: &str,
    service: &str,
    port_name: &str,
    port: i32,
    endpoints: &[(&str, bool)],
) -> Result<EndpointSlice, serde_json::Error> {
    let eps: Vec<_> = endpoints
        .iter()
        .map(|(ip, ready)| serde_json::json!({"addresses": [ip], "conditions": {"ready": ready}}))
        .collect();
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {SERVICE_NAME_LABEL: service}},
        "addressType": "IPv4",
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
        "endpoints": eps
    }))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::exit_code("proxy", example().await)
}

async fn example() -> Result<(), BoxError> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let keep_running = common::for_seconds()?.unwrap_or_default();
    let conn = common::connect().await.map_err(|e| e.to_string())?;
    let (tx, mut rx) = watch::channel(String::new());
    let shutdown = CancellationToken::new();
    let opts = Options { min_sync_period: Duration::from_millis(200), ..Default::default() };
    let proxy = tokio::spawn(run(conn.client.clone(), opts, tx, shutdown.clone()));
    let printer = tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            println!("---- rules ----\n{}", rx.borrow_and_update().as_str());
        }
    });
    let demo = match &conn.server {
        Some(_) => demo(&conn.client).await,
        None => Ok(()),
    };
    if demo.is_ok() && !keep_running.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(keep_running) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    shutdown.cancel();
    proxy.await??;
    printer.await?;
    demo
}

/// Replaces the endpoints of slice `name` (a merge patch replaces the whole list).
async fn set_endpoints(
    slices: &rudder::client::api::Api<EndpointSlice>,
    name: &str,
    endpoints: &[(&str, bool)],
) -> Result<(), BoxError> {
    let endpoints = slice(name, "", "", 0, endpoints)?.endpoints;
    let patch = rudder::apimachinery::Patch::Merge(serde_json::json!({ "endpoints": endpoints }));
    slices.patch(name, &Default::default(), &patch).await?;
    Ok(())
}

/// The steps the module docs describe, each given time to print.
async fn demo(client: &Client) -> Result<(), BoxError> {
    use rudder::client::api::Api;
    let ns = client.default_namespace().to_owned();
    let services = Api::<Service>::namespaced(client.clone(), &ns);
    let slices = Api::<EndpointSlice>::namespaced(client.clone(), &ns);
    let pause = || tokio::time::sleep(Duration::from_millis(600));
    println!("# service web with one endpoint");
    services.create(&Default::default(), &service("web", "10.96.0.20", "http", 80)?).await?;
    slices.create(&Default::default(), &slice("web-1", "web", "http", 8080, &[("10.244.1.1", true)])?).await?;
    pause().await;
    println!("# web scaled to three endpoints, one of them not ready");
    let three = [("10.244.1.1", true), ("10.244.1.2", true), ("10.244.2.1", false)];
    set_endpoints(&slices, "web-1", &three).await?;
    pause().await;
    println!("# a headless service db: no rules");
    services.create(&Default::default(), &service("db", "None", "pg", 5432)?).await?;
    slices.create(&Default::default(), &slice("db-1", "db", "pg", 5432, &[("10.244.3.1", true)])?).await?;
    pause().await;
    println!("# web scaled to zero: REJECT");
    set_endpoints(&slices, "web-1", &[]).await?;
    pause().await;
    println!("# web deleted");
    services.delete("web", &Default::default()).await?;
    pause().await;
    Ok(())
}
