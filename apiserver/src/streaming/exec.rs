//! `pods/exec` and `pods/attach` sessions over the kubelet's WebSocket channel protocols.
//!
//! Contract (the kubelet's `remotecommand` server):
//! - Channels: 0 stdin, 1 stdout, 2 stderr, 3 error (status), 4 resize (`{"Width":W,"Height":H}`).
//!   With `v5.channel.k8s.io` the client's `[255, 0]` closes stdin (the process sees EOF).
//! - Right after the upgrade the server sends one empty message on the lowest channel it
//!   writes (stdout, else stderr, else error), the kubelet's "connection established".
//! - With `tty` stderr is merged into stdout (the kubelet drops `stderr` when `tty` is set).
//! - When the process ends, all its output is sent, then the status on channel 3: for
//!   `v4`/`v5` a JSON `Status` (`Success`; `Failure` with reason `NonZeroExitCode` and a cause
//!   `ExitCode` whose message is the code; `InternalError` 500 when the command could not run),
//!   for `channel.k8s.io` the error text only on failure; then a normal Close.
//! - The client closing or dropping the connection ends the process (its future is dropped).
//! - Exec runs the handler registered with [`Control::on_exec`] for the container (or pod),
//!   else the built-in commands of [`super::shell`]. Attach runs the one registered with
//!   [`Control::on_attach`], else the default main process: it copies stdin to stdout until
//!   stdin closes (without stdin it runs until the client leaves). Attach reports `Success`
//!   unless the handler fails (a real attach carries no exit code).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::fs::Fs;
use super::state::{ContainerKey, Streams};
use super::ws::{self, Conn};
use super::{Kind, Query, Target};
use crate::control::Control;
use crate::errors::ApiError;
use rudder_apimachinery::remotecommand::{
    CLOSE, ERROR, RESIZE, STDERR, STDIN, STDOUT, V4_CHANNEL as V4, V5_CHANNEL as V5,
};

/// The subprotocols exec and attach accept, newest first (`""` when the client offers none).
pub(crate) const PROTOCOLS: &[&str] = &[V5, V4, "channel.k8s.io", ""];

/// What stdin's pipe buffers between the client and the process.
const STDIN_BUFFER: usize = 64 * 1024;

/// A terminal size from the resize channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct TerminalSize {
    /// Columns.
    #[serde(rename = "Width")]
    pub width: u16,
    /// Rows.
    #[serde(rename = "Height")]
    pub height: u16,
}

/// What was asked to run, and where.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// The container.
    pub container: String,
    /// The command and its arguments (empty for attach).
    pub command: Vec<String>,
    /// Whether a TTY was asked for.
    pub tty: bool,
    /// The container's environment (`spec.containers[].env` values), for `env`.
    pub env: Vec<(String, String)>,
}

/// The process's side of the streams. Reading `stdin` gives EOF when the client closes it (or
/// asked for no stdin); writes to `stdout`/`stderr` that were not asked for are discarded.
pub struct ExecIo {
    /// Standard input.
    pub stdin: Box<dyn AsyncRead + Send + Unpin>,
    /// Standard output.
    pub stdout: Box<dyn AsyncWrite + Send + Unpin>,
    /// Standard error (the stdout channel with a TTY).
    pub stderr: Box<dyn AsyncWrite + Send + Unpin>,
    /// The latest terminal size the client sent (`None` before the first).
    pub terminal_size: watch::Receiver<Option<TerminalSize>>,
    /// The container's files.
    pub fs: Arc<Mutex<Fs>>,
}

/// A process: its exit code, or why it could not run (an internal error).
pub type ExecHandler =
    Arc<dyn Fn(ExecRequest, ExecIo) -> Pin<Box<dyn Future<Output = Result<i32, String>> + Send>> + Send + Sync>;

/// What the request asked for.
pub(crate) struct Options {
    kind: Kind,
    command: Vec<String>,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
}

