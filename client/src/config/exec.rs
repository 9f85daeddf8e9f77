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
