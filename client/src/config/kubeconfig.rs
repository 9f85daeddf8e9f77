//! kubeconfig files: the v1 `Config` model, loading and merging by kubectl's rules, and turning
//! the selected context into a [`Config`].
//!
//! Contract (kubectl's `clientcmd`):
//! - Parsing accepts YAML and JSON; unknown fields and `extensions` are kept or ignored, never an
//!   error; `null` lists are empty lists.
//! - `KUBECONFIG` is a list of paths (`:`-separated on Unix); empty entries and missing files are
//!   skipped, duplicates read once. Without it (unset or empty), `$HOME/.kube/config` is used.
//! - Merging: for clusters, users and contexts (by name), for `current-context` and for
//!   `preferences`, the first file that sets a value wins; later files only add new names.
//! - Relative paths (`certificate-authority`, `client-certificate`, `client-key`, `tokenFile`,
//!   and an exec `command` containing a path separator) are resolved against the directory of
//!   the file that named them, when the file is read ([`Kubeconfig::read`]).
//! - `*-data` fields (base64 PEM) win over the matching file path. The PEM files of the selected
//!   context are read when the [`Config`] is built; errors name the file.
//! - Credentials are kept for an `http://` server too; [`Config::credentials_allowed`] tells the
//!   transport not to send them.
//! - `Debug` output never shows tokens, passwords, private keys, exec args or env values, the
//!   user info of `server`/`proxy-url`, or extension values; neither do error messages.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize};

use super::{redact, AuthInfo, Config, ConfigError, ExecConfig, Impersonation, Secret};

/// The name of the cluster extension whose value is passed to exec plugins as `spec.cluster.config`.
pub const EXEC_CLUSTER_EXTENSION: &str = "client.authentication.k8s.io/exec";

/// Deserializes `null` (or a missing value, with `#[serde(default)]`) as `T::default()`.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A kubeconfig file (`apiVersion: v1`, `kind: Config`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Kubeconfig {
    /// `apiVersion` (`v1`).
    #[serde(rename = "apiVersion", default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `kind` (`Config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `preferences`, kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferences: Option<serde_yaml_ng::Value>,
    /// Named clusters.
    #[serde(default, deserialize_with = "null_default")]
    pub clusters: Vec<NamedCluster>,
    /// Named users (credentials).
    #[serde(default, deserialize_with = "null_default")]
    pub users: Vec<NamedUser>,
    /// Named contexts (cluster + user + namespace).
    #[serde(default, deserialize_with = "null_default")]
    pub contexts: Vec<NamedContext>,
    /// The context used when none is selected explicitly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
    /// Extensions, kept as written.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<NamedExtension>,
}

/// A `clusters[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedCluster {
    /// The name contexts refer to.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// The cluster.
    #[serde(default, deserialize_with = "null_default")]
    pub cluster: Cluster,
}

/// How to reach and trust one API server. `Debug` hides the user info of `server` and
/// `proxy_url`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Cluster {
    /// Server URL, e.g. `https://10.0.0.1:6443`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Server name to verify instead of the URL's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
    /// Skip TLS verification.
    #[serde(default, deserialize_with = "null_default")]
    pub insecure_skip_tls_verify: bool,
    /// Path of a PEM CA bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<PathBuf>,
    /// Base64 PEM CA bundle (wins over `certificate-authority`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority_data: Option<String>,
    /// Proxy URL (`http`, `https` or `socks5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    /// Disable response compression.
    #[serde(default, deserialize_with = "null_default")]
    pub disable_compression: bool,
    /// Extensions, kept as written.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<NamedExtension>,
}

/// A `users[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedUser {
    /// The name contexts refer to.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// The credentials.
    #[serde(default, deserialize_with = "null_default")]
    pub user: User,
}

