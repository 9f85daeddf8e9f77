//! `Api<Pod>::exec` and `Api<Pod>::attach`: a process in a container, its standard streams
//! as tokio `AsyncWrite`/`AsyncRead`, its terminal size, and its exit status.
//!
//! Contract:
//! - One WebSocket offering `v5.channel.k8s.io` then `v4.channel.k8s.io` (client-go's
//!   order; both carry the exit status as a JSON `Status`); channels 0 stdin, 1 stdout, 2
//!   stderr, 3 status, 4 resize.
//! - Closing stdin ([`ProcessStdin`] shut down or dropped) sends v5's close signal
//!   (`[255, 0]`), so the process sees EOF; over v4 the protocol cannot say it, and the
//!   process sees EOF only when the session ends.
//! - Output is buffered up to [`OUTPUT_BUFFER`] per stream: read stdout and stderr while the
//!   process runs, or it stalls (as a real pipe would). An output handle that is dropped (or
//!   never taken before [`AttachedProcess::status`]) has its output discarded.
//! - [`AttachedProcess::status`] resolves when the server has sent the status and closed:
//!   [`ExitStatus::Code`] (0 for `Success`, else the code of the `NonZeroExitCode` status'
//!   `ExitCode` cause) or [`ExitStatus::Failed`] with any other `Status`. A connection that
//!   ends without a status is an error. An interactive session has no deadline.
//! - Dropping the [`AttachedProcess`] ends the session at once: the WebSocket is closed (the
//!   server stops the process), stdout/stderr readers see EOF.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use rudder_apimachinery::status::Status;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::PollSender;

use super::socket::{self, frame, Socket};
use crate::api::Api;
use crate::error::{Error, Result};
use rudder_apimachinery::remotecommand::{
    CLOSE, ERROR as STATUS, RESIZE, STDERR, STDIN, STDOUT, V4_CHANNEL, V5_CHANNEL,
};

/// Output (stdout, stderr) buffered per stream before the process is held up: 64 KiB.
pub const OUTPUT_BUFFER: usize = 64 * 1024;

/// The subprotocols offered, most preferred first.
const PROTOCOLS: &[&str] = &[V5_CHANNEL, V4_CHANNEL];

/// Which streams to attach, in which container (client-go's `PodExecOptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOptions {
    /// The container (needed when the pod has several).
    pub container: Option<String>,
    /// Attach stdin (default `false`).
    pub stdin: bool,
    /// Attach stdout (default `true`).
    pub stdout: bool,
    /// Attach stderr (default `true`; the server merges it into stdout with a TTY).
    pub stderr: bool,
    /// Allocate a TTY (default `false`).
    pub tty: bool,
}

impl Default for ExecOptions {
    fn default() -> Self {
        Self { container: None, stdin: false, stdout: true, stderr: true, tty: false }
    }
}

impl ExecOptions {
    /// In `container`.
    pub fn container(mut self, container: impl Into<String>) -> Self {
        self.container = Some(container.into());
        self
    }
    /// With (or without) stdin.
    pub fn stdin(mut self, on: bool) -> Self {
        self.stdin = on;
        self
    }
    /// With (or without) stdout.
    pub fn stdout(mut self, on: bool) -> Self {
        self.stdout = on;
        self
    }
    /// With (or without) stderr.
    pub fn stderr(mut self, on: bool) -> Self {
        self.stderr = on;
        self
    }
    /// With (or without) a TTY.
    pub fn tty(mut self, on: bool) -> Self {
        self.tty = on;
        self
    }

    fn query(&self, command: &[String]) -> Vec<(&'static str, String)> {
        let mut q: Vec<(&'static str, String)> = command.iter().map(|c| ("command", c.clone())).collect();
        if let Some(c) = &self.container {
            q.push(("container", c.clone()));
        }
        for (k, on) in [("stdin", self.stdin), ("stdout", self.stdout), ("stderr", self.stderr), ("tty", self.tty)] {
            if on {
                q.push((k, "true".into()));
            }
        }
        q
    }
}

/// A terminal size, sent on the resize channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TerminalSize {
    /// Columns.
    #[serde(rename = "Width")]
    pub width: u16,
    /// Rows.
    #[serde(rename = "Height")]
    pub height: u16,
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ExitStatus {
    /// It exited with this code (0: success).
    Code(i32),
    /// The server reported another failure (the command could not run, an attach failed).
    Failed(Box<Status>),
}

impl ExitStatus {
    /// Whether the process exited with code 0.
    pub fn success(&self) -> bool {
        matches!(self, ExitStatus::Code(0))
    }

    /// The exit code, if the process exited.
    pub fn code(&self) -> Option<i32> {
        match self {
            ExitStatus::Code(c) => Some(*c),
            ExitStatus::Failed(_) => None,
        }
    }

