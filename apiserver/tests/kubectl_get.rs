//! `kubectl get <kind>` and `kubectl get <kind> -o wide` (kubectl 1.32) against the embedded
//! server show the columns and cells kube-apiserver's built-in printers give
//! (pkg/printers/internalversion/printers.go): deployments, replicasets, statefulsets,
//! daemonsets, jobs, cronjobs, services, nodes, secrets, serviceaccounts, events, endpoints,
//! persistentvolumeclaims, persistentvolumes and poddisruptionbudgets. Objects are created
//! with kubectl and their status set through the status subresource where the printer reads
//! status. Skips without kubectl.

#[path = "common/kubectl.rs"]
mod kubectl;

use std::time::Duration;

use kubectl::Env;
use rudder_apiserver::ApiServer;
use serde_json::{json, Value};

async fn env() -> Option<Env> {
    Some(Env::start(ApiServer::builder()).await?.with_timeout(Duration::from_secs(30)))
}

/// kubectl's table output cut into cells: the header is split at runs of two or more spaces
/// (header names such as `NODE SELECTOR` hold one), and every row is cut at the header's column
/// offsets (kubectl aligns columns), so empty cells and cells holding spaces survive.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    text: String,
}

impl Table {
    fn parse(text: &str) -> Table {
        let mut lines = text.lines();
        let head = lines.next().unwrap_or_default();
        let mut starts = Vec::new();
        let mut header = Vec::new();
        let bytes = head.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b' ' {
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && !(bytes[i] == b' ' && bytes.get(i + 1).is_none_or(|b| *b == b' ')) {
                i += 1;
            }
            starts.push(start);
            header.push(head[start..i].to_string());
        }
        let rows = lines
            .map(|line| {
                (0..starts.len())
                    .map(|c| {
                        let from = starts[c].min(line.len());
                        let to = starts.get(c + 1).map_or(line.len(), |&e| e.min(line.len()));
                        line[from..to].trim().to_string()
                    })
                    .collect()
            })
            .collect();
        Table { header, rows, text: text.to_string() }
    }

    /// Requires the header to be exactly `want` (spacing aside).
    fn expect_header(&self, want: &[&str]) -> &Table {
        assert_eq!(self.header, want, "header of:\n{}", self.text);
        self
    }

    /// The row whose cell in column `col` is `value`.
    fn row(&self, col: &str, value: &str) -> Vec<&str> {
        let c = self.header.iter().position(|h| h == col).unwrap_or_else(|| panic!("no {col} in:\n{}", self.text));
        let row = self.rows.iter().find(|r| r[c] == value).unwrap_or_else(|| panic!("no {value} in:\n{}", self.text));
        row.iter().map(String::as_str).collect()
    }

    /// The row named `name` (column NAME), without its AGE cell (a duration that depends on
    /// timing), which must look like one.
    fn named(&self, name: &str) -> Vec<&str> {
        let mut row = self.row("NAME", name);
        if let Some(a) = self.header.iter().position(|h| h == "AGE") {
            let age = row.remove(a);
            assert!(age.ends_with('s') || age.ends_with('m'), "age {age:?} in:\n{}", self.text);
        }
        row
    }
}

async fn get(env: &Env, args: &[&str]) -> Table {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    Table::parse(&env.ok(&all).await)
}

async fn create(env: &Env, objects: Vec<Value>) {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    env.ok_stdin(&["create", "-f", "-"], &list.to_string()).await;
}

async fn patch_status(env: &Env, kind: &str, name: &str, status: Value) {
    let body = json!({ "status": status }).to_string();
    env.ok(&["patch", kind, name, "--subresource=status", "--type=merge", "-p", &body]).await;
}

/// An RFC 3339 timestamp `secs` seconds ago (with microseconds when `micro`).
fn ago(secs: i64, micro: bool) -> String {
    let t = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(secs);
    t.strftime(if micro { "%Y-%m-%dT%H:%M:%S.%6fZ" } else { "%Y-%m-%dT%H:%M:%SZ" }).to_string()
}

