//! Exec credential plugins (`client.authentication.k8s.io` v1, v1beta1 and v1alpha1).
//!
//! Contract:
//! - The plugin runs as `command args...` through `tokio::process` (never blocking a worker)
//!   with `env` added to the parent environment and `KUBERNETES_EXEC_INFO` set to an
//!   `ExecCredential` JSON: `apiVersion`, `kind`, `spec.interactive` (stdin is a terminal and
//!   `interactiveMode` allows it) and, when `provideClusterInfo` is set, `spec.cluster`.
//! - `interactiveMode`: `Never` gives the plugin no stdin; `IfAvailable` passes the terminal
//!   when there is one; `Always` fails without a terminal. v1 requires the field; older versions
//!   default to `IfAvailable`. A non-interactive plugin's stderr is captured for error messages;
//!   an interactive one talks to the user directly.
//! - The output must be an `ExecCredential` of the configured `apiVersion` with `status.token` or
//!   `status.clientCertificateData` + `status.clientKeyData` (PEM) and an optional RFC 3339
//!   `status.expirationTimestamp`.
//! - Credentials are cached until their expiration (compared with the wall clock, without skew,
//!   as client-go does) and the plugin is run again when `credentials(true)` is called (after a
//!   401). Concurrent callers share one run: a tokio mutex is held only around the plugin run.
//! - The run has a deadline ([`DEFAULT_TIMEOUT`], [`DEFAULT_INTERACTIVE_TIMEOUT`],
//!   [`ExecCredentialProvider::with_timeout`]); client-go has none (it waits for the plugin to
//!   exit), so a hung plugin would hang every request. The plugin's stdout is read up to
//!   [`MAX_OUTPUT_BYTES`] (client-go reads it whole); its stderr is read to the end but only the
//!   first few KiB are kept. A plugin that passes its deadline or prints more than the limit is
//!   killed (and reaped, waiting at most a second) and the run fails with an error naming the
//!   limit.
//! - Process group (unix): a non-interactive plugin runs in a process group of its own, and a
//!   plugin given up on (deadline, output limit, read error, or the run's future dropped) is
//!   killed with its whole group (SIGKILL), so children it forked (a helper holding stdout, a
//!   `sleep &`) die with it. The group is signalled only while the plugin is not yet reaped
//!   (its pid, the group's id, cannot have been reused). A child that leaves the group
//!   (`setsid`, daemonizing) is not reached, nor is anything left behind by a plugin that
//!   exited successfully (as client-go). A plugin in its own group no longer gets the
//!   terminal's Ctrl-C, and it must not use the terminal (it would be stopped by SIGTTIN).
//!   An interactive plugin (given the terminal as stdin) stays in our process group, which a
//!   background group could not read from the terminal, so only the plugin itself is killed.
//!   Elsewhere only the plugin is killed.
//! - Errors: [`ConfigError::ExecOutputTooLarge`] (command and limit) and
//!   [`ConfigError::ExecTimeout`] (command and deadline) for a plugin given up on;
//!   [`ConfigError::Exec`] for everything else: a missing command shows `installHint`; a non-zero
//!   exit shows the (truncated) stderr; malformed output or an apiVersion mismatch is an error
//!   that never echoes the output (it may hold a token). No error shows the args, env values or
//!   the output. `Debug` never shows tokens, keys, args (as client-go, which redacts them too),
//!   env values or the cluster info.

use std::fmt;
use std::io::IsTerminal as _;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::config::{redact, ConfigError, Secret};

/// `client.authentication.k8s.io/v1`.
pub const API_V1: &str = "client.authentication.k8s.io/v1";
/// `client.authentication.k8s.io/v1beta1`.
pub const API_V1BETA1: &str = "client.authentication.k8s.io/v1beta1";
/// `client.authentication.k8s.io/v1alpha1` (accepted for old plugins).
pub const API_V1ALPHA1: &str = "client.authentication.k8s.io/v1alpha1";

/// How long a non-interactive plugin may run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an interactive plugin (one that may prompt the user) may run.
pub const DEFAULT_INTERACTIVE_TIMEOUT: Duration = Duration::from_secs(600);

/// The most a plugin may print on stdout: far above any real `ExecCredential` (a token, or a
/// certificate and key, are a few KiB).
pub const MAX_OUTPUT_BYTES: usize = 1 << 20;

