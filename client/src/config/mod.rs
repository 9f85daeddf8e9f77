//! Connection configuration: where the API server is, how to trust it, who we are.
//!
//! Contract:
//! - A [`Config`] is plain data; loading it lives in the submodules ([`kubeconfig`]: kubectl's
//!   loading and merging rules; [`incluster`]: the pod's service account; [`infer`]:
//!   kubeconfig, else in-cluster; [`exec`]: credential plugins) and never performs network I/O.
//! - Secrets never reach `Debug` output, so a `Config` can be logged safely: credentials are
//!   held in [`Secret`] (printed `[REDACTED]`), the user info of `cluster_url` and `proxy_url`
//!   is replaced by `[REDACTED]@`, an exec plugin's args and env values are hidden (as
//!   client-go does), and so is `exec_cluster_config` (opaque plugin configuration).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub mod exec;
pub mod incluster;
pub mod infer;
pub mod kubeconfig;
pub(crate) mod redact;

pub use exec::{ExecConfig, ExecCredentialProvider, ExecCredentials};
pub use infer::ConfigSources;
pub use kubeconfig::{Kubeconfig, KubeconfigOptions};

/// A value that must never be printed: tokens, passwords, private keys.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Secret(value)
    }
    /// The secret value. Do not log it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl<T> From<T> for Secret<T> {
    fn from(v: T) -> Self {
        Secret(v)
    }
}

impl<T: serde::Serialize> serde::Serialize for Secret<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret)
    }
}

/// Who the client authenticates as. `Debug` hides the token, password, key and exec secrets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuthInfo {
    /// Bearer token.
    pub token: Option<Secret<String>>,
    /// File holding a bearer token; re-read when it changes (bound service-account tokens rotate).
    pub token_file: Option<PathBuf>,
    /// Basic-auth user name.
    pub username: Option<String>,
    /// Basic-auth password.
    pub password: Option<Secret<String>>,
    /// Client certificate chain, PEM.
    pub client_certificate_pem: Option<Vec<u8>>,
    /// Client private key (RSA PKCS#1/PKCS#8 or EC), PEM.
    pub client_key_pem: Option<Secret<Vec<u8>>>,
    /// Exec credential plugin.
    pub exec: Option<ExecConfig>,
}

impl AuthInfo {
    /// Whether any credential is configured.
    pub fn is_empty(&self) -> bool {
        self.token.is_none()
            && self.token_file.is_none()
            && self.username.is_none()
            && self.client_certificate_pem.is_none()
            && self.exec.is_none()
    }
}

/// Impersonation headers (`Impersonate-User`, `-Uid`, `-Group`, `-Extra-*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Impersonation {
    /// User to act as.
    pub user: Option<String>,
    /// UID to act as.
    pub uid: Option<String>,
    /// Groups to act as.
    pub groups: Vec<String>,
    /// Extra fields (`Impersonate-Extra-<key>`), in order.
    pub extra: Vec<(String, Vec<String>)>,
}

/// The encoding a client asks for and sends, as client-go's `ContentConfig`.
///
/// With [`ContentType::Protobuf`], requests for kinds that have a protobuf message (the
/// built-in kinds of the generated descriptor table,
/// [`rudder_apimachinery::protobuf::has_message`]) send `Accept:
/// application/vnd.kubernetes.protobuf, application/json` and encode create/replace bodies in
/// protobuf; custom resources, unknown kinds, patches and metadata-only requests stay JSON.
/// Answers are decoded by what the server sent, so a JSON fallback is always read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ContentType {
    /// JSON only (the default).
    #[default]
    Json,
    /// Protobuf for built-in kinds, JSON for the rest.
    Protobuf,
}

