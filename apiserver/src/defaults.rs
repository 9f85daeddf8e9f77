//! Defaulting of built-in objects, as kube-apiserver fills defaults before it stores an object
//! (Kubernetes' `SetDefaults_*` functions of core/v1, apps/v1 and batch/v1, their declarative
//! `+default` markers, and the admission plugins every cluster runs that set fields: the
//! ServiceAccount plugin's `serviceAccountName: default`, service IP and node port allocation).
//!
//! Contract: [`apply`] runs on every write of a built-in object (create, update, patch, apply,
//! status), so a stored object always carries its defaults; a field the client set is never
//! changed. Each kind is one table of `Rule`s; the pod spec table serves Pods and every pod
//! template (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, ReplicationController,
//! PodTemplate). [`on_create`] adds what only a create does (a pod's QoS class, a service's IPs,
//! a job's generated selector), after [`apply`].

use serde_json::{json, Map, Value};

use super::registry::ResourceInfo;

/// A default value.
#[derive(Debug, Clone, Copy)]
enum Lit {
    Str(&'static str),
    Int(i64),
    Bool(bool),
    /// An empty object (`{}`).
    Obj,
}

impl Lit {
    fn value(self) -> Value {
        match self {
            Lit::Str(s) => Value::from(s),
            Lit::Int(n) => Value::from(n),
            Lit::Bool(b) => Value::from(b),
            Lit::Obj => Value::Object(Map::new()),
        }
    }
}

/// One defaulting step, relative to the object it is applied to.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// A pointer field: set when absent or null.
    Unset(&'static str, Lit),
    /// A value field: set when absent, null or its zero value (`""`, `0`).
    Zero(&'static str, Lit),
    /// A struct held by value: created when absent, then these rules inside it.
    Struct(&'static str, &'static [Rule]),
    /// A pointer to a struct: these rules inside it when it is present.
    Present(&'static str, &'static [Rule]),
    /// These rules for each object in the list.
    Each(&'static str, &'static [Rule]),
    /// What a table cannot say.
    Call(fn(&mut Map<String, Value>)),
}

const PROBE: &[Rule] = &[
    Rule::Zero("timeoutSeconds", Lit::Int(1)),
    Rule::Zero("periodSeconds", Lit::Int(10)),
    Rule::Zero("successThreshold", Lit::Int(1)),
    Rule::Zero("failureThreshold", Lit::Int(3)),
    Rule::Present("httpGet", &[Rule::Zero("path", Lit::Str("/")), Rule::Zero("scheme", Lit::Str("HTTP"))]),
];

const CONTAINER: &[Rule] = &[
    Rule::Call(image_pull_policy),
    Rule::Zero("terminationMessagePath", Lit::Str("/dev/termination-log")),
    Rule::Zero("terminationMessagePolicy", Lit::Str("File")),
    Rule::Each("ports", &[Rule::Zero("protocol", Lit::Str("TCP"))]),
    Rule::Present("livenessProbe", PROBE),
    Rule::Present("readinessProbe", PROBE),
    Rule::Present("startupProbe", PROBE),
    Rule::Each(
        "env",
        &[Rule::Present("valueFrom", &[Rule::Present("fieldRef", &[Rule::Zero("apiVersion", Lit::Str("v1"))])])],
    ),
];

const VOLUME: &[Rule] = &[
    Rule::Call(empty_dir_when_no_source),
    Rule::Present("secret", &[Rule::Unset("defaultMode", Lit::Int(420))]),
    Rule::Present("configMap", &[Rule::Unset("defaultMode", Lit::Int(420))]),
    Rule::Present("downwardAPI", &[Rule::Unset("defaultMode", Lit::Int(420))]),
    Rule::Present("projected", &[Rule::Unset("defaultMode", Lit::Int(420))]),
    Rule::Present("hostPath", &[Rule::Unset("type", Lit::Str(""))]),
];

const POD_SPEC: &[Rule] = &[
    Rule::Zero("dnsPolicy", Lit::Str("ClusterFirst")),
    Rule::Zero("restartPolicy", Lit::Str("Always")),
    Rule::Unset("securityContext", Lit::Obj),
    Rule::Unset("terminationGracePeriodSeconds", Lit::Int(30)),
    Rule::Zero("schedulerName", Lit::Str("default-scheduler")),
    Rule::Each("containers", CONTAINER),
    Rule::Each("initContainers", CONTAINER),
    Rule::Each("ephemeralContainers", CONTAINER),
    Rule::Each("volumes", VOLUME),
];

const POD_TEMPLATE: &[Rule] = &[Rule::Struct("spec", POD_SPEC)];

const POD: &[Rule] = &[Rule::Struct("spec", POD_SPEC), Rule::Call(pod_only)];

const SERVICE: &[Rule] = &[Rule::Struct(
    "spec",
    &[
        Rule::Zero("sessionAffinity", Lit::Str("None")),
        Rule::Zero("type", Lit::Str("ClusterIP")),
        Rule::Each("ports", &[Rule::Zero("protocol", Lit::Str("TCP")), Rule::Call(target_port)]),
        Rule::Call(traffic_policies),
    ],
)];

const DEPLOYMENT: &[Rule] = &[Rule::Struct(
    "spec",
    &[
        Rule::Unset("replicas", Lit::Int(1)),
        Rule::Struct(
            "strategy",
            &[Rule::Zero("type", Lit::Str("RollingUpdate")), Rule::Call(deployment_rolling_update)],
        ),
        Rule::Unset("revisionHistoryLimit", Lit::Int(10)),
        Rule::Unset("progressDeadlineSeconds", Lit::Int(600)),
        Rule::Struct("template", POD_TEMPLATE),
    ],
)];

const REPLICA_SET: &[Rule] =
    &[Rule::Struct("spec", &[Rule::Unset("replicas", Lit::Int(1)), Rule::Struct("template", POD_TEMPLATE)])];

const STATEFUL_SET: &[Rule] = &[Rule::Struct(
    "spec",
    &[
        Rule::Zero("podManagementPolicy", Lit::Str("OrderedReady")),
        Rule::Struct("updateStrategy", &[Rule::Call(stateful_set_update_strategy)]),
        Rule::Struct(
            "persistentVolumeClaimRetentionPolicy",
            &[Rule::Zero("whenDeleted", Lit::Str("Retain")), Rule::Zero("whenScaled", Lit::Str("Retain"))],
        ),
        Rule::Unset("replicas", Lit::Int(1)),
        Rule::Unset("revisionHistoryLimit", Lit::Int(10)),
        Rule::Struct("template", POD_TEMPLATE),
    ],
)];

const DAEMON_SET: &[Rule] = &[Rule::Struct(
    "spec",
    &[
        Rule::Struct(
            "updateStrategy",
            &[Rule::Zero("type", Lit::Str("RollingUpdate")), Rule::Call(daemon_set_rolling_update)],
        ),
        Rule::Unset("revisionHistoryLimit", Lit::Int(10)),
        Rule::Struct("template", POD_TEMPLATE),
    ],
)];

const JOB_SPEC: &[Rule] = &[
    Rule::Call(job_counts),
    Rule::Call(pod_replacement_policy),
    Rule::Unset("backoffLimit", Lit::Int(6)),
    Rule::Unset("completionMode", Lit::Str("NonIndexed")),
    Rule::Unset("suspend", Lit::Bool(false)),
    Rule::Struct("template", POD_TEMPLATE),
];

const JOB: &[Rule] = &[Rule::Struct("spec", JOB_SPEC), Rule::Call(labels_from_template)];

const CRON_JOB: &[Rule] = &[Rule::Struct(
    "spec",
    &[
        Rule::Zero("concurrencyPolicy", Lit::Str("Allow")),
        Rule::Unset("suspend", Lit::Bool(false)),
        Rule::Unset("successfulJobsHistoryLimit", Lit::Int(3)),
        Rule::Unset("failedJobsHistoryLimit", Lit::Int(1)),
        Rule::Struct("jobTemplate", &[Rule::Struct("spec", JOB_SPEC)]),
    ],
)];

const REPLICATION_CONTROLLER: &[Rule] = &[
    Rule::Struct("spec", &[Rule::Unset("replicas", Lit::Int(1)), Rule::Present("template", POD_TEMPLATE)]),
    Rule::Call(rc_selector_and_labels),
];

const NAMESPACE: &[Rule] =
    &[Rule::Call(namespace_name_label), Rule::Struct("status", &[Rule::Zero("phase", Lit::Str("Active"))])];

const NODE: &[Rule] = &[Rule::Present("status", &[Rule::Call(allocatable_from_capacity)])];

const SECRET: &[Rule] = &[Rule::Zero("type", Lit::Str("Opaque"))];

const PERSISTENT_VOLUME: &[Rule] = &[
    Rule::Struct(
        "spec",
        &[
            Rule::Zero("persistentVolumeReclaimPolicy", Lit::Str("Retain")),
            Rule::Unset("volumeMode", Lit::Str("Filesystem")),
        ],
    ),
    Rule::Struct("status", &[Rule::Zero("phase", Lit::Str("Pending"))]),
];

const PERSISTENT_VOLUME_CLAIM: &[Rule] = &[
    Rule::Struct("spec", &[Rule::Unset("volumeMode", Lit::Str("Filesystem"))]),
    Rule::Struct("status", &[Rule::Zero("phase", Lit::Str("Pending"))]),
];

const ENDPOINTS: &[Rule] = &[Rule::Each("subsets", &[Rule::Each("ports", &[Rule::Zero("protocol", Lit::Str("TCP"))])])];

/// The defaulting table of a resource (empty for kinds without defaults and custom resources).
fn rules(info: &ResourceInfo) -> &'static [Rule] {
    if info.custom {
        return &[];
    }
    match (info.api.group.as_ref(), info.api.plural.as_ref()) {
        ("", "pods") => POD,
        ("", "podtemplates") => &[Rule::Struct("template", POD_TEMPLATE)],
        ("", "replicationcontrollers") => REPLICATION_CONTROLLER,
        ("", "services") => SERVICE,
        ("", "namespaces") => NAMESPACE,
        ("", "nodes") => NODE,
        ("", "secrets") => SECRET,
        ("", "persistentvolumes") => PERSISTENT_VOLUME,
        ("", "persistentvolumeclaims") => PERSISTENT_VOLUME_CLAIM,
        ("", "endpoints") => ENDPOINTS,
        ("apps", "deployments") => DEPLOYMENT,
        ("apps", "replicasets") => REPLICA_SET,
        ("apps", "statefulsets") => STATEFUL_SET,
        ("apps", "daemonsets") => DAEMON_SET,
        ("batch", "jobs") => JOB,
        ("batch", "cronjobs") => CRON_JOB,
        _ => &[],
    }
}

/// Fills the defaults of a built-in object in place. `old` is the stored object an update
/// replaces (fields the server allocated, such as a service's cluster IP, carry over when the
/// update leaves them out).
pub fn apply(info: &ResourceInfo, v: &mut Value, old: Option<&Value>) {
    let Value::Object(obj) = v else { return };
    if let Some(old) = old {
        carry_over_allocations(info, obj, old);
    }
    run(rules(info), obj);
}

/// What a create adds after [`apply`]: a pod's QoS class, a service's cluster IP and node
/// ports, a job's selector and controller labels.
pub fn on_create(info: &ResourceInfo, v: &mut Value) {
    let Value::Object(obj) = v else { return };
    if info.custom {
        return;
    }
    match (info.api.group.as_ref(), info.api.plural.as_ref()) {
        ("", "pods") => {
            let qos = qos_class(obj.get("spec").unwrap_or(&Value::Null));
            let status = object_at(obj, "status");
            status.entry("qosClass").or_insert_with(|| Value::from(qos));
        }
        ("", "services") => allocate_service_addresses(object_at(obj, "spec")),
        ("batch", "jobs") => generate_job_selector(obj),
        _ => {}
    }
}

fn run(rules: &[Rule], obj: &mut Map<String, Value>) {
    for rule in rules {
        match *rule {
            Rule::Unset(field, lit) => {
                if obj.get(field).is_none_or(Value::is_null) {
                    obj.insert(field.into(), lit.value());
                }
            }
            Rule::Zero(field, lit) => {
                let zero = match obj.get(field) {
                    None | Some(Value::Null) => true,
                    Some(Value::String(s)) => s.is_empty(),
                    Some(Value::Number(n)) => n.as_f64() == Some(0.0),
                    Some(Value::Bool(b)) => !b,
                    Some(_) => false,
                };
                if zero {
                    obj.insert(field.into(), lit.value());
                }
            }
            Rule::Struct(field, inner) => run(inner, object_at(obj, field)),
            Rule::Present(field, inner) => {
                if let Some(Value::Object(m)) = obj.get_mut(field) {
                    run(inner, m);
                }
            }
            Rule::Each(field, inner) => {
                if let Some(Value::Array(items)) = obj.get_mut(field) {
                    for item in items {
                        if let Value::Object(m) = item {
                            run(inner, m);
                        }
                    }
                }
            }
            Rule::Call(f) => f(obj),
        }
    }
}

/// The object member `field`, made an object when it is absent or not one.
fn object_at<'a>(obj: &'a mut Map<String, Value>, field: &str) -> &'a mut Map<String, Value> {
    let slot = obj.entry(field).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(m) => m,
        _ => unreachable!("the slot was just made an object"),
    }
}