/// How much of a failing plugin's stderr goes into the error message.
const STDERR_LIMIT: usize = 2048;
/// How much of a plugin's stderr is kept (more than [`STDERR_LIMIT`], so a cut is marked); the
/// rest is read and dropped, so the plugin never blocks on a full pipe.
const STDERR_KEPT: usize = 4 * STDERR_LIMIT;
/// How long to wait for a killed plugin to be reaped (SIGKILL cannot be refused; past this,
/// `kill_on_drop` leaves the reaping to tokio).
const REAP_TIMEOUT: Duration = Duration::from_secs(1);

/// An exec credential plugin as the kubeconfig declares it (`users[].user.exec`). `Debug`
/// shows how many args and which env names there are, not their values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ExecConfig {
    /// `apiVersion` of the ExecCredential (`client.authentication.k8s.io/v1` or `v1beta1`).
    pub api_version: String,
    /// Command to run (resolved against the kubeconfig's directory when it contains a `/`).
    pub command: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Shown when the command cannot be found.
    pub install_hint: Option<String>,
    /// Pass cluster information in KUBERNETES_EXEC_INFO.
    pub provide_cluster_info: bool,
    /// `Never`, `IfAvailable` or `Always`.
    pub interactive_mode: Option<String>,
}

impl fmt::Debug for ExecConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, _)| (k.as_str(), "[REDACTED]")).collect();
        f.debug_struct("ExecConfig")
            .field("api_version", &self.api_version)
            .field("command", &self.command)
            .field("args", &redact::Count(self.args.len()))
            .field("env", &env)
            .field("install_hint", &self.install_hint)
            .field("provide_cluster_info", &self.provide_cluster_info)
            .field("interactive_mode", &self.interactive_mode)
            .finish()
    }
}

/// Credentials an exec plugin returned (`ExecCredential.status`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecCredentials {
    /// Bearer token.
    pub token: Option<crate::config::Secret<String>>,
    /// Client certificate, PEM.
    pub client_certificate_pem: Option<Vec<u8>>,
    /// Client key, PEM.
    pub client_key_pem: Option<crate::config::Secret<Vec<u8>>>,
    /// When the credentials expire (`None`: never).
    pub expiration: Option<std::time::SystemTime>,
}

impl ExecCredentials {
    /// Whether the credentials have expired at `now` (client-go: `now` is after the expiration).
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expiration.is_some_and(|exp| now > exp)
    }
}

/// The interactive mode a configuration asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InteractiveMode {
    Never,
    IfAvailable,
    Always,
}

fn interactive_mode(config: &ExecConfig) -> Result<InteractiveMode, ConfigError> {
    match config.interactive_mode.as_deref().filter(|m| !m.is_empty()) {
        Some("Never") => Ok(InteractiveMode::Never),
        Some("IfAvailable") => Ok(InteractiveMode::IfAvailable),
        Some("Always") => Ok(InteractiveMode::Always),
        Some(other) => Err(ConfigError::Exec(format!(
            "{}: invalid interactiveMode {other:?} (expected Never, IfAvailable or Always)",
            config.command
        ))),
        None if config.api_version == API_V1 => {
            Err(ConfigError::Exec(format!("{}: interactiveMode must be set for {API_V1}", config.command)))
        }
        None => Ok(InteractiveMode::IfAvailable),
    }
}

fn check_api_version(config: &ExecConfig) -> Result<(), ConfigError> {
    match config.api_version.as_str() {
        API_V1 | API_V1BETA1 | API_V1ALPHA1 => Ok(()),
        other => Err(ConfigError::Exec(format!(
            "{}: unsupported apiVersion {other:?} (expected {API_V1}, {API_V1BETA1} or {API_V1ALPHA1})",
            config.command
        ))),
    }
}