    /// Reads the status channel's `Status`.
    fn from_status(s: Status) -> Self {
        if s.status == "Success" {
            return ExitStatus::Code(0);
        }
        if s.reason == "NonZeroExitCode" {
            let code = s
                .details
                .as_ref()
                .and_then(|d| d.causes.iter().find(|c| c.reason == "ExitCode"))
                .and_then(|c| c.message.trim().parse::<i32>().ok());
            if let Some(code) = code {
                return ExitStatus::Code(code);
            }
        }
        ExitStatus::Failed(Box::new(s))
    }
}

/// A process running in a container (see the module docs).
pub struct AttachedProcess {
    stdin: Option<ProcessStdin>,
    stdout: Option<ProcessOutput>,
    stderr: Option<ProcessOutput>,
    resize: Option<mpsc::Sender<TerminalSize>>,
    status: oneshot::Receiver<Result<ExitStatus>>,
    protocol: String,
    /// The subresource path (never the query: it holds the command line).
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for AttachedProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachedProcess").field("protocol", &self.protocol).finish_non_exhaustive()
    }
}

impl Drop for AttachedProcess {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AttachedProcess {
    /// Takes the stdin handle (`None` without stdin, or when taken already).
    pub fn stdin(&mut self) -> Option<ProcessStdin> {
        self.stdin.take()
    }

    /// Takes the stdout handle (`None` without stdout, or when taken already).
    pub fn stdout(&mut self) -> Option<ProcessOutput> {
        self.stdout.take()
    }

    /// Takes the stderr handle (`None` without stderr or with a TTY, or when taken already).
    pub fn stderr(&mut self) -> Option<ProcessOutput> {
        self.stderr.take()
    }

    /// A sender of terminal sizes (`None` without a TTY). Send the initial size first.
    pub fn resizer(&self) -> Option<mpsc::Sender<TerminalSize>> {
        self.resize.clone()
    }

    /// The subprotocol the server chose (`v5.channel.k8s.io` or `v4.channel.k8s.io`).
    pub fn protocol(&self) -> &str {
        &self.protocol
    }

    /// Waits for the process to end; handles not taken before are dropped (their output is
    /// discarded, stdin is closed).
    pub async fn status(mut self) -> Result<ExitStatus> {
        self.stdin = None;
        self.stdout = None;
        self.stderr = None;
        let rx = &mut self.status;
        match rx.await {
            Ok(r) => r,
            Err(_) => Err(Error::Body { url: self.url.clone(), message: "the exec session ended abnormally".into() }),
        }
    }
}

/// The process's stdin: each write is sent as one message (at most 32 KiB).
pub struct ProcessStdin {
    tx: PollSender<Bytes>,
}

/// The most one stdin message carries.
const MAX_STDIN_MESSAGE: usize = 32 * 1024;

impl AsyncWrite for ProcessStdin {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match this.tx.poll_reserve(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(_)) => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            Poll::Ready(Ok(())) => {
                let n = buf.len().min(MAX_STDIN_MESSAGE);
                match this.tx.send_item(Bytes::copy_from_slice(&buf[..n])) {
                    Ok(()) => Poll::Ready(Ok(n)),
                    Err(_) => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
                }
            }
        }
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    /// Closes stdin (the process sees EOF over v5).
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().tx.close();
        Poll::Ready(Ok(()))
    }
}

/// The process's stdout or stderr.
pub struct ProcessOutput {
    pipe: DuplexStream,
}

impl AsyncRead for ProcessOutput {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().pipe).poll_read(cx, buf)
    }
}

impl Api<Pod> {
    /// Runs `command` in a container of the pod `name` (see [`crate::remote::exec`]).
    ///
    /// ```no_run
    /// # async fn f(pods: rudder_client::api::Api<k8s_openapi::api::core::v1::Pod>) -> Result<(), Box<dyn std::error::Error>> {
    /// use rudder_client::remote::ExecOptions;
    /// use tokio::io::AsyncReadExt;
    /// let mut p = pods.exec("web-0", ["sh", "-c", "echo hi; exit 3"], &ExecOptions::default()).await?;
    /// let mut out = String::new();
    /// p.stdout().unwrap().read_to_string(&mut out).await?;
    /// assert_eq!(p.status().await?.code(), Some(3));
    /// # Ok(()) }
    /// ```
    pub async fn exec<I, S>(&self, name: &str, command: I, opts: &ExecOptions) -> Result<AttachedProcess>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let command: Vec<String> = command.into_iter().map(Into::into).collect();
        if command.is_empty() {
            return Err(Error::InvalidRequest("exec needs a command".into()));
        }
        self.start("exec", name, &command, opts).await
    }

    /// Attaches to the main process of a container of the pod `name`.
    pub async fn attach(&self, name: &str, opts: &ExecOptions) -> Result<AttachedProcess> {
        self.start("attach", name, &[], opts).await
    }

    async fn start(&self, sub: &str, name: &str, command: &[String], opts: &ExecOptions) -> Result<AttachedProcess> {
        if !opts.stdin && !opts.stdout && !opts.stderr {
            return Err(Error::InvalidRequest("exec and attach need at least one of stdin, stdout, stderr".into()));
        }
        let req = self.request_builder().get_subresource(sub, name)?;
        let path = req.uri().path().to_string();
        let (socket, protocol) =
            socket::connect(self.client(), &socket::with_query(&path, &opts.query(command)), PROTOCOLS).await?;
        Ok(spawn(socket, protocol, opts, path))
    }
}

