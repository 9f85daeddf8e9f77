//! kubectl judges the generated CRD against the embedded API server: a server-side dry-run
//! apply of it succeeds, and `kubectl get ct` lists objects created through `Api<CronTab>`.
//!
//! kubectl runs through the apiserver tests' harness (`apiserver/tests/common/kubectl.rs`,
//! included by path: it is test code, not part of `rudder-apiserver`'s API). Every test skips
//! (prints "kubectl not found: skipping") when `kubectl` is not on PATH; each kubectl run has a
//! timeout, so a hang fails the test instead of blocking CI.

mod types;

#[path = "../../apiserver/tests/common/kubectl.rs"]
mod kubectl;

use std::time::Duration;

use kubectl::Env;
use rudder::apimachinery::options::WriteOptions;
use rudder::client::api::Api;
use rudder::crd::{apply_crd, wait_established};
use rudder_apiserver::ApiServer;
use types::{Concurrency, CronTab, CronTabSpec};

/// kubectl against a plain-HTTP server without authentication; `None` when kubectl is missing.
async fn env() -> Option<Env> {
    Env::new(ApiServer::start().await.expect("server starts"))
}

/// Installs the CronTab CRD and creates one object.
async fn with_crontab(env: &Env) {
    let client = env.server.client();
    apply_crd(&client, &CronTab::crd().unwrap(), "rudder-derive-test").await.unwrap();
    wait_established(&client, "crontabs.stable.example.com", Duration::from_secs(5)).await.unwrap();
    let spec = CronTabSpec {
        cron_spec: "*/5 * * * *".into(),
        replicas: 2,
        image: "busybox".into(),
        concurrency: Concurrency::Allow,
        args: Vec::new(),
        starting_deadline: None,
        env: Default::default(),
        extra: None,
        history: 3,
    };
    Api::<CronTab>::namespaced(client, "default")
        .create(&WriteOptions::default(), &CronTab::new("every-five", spec))
        .await
        .unwrap();
}

#[tokio::test]
async fn server_side_dry_run_accepts_the_generated_crd() {
    let Some(env) = env().await else { return };
    let yaml = serde_yaml_ng::to_string(&CronTab::crd().unwrap()).unwrap();
    let out = env.run(&["apply", "--dry-run=server", "-f", "-"], Some(&yaml)).await.ok();
    assert!(out.contains("crontabs.stable.example.com") && out.contains("server dry run"), "{out}");
    // A dry run stores nothing.
    let out = env.run(&["get", "crd", "crontabs.stable.example.com"], None).await;
    assert!(!out.ok && out.stderr.contains("NotFound"), "{out:?}");
}

#[tokio::test]
async fn kubectl_gets_derived_objects_by_short_name() {
    let Some(env) = env().await else { return };
    with_crontab(&env).await;
    let out = env.ok(&["get", "ct", "-n", "default"]).await;
    let mut lines = out.lines();
    assert!(lines.next().is_some_and(|h| h.starts_with("NAME")), "{out}");
    assert!(lines.next().is_some_and(|l| l.starts_with("every-five ")), "{out}");
    let spec = env.ok(&["get", "ct", "every-five", "-n", "default", "-o", "jsonpath={.spec.cronSpec}"]).await;
    assert_eq!(spec, "*/5 * * * *");
}

/// The printer columns of the CRD as `kubectl get` shows them (the server's Table answers use
/// the CRD's additionalPrinterColumns).
#[tokio::test]
async fn kubectl_get_shows_the_printer_columns() {
    let Some(env) = env().await else { return };
    with_crontab(&env).await;
    let out = env.ok(&["get", "ct", "-n", "default"]).await;
    let header: Vec<&str> = out.lines().next().unwrap_or_default().split_whitespace().collect();
    // No Age: the API server adds it only to CRDs without additionalPrinterColumns.
    assert_eq!(header, ["NAME", "SCHEDULE", "REPLICAS"], "{out}");
    let wide = env.ok(&["get", "ct", "-n", "default", "-o", "wide"]).await;
    assert!(wide.lines().next().is_some_and(|h| h.contains("IMAGE")), "{wide}");
}
