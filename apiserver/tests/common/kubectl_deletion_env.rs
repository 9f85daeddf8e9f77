//! kubectl against an embedded server: a private kubeconfig and cache, every run bounded by a
//! timeout (the approach of `kubectl.rs`). Tests skip when kubectl is not on PATH.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use rudder_apiserver::{kubeconfig, ApiServer};
use tokio::process::Command;

/// The most one kubectl run may take.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// A server, its kubeconfig and a private discovery cache.
pub struct Kubectl {
    pub dir: tempfile::TempDir,
}

/// What one run printed.
#[derive(Debug)]
pub struct Output {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Kubectl {
    /// `None` (after printing why) when kubectl is missing.
    pub fn new(server: &ApiServer) -> Option<Self> {
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
        Some(Kubectl { dir })
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// Runs kubectl to completion within [`TIMEOUT`].
    pub async fn run(&self, args: &[&str]) -> Output {
        let child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawning kubectl");
        let out = tokio::time::timeout(TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish in {TIMEOUT:?}"))
            .expect("kubectl output");
        Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs kubectl and requires success; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(out.ok, "kubectl {args:?} failed:\nstdout: {}\nstderr: {}", out.stdout, out.stderr);
        out.stdout
    }
}