/// Credentials of one user, as the kubeconfig writes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct User {
    /// Path of a PEM client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<PathBuf>,
    /// Base64 PEM client certificate (wins over `client-certificate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_data: Option<String>,
    /// Path of a PEM client key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
    /// Base64 PEM client key (wins over `client-key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_data: Option<Secret<String>>,
    /// Bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret<String>>,
    /// File holding a bearer token.
    #[serde(rename = "tokenFile", default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// User to impersonate (`as`).
    #[serde(rename = "as", default, skip_serializing_if = "Option::is_none")]
    pub impersonate: Option<String>,
    /// UID to impersonate (`as-uid`).
    #[serde(rename = "as-uid", default, skip_serializing_if = "Option::is_none")]
    pub impersonate_uid: Option<String>,
    /// Groups to impersonate (`as-groups`).
    #[serde(rename = "as-groups", default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub impersonate_groups: Vec<String>,
    /// Extra fields to impersonate (`as-user-extra`).
    #[serde(
        rename = "as-user-extra",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub impersonate_user_extra: BTreeMap<String, Vec<String>>,
    /// Basic-auth user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Basic-auth password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret<String>>,
    /// Legacy auth provider (gcp, azure, oidc); not supported, kept so files round-trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_provider: Option<AuthProvider>,
    /// Exec credential plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecSpec>,
    /// Extensions, kept as written.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<NamedExtension>,
}

/// A legacy `auth-provider` entry; its config often holds tokens and is redacted in `Debug`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthProvider {
    /// Provider name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Provider configuration.
    #[serde(default, deserialize_with = "null_default")]
    pub config: Secret<BTreeMap<String, String>>,
}

/// An `exec` entry as the kubeconfig writes it (converted to [`ExecConfig`]). `Debug` hides the
/// args and env values.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecSpec {
    /// ExecCredential API version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Command to run.
    #[serde(default, deserialize_with = "null_default")]
    pub command: String,
    /// Arguments.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment variables added to the parent environment.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<ExecEnvVar>,
    /// Shown when the command cannot be found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_hint: Option<String>,
    /// Pass cluster information in `KUBERNETES_EXEC_INFO`.
    #[serde(default, deserialize_with = "null_default")]
    pub provide_cluster_info: bool,
    /// `Never`, `IfAvailable` or `Always`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactive_mode: Option<String>,
}

/// One `exec.env` entry. `Debug` hides the value (it may be a secret).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecEnvVar {
    /// Variable name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Variable value.
    #[serde(default, deserialize_with = "null_default")]
    pub value: String,
}

impl fmt::Debug for ExecEnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecEnvVar").field("name", &self.name).field("value", &"[REDACTED]").finish()
    }
}

/// A `contexts[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedContext {
    /// The context's name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// The context.
    #[serde(default, deserialize_with = "null_default")]
    pub context: Context,
}

/// A context: which cluster, as which user, in which namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// Cluster name.
    #[serde(default, deserialize_with = "null_default")]
    pub cluster: String,
    /// User name (may be empty: no credentials).
    #[serde(default, deserialize_with = "null_default")]
    pub user: String,
    /// Default namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Extensions, kept as written.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<NamedExtension>,
}

/// A named extension; the value is kept as written. `Debug` hides the value (plugin
/// configuration may hold secrets).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedExtension {
    /// Extension name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Extension value.
    #[serde(default)]
    pub extension: serde_yaml_ng::Value,
}

/// Overrides applied on top of a kubeconfig (kubectl's `--context`, `--cluster`, `--user`,
/// `--namespace`, `--server`). `Debug` hides the user info of `server`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KubeconfigOptions {
    /// Use this context instead of `current-context`.
    pub context: Option<String>,
    /// Use this cluster instead of the context's.
    pub cluster: Option<String>,
    /// Use this user instead of the context's.
    pub user: Option<String>,
    /// Use this namespace instead of the context's.
    pub namespace: Option<String>,
    /// Use this server URL instead of the cluster's.
    pub server: Option<String>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("server", &self.server.as_deref().map(redact::url))
            .field("tls_server_name", &self.tls_server_name)
            .field("insecure_skip_tls_verify", &self.insecure_skip_tls_verify)
            .field("certificate_authority", &self.certificate_authority)
            .field(
                "certificate_authority_data",
                &self.certificate_authority_data.as_ref().map(|d| format!("{} bytes", d.len())),
            )
            .field("proxy_url", &self.proxy_url.as_deref().map(redact::url))
            .field("disable_compression", &self.disable_compression)
            .field("extensions", &self.extensions)
            .finish()
    }
}

impl fmt::Debug for ExecSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecSpec")
            .field("api_version", &self.api_version)
            .field("command", &self.command)
            .field("args", &redact::Count(self.args.len()))
            .field("env", &self.env)
            .field("install_hint", &self.install_hint)
            .field("provide_cluster_info", &self.provide_cluster_info)
            .field("interactive_mode", &self.interactive_mode)
            .finish()
    }
}

