//! kube-apiserver's printers for built-in kinds: the Table columns and cells `kubectl get`
//! shows (kubernetes/kubernetes `pkg/printers/internalversion/printers.go`, 1.32), computed
//! from the stored JSON.
//!
//! Contract: [`PRINTERS`] holds one [`Printer`] per (group, plural) it knows: pods,
//! configmaps, namespaces, secrets, serviceaccounts, services, endpoints, events, nodes,
//! persistentvolumes, persistentvolumeclaims, deployments, replicasets, statefulsets,
//! daemonsets, jobs, cronjobs, poddisruptionbudgets and certificatesigningrequests. A printer
//! is its column definitions (names, types, priorities as the Go code declares them; priority
//! 1 columns are the `-o wide` ones) and a function giving one row's cells, always every
//! column (kube-apiserver generates tables with `Wide: true`; kubectl hides the priority 1
//! columns itself). Cells read only the stored object: a missing or malformed field gives the
//! value Go would print for the zero value (`0`, `""`, `<none>`, `<unset>`), never a panic.
//!
//! Simplified relative to the Go printers: column descriptions are the first sentence of the
//! API field documentation the Go code uses (kubectl never shows them); label selector keys and
//! values are not validated (Go prints `<error>` / `<invalid>` only for selectors the API
//! rejects on write); durations truncate each timestamp to whole seconds.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use rudder_apimachinery::labels::Selector;
use rudder_apimachinery::quantity::Quantity;
use serde_json::Value;

use crate::table::human_duration;

const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DOC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// One column definition.
pub(crate) struct Column {
    pub name: &'static str,
    pub ty: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    pub priority: u8,
}

/// The printer of one kind: its columns and its row cells (one per column, in order).
pub(crate) struct Printer {
    pub columns: &'static [Column],
    pub cells: fn(&Value, Timestamp) -> Vec<Value>,
}

const fn col(name: &'static str, ty: &'static str, description: &'static str, priority: u8) -> Column {
    Column { name, ty, format: "", description, priority }
}

pub(crate) const NAME: Column =
    Column { name: "Name", ty: "string", format: "name", description: NAME_DOC, priority: 0 };
pub(crate) const AGE: Column = col("Age", "string", AGE_DOC, 0);
const CONTAINERS: Column = col("Containers", "string", "Names of each container in the template.", 1);
const IMAGES: Column = col("Images", "string", "Images referenced by each container in the template.", 1);
const SELECTOR: Column = col("Selector", "string", "A label query over pods that should match the replica count.", 1);
const READY_PODS: Column = col("Ready", "string", "Number of the pod with ready state", 0);

// The CertificateSigningRequest columns' descriptions (the API's field documentation).
const CSR_SIGNER_DOC: &str = "signerName indicates the requested signer, and is a qualified name.\n\nList/watch requests for CertificateSigningRequests can filter on this field using a \"spec.signerName=NAME\" fieldSelector.\n\nWell-known Kubernetes signers are:\n 1. \"kubernetes.io/kube-apiserver-client\": issues client certificates that can be used to authenticate to kube-apiserver.\n  Requests for this signer are never auto-approved by kube-controller-manager, can be issued by the \"csrsigning\" controller in kube-controller-manager.\n 2. \"kubernetes.io/kube-apiserver-client-kubelet\": issues client certificates that kubelets use to authenticate to kube-apiserver.\n  Requests for this signer can be auto-approved by the \"csrapproving\" controller in kube-controller-manager, and can be issued by the \"csrsigning\" controller in kube-controller-manager.\n 3. \"kubernetes.io/kubelet-serving\" issues serving certificates that kubelets use to serve TLS endpoints, which kube-apiserver can connect to securely.\n  Requests for this signer are never auto-approved by kube-controller-manager, and can be issued by the \"csrsigning\" controller in kube-controller-manager.\n\nMore details are available at https://k8s.io/docs/reference/access-authn-authz/certificate-signing-requests/#kubernetes-signers\n\nCustom signerNames can also be specified. The signer defines:\n 1. Trust distribution: how trust (CA bundles) are distributed.\n 2. Permitted subjects: and behavior when a disallowed subject is requested.\n 3. Required, permitted, or forbidden x509 extensions in the request (including whether subjectAltNames are allowed, which types, restrictions on allowed values) and behavior when a disallowed extension is requested.\n 4. Required, permitted, or forbidden key usages / extended key usages.\n 5. Expiration/certificate lifetime: whether it is fixed by the signer, configurable by the admin.\n 6. Whether or not requests for CA certificates are allowed.";
const CSR_REQUEST_DOC: &str = "request contains an x509 certificate signing request encoded in a \"CERTIFICATE REQUEST\" PEM block. When serialized as JSON or YAML, the data is additionally base64-encoded.";
const CSR_DURATION_DOC: &str = "expirationSeconds is the requested duration of validity of the issued certificate. The certificate signer may issue a certificate with a different validity duration so a client must check the delta between the notBefore and and notAfter fields in the issued certificate to determine the actual duration.\n\nThe v1.22+ in-tree implementations of the well-known Kubernetes signers will honor this field as long as the requested duration is not greater than the maximum duration they will honor per the --cluster-signing-duration CLI flag to the Kubernetes controller manager.\n\nCertificate signers may not honor this field for various reasons:\n\n  1. Old signer that is unaware of the field (such as the in-tree\n     implementations prior to v1.22)\n  2. Signer whose configured maximum is shorter than the requested duration\n  3. Signer whose configured minimum is longer than the requested duration\n\nThe minimum valid value for expirationSeconds is 600, i.e. 10 minutes.";
const CSR_CONDITIONS_DOC: &str =
    "conditions applied to the request. Known conditions are \"Approved\", \"Denied\", and \"Failed\".";