fn str_of<'a>(obj: &'a Map<String, Value>, field: &str) -> &'a str {
    obj.get(field).and_then(Value::as_str).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// The steps a table cannot express.

/// `Always` for images tagged `latest` or untagged, else `IfNotPresent`.
fn image_pull_policy(c: &mut Map<String, Value>) {
    if !str_of(c, "imagePullPolicy").is_empty() {
        return;
    }
    let image = str_of(c, "image");
    let name = image.split('@').next().unwrap_or_default();
    let last = name.rsplit('/').next().unwrap_or_default();
    let tag = last.split_once(':').map_or("latest", |(_, t)| t);
    let digest = image.contains('@');
    let policy = if tag == "latest" && !digest { "Always" } else { "IfNotPresent" };
    c.insert("imagePullPolicy".into(), Value::from(policy));
}

const VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

fn empty_dir_when_no_source(v: &mut Map<String, Value>) {
    if !VOLUME_SOURCES.iter().any(|s| v.get(*s).is_some_and(|x| !x.is_null())) {
        v.insert("emptyDir".into(), Value::Object(Map::new()));
    }
}

/// What `SetDefaults_Pod` adds to a Pod (not to templates), and the ServiceAccount admission
/// plugin's account.
fn pod_only(pod: &mut Map<String, Value>) {
    let spec = object_at(pod, "spec");
    for list in ["containers", "initContainers"] {
        if let Some(Value::Array(cs)) = spec.get_mut(list) {
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                requests_from_limits(c);
            }
        }
    }
    if spec.get("enableServiceLinks").is_none_or(Value::is_null) {
        spec.insert("enableServiceLinks".into(), Value::from(true));
    }
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        for list in ["containers", "initContainers"] {
            if let Some(Value::Array(cs)) = spec.get_mut(list) {
                for port in cs.iter_mut().filter_map(|c| c.get_mut("ports")).filter_map(Value::as_array_mut).flatten() {
                    if port.get("hostPort").and_then(Value::as_i64).unwrap_or(0) == 0 {
                        if let Some(cp) = port.get("containerPort").cloned() {
                            port["hostPort"] = cp;
                        }
                    }
                }
            }
        }
    }
    let account = match str_of(spec, "serviceAccountName") {
        "" => match str_of(spec, "serviceAccount") {
            "" => "default".to_string(),
            deprecated => deprecated.to_string(),
        },
        name => name.to_string(),
    };
    spec.insert("serviceAccountName".into(), Value::from(account.clone()));
    spec.entry("serviceAccount").or_insert_with(|| Value::from(account));
}

