//! `Api<Pod>::exec` / `attach` against the embedded API server over real sockets (TLS and a
//! bearer token, as against a cluster): stdout/stderr separation, stdin with close, exit codes,
//! TTY resize, failures before and after the upgrade, and cancellation.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use rudder_apiserver::ApiServer;
use rudder_client::api::Api;
use rudder_client::remote::{ExecOptions, ExitStatus, TerminalSize};
use rudder_client::Error;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(10);

async fn setup() -> (ApiServer, Api<Pod>) {
    let s = ApiServer::builder().tls().token("exec-test-token").start().await.expect("server starts");
    let pods: Api<Pod> = Api::namespaced(s.client(), "default");
    for (name, node, containers) in [
        ("web", "node-1", json!([{"name": "main", "image": "busybox", "env": [{"name": "GREETING", "value": "hi"}]}])),
        ("two", "node-1", json!([{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}])),
        ("pending", "", json!([{"name": "main", "image": "busybox"}])),
    ] {
        let mut spec = json!({"containers": containers});
        if !node.is_empty() {
            spec["nodeName"] = json!(node);
        }
        let p: Pod = serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap();
        pods.create(&Default::default(), &p).await.unwrap();
    }
    (s, pods)
}

async fn read_all(mut r: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut s = String::new();
    tokio::time::timeout(WAIT, r.read_to_string(&mut s)).await.expect("output ends").expect("output reads");
    s
}

#[tokio::test]
async fn stdout_and_stderr_are_separate_and_the_exit_code_is_typed() {
    let (_s, pods) = setup().await;
    let script = "echo out; echo err >&2; echo $GREETING; exit 3";
    let mut p = pods.exec("web", ["sh", "-c", script], &ExecOptions::default()).await.unwrap();
    assert_eq!(p.protocol(), "v5.channel.k8s.io");
    let (out, err) = (p.stdout().unwrap(), p.stderr().unwrap());
    let (out, err) = tokio::join!(read_all(out), read_all(err));
    assert_eq!(out, "out\nhi\n");
    assert_eq!(err, "err\n");
    let status = p.status().await.unwrap();
    assert_eq!(status, ExitStatus::Code(3));
    assert!(!status.success());

    let p = pods.exec("web", ["true"], &ExecOptions::default()).await.unwrap();
    assert!(p.status().await.unwrap().success());
}

#[tokio::test]
async fn stdin_is_delivered_and_closing_it_ends_cat() {
    let (_s, pods) = setup().await;
    let mut p = pods.exec("web", ["cat"], &ExecOptions::default().stdin(true)).await.unwrap();
    let mut stdin = p.stdin().unwrap();
    let out = p.stdout().unwrap();
    let reader = tokio::spawn(read_all(out));
    let big = "x".repeat(200_000);
    stdin.write_all(b"hello\n").await.unwrap();
    stdin.write_all(big.as_bytes()).await.unwrap();
    stdin.shutdown().await.unwrap();
    let out = reader.await.unwrap();
    assert_eq!(out.len(), 6 + big.len());
    assert!(out.starts_with("hello\nxxx"));
    assert_eq!(tokio::time::timeout(WAIT, p.status()).await.unwrap().unwrap(), ExitStatus::Code(0));
}

#[tokio::test]
async fn a_tty_merges_stderr_and_receives_resizes() {
    let (s, pods) = setup().await;
    s.control().on_exec("default", "web", Some("main"), |req, mut io| async move {
        assert!(req.tty);
        let mut sizes = io.terminal_size.clone();
        let size = sizes.wait_for(|s| s.is_some_and(|s| s.width == 132)).await.map_err(|e| e.to_string())?.unwrap();
        io.stderr.write_all(format!("{}x{}\n", size.width, size.height).as_bytes()).await.map_err(|e| e.to_string())?;
        Ok(0)
    });
    let mut p = pods.exec("web", ["top"], &ExecOptions::default().tty(true)).await.unwrap();
    assert!(p.stderr().is_none(), "with a TTY stderr comes on stdout");
    let resize = p.resizer().unwrap();
    resize.send(TerminalSize { width: 80, height: 24 }).await.unwrap();
    resize.send(TerminalSize { width: 132, height: 43 }).await.unwrap();
    assert_eq!(read_all(p.stdout().unwrap()).await, "132x43\n");
    assert!(p.status().await.unwrap().success());
}