impl Options {
    /// The options of an exec or attach request; 400 without a command (exec) or a stream.
    pub(crate) fn from_query(kind: Kind, q: &Query) -> Result<Self, ApiError> {
        let tty = q.flag("tty");
        let o = Options {
            kind,
            command: q.all("command"),
            stdin: q.flag("stdin"),
            stdout: q.flag("stdout"),
            stderr: q.flag("stderr") && !tty,
            tty,
        };
        if kind == Kind::Exec && o.command.is_empty() {
            return Err(ApiError::bad_request("you must specify at least 1 command"));
        }
        if !o.stdin && !o.stdout && !o.stderr {
            return Err(ApiError::bad_request("you must specify at least 1 of stdin, stdout, stderr"));
        }
        Ok(o)
    }
}

/// Runs one session to its end (see the module docs).
pub(crate) async fn run(conn: Conn, protocol: &'static str, opts: Options, target: Target, streams: Arc<Streams>) {
    let (out, mut input) = ws::split(conn);
    let structured = protocol == V5 || protocol == V4;
    let first = if opts.stdout {
        STDOUT
    } else if opts.stderr {
        STDERR
    } else {
        ERROR
    };
    if !out.send(first, &[]).await {
        return;
    }
    let key: ContainerKey = (target.namespace.clone(), target.pod.clone(), target.container.clone());
    let (mut stdin_w, stdin): (Option<tokio::io::DuplexStream>, Box<dyn AsyncRead + Send + Unpin>) = if opts.stdin {
        let (w, r) = tokio::io::duplex(STDIN_BUFFER);
        (Some(w), Box::new(r))
    } else {
        (None, Box::new(tokio::io::empty()))
    };
    let discard = || -> Box<dyn AsyncWrite + Send + Unpin> { Box::new(tokio::io::sink()) };
    let stdout: Box<dyn AsyncWrite + Send + Unpin> = if opts.stdout { Box::new(out.writer(STDOUT)) } else { discard() };
    let stderr: Box<dyn AsyncWrite + Send + Unpin> = if opts.tty && opts.stdout {
        Box::new(out.writer(STDOUT))
    } else if opts.stderr {
        Box::new(out.writer(STDERR))
    } else {
        discard()
    };
    let (size_tx, terminal_size) = watch::channel(None);
    let io = ExecIo { stdin, stdout, stderr, terminal_size, fs: streams.fs(&key) };
    let req = ExecRequest {
        namespace: target.namespace.clone(),
        pod: target.pod.clone(),
        container: target.container.clone(),
        command: opts.command.clone(),
        tty: opts.tty,
        env: container_env(&target.object, &target.container),
    };
    let process = match opts.kind {
        Kind::Attach => match Streams::handler(&streams.attach, &key) {
            Some(h) => h(req, io),
            None => Box::pin(default_attach(io)),
        },
        _ => match Streams::handler(&streams.exec, &key) {
            Some(h) => h(req, io),
            None => Box::pin(super::shell::run(req, io)),
        },
    };
    let v5 = protocol == V5;
    let read = async {
        while let Some(msg) = ws::next_binary(&mut input).await {
            let Some((&ch, data)) = msg.split_first() else { continue };
            match ch {
                STDIN => {
                    if let Some(w) = stdin_w.as_mut() {
                        if w.write_all(data).await.is_err() {
                            stdin_w = None;
                        }
                    }
                }
                RESIZE => {
                    if let Ok(size) = serde_json::from_slice::<TerminalSize>(data) {
                        let _ = size_tx.send(Some(size));
                    }
                }
                CLOSE if v5 && data.first() == Some(&STDIN) => stdin_w = None,
                _ => {}
            }
        }
    };
    let result = tokio::select! {
        r = process => r,
        _ = read => return,
    };
    let status = match (result, opts.kind) {
        (Ok(_), Kind::Attach) | (Ok(0), _) => None,
        (Ok(code), _) => Some(exit_status(&opts.command, code)),
        (Err(why), _) => Some(internal_error(&why)),
    };
    match (structured, status) {
        (true, None) => {
            out.send(ERROR, br#"{"metadata":{},"status":"Success"}"#).await;
        }
        (true, Some(s)) => {
            out.send(ERROR, &serde_json::to_vec(&s).unwrap_or_default()).await;
        }
        (false, Some(s)) => {
            let text = s.get("message").and_then(Value::as_str).unwrap_or_default().to_string();
            out.send(ERROR, text.as_bytes()).await;
        }
        (false, None) => {}
    }
}

/// The kubelet's Status for a non-zero exit (the runtime's `CodeExitError` text).
fn exit_status(command: &[String], code: i32) -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
            command.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// `apierrors.NewInternalError` for a command that could not run.
fn internal_error(why: &str) -> Value {
    let err = format!("error executing command in container: {why}");
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("Internal error occurred: {err}"),
        "reason": "InternalError",
        "details": {"causes": [{"message": err}]},
        "code": 500,
    })
}

