//! Writes a kubeconfig that points kubectl (or any client) at the embedded API server.
//!
//! Contract: [`write()`] produces a complete, valid kubeconfig (`apiVersion: v1`, `kind: Config`)
//! with one cluster, one user and one context, all named [`NAME`], and `current-context` set
//! to it. The CA, token and client certificate are embedded (`*-data` fields, base64 PEM), so
//! the file stands alone. On Unix the file is readable by its owner only (mode 0600), as it holds
//! credentials.

use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use serde_json::{json, Map, Value};

/// The name of the cluster, user and context the kubeconfig defines.
pub const NAME: &str = "rudder-embedded";

/// Writes a kubeconfig for `server_url` to `path` (replacing it).
///
/// `ca_pem` becomes `certificate-authority-data`, `token` the user's bearer token and
/// `client_cert` = `(cert PEM, key PEM)` the user's `client-certificate-data` and
/// `client-key-data`. The context's namespace is `default`.
///
/// ```no_run
/// # fn main() -> std::io::Result<()> {
/// rudder_apiserver::kubeconfig::write(
///     std::path::Path::new("rudder.kubeconfig"),
///     "https://127.0.0.1:6443",
///     None,
///     Some("token"),
///     None,
/// )
/// # }
/// ```
pub fn write(
    path: &Path,
    server_url: &str,
    ca_pem: Option<&str>,
    token: Option<&str>,
    client_cert: Option<(&str, &str)>,
) -> std::io::Result<()> {
    let text = render(server_url, ca_pem, token, client_cert)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // An existing file keeps its old mode through open(): tighten it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// The kubeconfig YAML text [`write()`] writes.
pub fn render(
    server_url: &str,
    ca_pem: Option<&str>,
    token: Option<&str>,
    client_cert: Option<(&str, &str)>,
) -> std::io::Result<String> {
    let b64 = |s: &str| Value::from(base64::engine::general_purpose::STANDARD.encode(s));
    let mut cluster = Map::new();
    cluster.insert("server".into(), server_url.into());
    if let Some(ca) = ca_pem {
        cluster.insert("certificate-authority-data".into(), b64(ca));
    }
    let mut user = Map::new();
    if let Some(t) = token {
        user.insert("token".into(), t.into());
    }
    if let Some((cert, key)) = client_cert {
        user.insert("client-certificate-data".into(), b64(cert));
        user.insert("client-key-data".into(), b64(key));
    }
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": NAME, "cluster": cluster}],
        "users": [{"name": NAME, "user": user}],
        "contexts": [{"name": NAME, "context": {"cluster": NAME, "user": NAME, "namespace": "default"}}],
        "current-context": NAME,
        "preferences": {}
    });
    serde_yaml_ng::to_string(&doc).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(v: &serde_yaml_ng::Value) -> String {
        let s = v.as_str().unwrap();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(s).unwrap()).unwrap()
    }

    #[test]
    fn round_trips_through_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kc");
        let ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        write(&path, "https://127.0.0.1:34567", Some(ca), Some("s3cr3t"), Some(("CERT", "KEY"))).unwrap();
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(doc["current-context"].as_str(), Some(NAME));
        assert_eq!(doc["kind"].as_str(), Some("Config"));
        let cluster = &doc["clusters"][0]["cluster"];
        assert_eq!(cluster["server"].as_str(), Some("https://127.0.0.1:34567"));
        assert_eq!(decode(&cluster["certificate-authority-data"]), ca);
        let user = &doc["users"][0]["user"];
        assert_eq!(user["token"].as_str(), Some("s3cr3t"));
        assert_eq!(decode(&user["client-certificate-data"]), "CERT");
        assert_eq!(decode(&user["client-key-data"]), "KEY");
        assert_eq!(doc["contexts"][0]["context"]["user"].as_str(), Some(NAME));

        // Optional parts are left out entirely.
        write(&path, "http://127.0.0.1:1", None, None, None).unwrap();
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(doc["clusters"][0]["cluster"].get("certificate-authority-data").is_none());
        assert!(doc["users"][0]["user"].as_mapping().unwrap().is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn file_is_private_even_when_it_existed() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kc");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&path, "http://127.0.0.1:1", None, Some("t"), None).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(!std::fs::read_to_string(&path).unwrap().contains("old"));
    }

    #[test]
    fn kubectl_reads_it() {
        let Ok(out) = std::process::Command::new("kubectl").arg("version").arg("--client").output() else {
            println!("kubectl not found: skipping");
            return;
        };
        assert!(out.status.success());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kc");
        let certs = crate::tls::ServerCerts::generate(&["127.0.0.1"]).unwrap();
        let (cert, key) = certs.issue_client_cert("admin", &["system:masters"]).unwrap();
        write(&path, "https://127.0.0.1:6443", Some(&certs.ca_pem), Some("tok"), Some((&cert, &key))).unwrap();
        let out = std::process::Command::new("kubectl")
            .args(["config", "view", "--raw", "-o", "json", "--kubeconfig"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["current-context"], NAME);
        assert_eq!(v["clusters"][0]["cluster"]["server"], "https://127.0.0.1:6443");
        assert_eq!(v["users"][0]["user"]["token"], "tok");
        let ca = v["clusters"][0]["cluster"]["certificate-authority-data"].as_str().unwrap();
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(ca).unwrap(), certs.ca_pem.as_bytes());
        // --minify resolves the current context.
        let out = std::process::Command::new("kubectl")
            .args(["config", "view", "--minify", "-o", "jsonpath={.contexts[0].context.namespace}", "--kubeconfig"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "default");
    }
}
