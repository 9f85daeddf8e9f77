//! Exec credential plugins: real child processes (small `sh` scripts written by each test, run
//! as `sh <script>` so no freshly written file is exec'd), caching, expiry, forced refresh,
//! shared runs, KUBERNETES_EXEC_INFO content and the error paths.
//!
//! Plugins are bounded: stdout up to `MAX_OUTPUT_BYTES` (one byte more is
//! `ConfigError::ExecOutputTooLarge`, never showing the output or the args), a deadline on the
//! run (`ConfigError::ExecTimeout`), and a plugin given up on is killed, not left running (those
//! plugins record their pid in `$STATE_DIR/pid`; `exec` keeps that pid for the last command).
//! On unix, so are the children it forked (its process group): those record their pid in
//! `$STATE_DIR/grandchild`.

use std::io::IsTerminal as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use rudder_client::config::exec::{
    parse_exec_credential, ExecCredentialProvider, API_V1, API_V1BETA1, MAX_OUTPUT_BYTES,
};
use rudder_client::config::kubeconfig::{Kubeconfig, KubeconfigOptions};
use rudder_client::config::{Config, ConfigError, ExecConfig};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/kubeconfig");

/// An `ExecConfig` running `sh <dir>/plugin.sh` with `body` as the script.
fn plugin(dir: &Path, api_version: &str, body: &str) -> ExecConfig {
    let script = dir.join("plugin.sh");
    std::fs::write(&script, body).unwrap();
    ExecConfig {
        api_version: api_version.into(),
        command: "sh".into(),
        args: vec![script.to_string_lossy().into_owned()],
        env: vec![("STATE_DIR".into(), dir.to_string_lossy().into_owned())],
        install_hint: None,
        provide_cluster_info: false,
        interactive_mode: Some("Never".into()),
    }
}

/// Script lines that count runs in `$STATE_DIR/count` and leave the number in `$n`.
const COUNT: &str = r#"n=$(cat "$STATE_DIR/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$STATE_DIR/count"
"#;

fn runs(dir: &Path) -> u32 {
    std::fs::read_to_string(dir.join("count")).map(|s| s.trim().parse().unwrap()).unwrap_or(0)
}

fn token(c: &rudder_client::config::ExecCredentials) -> &str {
    c.token.as_ref().unwrap().expose()
}

#[test]
fn fixture_exec_credential_parses() {
    let json = std::fs::read(Path::new(FIXTURES).join("exec-credential-v1.json")).unwrap();
    let c = parse_exec_credential(&json, API_V1).unwrap();
    assert_eq!(token(&c), "k8s-aws-v1.aHR0cHM6Ly9zdHMuZXUtd2VzdC0xLmFtYXpvbmF3cy5jb20v");
    let expected: SystemTime = "2026-11-22T01:14:00Z".parse::<jiff::Timestamp>().unwrap().into();
    assert_eq!(c.expiration, Some(expected));
    assert!(c.client_certificate_pem.is_none());
    assert!(!format!("{c:?}").contains("k8s-aws-v1"), "Debug must redact the token");

    let err = parse_exec_credential(&json, API_V1BETA1).unwrap_err();
    assert!(err.to_string().contains("apiVersion"), "{err}");
}

#[test]
fn parser_rejects_bad_shapes_without_echoing_input() {
    let cases: [(&str, &str); 6] = [
        ("not json SECRETISH", "not an ExecCredential"),
        (r#"{"kind":"Other","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"x"}}"#, "kind"),
        (r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1"}"#, "no status"),
        (r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{}}"#, "neither"),
        (
            r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"clientCertificateData":"C"}}"#,
            "no clientKeyData",
        ),
        (
            r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"SECRETISH","expirationTimestamp":"tomorrow"}}"#,
            "RFC 3339",
        ),
    ];
    for (input, expected) in cases {
        let err = parse_exec_credential(input.as_bytes(), API_V1).unwrap_err().to_string();
        assert!(err.contains(expected), "{input}: {err}");
        assert!(!err.contains("SECRETISH"), "error echoes the input: {err}");
    }
    let err = parse_exec_credential(br#"{"kind":"ExecCredential","apiVersion":123}"#, API_V1).unwrap_err();
    assert!(!err.to_string().contains("123"), "{err}");
}

