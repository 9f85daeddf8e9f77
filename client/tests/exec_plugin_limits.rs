//! Exec credential plugins are bounded: stdout up to `MAX_OUTPUT_BYTES` (one byte more is an
//! error naming the limit, never the output or the args), a deadline on the run, and a plugin
//! given up on is killed, not left running. Plugins are `sh` scripts in a temp dir that record
//! their pid in `$STATE_DIR/pid` (`exec` keeps that pid for the last command).

use std::path::Path;
use std::time::Duration;

use rudder_client::config::exec::{ExecCredentialProvider, API_V1, MAX_OUTPUT_BYTES};
use rudder_client::config::{ConfigError, ExecConfig};

/// An `ExecConfig` running `sh <dir>/plugin.sh` with `body` as the script.
fn plugin(dir: &Path, body: &str) -> ExecConfig {
    let script = dir.join("plugin.sh");
    std::fs::write(&script, format!("echo $$ > \"$STATE_DIR/pid\"\n{body}")).unwrap();
    ExecConfig {
        api_version: API_V1.into(),
        command: "sh".into(),
        args: vec![script.to_string_lossy().into_owned()],
        env: vec![("STATE_DIR".into(), dir.to_string_lossy().into_owned())],
        install_hint: None,
        provide_cluster_info: false,
        interactive_mode: Some("Never".into()),
    }
}

/// A v1 ExecCredential of `len` bytes: a token, then spaces (JSON allows trailing whitespace).
fn padded_credential(len: usize) -> String {
    let json =
        r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-secret"}}"#;
    format!("printf '%s' '{json}'\nhead -c {} /dev/zero | tr '\\0' ' '\n", len - json.len())
}

/// Whether the process the plugin recorded is gone (or a zombie, killed but not yet reaped).
fn plugin_stopped(dir: &Path) -> bool {
    let pid = std::fs::read_to_string(dir.join("pid")).unwrap();
    match std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
        Err(_) => true,
        // "pid (comm) state ...": the state follows the last ')'.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test]
async fn output_at_the_limit_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let provider = ExecCredentialProvider::new(plugin(tmp.path(), &padded_credential(MAX_OUTPUT_BYTES)), None)
        .with_timeout(Duration::from_secs(20));
    let creds = provider.credentials(false).await.unwrap();
    assert_eq!(creds.token.unwrap().expose(), "tok-secret");
}

#[tokio::test]
async fn output_over_the_limit_is_refused_and_the_plugin_killed() {
    let tmp = tempfile::tempdir().unwrap();
    // One byte too many, then the plugin stays alive: only a kill ends it before the deadline.
    let body = format!("{}exec sleep 30\n", padded_credential(MAX_OUTPUT_BYTES + 1));
    let provider = ExecCredentialProvider::new(plugin(tmp.path(), &body), None).with_timeout(Duration::from_secs(20));
    let err = provider.credentials(false).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ConfigError::Exec(_)), "{msg}");
    assert!(msg.contains(&format!("more than {MAX_OUTPUT_BYTES} bytes")) && msg.contains("killed"), "{msg}");
    assert!(!msg.contains("tok-secret") && !msg.contains("plugin.sh"), "the error shows output or args: {msg}");
    assert!(plugin_stopped(tmp.path()), "the plugin is still running");
}

#[tokio::test]
async fn plugin_that_never_exits_hits_the_deadline_and_is_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let provider = ExecCredentialProvider::new(plugin(tmp.path(), "exec sleep 30\n"), None)
        .with_timeout(Duration::from_millis(300));
    let err = provider.credentials(false).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("did not finish within 300ms") && msg.contains("killed"), "{msg}");
    assert!(!msg.contains("plugin.sh"), "the error shows the args: {msg}");
    assert!(plugin_stopped(tmp.path()), "the plugin is still running");
}

#[tokio::test]
async fn a_flood_on_stderr_neither_blocks_the_plugin_nor_fills_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    // 4 MiB on stderr before the credential: the plugin blocks unless stderr is drained.
    let body = format!("head -c 4194304 /dev/zero | tr '\\0' e >&2\n{}", padded_credential(200));
    let provider = ExecCredentialProvider::new(plugin(tmp.path(), &body), None).with_timeout(Duration::from_secs(20));
    assert_eq!(provider.credentials(false).await.unwrap().token.unwrap().expose(), "tok-secret");

    let body = "head -c 4194304 /dev/zero | tr '\\0' e >&2\nexit 2\n";
    let err = ExecCredentialProvider::new(plugin(tmp.path(), body), None)
        .with_timeout(Duration::from_secs(20))
        .credentials(false)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("truncated") && msg.len() < 3000, "stderr must be cut: {} bytes", msg.len());
}
