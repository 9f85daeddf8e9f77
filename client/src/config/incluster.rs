//! In-cluster configuration: the pod's service account, as client-go's `rest.InClusterConfig`.
//!
//! Contract: the server is `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT` (an IPv6
//! host is bracketed); the cluster CA is `<dir>/ca.crt`; the namespace is `<dir>/namespace`
//! ("default" when the file is absent); the bearer token is configured as
//! [`AuthInfo::token_file`](super::AuthInfo::token_file) = `<dir>/token`, never copied into the
//! configuration, because bound service-account tokens rotate: the transport re-reads the file
//! (client-go re-reads it at most every [`TOKEN_FILE_REREAD_INTERVAL`]). Construction checks that
//! the token file is readable and non-empty so a broken mount fails early, naming the file.

use std::path::Path;
use std::time::Duration;

use super::{Config, ConfigError};

/// Where Kubernetes mounts the service account's token, CA and namespace.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How often client-go re-reads a token file (`tokenFile`, the in-cluster token): one minute.
/// Transports should cache a file's token no longer than this.
pub const TOKEN_FILE_REREAD_INTERVAL: Duration = Duration::from_secs(60);

/// The environment variable holding the API server's host inside a pod.
pub const SERVICE_HOST_ENV: &str = "KUBERNETES_SERVICE_HOST";
/// The environment variable holding the API server's port inside a pod.
pub const SERVICE_PORT_ENV: &str = "KUBERNETES_SERVICE_PORT";

impl Config {
    /// The in-cluster configuration from `KUBERNETES_SERVICE_HOST`/`_PORT` and the service
    /// account mounted at [`SERVICE_ACCOUNT_DIR`]. [`ConfigError::NotFound`] outside a pod.
    pub fn incluster() -> Result<Config, ConfigError> {
        let host = std::env::var(SERVICE_HOST_ENV).ok().filter(|h| !h.is_empty());
        let port = std::env::var(SERVICE_PORT_ENV).ok().filter(|p| !p.is_empty());
        match (host, port) {
            (Some(host), Some(port)) => Self::incluster_from(SERVICE_ACCOUNT_DIR, &host, &port),
            _ => Err(ConfigError::NotFound(format!(
                "not running in a cluster: {SERVICE_HOST_ENV} and {SERVICE_PORT_ENV} must both be set"
            ))),
        }
    }

    /// The in-cluster configuration for the API server at `host`:`port` with the service
    /// account files (`token`, `ca.crt`, `namespace`) in `dir`. Lets tests (and unusual mounts)
    /// point elsewhere than [`SERVICE_ACCOUNT_DIR`].
    pub fn incluster_from(dir: impl AsRef<Path>, host: &str, port: &str) -> Result<Config, ConfigError> {
        let dir = dir.as_ref();
        let host = host.trim();
        let port = port.trim();
        if host.is_empty() || port.is_empty() {
            return Err(ConfigError::NotFound(format!(
                "not running in a cluster: {SERVICE_HOST_ENV} and {SERVICE_PORT_ENV} must both be set"
            )));
        }
        let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_string() };
        let url = format!("https://{host}:{port}");
        let cluster_url: http::Uri = url.parse().map_err(|e| {
            ConfigError::Invalid(format!(
                "{SERVICE_HOST_ENV}={host:?} and {SERVICE_PORT_ENV}={port:?} do not form a URL: {e}"
            ))
        })?;

        let token_file = dir.join("token");
        let token =
            std::fs::read(&token_file).map_err(|source| ConfigError::Read { path: token_file.clone(), source })?;
        if token.iter().all(u8::is_ascii_whitespace) {
            return Err(ConfigError::Invalid(format!("service account token {} is empty", token_file.display())));
        }
        let ca_file = dir.join("ca.crt");
        let ca = std::fs::read(&ca_file).map_err(|source| ConfigError::Read { path: ca_file.clone(), source })?;
        let ns_file = dir.join("namespace");
        let namespace = match std::fs::read_to_string(&ns_file) {
            Ok(ns) => Some(ns.trim().to_string()).filter(|ns| !ns.is_empty()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(ConfigError::Read { path: ns_file, source }),
        };

        let mut config = Config::new(cluster_url);
        config.root_ca_pem = Some(ca);
        config.auth.token_file = Some(token_file);
        config.default_namespace = namespace.unwrap_or_else(|| "default".into());
        Ok(config)
    }
}