impl fmt::Debug for NamedExtension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedExtension").field("name", &self.name).field("extension", &redact::Hidden).finish()
    }
}

impl fmt::Debug for KubeconfigOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeconfigOptions")
            .field("context", &self.context)
            .field("cluster", &self.cluster)
            .field("user", &self.user)
            .field("namespace", &self.namespace)
            .field("server", &self.server.as_deref().map(redact::url))
            .finish()
    }
}

/// Finds the first entry named `name` (kubectl keeps the first of duplicates).
fn find<'a, T>(items: &'a [T], name: &str, name_of: impl Fn(&T) -> &str) -> Option<&'a T> {
    items.iter().find(|item| name_of(item) == name)
}

/// Appends the entries of `later` whose names `first` does not have.
fn merge_named<T>(first: &mut Vec<T>, later: Vec<T>, name_of: impl Fn(&T) -> &str) {
    for item in later {
        if !first.iter().any(|f| name_of(f) == name_of(&item)) {
            first.push(item);
        }
    }
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// Makes a relative, non-empty `path` absolute against `dir`.
fn resolve(path: &mut Option<PathBuf>, dir: &Path) {
    if let Some(p) = path {
        if !p.as_os_str().is_empty() && p.is_relative() {
            *p = dir.join(&*p);
        }
    }
}

fn is_path_separator(c: char) -> bool {
    c == '/' || c == std::path::MAIN_SEPARATOR
}

impl Kubeconfig {
    /// Parses a kubeconfig from YAML or JSON text. Relative paths stay relative (to the working
    /// directory); use [`Kubeconfig::read`] to resolve them against a file's directory.
    /// An empty document is an empty kubeconfig.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        Self::parse(text, Path::new("<memory>"))
    }

    fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        serde_yaml_ng::from_str::<Option<Kubeconfig>>(text)
            .map(Option::unwrap_or_default)
            .map_err(|e| ConfigError::Parse { path: path.to_path_buf(), message: e.to_string() })
    }

    /// Reads and parses the kubeconfig at `path`, resolving its relative paths against the
    /// file's directory.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let mut kc = Self::parse(&text, path)?;
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let dir = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
        kc.resolve_paths(&dir);
        Ok(kc)
    }

    /// Makes every relative file reference absolute against `dir` (what [`Kubeconfig::read`]
    /// does with the file's directory).
    pub fn resolve_paths(&mut self, dir: &Path) {
        for c in &mut self.clusters {
            resolve(&mut c.cluster.certificate_authority, dir);
        }
        for u in &mut self.users {
            let user = &mut u.user;
            resolve(&mut user.client_certificate, dir);
            resolve(&mut user.client_key, dir);
            resolve(&mut user.token_file, dir);
            if let Some(exec) = &mut user.exec {
                if exec.command.contains(is_path_separator) && Path::new(&exec.command).is_relative() {
                    exec.command = dir.join(&exec.command).to_string_lossy().into_owned();
                }
            }
        }
    }

    /// Merges `other` into `self` by kubectl's rules: `self` is the earlier file, so its
    /// entries, `current-context` and `preferences` win; `other` only adds new names.
    pub fn merge(mut self, other: Kubeconfig) -> Kubeconfig {
        merge_named(&mut self.clusters, other.clusters, |c| &c.name);
        merge_named(&mut self.users, other.users, |u| &u.name);
        merge_named(&mut self.contexts, other.contexts, |c| &c.name);
        merge_named(&mut self.extensions, other.extensions, |e| &e.name);
        if nonempty(&self.current_context).is_none() {
            self.current_context = other.current_context;
        }
        if self.preferences.is_none() {
            self.preferences = other.preferences;
        }
        if self.api_version.is_none() {
            self.api_version = other.api_version;
        }
        if self.kind.is_none() {
            self.kind = other.kind;
        }
        self
    }

    /// Reads and merges `paths` in order, skipping empty entries, missing files and repeated
    /// paths. `Ok(None)` when none of the files exists; other read or parse errors fail.
    pub fn read_all<I, P>(paths: I) -> Result<Option<Kubeconfig>, ConfigError>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        let mut seen: Vec<PathBuf> = Vec::new();
        let mut merged: Option<Kubeconfig> = None;
        for p in paths {
            let p = p.as_ref();
            if p.as_os_str().is_empty() || seen.iter().any(|s| s == p) {
                continue;
            }
            seen.push(p.to_path_buf());
            let kc = match Self::read(p) {
                Ok(kc) => kc,
                Err(ConfigError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            merged = Some(match merged {
                Some(m) => m.merge(kc),
                None => kc,
            });
        }
        Ok(merged)
    }

    /// Loads the kubeconfig the way kubectl does, from this process's `KUBECONFIG` and `HOME`.
    /// [`ConfigError::NotFound`] when no file exists.
    pub fn load_default() -> Result<Kubeconfig, ConfigError> {
        let sources = super::ConfigSources::from_env();
        Self::load_from(sources.kubeconfig.as_deref(), sources.home.as_deref())
    }

    /// Loads with kubectl's rules from explicit inputs: `kubeconfig_env` is the value of
    /// `KUBECONFIG` (a path list; unset or empty means "not set"), `home` the home directory
    /// (for `~/.kube/config`). [`ConfigError::NotFound`] when no file exists.
    pub fn load_from(kubeconfig_env: Option<&OsStr>, home: Option<&Path>) -> Result<Kubeconfig, ConfigError> {
        match kubeconfig_env.filter(|v| !v.is_empty()) {
            Some(list) => {
                let paths: Vec<PathBuf> = std::env::split_paths(list).collect();
                Self::read_all(&paths)?.ok_or_else(|| {
                    ConfigError::NotFound(format!(
                        "none of the files in KUBECONFIG={} exists",
                        PathBuf::from(list).display()
                    ))
                })
            }
            None => {
                let Some(home) = home else {
                    return Err(ConfigError::NotFound(
                        "KUBECONFIG is not set and the home directory is unknown (HOME is not set)".into(),
                    ));
                };
                let path = default_kubeconfig_path(home);
                Self::read_all([&path])?.ok_or_else(|| {
                    ConfigError::NotFound(format!("KUBECONFIG is not set and {} does not exist", path.display()))
                })
            }
        }
    }

    /// The names of all contexts, in file order.
    pub fn context_names(&self) -> Vec<String> {
        self.contexts.iter().map(|c| c.name.clone()).collect()
    }

    /// The context named `name`.
    pub fn context(&self, name: &str) -> Option<&Context> {
        find(&self.contexts, name, |c| &c.name).map(|c| &c.context)
    }

    /// The cluster named `name`.
    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        find(&self.clusters, name, |c| &c.name).map(|c| &c.cluster)
    }

    /// The user named `name`.
    pub fn user(&self, name: &str) -> Option<&User> {
        find(&self.users, name, |u| &u.name).map(|u| &u.user)
    }
}