/// Every built-in printer, by (group, plural).
pub(crate) static PRINTERS: &[((&str, &str), Printer)] = &[
    (
        ("", "pods"),
        Printer {
            columns: &[
                NAME,
                col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic.", 0),
                col("Status", "string", "The aggregate status of the containers in this pod.", 0),
                col("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.", 0),
                AGE,
                col("IP", "string", "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.", 1),
                col("Node", "string", "NodeName is a request to schedule this pod onto a specific node.", 1),
                col("Nominated Node", "string", "nominatedNodeName is set only when this pod preempts other pods on the node.", 1),
                col("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod readiness.", 1),
            ],
            cells: pod,
        },
    ),
    (
        ("", "configmaps"),
        Printer { columns: &[NAME, col("Data", "string", "Data contains the configuration data.", 0), AGE], cells: config_map },
    ),
    (
        ("", "namespaces"),
        Printer { columns: &[NAME, col("Status", "string", "The status of the namespace", 0), AGE], cells: namespace },
    ),
    (
        ("", "secrets"),
        Printer {
            columns: &[
                NAME,
                col("Type", "string", "Used to facilitate programmatic handling of secret data.", 0),
                col("Data", "string", "Data contains the secret data.", 0),
                AGE,
            ],
            cells: secret,
        },
    ),
    (
        ("", "serviceaccounts"),
        Printer {
            columns: &[
                NAME,
                col("Secrets", "string", "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.", 0),
                AGE,
            ],
            cells: service_account,
        },
    ),
    (
        ("", "services"),
        Printer {
            columns: &[
                NAME,
                col("Type", "string", "type determines how the Service is exposed.", 0),
                col("Cluster-IP", "string", "clusterIP is the IP address of the service and is usually assigned randomly.", 0),
                col("External-IP", "string", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.", 0),
                col("Port(s)", "string", "The list of ports that are exposed by this service.", 0),
                AGE,
                col("Selector", "string", "Route service traffic to pods with label keys and values matching this selector.", 1),
            ],
            cells: service,
        },
    ),
    (
        ("", "endpoints"),
        Printer {
            columns: &[
                NAME,
                col("Endpoints", "string", "The set of all endpoints is the union of all subsets.", 0),
                AGE,
            ],
            cells: endpoints,
        },
    ),
    (
        ("", "events"),
        Printer {
            columns: &[
                col("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded.", 0),
                col("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future", 0),
                col("Reason", "string", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.", 0),
                col("Object", "string", "The object that this event is about.", 0),
                col("Subobject", "string", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].", 1),
                col("Source", "string", "The component reporting this event.", 1),
                col("Message", "string", "A human-readable description of the status of this operation.", 0),
                col("First Seen", "string", "The time at which the event was first recorded.", 1),
                col("Count", "string", "The number of times this event has occurred.", 1),
                Column { name: "Name", ty: "string", format: "name", description: NAME_DOC, priority: 1 },
            ],
            cells: event,
        },
    ),
    (
        ("", "nodes"),
        Printer {
            columns: &[
                NAME,
                col("Status", "string", "The status of the node", 0),
                col("Roles", "string", "The roles of the node", 0),
                AGE,
                col("Version", "string", "Kubelet Version reported by the node.", 0),
                col("Internal-IP", "string", "List of addresses reachable to the node.", 1),
                col("External-IP", "string", "List of addresses reachable to the node.", 1),
                col("OS-Image", "string", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", 1),
                col("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
                col("Container-Runtime", "string", "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).", 1),
            ],
            cells: node,
        },
    ),
    (
        ("", "persistentvolumes"),
        Printer {
            columns: &[
                NAME,
                col("Capacity", "string", "capacity is the description of the persistent volume's resources and capacity.", 0),
                col("Access Modes", "string", "accessModes contains all ways the volume can be mounted.", 0),
                col("Reclaim Policy", "string", "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.", 0),
                col("Status", "string", "phase indicates if a volume is available, bound to a claim, or released by a claim.", 0),
                col("Claim", "string", "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.", 0),
                col("StorageClass", "string", "StorageClass of the pv", 0),
                col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv", 0),
                col("Reason", "string", "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.", 0),
                AGE,
                col("VolumeMode", "string", "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.", 1),
            ],
            cells: persistent_volume,
        },
    ),
    (
        ("", "persistentvolumeclaims"),
        Printer {
            columns: &[
                NAME,
                col("Status", "string", "phase represents the current phase of PersistentVolumeClaim.", 0),
                col("Volume", "string", "volumeName is the binding reference to the PersistentVolume backing this claim.", 0),
                col("Capacity", "string", "capacity represents the actual resources of the underlying volume.", 0),
                col("Access Modes", "string", "accessModes contains the actual access modes the volume backing the PVC has.", 0),
                col("StorageClass", "string", "StorageClass of the pvc", 0),
                col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc", 0),
                AGE,
                col("VolumeMode", "string", "volumeMode defines what type of volume is required by the claim.", 1),
            ],
            cells: persistent_volume_claim,
        },
    ),
    (
        ("apps", "deployments"),
        Printer {
            columns: &[
                NAME,
                READY_PODS,
                col("Up-to-date", "string", "Total number of non-terminated pods targeted by this deployment that have the desired template spec.", 0),
                col("Available", "string", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.", 0),
                AGE,
                CONTAINERS,
                IMAGES,
                col("Selector", "string", "Label selector for pods.", 1),
            ],
            cells: deployment,
        },
    ),
    (
        ("apps", "replicasets"),
        Printer {
            columns: &[
                NAME,
                col("Desired", "integer", "Replicas is the number of desired pods.", 0),
                col("Current", "integer", "Replicas is the most recently observed number of non-terminating pods.", 0),
                col("Ready", "integer", "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.", 0),
                AGE,
                CONTAINERS,
                IMAGES,
                SELECTOR,
            ],
            cells: replica_set,
        },
    ),
    (
        ("apps", "statefulsets"),
        Printer { columns: &[NAME, READY_PODS, AGE, CONTAINERS, IMAGES], cells: stateful_set },
    ),
    (
        ("apps", "daemonsets"),
        Printer {
            columns: &[
                NAME,
                col("Desired", "integer", "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).", 0),
                col("Current", "integer", "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.", 0),
                col("Ready", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.", 0),
                col("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod", 0),
                col("Available", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)", 0),
                col("Node Selector", "string", "NodeSelector is a selector which must be true for the pod to fit on a node.", 0),
                AGE,
                CONTAINERS,
                IMAGES,
                col("Selector", "string", "A label query over pods that are managed by the daemon set.", 1),
            ],
            cells: daemon_set,
        },
    ),
    (
        ("batch", "jobs"),
        Printer {
            columns: &[
                NAME,
                col("Status", "string", "Status of the job.", 0),
                col("Completions", "string", "The number of pods which reached phase Succeeded.", 0),
                col("Duration", "string", "Time required to complete the job.", 0),
                AGE,
                CONTAINERS,
                IMAGES,
                col("Selector", "string", "A label query over pods that should match the pod count.", 1),
            ],
            cells: job,
        },
    ),
    (
        ("batch", "cronjobs"),
        Printer {
            columns: &[
                NAME,
                col("Schedule", "string", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.", 0),
                col("Timezone", "string", "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.", 0),
                col("Suspend", "boolean", "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.", 0),
                col("Active", "integer", "A list of pointers to currently running jobs.", 0),
                col("Last Schedule", "string", "Information when was the last time the job was successfully scheduled.", 0),
                AGE,
                CONTAINERS,
                IMAGES,
                col("Selector", "string", "A label query over pods that should match the pod count.", 1),
            ],
            cells: cron_job,
        },
    ),
    (
        ("policy", "poddisruptionbudgets"),
        Printer {
            columns: &[
                NAME,
                col("Min Available", "string", "The minimum number of pods that must be available.", 0),
                col("Max Unavailable", "string", "The maximum number of pods that may be unavailable.", 0),
                col("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time.", 0),
                AGE,
            ],
            cells: pod_disruption_budget,
        },
    ),
    (
        ("certificates.k8s.io", "certificatesigningrequests"),
        Printer {
            columns: &[
                NAME,
                AGE,
                col("SignerName", "string", CSR_SIGNER_DOC, 0),
                col("Requestor", "string", CSR_REQUEST_DOC, 0),
                col("RequestedDuration", "string", CSR_DURATION_DOC, 0),
                col("Condition", "string", CSR_CONDITIONS_DOC, 0),
            ],
            cells: certificate_signing_request,
        },
    ),
];

/// The printer kube-apiserver has for (group, plural), if any.
pub(crate) fn builtin(group: &str, plural: &str) -> Option<&'static Printer> {
    PRINTERS.iter().find(|((g, p), _)| *g == group && *p == plural).map(|(_, printer)| printer)
}

// ---- shared helpers: reading the stored JSON the way Go reads its zero values ----

fn text<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

fn int(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn items<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// The number of entries of the array or map at `ptr`.
fn count(v: &Value, ptr: &str) -> i64 {
    let n = match v.pointer(ptr) {
        Some(Value::Array(a)) => a.len(),
        Some(Value::Object(m)) => m.len(),
        _ => 0,
    };
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".into()
    } else {
        s.into()
    }
}

pub(crate) fn name(v: &Value) -> Value {
    text(v, "/metadata/name").into()
}

fn time_at(v: &Value, ptr: &str) -> Option<Timestamp> {
    v.pointer(ptr).and_then(Value::as_str).and_then(|t| t.parse().ok())
}

/// How long ago the timestamp at `ptr` was (`<unknown>` when unset, as `translateTimestampSince`).
fn since(v: &Value, ptr: &str, now: Timestamp) -> String {
    match time_at(v, ptr) {
        Some(t) => human_duration(now.as_second() - t.as_second()),
        None => "<unknown>".into(),
    }
}

/// How long ago the object was created (the Age column).
pub(crate) fn age(v: &Value, now: Timestamp) -> String {
    since(v, "/metadata/creationTimestamp", now)
}

/// The container names and images of the pod spec at `spec`, comma-separated.
fn containers(v: &Value, spec: &str) -> (Value, Value) {
    let cs = items(v, &format!("{spec}/containers"));
    let join = |field: &str| cs.iter().map(|c| text(c, field)).collect::<Vec<_>>().join(",");
    (join("/name").into(), join("/image").into())
}

/// `labels.FormatLabels`: `k=v` pairs sorted by key, or `<none>`.
fn format_labels(m: Option<&Value>) -> String {
    let pairs: Vec<String> = m
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    if pairs.is_empty() {
        "<none>".into()
    } else {
        pairs.join(",")
    }
}

/// A `LabelSelector` as `metav1.LabelSelectorAsSelector(..).String()` renders it
/// (requirements sorted by key, `app=x,tier in (a,b),!gone`; empty for no selector); `None`
/// when it does not convert (an unknown operator, values where none belong or none where some
/// must be), which the real server's validation refuses. The Scale subresource's
/// `status.selector` is this string too.
pub(crate) fn selector_string(sel: Option<&Value>) -> Option<String> {
    let Some(sel) = sel.filter(|s| !s.is_null()) else { return Some(String::new()) };
    let selector: LabelSelector = serde_json::from_value(sel.clone()).ok()?;
    Selector::from_label_selector(Some(&selector)).ok().map(|s| s.to_string())
}

/// `metav1.FormatLabelSelector`: the selector, `<none>` when it selects by nothing, `<error>`.
fn format_label_selector(sel: Option<&Value>) -> String {
    match selector_string(sel) {
        Some(s) if s.is_empty() => "<none>".into(),
        Some(s) => s,
        None => "<error>".into(),
    }
}

/// A quantity's canonical form, as Go prints a `resource.Quantity` (`0` when unset).
fn quantity(v: &Value, ptr: &str) -> String {
    match v.pointer(ptr) {
        Some(Value::String(s)) => Quantity::parse(s).map_or_else(|_| s.clone(), |q| q.to_string()),
        Some(Value::Number(n)) => Quantity::parse(&n.to_string()).map_or_else(|_| n.to_string(), |q| q.to_string()),
        _ => "0".into(),
    }
}

/// `helper.GetAccessModesAsString`: the short names in a fixed order.
fn access_modes(v: &Value, ptr: &str) -> String {
    let modes = items(v, ptr);
    let has = |m: &str| modes.iter().any(|x| x.as_str() == Some(m));
    [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP")]
        .iter()
        .filter(|(long, _)| has(long))
        .map(|(_, short)| *short)
        .collect::<Vec<_>>()
        .join(",")
}

/// The storage class: the beta annotation when present, else `spec.storageClassName`.
fn storage_class(v: &Value) -> String {
    match v.pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class") {
        Some(Value::String(s)) => s.clone(),
        _ => text(v, "/spec/storageClassName").into(),
    }
}

fn unset_or(v: &Value, ptr: &str) -> Value {
    match v.pointer(ptr).and_then(Value::as_str) {
        Some(s) => s.into(),
        None => "<unset>".into(),
    }
}

fn deleting(v: &Value) -> bool {
    v.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
}

// ---- one cell function per kind ----

/// The aggregate status kubectl shows for a pod (phase, or a container's waiting/terminated
/// reason, or `Terminating`).
fn pod_status(v: &Value) -> String {
    let mut reason = v
        .pointer("/status/reason")
        .or_else(|| v.pointer("/status/phase"))
        .and_then(Value::as_str)
        .unwrap_or("Unknown")
        .to_string();
    for cs in items(v, "/status/containerStatuses") {
        if let Some(r) = cs.pointer("/state/waiting/reason").and_then(Value::as_str).filter(|r| !r.is_empty()) {
            reason = r.to_string();
        } else if let Some(r) = cs.pointer("/state/terminated/reason").and_then(Value::as_str).filter(|r| !r.is_empty())
        {
            reason = r.to_string();
        }
    }
    if deleting(v) {
        reason = "Terminating".into();
    }
    reason
}

fn pod(v: &Value, now: Timestamp) -> Vec<Value> {
    let total = items(v, "/spec/containers").len();
    let statuses = items(v, "/status/containerStatuses");
    let ready = statuses.iter().filter(|c| c["ready"] == true).count();
    let restarts: i64 = statuses.iter().filter_map(|c| c["restartCount"].as_i64()).sum();
    vec![
        name(v),
        format!("{ready}/{total}").into(),
        pod_status(v).into(),
        restarts.to_string().into(),
        age(v, now).into(),
        or_none(text(v, "/status/podIP")).into(),
        or_none(text(v, "/spec/nodeName")).into(),
        or_none(text(v, "/status/nominatedNodeName")).into(),
        "<none>".into(),
    ]
}

fn config_map(v: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(v), (count(v, "/data") + count(v, "/binaryData")).into(), age(v, now).into()]
}

fn namespace(v: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(v), text(v, "/status/phase").into(), age(v, now).into()]
}

fn secret(v: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(v), text(v, "/type").into(), count(v, "/data").into(), age(v, now).into()]
}

fn service_account(v: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(v), count(v, "/secrets").into(), age(v, now).into()]
}

/// The External-IP cell (`getServiceExternalIP`, wide: load balancer addresses unclipped).
fn service_external_ip(v: &Value) -> String {
    let external: Vec<&str> = items(v, "/spec/externalIPs").iter().filter_map(Value::as_str).collect();
    match text(v, "/spec/type") {
        "ClusterIP" | "NodePort" => or_none(&external.join(",")),
        "LoadBalancer" => {
            let mut lb: Vec<&str> = items(v, "/status/loadBalancer/ingress")
                .iter()
                .filter_map(|i| [text(i, "/ip"), text(i, "/hostname")].into_iter().find(|s| !s.is_empty()))
                .collect();
            lb.sort_unstable();
            lb.dedup();
            lb.extend(external);
            if lb.is_empty() {
                "<pending>".into()
            } else {
                lb.join(",")
            }
        }
        "ExternalName" => text(v, "/spec/externalName").into(),
        _ => "<unknown>".into(),
    }
}

fn service(v: &Value, now: Timestamp) -> Vec<Value> {
    let ports: Vec<String> = items(v, "/spec/ports")
        .iter()
        .map(|p| {
            let (port, node_port, protocol) = (int(p, "/port"), int(p, "/nodePort"), text(p, "/protocol"));
            if node_port > 0 {
                format!("{port}:{node_port}/{protocol}")
            } else {
                format!("{port}/{protocol}")
            }
        })
        .collect();
    vec![
        name(v),
        text(v, "/spec/type").into(),
        or_none(items(v, "/spec/clusterIPs").first().and_then(Value::as_str).unwrap_or_default()).into(),
        service_external_ip(v).into(),
        or_none(&ports.join(",")).into(),
        age(v, now).into(),
        format_labels(v.pointer("/spec/selector")).into(),
    ]
}

/// `formatEndpoints`: up to three `ip:port` (or bare IPs for a subset without ports), then
/// ` + N more...`.
fn format_endpoints(v: &Value) -> String {
    const MAX: usize = 3;
    let subsets = items(v, "/subsets");
    if subsets.is_empty() {
        return "<none>".into();
    }
    let (mut list, mut more, mut total) = (Vec::<String>::new(), false, 0usize);
    for ss in subsets {
        let ips: Vec<&str> = items(ss, "/addresses").iter().map(|a| text(a, "/ip")).collect();
        let ports = items(ss, "/ports");
        let rounds: Vec<Option<i64>> =
            if ports.is_empty() { vec![None] } else { ports.iter().map(|p| Some(int(p, "/port"))).collect() };
        for port in rounds {
            total += ips.len();
            for ip in &ips {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(match port {
                    None => ip.to_string(),
                    Some(p) if ip.contains(':') => format!("[{ip}]:{p}"),
                    Some(p) => format!("{ip}:{p}"),
                });
            }
        }
    }
    let joined = list.join(",");
    if more {
        format!("{joined} + {} more...", total - MAX)
    } else {
        joined
    }
}

fn endpoints(v: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(v), format_endpoints(v).into(), age(v, now).into()]
}

/// An event row: LAST SEEN falls back to FIRST SEEN, which falls back to `eventTime`; a
/// `series` gives LAST SEEN and COUNT; a count of 0 reads 1 (singleton events).
fn event(v: &Value, now: Timestamp) -> Vec<Value> {
    let first = if time_at(v, "/firstTimestamp").is_some() {
        since(v, "/firstTimestamp", now)
    } else {
        since(v, "/eventTime", now)
    };
    let mut last = if time_at(v, "/lastTimestamp").is_some() { since(v, "/lastTimestamp", now) } else { first.clone() };
    let mut n = int(v, "/count");
    if v.get("series").is_some_and(|s| !s.is_null()) {
        last = since(v, "/series/lastObservedTime", now);
        n = int(v, "/series/count");
    } else if n == 0 {
        n = 1;
    }
    let kind = text(v, "/involvedObject/kind").to_lowercase();
    let target = match text(v, "/involvedObject/name") {
        "" => kind,
        obj => format!("{kind}/{obj}"),
    };
    let first_set = |a: &str, b: &str| if a.is_empty() { b.to_string() } else { a.to_string() };
    let component = first_set(text(v, "/source/component"), text(v, "/reportingComponent"));
    let instance = first_set(text(v, "/source/host"), text(v, "/reportingInstance"));
    let source = if instance.is_empty() { component } else { format!("{component}, {instance}") };
    vec![
        last.into(),
        text(v, "/type").into(),
        text(v, "/reason").into(),
        target.into(),
        text(v, "/involvedObject/fieldPath").into(),
        source.into(),
        text(v, "/message").trim().into(),
        first.into(),
        n.into(),
        name(v),
    ]
}

/// `Ready` / `NotReady` from the (last) Ready condition, `Unknown` without one, then
/// `,SchedulingDisabled` for a cordoned node.
fn node_status(v: &Value) -> String {
    let ready = items(v, "/status/conditions").iter().rev().find(|c| text(c, "/type") == "Ready");
    let mut status = match ready {
        Some(c) if text(c, "/status") == "True" => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if v.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    status
}

/// Roles from `node-role.kubernetes.io/<role>` label keys and the `kubernetes.io/role` value.
fn node_roles(v: &Value) -> String {
    let mut roles: Vec<&str> = v
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, val)| match k.strip_prefix("node-role.kubernetes.io/") {
            Some(role) => Some(role),
            None if k == "kubernetes.io/role" => val.as_str(),
            None => None,
        })
        .filter(|r| !r.is_empty())
        .collect();
    roles.sort_unstable();
    roles.dedup();
    or_none(&roles.join(","))
}