#[tokio::test]
async fn token_is_cached_and_forced_refresh_reruns() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = plugin(
        tmp.path(),
        API_V1,
        &format!(
            "{COUNT}printf '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\
             \"status\":{{\"token\":\"tok-%s-%s\"}}}}' \"$FLAVOUR\" \"$n\"\n"
        ),
    );
    cfg.env.push(("FLAVOUR".into(), "mint".into()));
    let provider = ExecCredentialProvider::new(cfg, None);
    assert_eq!(token(&provider.credentials(false).await.unwrap()), "tok-mint-1");
    assert_eq!(token(&provider.credentials(false).await.unwrap()), "tok-mint-1", "no expiry: cached");
    assert_eq!(runs(tmp.path()), 1);
    assert_eq!(token(&provider.credentials(true).await.unwrap()), "tok-mint-2", "forced refresh re-runs");
    assert_eq!(token(&provider.credentials(false).await.unwrap()), "tok-mint-2");
    assert_eq!(runs(tmp.path()), 2);
}

#[tokio::test]
async fn expired_credentials_rerun_the_plugin() {
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        "{COUNT}if [ $n -eq 1 ]; then exp=2000-01-01T00:00:00Z; else exp=2999-01-01T00:00:00Z; fi\n\
         printf '{{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\
         \"status\":{{\"token\":\"tok-%s\",\"expirationTimestamp\":\"%s\"}}}}' $n $exp\n"
    );
    let mut cfg = plugin(tmp.path(), API_V1BETA1, &body);
    cfg.interactive_mode = None; // v1beta1 defaults to IfAvailable
    let provider = ExecCredentialProvider::new(cfg, None);
    let first = provider.credentials(false).await.unwrap();
    assert_eq!(token(&first), "tok-1");
    assert!(first.is_expired_at(SystemTime::now()));
    let second = provider.credentials(false).await.unwrap();
    assert_eq!(token(&second), "tok-2", "expired credentials are not reused");
    assert!(!second.is_expired_at(SystemTime::now()));
    assert_eq!(token(&provider.credentials(false).await.unwrap()), "tok-2", "valid until 2999: cached");
    assert_eq!(runs(tmp.path()), 2);
}

#[tokio::test]
async fn concurrent_callers_share_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        "sleep 0.3\n{COUNT}printf '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\
         \"status\":{{\"token\":\"tok-%s\"}}}}' $n\n"
    );
    let provider = ExecCredentialProvider::new(plugin(tmp.path(), API_V1, &body), None);
    let all = futures::future::join_all((0..8).map(|i| provider.credentials(i % 2 == 0))).await;
    for c in all {
        assert_eq!(token(&c.unwrap()), "tok-1");
    }
    assert_eq!(runs(tmp.path()), 1, "callers waiting on a run use its result");
}

#[tokio::test]
async fn client_certificate_output() {
    let tmp = tempfile::tempdir().unwrap();
    let body = r#"printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientCertificateData":"-----BEGIN CERTIFICATE-----\\nCERT\\n-----END CERTIFICATE-----\\n","clientKeyData":"-----BEGIN PRIVATE KEY-----\\nKEYSECRET\\n-----END PRIVATE KEY-----\\n","expirationTimestamp":"2999-01-01T00:00:00+01:00"}}'
"#;
    let provider = ExecCredentialProvider::new(plugin(tmp.path(), API_V1, body), None);
    let c = provider.credentials(false).await.unwrap();
    assert!(c.token.is_none());
    assert_eq!(
        c.client_certificate_pem.as_deref(),
        Some(&b"-----BEGIN CERTIFICATE-----\nCERT\n-----END CERTIFICATE-----\n"[..])
    );
    assert!(std::str::from_utf8(c.client_key_pem.as_ref().unwrap().expose()).unwrap().contains("KEYSECRET"));
    let expected: SystemTime = "2998-12-31T23:00:00Z".parse::<jiff::Timestamp>().unwrap().into();
    assert_eq!(c.expiration, Some(expected));
    assert!(!format!("{c:?}").contains("KEYSECRET"));
}

#[tokio::test]
async fn exec_info_carries_cluster_info_and_interactive_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let kc = Kubeconfig::from_yaml(
        r#"
current-context: c
clusters:
- name: k
  cluster:
    server: https://k.example:6443
    certificate-authority-data: Q0EgUEVN
    tls-server-name: k.internal
    proxy-url: http://proxy:3128
    extensions:
    - {name: client.authentication.k8s.io/exec, extension: {audience: rudder}}
users:
- name: u
  user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: sh, interactiveMode: Never, provideClusterInfo: true}}
contexts:
- name: c
  context: {cluster: k, user: u}