/// The default attached process: stdin echoed to stdout until EOF; without stdin, forever.
async fn default_attach(mut io: ExecIo) -> Result<i32, String> {
    let copied = tokio::io::copy(&mut io.stdin, &mut io.stdout).await;
    if matches!(copied, Ok(0)) {
        // No stdin (or nothing sent): a main process that keeps running until the client goes.
        std::future::pending::<()>().await;
    }
    Ok(0)
}

/// The `env` of the container named `container` in `pod` (literal values only).
fn container_env(pod: &Value, container: &str) -> Vec<(String, String)> {
    let all = ["containers", "initContainers", "ephemeralContainers"];
    let c = all.iter().find_map(|f| {
        pod.pointer(&format!("/spec/{f}"))
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c.get("name").and_then(Value::as_str) == Some(container)))
    });
    let mut env = vec![
        ("PATH".to_string(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()),
        ("HOSTNAME".to_string(), pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string()),
    ];
    if let Some(vars) = c.and_then(|c| c.get("env")).and_then(Value::as_array) {
        for v in vars {
            if let (Some(n), Some(val)) =
                (v.get("name").and_then(Value::as_str), v.get("value").and_then(Value::as_str))
            {
                env.push((n.to_string(), val.to_string()));
            }
        }
    }
    env
}

fn boxed<F, Fut>(f: F) -> ExecHandler
where
    F: Fn(ExecRequest, ExecIo) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<i32, String>> + Send + 'static,
{
    Arc::new(move |r, io| Box::pin(f(r, io)))
}

impl Control {
    /// Runs `handler` for every exec into `container` of `namespace/pod` (`None`: any container
    /// of the pod) instead of the built-in commands. It returns the exit code, or why the
    /// command could not run (answered as an `InternalError` status).
    pub fn on_exec<F, Fut>(&self, namespace: &str, pod: &str, container: Option<&str>, handler: F)
    where
        F: Fn(ExecRequest, ExecIo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<i32, String>> + Send + 'static,
    {
        let key = (namespace.to_string(), pod.to_string(), container.unwrap_or_default().to_string());
        super::state::of(&self.shared).exec.lock().insert(key, boxed(handler));
    }

    /// Runs `handler` as the process every attach to `container` of `namespace/pod` (`None`: any
    /// container of the pod) connects to.
    pub fn on_attach<F, Fut>(&self, namespace: &str, pod: &str, container: Option<&str>, handler: F)
    where
        F: Fn(ExecRequest, ExecIo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<i32, String>> + Send + 'static,
    {
        let key = (namespace.to_string(), pod.to_string(), container.unwrap_or_default().to_string());
        super::state::of(&self.shared).attach.lock().insert(key, boxed(handler));
    }

    /// The files of `container` in `namespace/pod`, as exec's built-ins (`cat`, `tar`, so
    /// `kubectl cp`) see them.
    pub fn container_files(&self, namespace: &str, pod: &str, container: &str) -> Arc<Mutex<Fs>> {
        super::state::of(&self.shared).fs(&(namespace.to_string(), pod.to_string(), container.to_string()))
    }
}
