//! kubectl judges the generated CRD against the embedded API server: a server-side dry-run
//! apply of it succeeds, and `kubectl get ct` lists objects created through `Api<CronTab>`.
//!
//! Every test skips (prints "kubectl not found: skipping") when `kubectl` is not on PATH; each
//! kubectl run has a timeout, so a hang fails the test instead of blocking CI.

mod types;

use std::process::Stdio;
use std::time::Duration;

use rudder::apimachinery::options::WriteOptions;
use rudder::client::api::Api;
use rudder::crd::{apply_crd, wait_established};
use rudder_apiserver::{kubeconfig, ApiServer};
use tokio::io::AsyncWriteExt;
use types::{Concurrency, CronTab, CronTabSpec};

const TIMEOUT: Duration = Duration::from_secs(30);

struct Env {
    server: ApiServer,
    dir: tempfile::TempDir,
}

impl Env {
    /// `None` (and a note) when kubectl is not installed.
    async fn start() -> Option<Env> {
        let found = std::process::Command::new("kubectl")
            .args(["version", "--client"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            println!("kubectl not found: skipping");
            return None;
        }
        let server = ApiServer::start().await.expect("server starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let url = server.url().to_string();
        kubeconfig::write(&dir.path().join("kubeconfig"), url.trim_end_matches('/'), None, None, None)
            .expect("kubeconfig");
        Some(Env { server, dir })
    }

    /// Runs kubectl with `stdin`, within [`TIMEOUT`]; returns (success, stdout, stderr).
    async fn run(&self, args: &[&str], stdin: &str) -> (bool, String, String) {
        let mut child = tokio::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.dir.path().join("kubeconfig"))
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env("HOME", self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawning kubectl");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).await.expect("kubectl's stdin");
        drop(input);
        let out = tokio::time::timeout(TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish in {TIMEOUT:?}"))
            .expect("kubectl output");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }

    async fn ok(&self, args: &[&str], stdin: &str) -> String {
        let (ok, stdout, stderr) = self.run(args, stdin).await;
        assert!(ok, "kubectl {args:?} failed:\nstdout: {stdout}\nstderr: {stderr}");
        stdout
    }

    /// Installs the CronTab CRD and creates one object.
    async fn with_crontab(&self) {
        let client = self.server.client();
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
}

#[tokio::test]
async fn server_side_dry_run_accepts_the_generated_crd() {
    let Some(env) = Env::start().await else { return };
    let yaml = serde_yaml_ng::to_string(&CronTab::crd().unwrap()).unwrap();
    let out = env.ok(&["apply", "--dry-run=server", "-f", "-"], &yaml).await;
    assert!(out.contains("crontabs.stable.example.com") && out.contains("server dry run"), "{out}");
    // A dry run stores nothing.
    let (ok, _, stderr) = env.run(&["get", "crd", "crontabs.stable.example.com"], "").await;
    assert!(!ok && stderr.contains("NotFound"), "{stderr}");
}

#[tokio::test]
async fn kubectl_gets_derived_objects_by_short_name() {
    let Some(env) = Env::start().await else { return };
    env.with_crontab().await;
    let out = env.ok(&["get", "ct", "-n", "default"], "").await;
    let mut lines = out.lines();
    assert!(lines.next().is_some_and(|h| h.starts_with("NAME")), "{out}");
    assert!(lines.next().is_some_and(|l| l.starts_with("every-five ")), "{out}");
    let spec = env.ok(&["get", "ct", "every-five", "-n", "default", "-o", "jsonpath={.spec.cronSpec}"], "").await;
    assert_eq!(spec, "*/5 * * * *");
}

/// The printer columns of the CRD as `kubectl get` shows them (the server's Table answers use
/// the CRD's additionalPrinterColumns).
#[tokio::test]
async fn kubectl_get_shows_the_printer_columns() {
    let Some(env) = Env::start().await else { return };
    env.with_crontab().await;
    let out = env.ok(&["get", "ct", "-n", "default"], "").await;
    let header: Vec<&str> = out.lines().next().unwrap_or_default().split_whitespace().collect();
    // No Age: the API server adds it only to CRDs without additionalPrinterColumns.
    assert_eq!(header, ["NAME", "SCHEDULE", "REPLICAS"], "{out}");
    let wide = env.ok(&["get", "ct", "-n", "default", "-o", "wide"], "").await;
    assert!(wide.lines().next().is_some_and(|h| h.contains("IMAGE")), "{wide}");
}
