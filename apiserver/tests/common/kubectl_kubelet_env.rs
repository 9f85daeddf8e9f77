//! Runs kubectl 1.32 against an embedded server (the approach of `kubectl.rs`): a kubeconfig
//! and a private cache directory per test, a timeout per run, and a skip when kubectl is
//! missing. Included with `#[path = "common/kubectl_env.rs"] mod kubectl_env;`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use rudder_apiserver::{kubeconfig, ApiServer};
use tokio::process::Command;

/// How long one kubectl run may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A server and the kubeconfig pointing at it.
pub struct Env {
    pub server: ApiServer,
    dir: tempfile::TempDir,
}

/// One kubectl run.
pub struct Output {
    pub args: Vec<String>,
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Stdout, after asserting success.
    pub fn ok(self) -> String {
        assert!(self.ok, "kubectl {:?} failed:\nstdout: {}\nstderr: {}", self.args, self.stdout, self.stderr);
        self.stdout
    }
}

impl Env {
    /// Writes a kubeconfig for `server`; `None` (after printing why) when kubectl is missing.
    pub fn new(server: ApiServer) -> Option<Env> {
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
        let dir = tempfile::tempdir().expect("tempdir");
        let url = server.url().to_string();
        kubeconfig::write(
            &dir.path().join("kubeconfig"),
            url.trim_end_matches('/'),
            server.ca_pem(),
            server.token(),
            None,
        )
        .expect("kubeconfig");
        Some(Env { server, dir })
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// Runs kubectl to completion within [`TIMEOUT`].
    pub async fn run(&self, args: &[&str]) -> Output {
        let mut c = Command::new("kubectl");
        c.arg("--kubeconfig")
            .arg(self.kubeconfig())
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = c.spawn().expect("spawning kubectl");
        let out = tokio::time::timeout(TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish in {TIMEOUT:?}"))
            .expect("kubectl output");
        Output {
            args: args.iter().map(|s| s.to_string()).collect(),
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs kubectl, requires success, returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        self.run(args).await.ok()
    }
}
