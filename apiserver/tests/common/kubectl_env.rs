//! Running kubectl against an embedded server (the approach of `tests/kubectl.rs`): a server
//! built by the caller, a kubeconfig pointing at it, a private cache and HOME, and a timeout
//! on every run. `Env::start` answers `None` (and prints "kubectl not found: skipping") when
//! kubectl is not on PATH.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use rudder_apiserver::{kubeconfig, ApiServer, ApiServerBuilder};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// The most one kubectl run may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A started server and the kubeconfig pointing at it.
pub struct Env {
    pub server: ApiServer,
    pub dir: tempfile::TempDir,
}

/// One finished kubectl run.
#[derive(Debug)]
pub struct Output {
    pub args: Vec<String>,
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Requires success; returns stdout.
    pub fn ok(self) -> String {
        assert!(self.ok, "kubectl {:?} failed:\nstdout: {}\nstderr: {}", self.args, self.stdout, self.stderr);
        self.stdout
    }
}

fn kubectl_available() -> bool {
    let found = std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        println!("kubectl not found: skipping");
    }
    found
}

impl Env {
    /// Starts the server `builder` describes (with TLS and a token) and writes its kubeconfig.
    pub async fn start(builder: ApiServerBuilder) -> Option<Env> {
        if !kubectl_available() {
            return None;
        }
        let server = builder.tls().token("kubectl-test-token").start().await.expect("server starts");
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

    /// Runs kubectl to completion (with `stdin` fed in), within [`TIMEOUT`].
    pub async fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
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
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).await.expect("writing kubectl's stdin");
        }
        drop(input);
        let out = tokio::time::timeout(TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish in {TIMEOUT:?}"))
            .expect("kubectl output");
        Output {
            args: args.iter().map(|s| s.to_string()).collect(),
            ok: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}