/// The `KUBERNETES_EXEC_INFO` document: an `ExecCredential` with `spec.interactive` and, when
/// given (and the version has the field), `spec.cluster`.
pub fn exec_info(api_version: &str, interactive: bool, cluster: Option<&serde_json::Value>) -> serde_json::Value {
    let mut spec = serde_json::Map::new();
    spec.insert("interactive".into(), interactive.into());
    if let Some(cluster) = cluster.filter(|_| api_version != API_V1ALPHA1) {
        spec.insert("cluster".into(), cluster.clone());
    }
    serde_json::json!({
        "apiVersion": api_version,
        "kind": "ExecCredential",
        "spec": spec,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredentialDoc {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    status: Option<ExecCredentialStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredentialStatus {
    #[serde(default)]
    expiration_timestamp: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    client_certificate_data: Option<String>,
    #[serde(default)]
    client_key_data: Option<String>,
}

/// Parses a plugin's output: an `ExecCredential` JSON whose `apiVersion` must equal
/// `expected_api_version`. Error messages describe what is wrong but never echo the input.
pub fn parse_exec_credential(output: &[u8], expected_api_version: &str) -> Result<ExecCredentials, ConfigError> {
    let doc: ExecCredentialDoc = serde_json::from_slice(output).map_err(|e| {
        ConfigError::Exec(format!(
            "output is not an ExecCredential JSON object (line {}, column {}: {})",
            e.line(),
            e.column(),
            classify(&e)
        ))
    })?;
    if doc.kind.as_deref() != Some("ExecCredential") {
        return Err(ConfigError::Exec(format!("output has kind {:?}, expected \"ExecCredential\"", doc.kind)));
    }
    if doc.api_version.as_deref() != Some(expected_api_version) {
        return Err(ConfigError::Exec(format!(
            "output has apiVersion {:?}, but the kubeconfig asks for {expected_api_version:?}",
            doc.api_version
        )));
    }
    let status = doc.status.ok_or_else(|| ConfigError::Exec("output has no status".into()))?;
    let expiration = match status.expiration_timestamp.as_deref().filter(|s| !s.is_empty()) {
        Some(ts) => Some(SystemTime::from(ts.parse::<jiff::Timestamp>().map_err(|e| {
            ConfigError::Exec(format!("status.expirationTimestamp {ts:?} is not an RFC 3339 time: {e}"))
        })?)),
        None => None,
    };
    let token = status.token.filter(|t| !t.is_empty());
    let cert = status.client_certificate_data.filter(|c| !c.is_empty());
    let key = status.client_key_data.filter(|k| !k.is_empty());
    match (&token, &cert, &key) {
        (_, Some(_), None) => {
            return Err(ConfigError::Exec("status has clientCertificateData but no clientKeyData".into()))
        }
        (_, None, Some(_)) => {
            return Err(ConfigError::Exec("status has clientKeyData but no clientCertificateData".into()))
        }
        (None, None, None) => {
            return Err(ConfigError::Exec(
                "status has neither a token nor clientCertificateData and clientKeyData".into(),
            ))
        }
        _ => {}
    }
    Ok(ExecCredentials {
        token: token.map(Secret::new),
        client_certificate_pem: cert.map(String::into_bytes),
        client_key_pem: key.map(|k| Secret::new(k.into_bytes())),
        expiration,
    })
}

/// A description of a JSON error that cannot contain the input's text (serde's messages may
/// quote an unexpected string, which could be a token).
fn classify(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected shape",
        serde_json::error::Category::Eof => "unexpected end of input",
    }
}

/// Cuts `s` to at most `limit` bytes on a character boundary, marking the cut.
fn truncate(s: &str, limit: usize) -> String {
    let s = s.trim();
    if s.len() <= limit {
        return s.to_string();
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... (truncated)", &s[..end])
}

#[derive(Debug, Default)]
struct Cache {
    credentials: Option<ExecCredentials>,
    /// Bumped on every successful run, so a caller that waited for a run can tell.
    generation: u64,
}

/// Runs an exec plugin on demand and caches its credentials until they expire.
///
/// Build one per client and share it; it is cheap to call [`credentials`](Self::credentials)
/// on every request.
pub struct ExecCredentialProvider {
    config: ExecConfig,
    cluster: Option<serde_json::Value>,
    timeout: Option<Duration>,
    cache: parking_lot::Mutex<Cache>,
    /// Held while the plugin runs, so concurrent callers share one run.
    run: tokio::sync::Mutex<()>,
}

impl fmt::Debug for ExecCredentialProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecCredentialProvider")
            .field("config", &self.config)
            .field("cluster", &self.cluster.as_ref().map(|_| redact::Hidden))
            .field("timeout", &self.timeout)
            .field("cached", &self.cache.lock().credentials.is_some())
            .finish_non_exhaustive()
    }
}

impl ExecCredentialProvider {
    /// A provider for `config`; `cluster` is what KUBERNETES_EXEC_INFO carries when
    /// `provideClusterInfo` is set (server URL, CA data, tls-server-name, insecure, proxy-url).
    /// See [`crate::Config::exec_provider`], which builds both from a [`crate::Config`].
    pub fn new(config: ExecConfig, cluster: Option<serde_json::Value>) -> Self {
        Self {
            config,
            cluster,
            timeout: None,
            cache: parking_lot::Mutex::new(Cache::default()),
            run: tokio::sync::Mutex::new(()),
        }
    }

    /// Sets how long one plugin run may take (default [`DEFAULT_TIMEOUT`], or
    /// [`DEFAULT_INTERACTIVE_TIMEOUT`] when the plugin gets the terminal).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The plugin configuration.
    pub fn config(&self) -> &ExecConfig {
        &self.config
    }

    fn cached(&self) -> (Option<ExecCredentials>, u64) {
        let cache = self.cache.lock();
        (cache.credentials.clone(), cache.generation)
    }

    /// Cached credentials, or the plugin's fresh output when none are cached, they have
    /// expired, or `force_refresh` is set (after a 401). Never blocks a tokio worker.
    pub async fn credentials(&self, force_refresh: bool) -> Result<ExecCredentials, crate::config::ConfigError> {
        let (cached, seen_generation) = self.cached();
        if !force_refresh {
            if let Some(c) = cached.filter(|c| !c.is_expired_at(SystemTime::now())) {
                return Ok(c);
            }
        }
        let _running = self.run.lock().await;
        let (cached, generation) = self.cached();
        if let Some(c) = cached.filter(|c| !c.is_expired_at(SystemTime::now())) {
            // Someone else ran the plugin while we waited: their result is as fresh as ours would be.
            if generation != seen_generation || !force_refresh {
                return Ok(c);
            }
        }
        let fresh = self.run_plugin().await?;
        let mut cache = self.cache.lock();
        cache.credentials = Some(fresh.clone());
        cache.generation = cache.generation.wrapping_add(1);
        Ok(fresh)
    }

    /// Runs the plugin once and parses its output (no caching).
    async fn run_plugin(&self) -> Result<ExecCredentials, ConfigError> {
        let config = &self.config;
        check_api_version(config)?;
        let mode = interactive_mode(config)?;
        let terminal = std::io::stdin().is_terminal();
        let interactive = match mode {
            InteractiveMode::Never => false,
            InteractiveMode::IfAvailable => terminal,
            InteractiveMode::Always if terminal => true,
            InteractiveMode::Always => {
                return Err(ConfigError::Exec(format!(
                    "{}: interactiveMode is Always but stdin is not a terminal",
                    config.command
                )))
            }
        };
        let info = exec_info(&config.api_version, interactive, self.cluster.as_ref());

        let mut cmd = tokio::process::Command::new(&config.command);
        cmd.args(&config.args)
            .envs(config.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("KUBERNETES_EXEC_INFO", info.to_string())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if interactive {
            cmd.stdin(Stdio::inherit()).stderr(Stdio::inherit());
        } else {
            cmd.stdin(Stdio::null()).stderr(Stdio::piped());
            // Leads a group of its own, so the children it forks can be killed with it.
            #[cfg(unix)]
            cmd.process_group(0);
        }
        let child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                let hint = config
                    .install_hint
                    .as_deref()
                    .map(|h| format!("\n{h}"))
                    .unwrap_or_else(|| "\n(the kubeconfig gives no installHint)".into());
                ConfigError::Exec(format!("executable {:?} not found: {e}{hint}", config.command))
            } else {
                ConfigError::Exec(format!("cannot run {:?}: {e}", config.command))
            }
        })?;
        let mut plugin = Plugin { child, own_group: !interactive };
        let timeout = self.timeout.unwrap_or(if interactive { DEFAULT_INTERACTIVE_TIMEOUT } else { DEFAULT_TIMEOUT });
        let (stdout, stderr) = (plugin.child.stdout.take(), plugin.child.stderr.take());
        let failure = match tokio::time::timeout(timeout, collect(&mut plugin.child, stdout, stderr)).await {
            Ok(Ok(output)) => return finish(config, output),
            Ok(Err(Failure::TooLarge)) => {
                ConfigError::ExecOutputTooLarge { command: config.command.clone(), limit: MAX_OUTPUT_BYTES }
            }
            Ok(Err(Failure::Io(e))) => {
                ConfigError::Exec(format!("reading from {:?} failed: {e}; killed it", config.command))
            }
            Err(_) => ConfigError::ExecTimeout { command: config.command.clone(), timeout },
        };
        plugin.kill().await;
        Err(failure)
    }
}

