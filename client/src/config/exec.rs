//! TODO(config helper): exec credential plugins.

/// An exec credential plugin as the kubeconfig declares it (`users[].user.exec`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

/// Runs an exec plugin on demand and caches its credentials until they expire.
///
/// STUB — the config helper implements this; the signatures are the agreed contract.
#[derive(Debug)]
pub struct ExecCredentialProvider {
    config: ExecConfig,
}

impl ExecCredentialProvider {
    /// A provider for `config`; `cluster` is what KUBERNETES_EXEC_INFO carries when
    /// `provideClusterInfo` is set (server URL, CA data, tls-server-name, insecure, proxy-url).
    pub fn new(config: ExecConfig, cluster: Option<serde_json::Value>) -> Self {
        let _ = cluster;
        Self { config }
    }

    /// Cached credentials, or the plugin's fresh output when none are cached, they have
    /// expired, or `force_refresh` is set (after a 401). Never blocks a tokio worker.
    pub async fn credentials(&self, force_refresh: bool) -> Result<ExecCredentials, crate::config::ConfigError> {
        let _ = force_refresh;
        Err(crate::config::ConfigError::Exec(format!("{}: not implemented yet", self.config.command)))
    }
}