fn node(v: &Value, now: Timestamp) -> Vec<Value> {
    let address = |kind: &str| {
        items(v, "/status/addresses")
            .iter()
            .find(|a| text(a, "/type") == kind)
            .map_or_else(|| "<none>".to_string(), |a| text(a, "/address").to_string())
    };
    let info = |field: &str| match text(v, &format!("/status/nodeInfo/{field}")) {
        "" => "<unknown>".to_string(),
        s => s.to_string(),
    };
    vec![
        name(v),
        node_status(v).into(),
        node_roles(v).into(),
        age(v, now).into(),
        text(v, "/status/nodeInfo/kubeletVersion").into(),
        address("InternalIP").into(),
        address("ExternalIP").into(),
        info("osImage").into(),
        info("kernelVersion").into(),
        info("containerRuntimeVersion").into(),
    ]
}

fn phase_or_terminating(v: &Value) -> Value {
    if deleting(v) {
        "Terminating".into()
    } else {
        text(v, "/status/phase").into()
    }
}

fn persistent_volume(v: &Value, now: Timestamp) -> Vec<Value> {
    let claim = match v.pointer("/spec/claimRef") {
        Some(r) if r.is_object() => format!("{}/{}", text(r, "/namespace"), text(r, "/name")),
        _ => String::new(),
    };
    vec![
        name(v),
        quantity(v, "/spec/capacity/storage").into(),
        access_modes(v, "/spec/accessModes").into(),
        text(v, "/spec/persistentVolumeReclaimPolicy").into(),
        phase_or_terminating(v),
        claim.into(),
        storage_class(v).into(),
        unset_or(v, "/spec/volumeAttributesClassName"),
        text(v, "/status/reason").into(),
        age(v, now).into(),
        unset_or(v, "/spec/volumeMode"),
    ]
}