/// `<home>/.kube/config`.
pub fn default_kubeconfig_path(home: &Path) -> PathBuf {
    home.join(".kube").join("config")
}

/// Decodes a `*-data` field (base64; whitespace such as line breaks is ignored).
fn decode_data(field: String, data: &str) -> Result<Vec<u8>, ConfigError> {
    let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(compact).map_err(|source| ConfigError::Base64 { field, source })
}

fn read_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })
}

/// `data` (base64) when set, else the file at `path`, else `None`.
fn data_or_file(
    field: impl FnOnce() -> String,
    data: Option<&str>,
    path: Option<&Path>,
) -> Result<Option<Vec<u8>>, ConfigError> {
    match (data.filter(|d| !d.is_empty()), path.filter(|p| !p.as_os_str().is_empty())) {
        (Some(data), _) => decode_data(field(), data).map(Some),
        (None, Some(path)) => read_file(path).map(Some),
        (None, None) => Ok(None),
    }
}

/// Parses a server URL; a URL without a scheme gets `https://` when TLS is configured, else
/// `http://` (as client-go's `DefaultServerURL`).
fn parse_server(server: &str, tls: bool) -> Result<http::Uri, ConfigError> {
    let full = if server.contains("://") {
        server.to_string()
    } else if tls {
        format!("https://{server}")
    } else {
        format!("http://{server}")
    };
    let uri: http::Uri = full
        .parse()
        .map_err(|e| ConfigError::Invalid(format!("server URL {:?} is invalid: {e}", redact::url(server))))?;
    match uri.scheme_str() {
        Some("https") | Some("http") if uri.authority().is_some() => Ok(uri),
        _ => Err(ConfigError::Invalid(format!(
            "server URL {:?} must be http:// or https:// with a host",
            redact::url(server)
        ))),
    }
}

