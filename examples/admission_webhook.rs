//! Admission webhooks: a mutating webhook that labels every new Pod `admitted-by=rudder`
//! (a JSON Patch response) and a validating webhook that rejects Pods whose containers have no
//! resource limits, served over HTTPS by `rudder::controller::webhook` with a certificate made
//! here by rcgen, and registered with a MutatingWebhookConfiguration and a
//! ValidatingWebhookConfiguration (url + caBundle).
//!
//! `cargo run --example admission_webhook [-- --for N]` drives itself: it creates a Pod with
//! limits (admitted, labelled) and one without (rejected with the webhook's message), then keeps
//! serving N more seconds. The embedded server calls the webhooks like a real API server does.
//! On a real cluster (`-- --yes`) the API server must reach this process: pass
//! `-- --host <address the API server can reach>` (for minikube `host.minikube.internal`;
//! the certificate is made for that name). It deletes what it created.

mod common;

use std::net::SocketAddr;

use base64::Engine as _;
use k8s_openapi::api::admissionregistration::v1::{MutatingWebhookConfiguration, ValidatingWebhookConfiguration};
use k8s_openapi::api::core::v1::Pod;
use rudder::apimachinery::admission::{AdmissionRequest, AdmissionResponse};
use rudder::apimachinery::options::{DeleteOptions, WriteOptions};
use rudder::client::{api::Api, Client};
use rudder::controller::webhook::{RunningWebhookServer, WebhookServer};
use serde_json::json;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The label the mutating webhook adds.
pub const LABEL: (&str, &str) = ("admitted-by", "rudder");
const CONFIG_NAME: &str = "rudder-example-pod-policy";

/// Adds the label (creating `metadata.labels` when the Pod has none).
pub async fn mutate(req: AdmissionRequest<Pod>) -> AdmissionResponse {
    let has_labels = req.object.as_ref().is_some_and(|p| p.metadata.labels.is_some());
    let ops = if has_labels {
        // JSON Pointer escapes `/` as `~1`; the label key here has none.
        json!([{"op": "add", "path": format!("/metadata/labels/{}", LABEL.0), "value": LABEL.1}])
    } else {
        json!([{"op": "add", "path": "/metadata/labels", "value": {LABEL.0: LABEL.1}}])
    };
    match AdmissionResponse::allow(&req).with_patch(&ops) {
        Ok(r) => r,
        Err(e) => AdmissionResponse::deny(&req, 500, format!("building the patch: {e}")),
    }
}

/// Rejects a Pod with a container that sets no resource limits.
pub async fn validate(req: AdmissionRequest<Pod>) -> AdmissionResponse {
    let containers =
        req.object.as_ref().and_then(|p| p.spec.as_ref()).map(|s| s.containers.as_slice()).unwrap_or_default();
    let unlimited: Vec<&str> = containers
        .iter()
        .filter(|c| c.resources.as_ref().and_then(|r| r.limits.as_ref()).is_none_or(|l| l.is_empty()))
        .map(|c| c.name.as_str())
        .collect();
    if unlimited.is_empty() {
        AdmissionResponse::allow(&req)
    } else {
        AdmissionResponse::deny(&req, 403, format!("containers without resource limits: {}", unlimited.join(", ")))
    }
}

/// A running webhook and what registering it needs.
pub struct Served {
    /// The server.
    pub server: RunningWebhookServer,
    /// `https://host:port`.
    pub base_url: String,
    /// The CA bundle (PEM) that trusts its certificate.
    pub ca_pem: String,
}

/// Serves both webhooks on `bind` with a certificate for `host` (a name or an IP).
pub async fn serve(host: &str, bind: SocketAddr) -> Result<Served, BoxError> {
    let key = rcgen::KeyPair::generate()?;
    let params = rcgen::CertificateParams::new(vec![host.to_owned()])?;
    let cert = params.self_signed(&key)?;
    let server = WebhookServer::new(cert.pem().as_bytes(), key.serialize_pem().as_bytes())?
        .route("/mutate-pods", mutate)
        .route("/validate-pods", validate)
        .bind(bind)
        .await?;
    let port = server.local_addr().port();
    Ok(Served { server, base_url: format!("https://{host}:{port}"), ca_pem: cert.pem() })
}