/// Starts the session task.
fn spawn(socket: Socket, protocol: String, opts: &ExecOptions, url: String) -> AttachedProcess {
    let (stdin, stdin_rx) = if opts.stdin {
        let (tx, rx) = mpsc::channel::<Bytes>(8);
        (Some(ProcessStdin { tx: PollSender::new(tx) }), Some(rx))
    } else {
        (None, None)
    };
    let pipe = |on: bool| {
        if on {
            let (w, r) = tokio::io::duplex(OUTPUT_BUFFER);
            (Some(ProcessOutput { pipe: r }), Some(w))
        } else {
            (None, None)
        }
    };
    let (stdout, stdout_w) = pipe(opts.stdout);
    let (stderr, stderr_w) = pipe(opts.stderr && !opts.tty);
    let (resize, resize_rx) = if opts.tty {
        let (tx, rx) = mpsc::channel(4);
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let (status_tx, status) = oneshot::channel();
    let session =
        Session { v5: protocol.starts_with("v5."), stdin_rx, resize_rx, stdout_w, stderr_w, url: url.clone() };
    let task = tokio::spawn(async move {
        let _ = status_tx.send(session.run(socket).await);
    });
    AttachedProcess { stdin, stdout, stderr, resize, status, protocol, url, task }
}

struct Session {
    v5: bool,
    stdin_rx: Option<mpsc::Receiver<Bytes>>,
    resize_rx: Option<mpsc::Receiver<TerminalSize>>,
    stdout_w: Option<DuplexStream>,
    stderr_w: Option<DuplexStream>,
    url: String,
}

/// The next item of an optional receiver; pending forever without one.
async fn recv<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Writes to an output pipe; a reader that went away turns the pipe off (output discarded).
async fn deliver(pipe: &mut Option<DuplexStream>, data: &[u8]) {
    if let Some(w) = pipe {
        if w.write_all(data).await.is_err() {
            *pipe = None;
        }
    }
}

impl Session {
    async fn run(mut self, socket: Socket) -> Result<ExitStatus> {
        let (mut sink, mut stream) = socket.split();
        let mut status: Option<ExitStatus> = None;
        let broken = |e: &dyn std::fmt::Display, url: &str| Error::Body {
            url: url.to_string(),
            message: format!("exec stream failed: {e}"),
        };
        loop {
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(Ok(Message::Binary(b))) => {
                        let Some((&ch, data)) = b.split_first() else { continue };
                        match ch {
                            STDOUT => deliver(&mut self.stdout_w, data).await,
                            STDERR => deliver(&mut self.stderr_w, data).await,
                            STATUS if !data.is_empty() => {
                                let s: Status = serde_json::from_slice(data).map_err(|e| Error::Decode {
                                    what: format!("the exec status from {}", self.url),
                                    source: e,
                                })?;
                                status = Some(ExitStatus::from_status(s));
                            }
                            _ => {}
                        }
                    }
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        if status.is_some() {
                            break;
                        }
                        return Err(broken(&e, &self.url));
                    }
                },
                chunk = recv(&mut self.stdin_rx) => match chunk {
                    Some(b) => {
                        if let Err(e) = sink.send(Message::Binary(frame(STDIN, &b))).await {
                            return Err(broken(&e, &self.url));
                        }
                    }
                    None => {
                        self.stdin_rx = None;
                        if self.v5 {
                            let _ = sink.send(Message::Binary(Bytes::from_static(&[CLOSE, STDIN]))).await;
                        }
                    }
                },
                size = recv(&mut self.resize_rx) => match size {
                    Some(s) => {
                        let json = serde_json::to_vec(&s).unwrap_or_default();
                        let _ = sink.send(Message::Binary(frame(RESIZE, &json))).await;
                    }
                    None => self.resize_rx = None,
                },
            }
        }
        let _ = sink.close().await;
        self.stdout_w = None;
        self.stderr_w = None;
        status.ok_or_else(|| Error::Body {
            url: self.url.clone(),
            message: "the connection closed before the process's exit status arrived".into(),
        })
    }
}