/// Everything needed to talk to one API server as one identity. `Debug` hides every secret.
#[derive(Clone, PartialEq)]
pub struct Config {
    /// The server, e.g. `https://192.168.49.2:8443` or `http://127.0.0.1:34567`.
    pub cluster_url: http::Uri,
    /// Namespace for namespaced calls that name none (the context's, else `default`).
    pub default_namespace: String,
    /// PEM bundle of CAs to trust instead of the system roots.
    pub root_ca_pem: Option<Vec<u8>>,
    /// Server name to verify instead of the URL's host (`tls-server-name`).
    pub tls_server_name: Option<String>,
    /// Skip TLS verification (only when the kubeconfig says so).
    pub insecure_skip_tls_verify: bool,
    /// Credentials.
    pub auth: AuthInfo,
    /// Impersonation.
    pub impersonate: Option<Impersonation>,
    /// HTTP CONNECT proxy (`proxy-url`).
    pub proxy_url: Option<http::Uri>,
    /// Client-side rate limit: sustained queries per second (client-go default 5). `None` or
    /// `<= 0` disables the limiter.
    pub qps: Option<f32>,
    /// Client-side rate limit: burst (client-go default 10).
    pub burst: u32,
    /// Deadline of one request, `None` for none: it bounds sending, every retry and the sleep
    /// before it, and reading the whole body (a streamed list included). Watches, followed logs
    /// and other long-running streams have no deadline (default 295 s).
    pub timeout: Option<Duration>,
    /// How long opening one connection may take: the TCP connect, a proxy's answer to
    /// `CONNECT`, and the TLS handshake, together (default [`DEFAULT_CONNECT_TIMEOUT`]). It
    /// applies to watches too.
    pub connect_timeout: Duration,
    /// The largest body read whole: `get`, `create`, `replace`, `patch`, `delete_collection`,
    /// discovery documents, logs read as text (default [`DEFAULT_MAX_BODY_BYTES`]). A larger
    /// body is [`crate::Error::TooLarge`]. Lists and watches are streamed and bounded per item
    /// instead (`max_object_bytes`).
    pub max_body_bytes: usize,
    /// The largest single item of a streamed response: one watch event, one item of a
    /// streamed list, one line of a followed log (default [`DEFAULT_MAX_OBJECT_BYTES`]). A
    /// larger one is [`crate::Error::TooLarge`] and ends the stream.
    pub max_object_bytes: usize,
    /// How many times a 429/5xx-with-Retry-After or a reset connection is retried (client-go: 10).
    pub max_retries: u32,
    /// `User-Agent` header.
    pub user_agent: String,
    /// The kubeconfig context this came from, if any (for messages and exec cluster info).
    pub context: Option<String>,
    /// The cluster's `client.authentication.k8s.io/exec` extension, passed to exec plugins as
    /// `spec.cluster.config` when they ask for cluster info.
    pub exec_cluster_config: Option<serde_json::Value>,
    /// The encoding of requests and answers (default [`ContentType::Json`]).
    pub content_type: ContentType,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("cluster_url", &redact::uri(&self.cluster_url))
            .field("default_namespace", &self.default_namespace)
            .field("root_ca_pem", &self.root_ca_pem.as_ref().map(|p| format!("{} bytes", p.len())))
            .field("tls_server_name", &self.tls_server_name)
            .field("insecure_skip_tls_verify", &self.insecure_skip_tls_verify)
            .field("auth", &self.auth)
            .field("impersonate", &self.impersonate)
            .field("proxy_url", &self.proxy_url.as_ref().map(redact::uri))
            .field("qps", &self.qps)
            .field("burst", &self.burst)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_object_bytes", &self.max_object_bytes)
            .field("max_retries", &self.max_retries)
            .field("user_agent", &self.user_agent)
            .field("context", &self.context)
            .field("exec_cluster_config", &self.exec_cluster_config.as_ref().map(|_| redact::Hidden))
            .field("content_type", &self.content_type)
            .finish()
    }
}

/// client-go's default QPS.
pub const DEFAULT_QPS: f32 = 5.0;
/// client-go's default burst.
pub const DEFAULT_BURST: u32 = 10;
/// client-go's default maximum number of retries.
pub const DEFAULT_MAX_RETRIES: u32 = 10;

/// Default [`Config::connect_timeout`]: 30 s, as client-go's dialer.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`Config::max_body_bytes`]: 512 MiB, a list of ~100,000 typical Pods.
pub const DEFAULT_MAX_BODY_BYTES: usize = 512 << 20;
/// Default [`Config::max_object_bytes`]: 64 MiB, over forty times etcd's default limit on one
/// stored object (1.5 MiB) to leave room for JSON larger than the stored form.
pub const DEFAULT_MAX_OBJECT_BYTES: usize = 64 << 20;

/// `rudder/<version> (<os>/<arch>)`.
pub fn default_user_agent() -> String {
    format!("rudder/{} ({}/{})", env!("CARGO_PKG_VERSION"), std::env::consts::OS, std::env::consts::ARCH)
}

impl Config {
    /// A configuration for `cluster_url` with no credentials and client-go's defaults.
    pub fn new(cluster_url: http::Uri) -> Self {
        Self {
            cluster_url,
            default_namespace: "default".into(),
            root_ca_pem: None,
            tls_server_name: None,
            insecure_skip_tls_verify: false,
            auth: AuthInfo::default(),
            impersonate: None,
            proxy_url: None,
            qps: Some(DEFAULT_QPS),
            burst: DEFAULT_BURST,
            timeout: Some(Duration::from_secs(295)),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
            max_retries: DEFAULT_MAX_RETRIES,
            user_agent: default_user_agent(),
            context: None,
            exec_cluster_config: None,
            content_type: ContentType::Json,
        }
    }

    /// Sets the encoding of requests and answers (builder style; see [`ContentType`]).
    pub fn content_type(mut self, content_type: ContentType) -> Self {
        self.content_type = content_type;
        self
    }

    /// Disables the client-side rate limiter (builder style).
    pub fn without_rate_limit(mut self) -> Self {
        self.qps = None;
        self
    }

    /// Whether the server URL is https (credentials are only sent over https).
    pub fn is_https(&self) -> bool {
        self.cluster_url.scheme_str() == Some("https")
    }