#[tokio::test]
async fn a_command_that_cannot_run_is_a_failed_status() {
    let (_s, pods) = setup().await;
    let p = pods.exec("web", ["no-such-binary"], &ExecOptions::default()).await.unwrap();
    match p.status().await.unwrap() {
        ExitStatus::Failed(s) => {
            assert_eq!(s.reason, "InternalError");
            assert!(s.message.contains("executable file not found"), "{}", s.message);
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn the_pod_registry_checks_come_before_the_upgrade() {
    let (_s, pods) = setup().await;
    let status = |e: Error| match e {
        Error::Api { status, .. } => *status,
        e => panic!("expected an API error, got {e}"),
    };
    let e = status(pods.exec("nope", ["true"], &ExecOptions::default()).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    let e = status(pods.exec("pending", ["true"], &ExecOptions::default()).await.unwrap_err());
    assert_eq!((e.code, e.message.as_str()), (400, "pod pending does not have a host assigned"));
    let e = status(pods.exec("two", ["true"], &ExecOptions::default()).await.unwrap_err());
    assert_eq!(e.message, "a container name must be specified for pod two, choose one of: [a b]");
    let e = status(pods.exec("two", ["true"], &ExecOptions::default().container("c")).await.unwrap_err());
    assert_eq!(e.message, "container c is not valid for pod two");
    let p = pods.exec("two", ["hostname"], &ExecOptions::default().container("b")).await.unwrap();
    assert!(p.status().await.unwrap().success());
}

#[tokio::test]
async fn errors_never_show_the_command_line() {
    let (_s, pods) = setup().await;
    let e = pods.exec("nope", ["echo", "s3cr3t-argument"], &ExecOptions::default()).await.unwrap_err();
    assert!(!format!("{e} {e:?}").contains("s3cr3t"), "{e:?}");
}

/// Sets its flag when dropped (the process future was dropped: the session ended).
struct Dropped(Option<tokio::sync::oneshot::Sender<()>>);
impl Drop for Dropped {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

#[tokio::test]
async fn dropping_the_process_closes_everything() {
    let (s, pods) = setup().await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    s.control().on_exec("default", "web", None, move |_req, mut io| {
        let guard = Dropped(tx.lock().unwrap().take());
        async move {
            let _guard = guard;
            io.stdout.write_all(b"started\n").await.map_err(|e| e.to_string())?;
            std::future::pending::<()>().await;
            Ok(0)
        }
    });
    let mut p = pods.exec("web", ["sleep", "3600"], &ExecOptions::default()).await.unwrap();
    let mut out = p.stdout().unwrap();
    let mut line = [0u8; 8];
    tokio::time::timeout(WAIT, out.read_exact(&mut line)).await.unwrap().unwrap();
    drop(p);
    tokio::time::timeout(WAIT, rx).await.expect("the server ended the process").unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(WAIT, out.read_to_end(&mut rest)).await.expect("stdout ends");
    assert!(rest.is_empty());
}

#[tokio::test]
async fn attach_connects_to_the_registered_process() {
    let (s, pods) = setup().await;
    s.control().on_attach("default", "web", None, |_req, mut io| async move {
        let mut line = String::new();
        io.stdin.read_to_string(&mut line).await.map_err(|e| e.to_string())?;
        io.stdout.write_all(line.to_uppercase().as_bytes()).await.map_err(|e| e.to_string())?;
        Ok(7)
    });
    let mut p = pods.attach("web", &ExecOptions::default().stdin(true)).await.unwrap();
    let mut stdin = p.stdin().unwrap();
    stdin.write_all(b"attached\n").await.unwrap();
    drop(stdin);
    assert_eq!(read_all(p.stdout().unwrap()).await, "ATTACHED\n");
    // A real attach carries no exit code.
    assert!(p.status().await.unwrap().success());
}