"#,
    )
    .unwrap();
    let mut config = Config::from_custom_kubeconfig(kc, &KubeconfigOptions::default()).unwrap();
    let body = r#"printf '%s' "$KUBERNETES_EXEC_INFO" > "$STATE_DIR/info.json"
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t"}}'
"#;
    let from_test = plugin(tmp.path(), API_V1, body);
    let exec = config.auth.exec.as_mut().unwrap();
    exec.args = from_test.args;
    exec.env = from_test.env;
    let provider = config.exec_provider().unwrap();
    provider.credentials(false).await.unwrap();
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("info.json")).unwrap()).unwrap();
    assert_eq!(
        info,
        serde_json::json!({
            "apiVersion": "client.authentication.k8s.io/v1",
            "kind": "ExecCredential",
            "spec": {
                "interactive": false,
                "cluster": {
                    "server": "https://k.example:6443",
                    "certificate-authority-data": "Q0EgUEVN",
                    "tls-server-name": "k.internal",
                    "proxy-url": "http://proxy:3128",
                    "config": {"audience": "rudder"},
                }
            }
        })
    );

    // Without provideClusterInfo there is no spec.cluster; IfAvailable follows the terminal.
    let mut cfg = plugin(tmp.path(), API_V1, body);
    cfg.interactive_mode = Some("IfAvailable".into());
    let provider = ExecCredentialProvider::new(cfg, None);
    provider.credentials(false).await.unwrap();
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("info.json")).unwrap()).unwrap();
    assert_eq!(info["spec"], serde_json::json!({"interactive": std::io::stdin().is_terminal()}));
}

#[tokio::test]
async fn missing_command_shows_install_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = plugin(tmp.path(), API_V1, "");
    cfg.command = "rudder-test-no-such-credential-plugin".into();
    cfg.install_hint = Some("Install it with: brew install rudder-plugin".into());
    let err = ExecCredentialProvider::new(cfg, None).credentials(false).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ConfigError::Exec(_)), "{msg}");
    assert!(msg.contains("rudder-test-no-such-credential-plugin") && msg.contains("not found"), "{msg}");
    assert!(msg.contains("brew install rudder-plugin"), "{msg}");
}

#[tokio::test]
async fn failing_command_reports_exit_status_and_truncated_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    let body = "echo 'error: the SSO session has expired' >&2\nhead -c 10000 /dev/zero | tr '\\0' x >&2\nexit 3\n";
    let err = ExecCredentialProvider::new(plugin(tmp.path(), API_V1, body), None).credentials(false).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("the SSO session has expired"), "{msg}");
    assert!(msg.contains('3'), "{msg}");
    assert!(msg.contains("truncated") && msg.len() < 3000, "stderr must be truncated: {} bytes", msg.len());
}

#[tokio::test]
async fn bad_output_and_version_mismatch_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let err = ExecCredentialProvider::new(plugin(tmp.path(), API_V1, "echo not-json\n"), None)
        .credentials(false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not an ExecCredential JSON"), "{err}");

    let body = r#"printf '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"t"}}'"#;
    let err = ExecCredentialProvider::new(plugin(tmp.path(), API_V1, body), None).credentials(false).await.unwrap_err();
    assert!(err.to_string().contains("apiVersion") && err.to_string().contains("v1beta1"), "{err}");

    let err = ExecCredentialProvider::new(plugin(tmp.path(), "client.authentication.k8s.io/v2", body), None)
        .credentials(false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unsupported apiVersion"), "{err}");

    let mut cfg = plugin(tmp.path(), API_V1, body);
    cfg.interactive_mode = None;
    let err = ExecCredentialProvider::new(cfg, None).credentials(false).await.unwrap_err();
    assert!(err.to_string().contains("interactiveMode must be set"), "{err}");

    if !std::io::stdin().is_terminal() {
        let mut cfg = plugin(tmp.path(), API_V1, body);
        cfg.interactive_mode = Some("Always".into());
        let err = ExecCredentialProvider::new(cfg, None).credentials(false).await.unwrap_err();
        assert!(err.to_string().contains("not a terminal"), "{err}");
    }
}

#[tokio::test]
async fn failures_are_not_cached() {
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        "{COUNT}if [ $n -eq 1 ]; then echo first run fails >&2; exit 1; fi\n\
         printf '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\
         \"status\":{{\"token\":\"tok-%s\"}}}}' $n\n"
    );
    let provider = ExecCredentialProvider::new(plugin(tmp.path(), API_V1, &body), None);
    let err = provider.credentials(false).await.unwrap_err();
    assert!(err.to_string().contains("first run fails"), "{err}");
    assert_eq!(token(&provider.credentials(false).await.unwrap()), "tok-2");
}