/// Registers both webhooks for Pod creates in `namespace` (by its `kubernetes.io/metadata.name`
/// label, so nothing else in the cluster is affected).
pub async fn register(client: &Client, served: &Served, namespace: &str) -> Result<(), BoxError> {
    let ca = base64::engine::general_purpose::STANDARD.encode(&served.ca_pem);
    let hook = |name: &str, path: &str| {
        json!({
            "name": name,
            "clientConfig": {"url": format!("{}{path}", served.base_url), "caBundle": ca},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "failurePolicy": "Fail",
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 5
        })
    };
    let mutating: MutatingWebhookConfiguration = serde_json::from_value(json!({
        "metadata": {"name": CONFIG_NAME},
        "webhooks": [hook("label.pods.rudder.example.com", "/mutate-pods")]
    }))?;
    let validating: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "metadata": {"name": CONFIG_NAME},
        "webhooks": [hook("limits.pods.rudder.example.com", "/validate-pods")]
    }))?;
    Api::<MutatingWebhookConfiguration>::all(client.clone()).create(&WriteOptions::default(), &mutating).await?;
    Api::<ValidatingWebhookConfiguration>::all(client.clone()).create(&WriteOptions::default(), &validating).await?;
    Ok(())
}

/// Removes both configurations (a missing one is fine).
pub async fn unregister(client: &Client) {
    let _ =
        Api::<MutatingWebhookConfiguration>::all(client.clone()).delete(CONFIG_NAME, &DeleteOptions::default()).await;
    let _ =
        Api::<ValidatingWebhookConfiguration>::all(client.clone()).delete(CONFIG_NAME, &DeleteOptions::default()).await;
}

/// A Pod with one container, with or without limits.
pub fn pod(name: &str, limits: bool) -> Pod {
    let resources = if limits { json!({"limits": {"cpu": "100m", "memory": "64Mi"}}) } else { json!({}) };
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "demo"}},
        "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10", "resources": resources}]}
    }))
    .unwrap_or_default()
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::exit_code("admission_webhook", example().await)
}

async fn example() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let keep = common::for_seconds()?;
    let (conn, ns) = common::connect_to_write().await.map_err(|e| e.to_string())?;
    let client = conn.client.clone();
    let host = arg("--host").unwrap_or_else(|| "127.0.0.1".into());
    let bind: SocketAddr = if conn.server.is_some() { ([127, 0, 0, 1], 0).into() } else { ([0, 0, 0, 0], 0).into() };
    let served = serve(&host, bind).await?;
    println!("webhooks served at {}/mutate-pods and /validate-pods", served.base_url);
    register(&client, &served, &ns).await?;
    let result = drive(&client, &ns).await;
    if result.is_ok() {
        if let Some(keep) = keep {
            println!("serving {keep:?} more (Ctrl-C ends early)");
            tokio::select! {
                _ = tokio::time::sleep(keep) => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
    }
    unregister(&client).await;
    let _ = Api::<Pod>::namespaced(client.clone(), &ns)
        .delete("limited", &DeleteOptions { grace_period_seconds: Some(0), ..Default::default() })
        .await;
    served.server.stop().await;
    result
}

async fn drive(client: &Client, ns: &str) -> Result<(), BoxError> {
    let pods = Api::<Pod>::namespaced(client.clone(), ns);
    let created = pods.create(&WriteOptions::default(), &pod("limited", true)).await?;
    let label = created.metadata.labels.as_ref().and_then(|l| l.get(LABEL.0));
    if label.map(String::as_str) != Some(LABEL.1) {
        return Err(format!("the mutating webhook did not label the Pod: labels {:?}", created.metadata.labels).into());
    }
    println!("created Pod limited; the mutating webhook labelled it {}={}", LABEL.0, LABEL.1);
    match pods.create(&WriteOptions::default(), &pod("unlimited", false)).await {
        Ok(_) => Err("the validating webhook admitted a Pod without limits".into()),
        Err(e) => {
            println!("Pod unlimited rejected: {e}");
            if e.to_string().contains("containers without resource limits: app") {
                Ok(())
            } else {
                Err(format!("rejected, but not by the webhook: {e}").into())
            }
        }
    }
}