/// Capacity and access modes come from the status, and only once the claim names a volume.
fn persistent_volume_claim(v: &Value, now: Timestamp) -> Vec<Value> {
    let volume = text(v, "/spec/volumeName");
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (quantity(v, "/status/capacity/storage"), access_modes(v, "/status/accessModes"))
    };
    vec![
        name(v),
        phase_or_terminating(v),
        volume.into(),
        capacity.into(),
        modes.into(),
        storage_class(v).into(),
        unset_or(v, "/spec/volumeAttributesClassName"),
        age(v, now).into(),
        unset_or(v, "/spec/volumeMode"),
    ]
}

fn deployment(v: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = containers(v, "/spec/template/spec");
    // printDeployment renders the selector itself: empty when it selects by nothing.
    let selector = selector_string(v.pointer("/spec/selector")).unwrap_or_else(|| "<invalid>".into());
    vec![
        name(v),
        format!("{}/{}", int(v, "/status/readyReplicas"), int(v, "/spec/replicas")).into(),
        int(v, "/status/updatedReplicas").into(),
        int(v, "/status/availableReplicas").into(),
        age(v, now).into(),
        names,
        images,
        selector.into(),
    ]
}

fn replica_set(v: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = containers(v, "/spec/template/spec");
    vec![
        name(v),
        int(v, "/spec/replicas").into(),
        int(v, "/status/replicas").into(),
        int(v, "/status/readyReplicas").into(),
        age(v, now).into(),
        names,
        images,
        format_label_selector(v.pointer("/spec/selector")).into(),
    ]
}