#[tokio::test]
async fn slow_plugin_times_out() {
    let tmp = tempfile::tempdir().unwrap();
    let provider = ExecCredentialProvider::new(plugin(tmp.path(), API_V1, "sleep 5\n"), None)
        .with_timeout(Duration::from_millis(200));
    let started = std::time::Instant::now();
    let err = provider.credentials(false).await.unwrap_err();
    assert!(
        matches!(err, ConfigError::ExecTimeout { ref command, timeout } if command == "sh"
        && timeout == Duration::from_millis(200)),
        "{err:?}"
    );
    assert!(err.to_string().contains("did not finish"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn exec_config_debug_hides_env_values() {
    let cfg = ExecConfig {
        api_version: API_V1.into(),
        command: "aws".into(),
        env: vec![("AWS_SECRET_ACCESS_KEY".into(), "ENVSECRET".into())],
        ..ExecConfig::default()
    };
    let text = format!("{cfg:?}");
    assert!(text.contains("AWS_SECRET_ACCESS_KEY") && !text.contains("ENVSECRET"), "{text}");
}

/// A v1 plugin running `body` after recording its pid in `$STATE_DIR/pid`.
fn pid_plugin(dir: &Path, body: &str) -> ExecConfig {
    plugin(dir, API_V1, &format!("echo $$ > \"$STATE_DIR/pid\"\n{body}"))
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
    let provider = ExecCredentialProvider::new(pid_plugin(tmp.path(), &padded_credential(MAX_OUTPUT_BYTES)), None)
        .with_timeout(Duration::from_secs(20));
    let creds = provider.credentials(false).await.unwrap();
    assert_eq!(creds.token.unwrap().expose(), "tok-secret");
}

#[tokio::test]
async fn output_over_the_limit_is_refused_and_the_plugin_killed() {
    let tmp = tempfile::tempdir().unwrap();
    // One byte too many, then the plugin stays alive: only a kill ends it before the deadline.
    let body = format!("{}exec sleep 30\n", padded_credential(MAX_OUTPUT_BYTES + 1));
    let mut cfg = pid_plugin(tmp.path(), &body);
    cfg.args.push("ARGSECRET".into());
    let provider = ExecCredentialProvider::new(cfg, None).with_timeout(Duration::from_secs(20));
    let err = provider.credentials(false).await.unwrap_err();
    let (msg, debug) = (err.to_string(), format!("{err:?}"));
    assert!(
        matches!(err, ConfigError::ExecOutputTooLarge { ref command, limit } if command == "sh"
            && limit == MAX_OUTPUT_BYTES),
        "{debug}"
    );
    assert!(msg.contains(&format!("more than {MAX_OUTPUT_BYTES} bytes")) && msg.contains("killed"), "{msg}");
    for text in [&msg, &debug] {
        assert!(
            !text.contains("tok-secret") && !text.contains("plugin.sh") && !text.contains("ARGSECRET"),
            "the error shows output or args: {text}"
        );
    }
    assert!(plugin_stopped(tmp.path()), "the plugin is still running");
}

#[tokio::test]
async fn plugin_that_never_exits_hits_the_deadline_and_is_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = pid_plugin(tmp.path(), "exec sleep 30\n");
    cfg.args.push("ARGSECRET".into());
    cfg.env.push(("PLUGIN_PASSWORD".into(), "ENVSECRET".into()));
    let provider = ExecCredentialProvider::new(cfg, None).with_timeout(Duration::from_millis(300));
    let err = provider.credentials(false).await.unwrap_err();
    let (msg, debug) = (err.to_string(), format!("{err:?}"));
    assert!(
        matches!(err, ConfigError::ExecTimeout { ref command, timeout } if command == "sh"
            && timeout == Duration::from_millis(300)),
        "{debug}"
    );
    assert!(msg.contains("did not finish within 300ms") && msg.contains("killed"), "{msg}");
    for text in [&msg, &debug] {
        assert!(
            !text.contains("plugin.sh") && !text.contains("ARGSECRET") && !text.contains("ENVSECRET"),
            "the error shows the args or env: {text}"
        );
    }
    assert!(plugin_stopped(tmp.path()), "the plugin is still running");
}

#[tokio::test]
async fn a_flood_on_stderr_neither_blocks_the_plugin_nor_fills_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    // 4 MiB on stderr before the credential: the plugin blocks unless stderr is drained.
    let body = format!("head -c 4194304 /dev/zero | tr '\\0' e >&2\n{}", padded_credential(200));
    let provider =
        ExecCredentialProvider::new(pid_plugin(tmp.path(), &body), None).with_timeout(Duration::from_secs(20));
    assert_eq!(provider.credentials(false).await.unwrap().token.unwrap().expose(), "tok-secret");

    let body = "head -c 4194304 /dev/zero | tr '\\0' e >&2\nexit 2\n";
    let err = ExecCredentialProvider::new(pid_plugin(tmp.path(), body), None)
        .with_timeout(Duration::from_secs(20))
        .credentials(false)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("truncated") && msg.len() < 3000, "stderr must be cut: {} bytes", msg.len());
}

