//! Choosing a configuration source the way client-go's deferred loader does.
//!
//! Contract: [`Config::infer`] uses the kubeconfig when one exists (`KUBECONFIG` names at least
//! one existing file, or `~/.kube/config` exists); otherwise the in-cluster service account when
//! `KUBERNETES_SERVICE_HOST`/`_PORT` are set; otherwise [`ConfigError::NotFound`] explaining
//! both. A kubeconfig that exists but is broken is an error, never silently skipped. The inputs
//! are gathered in [`ConfigSources`], so the decision is testable without touching the
//! process environment.

use std::ffi::OsString;
use std::path::PathBuf;

use super::incluster::{SERVICE_ACCOUNT_DIR, SERVICE_HOST_ENV, SERVICE_PORT_ENV};
use super::kubeconfig::{Kubeconfig, KubeconfigOptions};
use super::{Config, ConfigError};

/// Everything [`Config::infer`] looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigSources {
    /// The value of `KUBECONFIG` (a path list).
    pub kubeconfig: Option<OsString>,
    /// The home directory (`HOME`, or `USERPROFILE` on Windows).
    pub home: Option<PathBuf>,
    /// `KUBERNETES_SERVICE_HOST`.
    pub service_host: Option<String>,
    /// `KUBERNETES_SERVICE_PORT`.
    pub service_port: Option<String>,
    /// The service account directory ([`SERVICE_ACCOUNT_DIR`] in a pod).
    pub service_account_dir: PathBuf,
}

impl ConfigSources {
    /// The sources of this process: its environment and [`SERVICE_ACCOUNT_DIR`].
    pub fn from_env() -> Self {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .or_else(|| if cfg!(windows) { std::env::var_os("USERPROFILE").filter(|h| !h.is_empty()) } else { None })
            .map(PathBuf::from);
        Self {
            kubeconfig: std::env::var_os("KUBECONFIG"),
            home,
            service_host: std::env::var(SERVICE_HOST_ENV).ok().filter(|h| !h.is_empty()),
            service_port: std::env::var(SERVICE_PORT_ENV).ok().filter(|p| !p.is_empty()),
            service_account_dir: PathBuf::from(SERVICE_ACCOUNT_DIR),
        }
    }
}

impl Config {
    /// The kubeconfig configuration (current context) when a kubeconfig exists, else the
    /// in-cluster one, else [`ConfigError::NotFound`]. File reading runs on tokio's blocking
    /// pool.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), rudder_client::config::ConfigError> {
    /// let config = rudder_client::Config::infer().await?;
    /// # Ok(()) }
    /// ```
    pub async fn infer() -> Result<Config, ConfigError> {
        tokio::task::spawn_blocking(|| Self::infer_from(&ConfigSources::from_env(), &KubeconfigOptions::default()))
            .await
            .map_err(|e| ConfigError::Invalid(format!("configuration loading task failed: {e}")))?
    }

    /// [`Config::infer`] from explicit `sources`, with kubeconfig `options` (ignored in-cluster).
    /// Blocking (reads files).
    pub fn infer_from(sources: &ConfigSources, options: &KubeconfigOptions) -> Result<Config, ConfigError> {
        let kubeconfig_reason = match Kubeconfig::load_from(sources.kubeconfig.as_deref(), sources.home.as_deref()) {
            Ok(kc) => return Config::from_custom_kubeconfig(kc, options),
            Err(ConfigError::NotFound(reason)) => reason,
            Err(e) => return Err(e),
        };
        match (&sources.service_host, &sources.service_port) {
            (Some(host), Some(port)) if !host.is_empty() && !port.is_empty() => {
                Config::incluster_from(&sources.service_account_dir, host, port)
            }
            _ => Err(ConfigError::NotFound(format!(
                "no kubeconfig ({kubeconfig_reason}) and not in a cluster ({SERVICE_HOST_ENV} and {SERVICE_PORT_ENV} \
                 are not set)"
            ))),
        }
    }
}