fn exec_config(user_name: &str, spec: &ExecSpec) -> Result<ExecConfig, ConfigError> {
    if spec.command.is_empty() {
        return Err(ConfigError::Invalid(format!("user {user_name:?}: exec command must be set")));
    }
    let api_version = spec.api_version.clone().unwrap_or_default();
    if api_version.is_empty() {
        return Err(ConfigError::Invalid(format!("user {user_name:?}: exec apiVersion must be set")));
    }
    if api_version == super::exec::API_V1 && spec.interactive_mode.as_deref().unwrap_or("").is_empty() {
        return Err(ConfigError::Invalid(format!(
            "user {user_name:?}: exec interactiveMode must be set for {}",
            super::exec::API_V1
        )));
    }
    Ok(ExecConfig {
        api_version,
        command: spec.command.clone(),
        args: spec.args.clone(),
        env: spec.env.iter().map(|e| (e.name.clone(), e.value.clone())).collect(),
        install_hint: spec.install_hint.clone().filter(|h| !h.is_empty()),
        provide_cluster_info: spec.provide_cluster_info,
        interactive_mode: spec.interactive_mode.clone().filter(|m| !m.is_empty()),
    })
}

fn auth_info(user_name: &str, user: &User) -> Result<AuthInfo, ConfigError> {
    let has_token = user.token.as_ref().is_some_and(|t| !t.expose().is_empty())
        || user.token_file.as_ref().is_some_and(|p| !p.as_os_str().is_empty());
    let has_basic =
        nonempty(&user.username).is_some() || user.password.as_ref().is_some_and(|p| !p.expose().is_empty());
    if has_token && has_basic {
        return Err(ConfigError::Invalid(format!(
            "user {user_name:?}: more than one authentication method found (token and basic auth); only one is allowed"
        )));
    }
    if user.exec.is_some() && user.auth_provider.is_some() {
        return Err(ConfigError::Invalid(format!(
            "user {user_name:?}: auth-provider cannot be combined with an exec plugin"
        )));
    }
    if let Some(provider) = &user.auth_provider {
        tracing::warn!(user = user_name, provider = %provider.name, "kubeconfig auth-provider plugins are not supported; ignoring it (use an exec plugin)");
    }
    let client_certificate_pem = data_or_file(
        || format!("users[{user_name}].client-certificate-data"),
        user.client_certificate_data.as_deref(),
        user.client_certificate.as_deref(),
    )?;
    let client_key_pem = data_or_file(
        || format!("users[{user_name}].client-key-data"),
        user.client_key_data.as_ref().map(|k| k.expose().as_str()),
        user.client_key.as_deref(),
    )?;
    match (&client_certificate_pem, &client_key_pem) {
        (Some(_), None) => {
            return Err(ConfigError::Invalid(format!(
                "user {user_name:?}: client certificate given without a client key"
            )))
        }
        (None, Some(_)) => {
            return Err(ConfigError::Invalid(format!(
                "user {user_name:?}: client key given without a client certificate"
            )))
        }
        _ => {}
    }
    Ok(AuthInfo {
        token: user.token.clone().filter(|t| !t.expose().is_empty()),
        token_file: user.token_file.clone().filter(|p| !p.as_os_str().is_empty()),
        username: user.username.clone().filter(|u| !u.is_empty()),
        password: user.password.clone().filter(|p| !p.expose().is_empty()),
        client_certificate_pem,
        client_key_pem: client_key_pem.map(Secret::new),
        exec: user.exec.as_ref().map(|e| exec_config(user_name, e)).transpose()?,
    })
}

fn impersonation(user: &User) -> Option<Impersonation> {
    let imp = Impersonation {
        user: user.impersonate.clone().filter(|s| !s.is_empty()),
        uid: user.impersonate_uid.clone().filter(|s| !s.is_empty()),
        groups: user.impersonate_groups.clone(),
        extra: user.impersonate_user_extra.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    };
    (imp != Impersonation::default()).then_some(imp)
}

fn yaml_to_json(value: &serde_yaml_ng::Value) -> Option<serde_json::Value> {
    serde_json::to_value(value).ok()
}

impl Config {
    /// Loads the kubeconfig by kubectl's rules (`KUBECONFIG`, else `~/.kube/config`) and builds
    /// the configuration of the selected context with `options` applied.
    pub fn from_kubeconfig(options: &KubeconfigOptions) -> Result<Config, ConfigError> {
        Self::from_custom_kubeconfig(Kubeconfig::load_default()?, options)
    }