fn pod_template(labels: Value) -> Value {
    json!({"metadata": {"labels": labels}, "spec": {"containers": [
        {"name": "web", "image": "nginx:1.27"}, {"name": "side", "image": "busybox:1.36"}]}})
}

const CONTAINER_NAMES: &str = "web,side";
const IMAGES: &str = "nginx:1.27,busybox:1.36";

#[tokio::test]
async fn workloads_show_replica_counts_containers_and_selectors() {
    let Some(env) = env().await else { return };
    let selector = json!({"matchLabels": {"app": "web", "tier": "front"},
        "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]});
    let labels = json!({"app": "web", "tier": "front", "env": "prod"});
    let spec = json!({"replicas": 3, "selector": selector, "template": pod_template(labels.clone())});
    let obj = |kind: &str, name: &str, spec: &Value| json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": "default"}, "spec": spec});
    let ds_spec = json!({"selector": selector, "template": {"metadata": {"labels": labels},
        "spec": {"nodeSelector": {"zone": "a", "disk": "ssd"}, "containers": [
            {"name": "web", "image": "nginx:1.27"}, {"name": "side", "image": "busybox:1.36"}]}}});
    let mut sts_spec = spec.clone();
    sts_spec["serviceName"] = json!("web");
    create(
        &env,
        vec![
            obj("Deployment", "web", &spec),
            obj("ReplicaSet", "web-rs", &spec),
            obj("StatefulSet", "web-sts", &sts_spec),
            obj("DaemonSet", "web-ds", &ds_spec),
        ],
    )
    .await;
    patch_status(
        &env,
        "deployment",
        "web",
        json!({"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 1}),
    )
    .await;
    patch_status(&env, "replicaset", "web-rs", json!({"replicas": 3, "readyReplicas": 2})).await;
    patch_status(&env, "statefulset", "web-sts", json!({"replicas": 3, "readyReplicas": 1})).await;
    patch_status(
        &env,
        "daemonset",
        "web-ds",
        json!({"desiredNumberScheduled": 4, "currentNumberScheduled": 3, "numberReady": 2,
            "updatedNumberScheduled": 1, "numberAvailable": 2, "numberMisscheduled": 0}),
    )
    .await;
    let sel = "app=web,env in (dev,prod),tier=front";

    let t = get(&env, &["deployments"]).await;
    t.expect_header(&["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    assert_eq!(t.named("web"), ["web", "2/3", "3", "1"], "{}", t.text);
    let t = get(&env, &["deployments", "-o", "wide"]).await;
    t.expect_header(&["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]);
    assert_eq!(t.named("web"), ["web", "2/3", "3", "1", CONTAINER_NAMES, IMAGES, sel], "{}", t.text);

    let t = get(&env, &["replicasets"]).await;
    t.expect_header(&["NAME", "DESIRED", "CURRENT", "READY", "AGE"]);
    assert_eq!(t.named("web-rs"), ["web-rs", "3", "3", "2"], "{}", t.text);
    let t = get(&env, &["rs", "-o", "wide"]).await;
    t.expect_header(&["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]);
    assert_eq!(t.named("web-rs"), ["web-rs", "3", "3", "2", CONTAINER_NAMES, IMAGES, sel], "{}", t.text);

    let t = get(&env, &["statefulsets"]).await;
    t.expect_header(&["NAME", "READY", "AGE"]);
    assert_eq!(t.named("web-sts"), ["web-sts", "1/3"], "{}", t.text);
    let t = get(&env, &["sts", "-o", "wide"]).await;
    t.expect_header(&["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"]);
    assert_eq!(t.named("web-sts"), ["web-sts", "1/3", CONTAINER_NAMES, IMAGES], "{}", t.text);

    let t = get(&env, &["daemonsets"]).await;
    t.expect_header(&["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"]);
    assert_eq!(t.named("web-ds"), ["web-ds", "4", "3", "2", "1", "2", "disk=ssd,zone=a"], "{}", t.text);
    let t = get(&env, &["ds", "-o", "wide"]).await;
    t.expect_header(&[
        "NAME",
        "DESIRED",
        "CURRENT",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "NODE SELECTOR",
        "AGE",
        "CONTAINERS",
        "IMAGES",
        "SELECTOR",
    ]);
    assert_eq!(
        t.named("web-ds"),
        ["web-ds", "4", "3", "2", "1", "2", "disk=ssd,zone=a", CONTAINER_NAMES, IMAGES, sel],
        "{}",
        t.text
    );
}

#[tokio::test]
async fn jobs_and_cronjobs_show_status_completions_and_schedules() {
    let Some(env) = env().await else { return };
    let template =
        json!({"spec": {"restartPolicy": "Never", "containers": [{"name": "work", "image": "busybox:1.36"}]}});
    let job = |name: &str, spec: Value| {
        let mut spec = spec;
        spec["template"] = template.clone();
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "default"}, "spec": spec})
    };
    let cron = |name: &str, spec: Value| {
        let mut spec = spec;
        spec["jobTemplate"] = json!({"spec": {"template": template}});
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": "default"}, "spec": spec})
    };
    create(
        &env,
        vec![
            job("done", json!({"completions": 2})),
            job("wide", json!({"parallelism": 3})),
            job("broken", json!({})),
            cron("tick", json!({"schedule": "*/5 * * * *", "timeZone": "Etc/UTC", "suspend": true})),
            cron("plain", json!({"schedule": "@hourly"})),
        ],
    )
    .await;
    let cond = |t: &str| json!({"type": t, "status": "True", "lastProbeTime": ago(60, false), "lastTransitionTime": ago(60, false)});
    patch_status(
        &env,
        "job",
        "done",
        json!({"startTime": ago(3600, false), "completionTime": ago(3600 - 90, false), "succeeded": 2,
            "conditions": [cond("SuccessCriteriaMet"), cond("Complete")]}),
    )
    .await;
    patch_status(&env, "job", "wide", json!({"startTime": ago(30 * 60, false), "active": 3})).await;
    patch_status(
        &env,
        "job",
        "broken",
        json!({"startTime": ago(20 * 60, false), "failed": 1, "conditions": [cond("FailureTarget")]}),
    )
    .await;
    patch_status(
        &env,
        "cronjob",
        "tick",
        json!({"lastScheduleTime": ago(15 * 60, false),
            "active": [{"kind": "Job", "namespace": "default", "name": "tick-1", "apiVersion": "batch/v1"}]}),
    )
    .await;

    let t = get(&env, &["jobs"]).await;
    t.expect_header(&["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]);
    assert_eq!(t.named("done"), ["done", "Complete", "2/2", "90s"], "{}", t.text);
    assert_eq!(t.named("wide"), ["wide", "Running", "0/1 of 3", "30m"], "{}", t.text);
    assert_eq!(t.named("broken"), ["broken", "FailureTarget", "0/1", "20m"], "{}", t.text);
    let t = get(&env, &["jobs", "-o", "wide"]).await;
    t.expect_header(&["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]);
    let uid = env.json(&["get", "job", "done", "-o", "json"]).await["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let selector = format!("batch.kubernetes.io/controller-uid={uid}");
    assert_eq!(t.named("done"), ["done", "Complete", "2/2", "90s", "work", "busybox:1.36", &selector], "{}", t.text);

    let t = get(&env, &["cronjobs"]).await;
    t.expect_header(&["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"]);
    assert_eq!(t.named("tick"), ["tick", "*/5 * * * *", "Etc/UTC", "True", "1", "15m"], "{}", t.text);
    assert_eq!(t.named("plain"), ["plain", "@hourly", "<none>", "False", "0", "<none>"], "{}", t.text);
    let t = get(&env, &["cj", "-o", "wide"]).await;
    t.expect_header(&[
        "NAME",
        "SCHEDULE",
        "TIMEZONE",
        "SUSPEND",
        "ACTIVE",
        "LAST SCHEDULE",
        "AGE",
        "CONTAINERS",
        "IMAGES",
        "SELECTOR",
    ]);
    assert_eq!(
        t.named("tick"),
        ["tick", "*/5 * * * *", "Etc/UTC", "True", "1", "15m", "work", "busybox:1.36", "<none>"],
        "{}",
        t.text
    );
}

#[tokio::test]
async fn services_show_type_addresses_and_ports() {
    let Some(env) = env().await else { return };
    let svc = |name: &str, spec: Value| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"}, "spec": spec});
    create(
        &env,
        vec![
            svc(
                "web",
                json!({"selector": {"app": "web", "tier": "front"}, "ports": [
                    {"name": "http", "port": 80}, {"name": "https", "port": 443, "protocol": "TCP"}]}),
            ),
            svc(
                "np",
                json!({"type": "NodePort", "externalIPs": ["192.0.2.7"],
                    "ports": [{"port": 443, "nodePort": 30443}, {"port": 53, "protocol": "UDP", "nodePort": 30053}]}),
            ),
            svc("lb", json!({"type": "LoadBalancer", "ports": [{"port": 80, "nodePort": 31080}]})),
            svc("lb-up", json!({"type": "LoadBalancer", "ports": [{"port": 80, "nodePort": 31081}]})),
            svc("headless", json!({"clusterIP": "None", "selector": {"app": "db"}})),
            svc("ext", json!({"type": "ExternalName", "externalName": "db.example.com"})),
        ],
    )
    .await;
    patch_status(
        &env,
        "service",
        "lb-up",
        json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "lb.example.com"}]}}),
    )
    .await;
    let cluster_ip = |name: &str| {
        let env = &env;
        let name = name.to_string();
        async move {
            env.json(&["get", "service", &name, "-o", "json"]).await["spec"]["clusterIP"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }
    };
    let (web_ip, np_ip, lb_ip, lb_up_ip) =
        (cluster_ip("web").await, cluster_ip("np").await, cluster_ip("lb").await, cluster_ip("lb-up").await);

    let t = get(&env, &["services"]).await;
    t.expect_header(&["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]);
    assert_eq!(t.named("web"), ["web", "ClusterIP", &web_ip, "<none>", "80/TCP,443/TCP"], "{}", t.text);
    assert_eq!(t.named("np"), ["np", "NodePort", &np_ip, "192.0.2.7", "443:30443/TCP,53:30053/UDP"], "{}", t.text);
    assert_eq!(t.named("lb"), ["lb", "LoadBalancer", &lb_ip, "<pending>", "80:31080/TCP"], "{}", t.text);
    assert_eq!(
        t.named("lb-up"),
        ["lb-up", "LoadBalancer", &lb_up_ip, "203.0.113.9,lb.example.com", "80:31081/TCP"],
        "{}",
        t.text
    );
    assert_eq!(t.named("headless"), ["headless", "ClusterIP", "None", "<none>", "<none>"], "{}", t.text);
    assert_eq!(t.named("ext"), ["ext", "ExternalName", "<none>", "db.example.com", "<none>"], "{}", t.text);

    let t = get(&env, &["svc", "-o", "wide"]).await;
    t.expect_header(&["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]);
    assert_eq!(t.named("web")[5], "app=web,tier=front", "{}", t.text);
    assert_eq!(t.named("headless")[5], "app=db", "{}", t.text);
    assert_eq!(t.named("np")[5], "<none>", "{}", t.text);
}

#[tokio::test]
async fn nodes_show_status_roles_version_and_system_info() {
    let Some(env) = env().await else { return };
    let node = |name: &str, labels: Value, unschedulable: bool| {
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
            "spec": {"unschedulable": unschedulable}})
    };
    create(
        &env,
        vec![
            node(
                "cp-1",
                json!({"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/etcd": "true"}),
                false,
            ),
            node("worker-1", json!({"kubernetes.io/role": "worker"}), true),
            node("bare-1", json!({}), true),
        ],
    )
    .await;
    let ready = |status: &str| {
        json!([{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": status,
            "lastHeartbeatTime": ago(10, false), "lastTransitionTime": ago(600, false)}])
    };
    patch_status(
        &env,
        "node",
        "cp-1",
        json!({"conditions": ready("True"),
            "addresses": [{"type": "Hostname", "address": "cp-1"}, {"type": "InternalIP", "address": "10.0.0.10"},
                          {"type": "ExternalIP", "address": "198.51.100.10"}],
            "nodeInfo": {"kubeletVersion": "v1.32.4", "osImage": "Flatcar-4081", "kernelVersion": "6.6.30",
                "containerRuntimeVersion": "containerd://1.7.20", "machineID": "", "systemUUID": "", "bootID": "",
                "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"}}),
    )
    .await;
    patch_status(
        &env,
        "node",
        "worker-1",
        json!({"conditions": ready("Unknown"), "nodeInfo": {"kubeletVersion": "v1.31.0"}}),
    )
    .await;

    let t = get(&env, &["nodes"]).await;
    t.expect_header(&["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
    assert_eq!(t.named("cp-1"), ["cp-1", "Ready", "control-plane,etcd", "v1.32.4"], "{}", t.text);
    assert_eq!(t.named("worker-1"), ["worker-1", "NotReady,SchedulingDisabled", "worker", "v1.31.0"], "{}", t.text);
    assert_eq!(t.named("bare-1"), ["bare-1", "Unknown,SchedulingDisabled", "<none>", ""], "{}", t.text);

    let t = get(&env, &["nodes", "-o", "wide"]).await;
    t.expect_header(&[
        "NAME",
        "STATUS",
        "ROLES",
        "AGE",
        "VERSION",
        "INTERNAL-IP",
        "EXTERNAL-IP",
        "OS-IMAGE",
        "KERNEL-VERSION",
        "CONTAINER-RUNTIME",
    ]);
    assert_eq!(
        t.named("cp-1")[3..],
        ["v1.32.4", "10.0.0.10", "198.51.100.10", "Flatcar-4081", "6.6.30", "containerd://1.7.20"],
        "{}",
        t.text
    );
    assert_eq!(
        t.named("worker-1")[3..],
        ["v1.31.0", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"],
        "{}",
        t.text
    );
}

#[tokio::test]
async fn secrets_serviceaccounts_and_endpoints_show_counts() {
    let Some(env) = env().await else { return };
    let meta = |name: &str| json!({"name": name, "namespace": "default"});
    create(
        &env,
        vec![
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta("creds"), "data": {"user": "YQ==", "pass": "Yg=="}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta("tls"), "type": "kubernetes.io/tls",
                "data": {"tls.crt": "Yw==", "tls.key": "ZA==", "ca.crt": "ZQ=="}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta("empty")}),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta("robot"),
                "secrets": [{"name": "creds"}, {"name": "tls"}]}),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta("lonely")}),
            json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": meta("many"), "subsets": [
                {"addresses": [{"ip": "10.1.0.1"}, {"ip": "10.1.0.2"}],
                 "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]}]}),
            json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": meta("few"), "subsets": [
                {"addresses": [{"ip": "10.1.0.3"}], "ports": [{"port": 8080}]},
                {"addresses": [{"ip": "fd00::4"}], "ports": [{"port": 9090}]}]}),
            json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": meta("none")}),
        ],
    )
    .await;

    let t = get(&env, &["secrets"]).await;
    t.expect_header(&["NAME", "TYPE", "DATA", "AGE"]);
    assert_eq!(t.named("creds"), ["creds", "Opaque", "2"], "{}", t.text);
    assert_eq!(t.named("tls"), ["tls", "kubernetes.io/tls", "3"], "{}", t.text);
    assert_eq!(t.named("empty"), ["empty", "Opaque", "0"], "{}", t.text);
    get(&env, &["secrets", "-o", "wide"]).await.expect_header(&["NAME", "TYPE", "DATA", "AGE"]);

    let t = get(&env, &["serviceaccounts"]).await;
    t.expect_header(&["NAME", "SECRETS", "AGE"]);
    assert_eq!(t.named("robot"), ["robot", "2"], "{}", t.text);
    assert_eq!(t.named("lonely"), ["lonely", "0"], "{}", t.text);
    get(&env, &["sa", "-o", "wide"]).await.expect_header(&["NAME", "SECRETS", "AGE"]);

    let t = get(&env, &["endpoints"]).await;
    t.expect_header(&["NAME", "ENDPOINTS", "AGE"]);
    assert_eq!(t.named("many"), ["many", "10.1.0.1:80,10.1.0.2:80,10.1.0.1:443 + 1 more..."], "{}", t.text);
    assert_eq!(t.named("few"), ["few", "10.1.0.3:8080,[fd00::4]:9090"], "{}", t.text);
    assert_eq!(t.named("none"), ["none", "<none>"], "{}", t.text);
    get(&env, &["ep", "-o", "wide"]).await.expect_header(&["NAME", "ENDPOINTS", "AGE"]);
}

#[tokio::test]
async fn events_show_last_seen_object_source_and_count() {
    let Some(env) = env().await else { return };
    let event = |name: &str, extra: Value| {
        let mut e = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": "default"},
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-0", "fieldPath": "spec.containers{web}"},
            "type": "Warning", "reason": "BackOff", "message": "  Back-off restarting failed container  "});
        if let (Some(e), Some(x)) = (e.as_object_mut(), extra.as_object()) {
            e.extend(x.clone());
        }
        e
    };
    create(
        &env,
        vec![
            event(
                "web-0.1",
                json!({"count": 5, "firstTimestamp": ago(40 * 60, false), "lastTimestamp": ago(12 * 60, false),
                    "source": {"component": "kubelet", "host": "node-1"}}),
            ),
            event(
                "web-0.2",
                json!({"reason": "Scheduled", "type": "Normal", "message": "assigned", "involvedObject": {"kind": "Node"},
                    "eventTime": ago(50 * 60, true), "series": {"count": 3, "lastObservedTime": ago(25 * 60, true)},
                    "reportingComponent": "scheduler", "reportingInstance": "scheduler-1", "action": "Binding"}),
            ),
            event("web-0.3", json!({"reason": "Once", "firstTimestamp": ago(35 * 60, false), "source": {"component": "kubelet"}})),
        ],
    )
    .await;

    let t = get(&env, &["events"]).await;
    t.expect_header(&["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]);
    assert_eq!(
        t.row("REASON", "BackOff"),
        ["12m", "Warning", "BackOff", "pod/web-0", "Back-off restarting failed container"]
    );
    assert_eq!(t.row("REASON", "Scheduled"), ["25m", "Normal", "Scheduled", "node", "assigned"]);
    assert_eq!(t.row("REASON", "Once")[..4], ["35m", "Warning", "Once", "pod/web-0"]);

    let t = get(&env, &["events", "-o", "wide"]).await;
    t.expect_header(&[
        "LAST SEEN",
        "TYPE",
        "REASON",
        "OBJECT",
        "SUBOBJECT",
        "SOURCE",
        "MESSAGE",
        "FIRST SEEN",
        "COUNT",
        "NAME",
    ]);
    assert_eq!(
        t.row("NAME", "web-0.1"),
        [
            "12m",
            "Warning",
            "BackOff",
            "pod/web-0",
            "spec.containers{web}",
            "kubelet, node-1",
            "Back-off restarting failed container",
            "40m",
            "5",
            "web-0.1"
        ],
        "{}",
        t.text
    );
    assert_eq!(
        t.row("NAME", "web-0.2"),
        ["25m", "Normal", "Scheduled", "node", "", "scheduler, scheduler-1", "assigned", "50m", "3", "web-0.2"],
        "{}",
        t.text
    );
    assert_eq!(
        t.row("NAME", "web-0.3")[5..],
        ["kubelet", "Back-off restarting failed container", "35m", "1", "web-0.3"]
    );
}

#[tokio::test]
async fn volumes_claims_and_disruption_budgets() {
    let Some(env) = env().await else { return };
    create(
        &env,
        vec![
            json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-1"},
                "spec": {"capacity": {"storage": "1024Mi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                    "storageClassName": "fast", "hostPath": {"path": "/tmp/pv-1"},
                    "claimRef": {"namespace": "default", "name": "data"}}}),
            json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-2",
                    "annotations": {"volume.beta.kubernetes.io/storage-class": "legacy"}},
                "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadOnlyMany"], "volumeMode": "Block",
                    "persistentVolumeReclaimPolicy": "Delete", "hostPath": {"path": "/tmp/pv-2"}}}),
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "default"},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast", "volumeName": "pv-1",
                    "resources": {"requests": {"storage": "1Gi"}}}}),
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "wait", "namespace": "default"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}}),
            json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "min", "namespace": "default"},
                "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}}),
            json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "max", "namespace": "default"},
                "spec": {"maxUnavailable": "25%", "selector": {"matchLabels": {"app": "web"}}}}),
        ],
    )
    .await;
    patch_status(&env, "pv", "pv-1", json!({"phase": "Bound"})).await;
    patch_status(&env, "pv", "pv-2", json!({"phase": "Failed", "reason": "Recycling"})).await;
    patch_status(
        &env,
        "pvc",
        "data",
        json!({"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1024Mi"}}),
    )
    .await;

    let t = get(&env, &["pv"]).await;
    let pv_header = [
        "NAME",
        "CAPACITY",
        "ACCESS MODES",
        "RECLAIM POLICY",
        "STATUS",
        "CLAIM",
        "STORAGECLASS",
        "VOLUMEATTRIBUTESCLASS",
        "REASON",
        "AGE",
    ];
    t.expect_header(&pv_header);
    assert_eq!(
        t.named("pv-1"),
        ["pv-1", "1Gi", "RWO,RWX", "Retain", "Bound", "default/data", "fast", "<unset>", ""],
        "{}",
        t.text
    );
    assert_eq!(
        t.named("pv-2"),
        ["pv-2", "5Gi", "ROX", "Delete", "Failed", "", "legacy", "<unset>", "Recycling"],
        "{}",
        t.text
    );
    let t = get(&env, &["pv", "-o", "wide"]).await;
    t.expect_header(&[&pv_header[..], &["VOLUMEMODE"]].concat());
    assert_eq!(t.named("pv-1")[9], "Filesystem", "{}", t.text);
    assert_eq!(t.named("pv-2")[9], "Block", "{}", t.text);

    let t = get(&env, &["pvc"]).await;
    let pvc_header =
        ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"];
    t.expect_header(&pvc_header);
    assert_eq!(t.named("data"), ["data", "Bound", "pv-1", "1Gi", "RWO", "fast", "<unset>"], "{}", t.text);
    assert_eq!(t.named("wait"), ["wait", "Pending", "", "", "", "", "<unset>"], "{}", t.text);
    let t = get(&env, &["pvc", "-o", "wide"]).await;
    t.expect_header(&[&pvc_header[..], &["VOLUMEMODE"]].concat());
    assert_eq!(t.named("wait")[7], "Filesystem", "{}", t.text);

    let t = get(&env, &["pdb"]).await;
    t.expect_header(&["NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"]);
    let allowed = |name: &str| {
        let env = &env;
        let name = name.to_string();
        async move {
            let pdb = env.json(&["get", "pdb", &name, "-o", "json"]).await;
            pdb["status"]["disruptionsAllowed"].as_i64().unwrap_or(0).to_string()
        }
    };
    let (min_allowed, max_allowed) = (allowed("min").await, allowed("max").await);
    assert_eq!(t.named("min"), ["min", "2", "N/A", &min_allowed], "{}", t.text);
    assert_eq!(t.named("max"), ["max", "N/A", "25%", &max_allowed], "{}", t.text);
    get(&env, &["pdb", "-o", "wide"]).await.expect_header(&[
        "NAME",
        "MIN AVAILABLE",
        "MAX UNAVAILABLE",
        "ALLOWED DISRUPTIONS",
        "AGE",
    ]);
}