/// A plugin that forks `(child) &` (a grandchild, with the plugin's stdout open, whose pid is
/// recorded in `$STATE_DIR/grandchild`), then runs `rest`.
#[cfg(unix)]
fn forking_plugin(dir: &Path, child: &str, rest: &str) -> ExecConfig {
    let record = r#"echo $! > "$STATE_DIR/grandchild.tmp" && mv "$STATE_DIR/grandchild.tmp" "$STATE_DIR/grandchild""#;
    pid_plugin(dir, &format!("({child}) &\n{record}\n{rest}"))
}

/// Waits (up to 10 s) until the grandchild the plugin recorded is gone or a zombie.
#[cfg(unix)]
async fn grandchild_gone(dir: &Path) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let pid = loop {
        match std::fs::read_to_string(dir.join("grandchild")) {
            Ok(pid) => break pid.trim().to_string(),
            Err(_) if std::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => panic!("the plugin never recorded its grandchild: {e}"),
        }
    };
    assert!(pid.parse::<u32>().is_ok_and(|p| p > 1), "bad pid {pid:?}");
    loop {
        let gone = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        };
        if gone {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            // Do not leave it behind for the rest of the run.
            let _ = std::process::Command::new("kill").args(["-9", &pid]).status();
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_plugin_past_its_deadline_is_killed_with_its_children() {
    let tmp = tempfile::tempdir().unwrap();
    // The plugin waits for its grandchild, which holds stdout open: only the deadline ends it.
    let provider = ExecCredentialProvider::new(forking_plugin(tmp.path(), "exec sleep 300", "wait\n"), None)
        .with_timeout(Duration::from_secs(1));
    let err = provider.credentials(false).await.unwrap_err();
    assert!(matches!(err, ConfigError::ExecTimeout { .. }), "{err:?}");
    assert!(plugin_stopped(tmp.path()), "the plugin is still running");
    assert!(grandchild_gone(tmp.path()).await, "the plugin's child survived it");
}

#[cfg(unix)]
#[tokio::test]
async fn a_plugin_whose_child_floods_stdout_is_killed_with_its_children() {
    let tmp = tempfile::tempdir().unwrap();
    // The plugin exits at once; its child (once recorded) prints too much and lives on.
    let flood = format!(
        "while [ ! -e \"$STATE_DIR/grandchild\" ]; do sleep 0.01; done\n{}exec sleep 300",
        padded_credential(MAX_OUTPUT_BYTES + 1)
    );
    let provider =
        ExecCredentialProvider::new(forking_plugin(tmp.path(), &flood, ""), None).with_timeout(Duration::from_secs(20));
    let err = provider.credentials(false).await.unwrap_err();
    assert!(matches!(err, ConfigError::ExecOutputTooLarge { .. }), "{err:?}");
    assert!(grandchild_gone(tmp.path()).await, "the plugin's child survived it");
}

#[cfg(unix)]
#[tokio::test]
async fn a_cancelled_run_kills_the_plugin_with_its_children() {
    let tmp = tempfile::tempdir().unwrap();
    let provider = ExecCredentialProvider::new(forking_plugin(tmp.path(), "exec sleep 300", "wait\n"), None)
        .with_timeout(Duration::from_secs(60));
    let mut run = Box::pin(provider.credentials(false));
    // Drop the run once the grandchild is there (the caller gave up, e.g. its request timed out).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !tmp.path().join("grandchild").exists() && std::time::Instant::now() < deadline {
        assert!(tokio::time::timeout(Duration::from_millis(20), &mut run).await.is_err(), "the run ended");
    }
    drop(run);
    assert!(grandchild_gone(tmp.path()).await, "the plugin's child survived it");
}