    /// Whether the transport may attach credentials (token, token file, basic auth, exec
    /// plugin output, impersonation) to requests: only over https.
    ///
    /// Loading keeps whatever credentials the kubeconfig names even for an `http://` server, so
    /// that the configuration round-trips; it is the transport's job to consult this method and
    /// never send them in clear text.
    pub fn credentials_allowed(&self) -> bool {
        self.is_https()
    }

    /// The server URL as written (without the trailing `/` that [`http::Uri`] adds).
    pub fn server_url(&self) -> String {
        uri_without_root_slash(&self.cluster_url)
    }

    /// The server URL for messages and logs: as [`Config::server_url`], with any user info
    /// (`user:password@`) replaced by `[REDACTED]@`.
    pub fn redacted_server_url(&self) -> String {
        redact::url(&self.server_url()).into_owned()
    }

    /// What an exec plugin receives as `spec.cluster` in `KUBERNETES_EXEC_INFO` when its
    /// kubeconfig entry sets `provideClusterInfo: true`: `server`, `certificate-authority-data`
    /// (base64), `tls-server-name`, `insecure-skip-tls-verify`, `proxy-url` and `config` (the
    /// cluster's `client.authentication.k8s.io/exec` extension). Unset fields are omitted.
    pub fn exec_cluster_info(&self) -> serde_json::Value {
        use base64::Engine as _;
        let mut m = serde_json::Map::new();
        m.insert("server".into(), self.server_url().into());
        if let Some(name) = &self.tls_server_name {
            m.insert("tls-server-name".into(), name.clone().into());
        }
        if self.insecure_skip_tls_verify {
            m.insert("insecure-skip-tls-verify".into(), true.into());
        }
        if let Some(ca) = &self.root_ca_pem {
            m.insert("certificate-authority-data".into(), base64::engine::general_purpose::STANDARD.encode(ca).into());
        }
        if let Some(proxy) = &self.proxy_url {
            m.insert("proxy-url".into(), uri_without_root_slash(proxy).into());
        }
        if let Some(config) = &self.exec_cluster_config {
            m.insert("config".into(), config.clone());
        }
        serde_json::Value::Object(m)
    }

    /// The exec credential provider for this configuration's exec plugin, if it has one, with
    /// cluster info attached when the plugin asks for it. Build it once per client: it caches
    /// the plugin's credentials.
    pub fn exec_provider(&self) -> Option<ExecCredentialProvider> {
        let exec = self.auth.exec.as_ref()?;
        let cluster = exec.provide_cluster_info.then(|| self.exec_cluster_info());
        Some(ExecCredentialProvider::new(exec.clone(), cluster))
    }
}

/// `uri` as text, without the `/` path that [`http::Uri`] adds to `scheme://authority`.
fn uri_without_root_slash(uri: &http::Uri) -> String {
    match (uri.path_and_query().map(|p| p.as_str()), uri.scheme_str(), uri.authority()) {
        (None | Some("/"), Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
        _ => uri.to_string(),
    }
}

/// An error loading configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A kubeconfig file is not valid YAML of the expected shape.
    #[error("cannot parse kubeconfig {path}: {message}")]
    Parse {
        /// The file (or `<memory>`).
        path: PathBuf,
        /// The parser's message with position.
        message: String,
    },
    /// No kubeconfig was found and not running in a cluster.
    #[error("no configuration found: {0}")]
    NotFound(String),
    /// The selected context does not exist.
    #[error("context {name:?} not found; contexts are: {}", available.join(", "))]
    UnknownContext {
        /// The requested context.
        name: String,
        /// The contexts that exist.
        available: Vec<String>,
    },
    /// A context names a cluster or user that does not exist, or a required field is missing.
    #[error("invalid kubeconfig: {0}")]
    Invalid(String),
    /// Base64 `*-data` could not be decoded.
    #[error("invalid base64 in {field}: {source}")]
    Base64 {
        /// The field.
        field: String,
        /// Why.
        #[source]
        source: base64::DecodeError,
    },
    /// The exec credential plugin failed (other than [`ExecOutputTooLarge`](Self::ExecOutputTooLarge)
    /// or [`ExecTimeout`](Self::ExecTimeout)).
    #[error("exec plugin: {0}")]
    Exec(String),
    /// The exec credential plugin printed more than `limit` bytes on stdout; it was killed.
    #[error("exec plugin: {command:?} printed more than {limit} bytes (the limit) on stdout; killed it")]
    ExecOutputTooLarge {
        /// The plugin's command (never its args).
        command: String,
        /// The limit, in bytes ([`exec::MAX_OUTPUT_BYTES`]).
        limit: usize,
    },
    /// The exec credential plugin did not finish within `timeout`; it was killed.
    #[error("exec plugin: {command:?} did not finish within {timeout:?}; killed it")]
    ExecTimeout {
        /// The plugin's command (never its args).
        command: String,
        /// The deadline the run had.
        timeout: Duration,
    },
}