    /// Builds the configuration of `kubeconfig`'s selected context (`options.context`, else
    /// `current-context`) with `options` applied. Reads the PEM files the selected cluster and
    /// user name.
    ///
    /// Errors: [`ConfigError::UnknownContext`] (listing the contexts that exist) for a missing
    /// context; [`ConfigError::Invalid`] for a missing cluster/user, a missing server, or
    /// contradictory settings; [`ConfigError::Read`] / [`ConfigError::Base64`] for PEM input.
    pub fn from_custom_kubeconfig(kubeconfig: Kubeconfig, options: &KubeconfigOptions) -> Result<Config, ConfigError> {
        let context_name = nonempty(&options.context).or(nonempty(&kubeconfig.current_context)).map(str::to_string);
        let empty_context = Context::default();
        let context = match &context_name {
            Some(name) => kubeconfig.context(name).ok_or_else(|| ConfigError::UnknownContext {
                name: name.clone(),
                available: kubeconfig.context_names(),
            })?,
            None if nonempty(&options.cluster).is_some() || nonempty(&options.server).is_some() => &empty_context,
            None => {
                return Err(ConfigError::Invalid(format!(
                    "no current-context is set and no context was selected; contexts are: {}",
                    kubeconfig.context_names().join(", ")
                )))
            }
        };
        let ctx_label = context_name.as_deref().unwrap_or("<none>");

        let cluster_name = nonempty(&options.cluster).unwrap_or(&context.cluster);
        let empty_cluster = Cluster::default();
        let cluster = if cluster_name.is_empty() {
            &empty_cluster
        } else {
            kubeconfig.cluster(cluster_name).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "context {ctx_label:?} uses cluster {cluster_name:?}, which does not exist; clusters are: {}",
                    kubeconfig.clusters.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
                ))
            })?
        };

        let user_name = nonempty(&options.user).unwrap_or(&context.user);
        let empty_user = User::default();
        let user = if user_name.is_empty() {
            &empty_user
        } else {
            kubeconfig.user(user_name).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "context {ctx_label:?} uses user {user_name:?}, which does not exist; users are: {}",
                    kubeconfig.users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>().join(", ")
                ))
            })?
        };

        let ca_data = cluster.certificate_authority_data.as_deref().filter(|d| !d.is_empty());
        let ca_path = cluster.certificate_authority.as_deref().filter(|p| !p.as_os_str().is_empty());
        if cluster.insecure_skip_tls_verify && (ca_data.is_some() || ca_path.is_some()) {
            return Err(ConfigError::Invalid(format!(
                "cluster {cluster_name:?}: a certificate authority cannot be combined with insecure-skip-tls-verify"
            )));
        }
        let root_ca_pem =
            data_or_file(|| format!("clusters[{cluster_name}].certificate-authority-data"), ca_data, ca_path)?;

        let server = nonempty(&options.server).or(nonempty(&cluster.server)).ok_or_else(|| {
            ConfigError::Invalid(format!("cluster {cluster_name:?} (context {ctx_label:?}) has no server"))
        })?;
        let tls = root_ca_pem.is_some()
            || cluster.insecure_skip_tls_verify
            || user.client_certificate.is_some()
            || user.client_certificate_data.is_some();
        let cluster_url = parse_server(server, tls)?;

        let proxy_url = match nonempty(&cluster.proxy_url) {
            Some(p) => Some(p.parse::<http::Uri>().map_err(|e| {
                ConfigError::Invalid(format!(
                    "cluster {cluster_name:?}: proxy-url {:?} is invalid: {e}",
                    redact::url(p)
                ))
            })?),
            None => None,
        };

        let mut config = Config::new(cluster_url);
        config.default_namespace = nonempty(&options.namespace)
            .or(context.namespace.as_deref().filter(|n| !n.is_empty()))
            .unwrap_or("default")
            .to_string();
        config.root_ca_pem = root_ca_pem;
        config.tls_server_name = nonempty(&cluster.tls_server_name).map(str::to_string);
        config.insecure_skip_tls_verify = cluster.insecure_skip_tls_verify;
        config.proxy_url = proxy_url;
        config.auth = auth_info(user_name, user)?;
        config.impersonate = impersonation(user);
        config.context = context_name;
        config.exec_cluster_config = cluster
            .extensions
            .iter()
            .find(|e| e.name == EXEC_CLUSTER_EXTENSION)
            .and_then(|e| yaml_to_json(&e.extension));
        Ok(config)
    }
}