fn requests_from_limits(c: &mut Map<String, Value>) {
    let Some(Value::Object(res)) = c.get_mut("resources") else { return };
    let Some(Value::Object(limits)) = res.get("limits").cloned() else { return };
    let requests = object_at(res, "requests");
    for (k, q) in limits {
        requests.entry(k).or_insert(q);
    }
}

/// The pod's QoS class (Kubernetes' `GetPodQOS`, for cpu and memory).
fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|l| spec.get(*l).and_then(Value::as_array))
        .flatten()
        .collect();
    let get = |c: &Value, which: &str, r: &str| c.pointer(&format!("/resources/{which}/{r}")).cloned();
    let any = containers
        .iter()
        .any(|c| ["cpu", "memory"].iter().any(|r| get(c, "requests", r).is_some() || get(c, "limits", r).is_some()));
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let limit = get(c, "limits", r);
            limit.is_some() && get(c, "requests", r).is_none_or(|q| Some(q) == limit)
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// A service port's `targetPort` defaults to its `port`.
fn target_port(p: &mut Map<String, Value>) {
    let unset = match p.get("targetPort") {
        None | Some(Value::Null) => true,
        Some(Value::Number(n)) => n.as_i64() == Some(0),
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    };
    if unset {
        if let Some(port) = p.get("port").cloned() {
            p.insert("targetPort".into(), port);
        }
    }
}

