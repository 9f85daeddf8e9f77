//! The CRD operator example (`examples/crontab_operator.rs`) against the embedded server: a
//! CronTab gets its controlled Job, its schedule entry and a Ready status; scaling it through
//! the scale subresource reaches the Job and the status; deleting it runs the finalizer (the
//! schedule entry goes) and the garbage collector (the Job goes).

#[path = "../examples/crontab_operator.rs"]
#[allow(dead_code)]
mod example;

use k8s_openapi::api::batch::v1::Job;
use rudder::client::api::Api;
use rudder::controller::{CancellationToken, Manager};
use rudder_apiserver::ApiServer;

#[tokio::test]
async fn the_operator_reconciles_scales_and_cleans_up_through_finalizer_and_gc() {
    let server = ApiServer::start().await.expect("server");
    let client = server.client();
    assert!(example::install_crd(&client).await.expect("CRD installed"), "the CRD is new");
    let mut manager = Manager::new(client.clone()).handle_signals(false);
    example::add_to(&mut manager);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(manager.run(shutdown.clone()));

    for name in ["first", "second"] {
        if let Err(e) = example::drive_and_check(&client, "default", name).await {
            panic!("{name}: {e}");
        }
    }
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    assert!(jobs.list(&Default::default()).await.expect("jobs").items.is_empty(), "no Job is left");

    shutdown.cancel();
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(30), running).await;
    stopped.expect("the manager stops").expect("task").expect("clean shutdown");
}
