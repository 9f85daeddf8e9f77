//! Runs a command in a pod's container, prints what it wrote to stdout and stderr, and its
//! exit code (what `kubectl exec` does).
//!
//! ```text
//! cargo run --example exec -- [POD [COMMAND...]]
//! ```
//!
//! On a cluster (the current kubeconfig) POD and COMMAND are required and the pod is in the
//! context's namespace. Without one, an embedded API server runs a demo pod whose container
//! knows a few shell built-ins (`echo`, `cat`, `env`, `sh -c`, `ls`, `tar`, `exit N`, ...), and
//! the default command writes to both streams and exits with 3.

mod common;

use k8s_openapi::api::core::v1::Pod;
use rudder_client::api::Api;
use rudder_client::remote::{ExecOptions, ExitStatus};
use tokio::io::AsyncReadExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let conn = common::connect().await?;
    let pods: Api<Pod> = Api::default_namespaced(conn.client.clone());
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--yes").collect();
    let (pod, command) = match (args.split_first(), conn.server.is_some()) {
        (Some((pod, cmd)), _) if !cmd.is_empty() => (pod.clone(), cmd.to_vec()),
        (_, true) => {
            let demo: Pod = serde_json::from_value(serde_json::json!({
                "metadata": {"name": "demo"},
                "spec": {"nodeName": "node-1", "containers": [{"name": "main", "image": "busybox",
                    "env": [{"name": "GREETING", "value": "hello from the demo pod"}]}]}
            }))?;
            pods.create(&Default::default(), &demo).await?;
            let script = "echo $GREETING; echo 'and this goes to stderr' >&2; exit 3";
            ("demo".to_string(), vec!["sh".into(), "-c".into(), script.into()])
        }
        _ => return Err("usage: exec POD COMMAND [ARGS...]".into()),
    };

    println!("$ exec {pod} -- {}", command.join(" "));
    let mut process = pods.exec(&pod, command, &ExecOptions::default()).await?;
    let (mut stdout, mut stderr) =
        (process.stdout().expect("asked for stdout"), process.stderr().expect("asked for stderr"));
    let (mut out, mut err) = (String::new(), String::new());
    // Read both streams at once: a process blocks when an unread stream's buffer is full.
    let (o, e) = tokio::join!(stdout.read_to_string(&mut out), stderr.read_to_string(&mut err));
    o?;
    e?;
    print!("stdout: {out}");
    print!("stderr: {err}");
    match process.status().await? {
        ExitStatus::Code(code) => println!("exit code: {code}"),
        ExitStatus::Failed(status) => println!("failed: {} ({})", status.message, status.reason),
    }
    Ok(())
}