fn traffic_policies(spec: &mut Map<String, Value>) {
    let ty = str_of(spec, "type").to_string();
    let external = ty == "NodePort" || ty == "LoadBalancer";
    if external && str_of(spec, "externalTrafficPolicy").is_empty() {
        spec.insert("externalTrafficPolicy".into(), Value::from("Cluster"));
    }
    if matches!(ty.as_str(), "ClusterIP" | "NodePort" | "LoadBalancer")
        && spec.get("internalTrafficPolicy").is_none_or(Value::is_null)
    {
        spec.insert("internalTrafficPolicy".into(), Value::from("Cluster"));
    }
    if ty == "LoadBalancer" && spec.get("allocateLoadBalancerNodePorts").is_none_or(Value::is_null) {
        spec.insert("allocateLoadBalancerNodePorts".into(), Value::from(true));
    }
}

fn deployment_rolling_update(strategy: &mut Map<String, Value>) {
    if str_of(strategy, "type") == "RollingUpdate" {
        run(
            &[Rule::Unset("maxUnavailable", Lit::Str("25%")), Rule::Unset("maxSurge", Lit::Str("25%"))],
            object_at(strategy, "rollingUpdate"),
        );
    }
}

fn daemon_set_rolling_update(strategy: &mut Map<String, Value>) {
    if str_of(strategy, "type") == "RollingUpdate" {
        run(
            &[Rule::Unset("maxUnavailable", Lit::Int(1)), Rule::Unset("maxSurge", Lit::Int(0))],
            object_at(strategy, "rollingUpdate"),
        );
    }
}

