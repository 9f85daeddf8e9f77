//! kubectl 1.32 as the judge of the embedded server's streaming endpoints: `kubectl exec`
//! (plain, `-i` with stdin, `-t`, exit codes), `kubectl attach`, `kubectl port-forward` with a
//! TCP client through it, and `kubectl cp` both ways. Skips without kubectl.

#[path = "common/kubectl.rs"]
mod kubectl;

use kubectl::Env;
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
    let kubeconfig = env.kubeconfig();
    let cmd = format!("stty cols 123 rows 45; kubectl --kubeconfig {} exec -it web -- stty size", kubeconfig.display());
    let out = tokio::time::timeout(
        env.timeout(),
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

/// A TCP server standing in for a container port: answers each read with `tag: ` + the bytes.
async fn echo_server(tag: &'static str) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = c.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let mut reply = format!("{tag}: ").into_bytes();
                    reply.extend_from_slice(&buf[..n]);
                    if c.write_all(&reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn kubectl_port_forward_tunnels_tcp_through_spdy_in_a_websocket() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let Some(env) = env_with_pod().await else { return };
    let pods: rudder_client::api::Api<k8s_openapi::api::core::v1::Pod> =
        rudder_client::api::Api::namespaced(env.server.client(), "default");
    // kubectl port-forward refuses pods that are not Running.
    pods.patch_status(
        "web",
        &Default::default(),
        &rudder_client::apimachinery::Patch::Merge(json!({"status": {"phase": "Running"}})),
    )
    .await
    .unwrap();
    env.server.control().forward_port("default", "web", 8080, echo_server("web").await);
    let mut child =
        env.command(&["port-forward", "pod/web", ":8080", ":9090"]).spawn().expect("kubectl port-forward starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut local = std::collections::HashMap::new();
    while local.len() < 2 {
        let line = tokio::time::timeout(env.timeout(), lines.next_line())
            .await
            .expect("kubectl port-forward reports its ports")
            .unwrap()
            .expect("kubectl port-forward is running");
        // "Forwarding from 127.0.0.1:41234 -> 8080"
        if let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:") {
            let (l, remote) = rest.split_once(" -> ").unwrap();
            local.insert(remote.trim().to_string(), l.parse::<u16>().unwrap());
        }
    }
    let timeout = env.timeout();
    let talk = |port: u16, msg: String| async move {
        let mut c = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        c.write_all(msg.as_bytes()).await.unwrap();
        let mut got = vec![0u8; msg.len() + 5];
        tokio::time::timeout(timeout, c.read_exact(&mut got)).await.expect("reply").unwrap();
        String::from_utf8(got).unwrap()
    };
    let replies = futures::future::join_all((0..4).map(|i| talk(local["8080"], format!("conn {i}\n")))).await;
    for (i, r) in replies.iter().enumerate() {
        assert_eq!(*r, format!("web: conn {i}\n"));
    }
    // Port 9090 has nothing behind it: the connection is closed and kubectl reports the error.
    let mut c = tokio::net::TcpStream::connect(("127.0.0.1", local["9090"])).await.unwrap();
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(timeout, c.read(&mut buf)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0);
    let _ = child.start_kill();
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error forwarding port 9090 to pod"), "{stderr}");
}

#[tokio::test]
async fn kubectl_cp_copies_both_ways_through_the_containers_tar() {
    let Some(env) = env_with_pod().await else { return };
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("conf");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("app.yaml"), "key: value\n").unwrap();
    std::fs::write(src.join("sub/data.bin"), vec![7u8; 100_000]).unwrap();

    let to = "web:/etc/app";
    let out = env.run(&["cp", src.to_str().unwrap(), to], None).await;
    assert!(out.ok, "{out:?}");
    let files = env.server.control().container_files("default", "web", "main");
    assert_eq!(files.lock().read("/etc/app/app.yaml").unwrap(), b"key: value\n");
    assert_eq!(files.lock().read("/etc/app/sub/data.bin").unwrap().len(), 100_000);

    let back = local.path().join("back");
    let out = env.run(&["cp", "web:/etc/app", back.to_str().unwrap()], None).await;
    assert!(out.ok, "{out:?}");
    assert_eq!(std::fs::read_to_string(back.join("app.yaml")).unwrap(), "key: value\n");
    assert_eq!(std::fs::read(back.join("sub/data.bin")).unwrap(), vec![7u8; 100_000]);

    // A single file, and one the container does not have.
    let out = env.run(&["cp", "web:/etc/app/app.yaml", local.path().join("one.yaml").to_str().unwrap()], None).await;
    assert!(out.ok, "{out:?}");
    assert_eq!(std::fs::read_to_string(local.path().join("one.yaml")).unwrap(), "key: value\n");
    // kubectl 1.32 creates nothing and exits 0; tar's complaint reaches its output only when
    // the goroutine printing the exec's stderr wins the race against kubectl's exit (it loses
    // on a loaded machine), so when there is output it must be that complaint.
    let out = env.run(&["cp", "web:/nope", local.path().join("x").to_str().unwrap()], None).await;
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(said.is_empty() || said.contains("/nope: Cannot stat: No such file or directory"), "{out:?}");
    assert!(!local.path().join("x").exists(), "nothing is created for a missing source");
}