fn stateful_set(v: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = containers(v, "/spec/template/spec");
    vec![
        name(v),
        format!("{}/{}", int(v, "/status/readyReplicas"), int(v, "/spec/replicas")).into(),
        age(v, now).into(),
        names,
        images,
    ]
}

fn daemon_set(v: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = containers(v, "/spec/template/spec");
    vec![
        name(v),
        int(v, "/status/desiredNumberScheduled").into(),
        int(v, "/status/currentNumberScheduled").into(),
        int(v, "/status/numberReady").into(),
        int(v, "/status/updatedNumberScheduled").into(),
        int(v, "/status/numberAvailable").into(),
        format_labels(v.pointer("/spec/template/spec/nodeSelector")).into(),
        age(v, now).into(),
        names,
        images,
        format_label_selector(v.pointer("/spec/selector")).into(),
    ]
}

/// A job's Status cell as the 1.32 printer decides it: Complete, Failed, Terminating,
/// Suspended, FailureTarget, else Running (a condition counts when its first occurrence is
/// True).
fn job_status(v: &Value) -> &'static str {
    let conditions = items(v, "/status/conditions");
    let has =
        |kind: &str| conditions.iter().find(|c| text(c, "/type") == kind).is_some_and(|c| text(c, "/status") == "True");
    if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if deleting(v) {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

fn job(v: &Value, now: Timestamp) -> Vec<Value> {
    let succeeded = int(v, "/status/succeeded");
    let completions = match v.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match int(v, "/spec/parallelism") {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (time_at(v, "/status/startTime"), time_at(v, "/status/completionTime")) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now.as_second() - start.as_second()),
        (Some(start), Some(end)) => human_duration(end.as_second() - start.as_second()),
    };
    let (names, images) = containers(v, "/spec/template/spec");
    vec![
        name(v),
        job_status(v).into(),
        completions.into(),
        duration.into(),
        age(v, now).into(),
        names,
        images,
        format_label_selector(v.pointer("/spec/selector")).into(),
    ]
}