/// A spawned plugin. A non-interactive one on unix leads its own process group (see the module
/// docs), which is killed whole when the plugin is given up on or dropped before it is reaped.
struct Plugin {
    child: tokio::process::Child,
    /// Whether the plugin was started in a process group of its own.
    own_group: bool,
}

impl Plugin {
    /// Kills the plugin (and its group) and reaps it, waiting at most [`REAP_TIMEOUT`].
    async fn kill(&mut self) {
        self.kill_group();
        let _ = self.child.start_kill(); // fails only when it has already exited
        let _ = tokio::time::timeout(REAP_TIMEOUT, self.child.wait()).await;
    }

    /// SIGKILL to the plugin's process group, if it has one and the plugin is not reaped yet:
    /// until then its pid (the group's id) cannot name anyone else's group.
    #[cfg(unix)]
    fn kill_group(&self) {
        if !self.own_group {
            return;
        }
        // `id()` is `None` once the plugin is reaped. Pid 1 would mean "every process we may
        // signal": a child of ours never has it, but never send that.
        let pgid = self.child.id().and_then(|id| i32::try_from(id).ok()).filter(|&id| id > 1);
        if let Some(pgid) = pgid.and_then(rustix::process::Pid::from_raw) {
            // Fails only when the group is already gone.
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
    }

    /// Only the plugin itself is killed (by [`kill`](Self::kill) or `kill_on_drop`).
    #[cfg(not(unix))]
    fn kill_group(&self) {
        let _ = self.own_group;
    }
}

impl Drop for Plugin {
    /// A run dropped mid-way (its caller cancelled) takes the group down too; `kill_on_drop`
    /// kills the plugin and tokio reaps it.
    fn drop(&mut self) {
        self.kill_group();
    }
}

/// Why [`collect`] gave up on a plugin.
enum Failure {
    /// Stdout passed [`MAX_OUTPUT_BYTES`].
    TooLarge,
    Io(std::io::Error),
}

/// What a plugin run left: its exit status, stdout and the start of its stderr.
struct Output {
    status: std::process::ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Reads the plugin's stdout (at most [`MAX_OUTPUT_BYTES`]) and stderr (keeping
/// [`STDERR_KEPT`] bytes) to their ends, then waits for it to exit. Not bounded in time: the
/// caller's deadline is.
async fn collect(
    child: &mut tokio::process::Child,
    stdout: Option<tokio::process::ChildStdout>,
    stderr: Option<tokio::process::ChildStderr>,
) -> Result<Output, Failure> {
    use tokio::io::AsyncReadExt as _;
    let out = async {
        let mut buf = Vec::new();
        if let Some(stdout) = stdout {
            let limit = u64::try_from(MAX_OUTPUT_BYTES).unwrap_or(u64::MAX).saturating_add(1);
            stdout.take(limit).read_to_end(&mut buf).await.map_err(Failure::Io)?;
        }
        if buf.len() > MAX_OUTPUT_BYTES {
            return Err(Failure::TooLarge);
        }
        Ok(buf)
    };
    let err = async {
        let mut kept = Vec::new();
        if let Some(mut stderr) = stderr {
            let limit = u64::try_from(STDERR_KEPT).unwrap_or(u64::MAX);
            (&mut stderr).take(limit).read_to_end(&mut kept).await.map_err(Failure::Io)?;
            tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await.map_err(Failure::Io)?;
        }
        Ok(kept)
    };
    // The first failure (stdout over the limit) ends both reads at once.
    let (stdout, stderr) = tokio::try_join!(out, err)?;
    let status = child.wait().await.map_err(Failure::Io)?;
    Ok(Output { status, stdout, stderr })
}

/// A finished run's credentials, or why there are none.
fn finish(config: &ExecConfig, output: Output) -> Result<ExecCredentials, ConfigError> {
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(ConfigError::Exec(format!(
            "{:?} failed ({}): {}",
            config.command,
            output.status,
            truncate(&stderr, STDERR_LIMIT)
        )));
    }
    parse_exec_credential(&output.stdout, &config.api_version)
        .map_err(|e| ConfigError::Exec(format!("{:?}: {}", config.command, strip_prefix(e))))
}

/// The message of an `Exec` error without the `exec plugin: ` prefix, for re-wrapping.
fn strip_prefix(e: ConfigError) -> String {
    match e {
        ConfigError::Exec(m) => m,
        other => other.to_string(),
    }
}