fn stateful_set_update_strategy(strategy: &mut Map<String, Value>) {
    if str_of(strategy, "type").is_empty() {
        strategy.insert("type".into(), Value::from("RollingUpdate"));
        object_at(strategy, "rollingUpdate");
    }
    if str_of(strategy, "type") == "RollingUpdate" {
        if let Some(Value::Object(ru)) = strategy.get_mut("rollingUpdate") {
            run(&[Rule::Unset("partition", Lit::Int(0))], ru);
        }
    }
}

/// Completions and parallelism are 1 when both are unset; parallelism alone defaults to 1.
fn job_counts(spec: &mut Map<String, Value>) {
    let unset = |k: &str| spec.get(k).is_none_or(Value::is_null);
    if unset("completions") && unset("parallelism") {
        spec.insert("completions".into(), Value::from(1));
    }
    run(&[Rule::Unset("parallelism", Lit::Int(1))], spec);
}

/// `Failed` with a pod failure policy, else `TerminatingOrFailed`.
fn pod_replacement_policy(spec: &mut Map<String, Value>) {
    if spec.get("podReplacementPolicy").is_none_or(Value::is_null) {
        let with_policy = spec.get("podFailurePolicy").is_some_and(|p| !p.is_null());
        let policy = if with_policy { "Failed" } else { "TerminatingOrFailed" };
        spec.insert("podReplacementPolicy".into(), Value::from(policy));
    }
}

/// The Job registry's selector: unless `spec.manualSelector` is true, the job selects its pods
/// by its uid, and its template carries the uid and name labels.
fn generate_job_selector(job: &mut Map<String, Value>) {
    let meta = job.get("metadata").cloned().unwrap_or(Value::Null);
    let (uid, name) = (str_of_value(&meta, "uid"), str_of_value(&meta, "name"));
    let spec = object_at(job, "spec");
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) || uid.is_empty() {
        return;
    }
    spec.insert("selector".into(), json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}));
    let labels = object_at(object_at(object_at(spec, "template"), "metadata"), "labels");
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", &uid),
        ("batch.kubernetes.io/job-name", &name),
        ("controller-uid", &uid),
        ("job-name", &name),
    ] {
        labels.insert(k.into(), Value::from(v.as_str()));
    }
}

/// A Job without labels takes its template's.
fn labels_from_template(job: &mut Map<String, Value>) {
    let template_labels = job.pointer_labels();
    let has_labels =
        job.get("metadata").and_then(|m| m.get("labels")).and_then(Value::as_object).is_some_and(|l| !l.is_empty());
    if let (Some(l), false) = (template_labels, has_labels) {
        object_at(job, "metadata").insert("labels".into(), l);
    }
}