fn cron_job(v: &Value, now: Timestamp) -> Vec<Value> {
    let suspend = match v.pointer("/spec/suspend").and_then(Value::as_bool) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    let last = match time_at(v, "/status/lastScheduleTime") {
        Some(_) => since(v, "/status/lastScheduleTime", now),
        None => "<none>".into(),
    };
    let (names, images) = containers(v, "/spec/jobTemplate/spec/template/spec");
    vec![
        name(v),
        text(v, "/spec/schedule").into(),
        or_none(text(v, "/spec/timeZone")).into(),
        suspend.into(),
        count(v, "/status/active").into(),
        last.into(),
        age(v, now).into(),
        names,
        images,
        format_label_selector(v.pointer("/spec/jobTemplate/spec/selector")).into(),
    ]
}

fn pod_disruption_budget(v: &Value, now: Timestamp) -> Vec<Value> {
    let int_or_string = |ptr: &str| match v.pointer(ptr) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "N/A".into(),
    };
    vec![
        name(v),
        int_or_string("/spec/minAvailable").into(),
        int_or_string("/spec/maxUnavailable").into(),
        int(v, "/status/disruptionsAllowed").into(),
        age(v, now).into(),
    ]
}

/// A CertificateSigningRequest's Condition cell as the printer builds it: Denied, else
/// Approved, else Pending (any condition of those types counts, whatever its status), then
/// `,Failed` and `,Issued` when they apply.
fn csr_condition(v: &Value) -> String {
    let conditions = items(v, "/status/conditions");
    let has = |kind: &str| conditions.iter().any(|c| text(c, "/type") == kind);
    let mut s = String::from(if has("Denied") {
        "Denied"
    } else if has("Approved") {
        "Approved"
    } else {
        "Pending"
    });
    if has("Failed") {
        s.push_str(",Failed");
    }
    if !text(v, "/status/certificate").is_empty() {
        s.push_str(",Issued");
    }
    s
}

fn certificate_signing_request(v: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(v),
        age(v, now).into(),
        or_none(text(v, "/spec/signerName")).into(),
        text(v, "/spec/username").into(),
        match v.pointer("/spec/expirationSeconds").and_then(Value::as_i64) {
            Some(secs) => human_duration(secs),
            None => "<none>".into(),
        }
        .into(),
        csr_condition(v).into(),
    ]
}
