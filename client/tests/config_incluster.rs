//! In-cluster configuration from a temporary service-account directory (no env vars touched).

use std::path::Path;

use rudder_client::config::incluster::TOKEN_FILE_REREAD_INTERVAL;
use rudder_client::config::{Config, ConfigError};

fn service_account(dir: &Path, namespace: Option<&str>) {
    std::fs::write(dir.join("token"), "eyJhbGciOi.sa-token.sig\n").unwrap();
    std::fs::write(dir.join("ca.crt"), "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n").unwrap();
    if let Some(ns) = namespace {
        std::fs::write(dir.join("namespace"), ns).unwrap();
    }
}

#[test]
fn reads_the_service_account() {
    let tmp = tempfile::tempdir().unwrap();
    service_account(tmp.path(), Some("payments\n"));
    let config = Config::incluster_from(tmp.path(), "10.96.0.1", "443").unwrap();
    assert_eq!(config.server_url(), "https://10.96.0.1:443");
    assert!(config.is_https() && config.credentials_allowed());
    assert_eq!(config.default_namespace, "payments");
    assert!(config.root_ca_pem.as_ref().unwrap().starts_with(b"-----BEGIN CERTIFICATE-----"));
    // The token is referenced, not copied, so rotation is picked up by re-reading the file.
    assert_eq!(config.auth.token_file.as_deref(), Some(&*tmp.path().join("token")));
    assert!(config.auth.token.is_none());
    assert!(!format!("{config:?}").contains("sa-token"));
    assert_eq!(TOKEN_FILE_REREAD_INTERVAL.as_secs(), 60);
}

#[test]
fn ipv6_host_is_bracketed_and_namespace_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    service_account(tmp.path(), None);
    let config = Config::incluster_from(tmp.path(), "fd00:10:96::1", "6443").unwrap();
    assert_eq!(config.server_url(), "https://[fd00:10:96::1]:6443");
    assert_eq!(config.cluster_url.host(), Some("[fd00:10:96::1]"));
    assert_eq!(config.default_namespace, "default");
}

#[test]
fn missing_or_empty_token_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let err = Config::incluster_from(tmp.path(), "10.96.0.1", "443").unwrap_err();
    assert!(matches!(&err, ConfigError::Read { path, .. } if path == &tmp.path().join("token")), "{err}");

    service_account(tmp.path(), None);
    std::fs::write(tmp.path().join("token"), "\n").unwrap();
    let err = Config::incluster_from(tmp.path(), "10.96.0.1", "443").unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");

    service_account(tmp.path(), None);
    std::fs::remove_file(tmp.path().join("ca.crt")).unwrap();
    let err = Config::incluster_from(tmp.path(), "10.96.0.1", "443").unwrap_err();
    assert!(err.to_string().contains("ca.crt"), "{err}");
}

#[test]
fn missing_host_or_port_is_not_found() {
    let tmp = tempfile::tempdir().unwrap();
    service_account(tmp.path(), None);
    for (host, port) in [("", "443"), ("10.96.0.1", "")] {
        let err = Config::incluster_from(tmp.path(), host, port).unwrap_err();
        assert!(matches!(err, ConfigError::NotFound(ref m) if m.contains("KUBERNETES_SERVICE_HOST")), "{err}");
    }
    let err = Config::incluster_from(tmp.path(), "bad host", "443").unwrap_err();
    assert!(matches!(err, ConfigError::Invalid(_)), "{err}");
}