/// A ReplicationController without a selector or labels takes its template's labels.
fn rc_selector_and_labels(rc: &mut Map<String, Value>) {
    let Some(labels) = rc.pointer_labels() else { return };
    let spec = object_at(rc, "spec");
    if spec.get("selector").and_then(Value::as_object).is_none_or(Map::is_empty) {
        spec.insert("selector".into(), labels.clone());
    }
    let meta = object_at(rc, "metadata");
    if meta.get("labels").and_then(Value::as_object).is_none_or(Map::is_empty) {
        meta.insert("labels".into(), labels);
    }
}

trait TemplateLabels {
    /// `spec.template.metadata.labels` when it is a non-empty object.
    fn pointer_labels(&self) -> Option<Value>;
}

impl TemplateLabels for Map<String, Value> {
    fn pointer_labels(&self) -> Option<Value> {
        let l = self.get("spec")?.pointer("/template/metadata/labels")?;
        l.as_object().filter(|m| !m.is_empty()).map(|_| l.clone())
    }
}

fn namespace_name_label(ns: &mut Map<String, Value>) {
    let name = ns.get("metadata").map(|m| str_of_value(m, "name")).unwrap_or_default();
    if !name.is_empty() {
        object_at(object_at(ns, "metadata"), "labels").insert("kubernetes.io/metadata.name".into(), Value::from(name));
    }
}

fn str_of_value(v: &Value, field: &str) -> String {
    v.get(field).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn allocatable_from_capacity(status: &mut Map<String, Value>) {
    if status.get("allocatable").is_none_or(Value::is_null) {
        if let Some(c) = status.get("capacity").filter(|c| c.is_object()).cloned() {
            status.insert("allocatable".into(), c);
        }
    }
}

/// A service's cluster IP (from 10.96.0.0/12, unless `None` or ExternalName), its IP family
/// fields and, for NodePort and LoadBalancer services, node ports (30000-32767).
fn allocate_service_addresses(spec: &mut Map<String, Value>) {
    let ty = str_of(spec, "type").to_string();
    if ty == "ExternalName" {
        return;
    }
    let ip = match str_of(spec, "clusterIP") {
        "" => {
            let n: u32 = rand::random_range(1..(1 << 20) - 1);
            format!("10.{}.{}.{}", 96 + (n >> 16), (n >> 8) & 0xff, n & 0xff)
        }
        given => given.to_string(),
    };
    spec.insert("clusterIP".into(), Value::from(ip.clone()));
    spec.entry("clusterIPs").or_insert_with(|| json!([ip]));
    spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
    spec.entry("ipFamilyPolicy").or_insert_with(|| json!("SingleStack"));
    if ty == "NodePort" || ty == "LoadBalancer" {
        if let Some(Value::Array(ports)) = spec.get_mut("ports") {
            for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                if p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) == 0 {
                    p.insert("nodePort".into(), Value::from(rand::random_range(30000..32768)));
                }
            }
        }
    }
}

