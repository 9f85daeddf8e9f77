//! The one kubectl harness for tests against an embedded server: each [`Env`] owns a server, a
//! private temp dir holding the kubeconfig that points at it, kubectl's discovery cache
//! (`--cache-dir`) and `HOME`, so a run never reads or writes the user's `~/.kube`.
//!
//! Every run is bounded by the env's timeout ([`DEFAULT_TIMEOUT`] unless
//! [`Env::with_timeout`] says otherwise); a run that does not finish in time fails the test
//! instead of blocking CI. When kubectl is not on PATH, [`Env::new`] and [`Env::start`] print
//! "kubectl not found: skipping" and answer `None`, so the test returns early.
//!
//! Included with `#[path = "common/kubectl.rs"] mod kubectl;` (and by `derive/tests/kubectl.rs`
//! through a relative `#[path]`).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use rudder_apiserver::{kubeconfig, ApiServer, ApiServerBuilder};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// How long one kubectl run may take unless the env says otherwise: what the slowest user needs
/// (`kubectl drain` waiting for evictions, on a loaded machine).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The bearer token [`Env::start`] gives its server.
pub const TOKEN: &str = "kubectl-test-token";

/// A server, its kubeconfig and kubectl's private cache and HOME.
pub struct Env {
    pub server: ApiServer,
    /// Holds `kubeconfig`, `cache/` and serves as `HOME`.
    pub dir: tempfile::TempDir,
    timeout: Duration,
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
    /// Stdout, after requiring success (else the test fails with kubectl's output).
    pub fn ok(self) -> String {
        assert!(self.ok, "kubectl {:?} failed:\nstdout: {}\nstderr: {}", self.args, self.stdout, self.stderr);
        self.stdout
    }
}

/// Whether `kubectl version --client` runs; prints the skip note when it does not.
pub fn kubectl_available() -> bool {
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
    /// kubectl against a running `server` (its CA and token, if any, go into the kubeconfig);
    /// `None` when kubectl is missing.
    pub fn new(server: ApiServer) -> Option<Env> {
        kubectl_available().then(|| Env::pointing_at(server))
    }

    /// Starts the server `builder` describes, with TLS and the bearer token [`TOKEN`], and
    /// points kubectl at it; `None` (before starting anything) when kubectl is missing.
    pub async fn start(builder: ApiServerBuilder) -> Option<Env> {
        if !kubectl_available() {
            return None;
        }
        let server = builder.tls().token(TOKEN).start().await.expect("server starts");
        Some(Env::pointing_at(server))
    }

    fn pointing_at(server: ApiServer) -> Env {
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
        Env { server, dir, timeout: DEFAULT_TIMEOUT }
    }

    /// Bounds every later run by `timeout` instead of [`DEFAULT_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The bound on one run.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The kubeconfig file kubectl is given.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// `kubectl <args>` with this env's kubeconfig, cache and HOME, stdin null, stdout and
    /// stderr piped, killed on drop: for a long-running kubectl (a watch, port-forward) that the
    /// test drives itself and bounds with [`Env::timeout`].
    pub fn command(&self, args: &[&str]) -> Command {
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
        c
    }

    /// Runs kubectl to completion, with `stdin` fed in and then closed (`None`: no stdin),
    /// within the env's timeout; a hang fails the test.
    pub async fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = self.command(args);
        if stdin.is_some() {
            c.stdin(Stdio::piped());
        }
        let mut child = c.spawn().expect("spawning kubectl");
        let input = child.stdin.take();
        // Fed while the output is read, so neither side can fill a pipe and stall the other. A
        // kubectl that exits without reading it all is judged by its output, not by the write.
        let feed = async move {
            if let (Some(text), Some(mut input)) = (stdin, input) {
                let _ = input.write_all(text.as_bytes()).await;
            }
        };
        let timeout = self.timeout;
        let (_, out) = tokio::time::timeout(timeout, async { tokio::join!(feed, child.wait_with_output()) })
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish in {timeout:?}"));
        let out = out.expect("kubectl output");
        Output {
            args: args.iter().map(|s| s.to_string()).collect(),
            ok: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs kubectl without stdin and requires success; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        self.run(args, None).await.ok()
    }

    /// Runs kubectl with `stdin` fed in and requires success; returns stdout.
    pub async fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        self.run(args, Some(stdin)).await.ok()
    }

    /// Runs kubectl, requires success and parses stdout as JSON (`-o json`, `get --raw`).
    pub async fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.ok(args).await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("kubectl {args:?}: not JSON ({e}): {out}"))
    }
}