/// Fields the server allocated that an update may leave out.
fn carry_over_allocations(info: &ResourceInfo, obj: &mut Map<String, Value>, old: &Value) {
    if info.api.group.is_empty() && info.api.plural == "services" {
        let Some(old_spec) = old.get("spec").and_then(Value::as_object) else { return };
        let spec = object_at(obj, "spec");
        for k in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if spec.get(k).is_none_or(|v| v.is_null() || v.as_str() == Some("")) {
                if let Some(v) = old_spec.get(k) {
                    spec.insert(k.into(), v.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn defaulted(plural: &str, group: &str, mut v: Value) -> Value {
        let r = Registry::builtin();
        let info = r.get(group, "v1", plural).cloned().unwrap();
        apply(&info, &mut v, None);
        on_create(&info, &mut v);
        v
    }

    #[test]
    fn pods_get_what_a_cluster_gives_them() {
        let p = defaulted(
            "pods",
            "",
            json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "a", "image": "nginx", "ports": [{"containerPort": 80}], "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
             "readinessProbe": {"httpGet": {"port": 80}}},
            {"name": "b", "image": "registry:5000/x/y:1.2", "imagePullPolicy": "Never", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}],
            "restartPolicy": "Never", "volumes": [{"name": "v"}, {"name": "s", "secret": {"secretName": "x"}}]}}),
        );
        let s = &p["spec"];
        assert_eq!(s["dnsPolicy"], "ClusterFirst");
        assert_eq!(s["restartPolicy"], "Never", "a set field is kept");
        assert_eq!(s["schedulerName"], "default-scheduler");
        assert_eq!(s["terminationGracePeriodSeconds"], 30);
        assert_eq!(s["enableServiceLinks"], true);
        assert_eq!(s["securityContext"], json!({}));
        assert_eq!(s["serviceAccountName"], "default");
        let a = &s["containers"][0];
        assert_eq!(
            (a["imagePullPolicy"].as_str(), a["terminationMessagePath"].as_str()),
            (Some("Always"), Some("/dev/termination-log"))
        );
        assert_eq!(a["terminationMessagePolicy"], "File");
        assert_eq!(a["ports"][0]["protocol"], "TCP");
        assert_eq!(a["resources"]["requests"], json!({"cpu": "1", "memory": "1Gi"}));
        assert_eq!(
            a["readinessProbe"],
            json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
            "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(s["containers"][1]["imagePullPolicy"], "Never");
        assert_eq!(s["volumes"][0]["emptyDir"], json!({}));
        assert_eq!(s["volumes"][1]["secret"]["defaultMode"], 420);
        assert_eq!(p["status"]["qosClass"], "Guaranteed");
        assert_eq!(
            defaulted("pods", "", json!({"spec": {"containers": [{"name": "c", "image": "x:1"}]}}))["status"]
                ["qosClass"],
            "BestEffort"
        );
        assert_eq!(
            defaulted("pods", "", json!({"spec": {"containers": [{"name": "c", "image": "x:1"}]}}))["spec"]
                ["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
    }

    #[test]
    fn workloads_and_services() {
        let d = defaulted(
            "deployments",
            "apps",
            json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
        );
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(
            (d["spec"]["revisionHistoryLimit"].as_i64(), d["spec"]["progressDeadlineSeconds"].as_i64()),
            (Some(10), Some(600))
        );
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
        assert!(
            d["spec"]["template"]["spec"].get("enableServiceLinks").is_none(),
            "pod-only defaults stay off templates"
        );
        let z = defaulted("deployments", "apps", json!({"spec": {"replicas": 0, "strategy": {"type": "Recreate"}}}));
        assert_eq!((z["spec"]["replicas"].as_i64(), &z["spec"]["strategy"]), (Some(0), &json!({"type": "Recreate"})));
        let s = defaulted("statefulsets", "apps", json!({}));
        assert_eq!(s["spec"]["updateStrategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}));
        assert_eq!(s["spec"]["podManagementPolicy"], "OrderedReady");
        let ds = defaulted("daemonsets", "apps", json!({}));
        assert_eq!(ds["spec"]["updateStrategy"]["rollingUpdate"], json!({"maxUnavailable": 1, "maxSurge": 0}));
        let j = defaulted("jobs", "batch", json!({"spec": {"template": {"metadata": {"labels": {"a": "b"}}}}}));
        assert_eq!(
            (j["spec"]["completions"].as_i64(), j["spec"]["parallelism"].as_i64(), j["spec"]["backoffLimit"].as_i64()),
            (Some(1), Some(1), Some(6))
        );
        assert_eq!(j["metadata"]["labels"], json!({"a": "b"}));
        assert_eq!(j["spec"]["podReplacementPolicy"], "TerminatingOrFailed");
        let j = defaulted("jobs", "batch", json!({"spec": {"parallelism": 3}}));
        assert!(j["spec"].get("completions").is_none());
        let j = defaulted("jobs", "batch", json!({"metadata": {"name": "j", "uid": "u"}, "spec": {}}));
        assert_eq!(j["spec"]["selector"], json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}}));
        assert_eq!(j["spec"]["template"]["metadata"]["labels"]["job-name"], "j");
        assert!(j["metadata"].get("labels").is_none(), "generated labels stay on the template");
        let svc = defaulted("services", "", json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}}));
        let spec = &svc["spec"];
        assert_eq!(
            (spec["sessionAffinity"].as_str(), spec["externalTrafficPolicy"].as_str()),
            (Some("None"), Some("Cluster"))
        );
        assert_eq!(
            (spec["ports"][0]["targetPort"].as_i64(), spec["ports"][0]["protocol"].as_str()),
            (Some(80), Some("TCP"))
        );
        assert!(spec["clusterIP"].as_str().unwrap().starts_with("10."));
        assert!((30000..32768).contains(&spec["ports"][0]["nodePort"].as_i64().unwrap()));
        let ns = defaulted("namespaces", "", json!({"metadata": {"name": "x"}}));
        assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "x");
        assert_eq!(defaulted("secrets", "", json!({}))["type"], "Opaque");
    }
}
