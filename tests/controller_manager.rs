//! The controller manager example (`examples/controller_manager.rs`) against the embedded
//! server: three replicas, one leader at a time by their metrics, the leader reconciles, and
//! stopping it hands over within the lease duration to a replica that then reconciles.

#[path = "../examples/controller_manager.rs"]
#[allow(dead_code)]
mod example;

use rudder_apiserver::ApiServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_elect_one_leader_and_hand_over_when_it_stops() {
    let server = ApiServer::start().await.expect("server");
    let client = server.client();
    assert!(example::crontab_operator::install_crd(&client).await.expect("CRD"), "new CRD");
    let replicas = match example::drive_and_check(&client, "default").await {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(replicas.len(), 2, "the stopped leader is gone");
    let leaders = {
        let mut n = 0;
        for r in &replicas {
            if example::leading(r.metrics, "default").await.expect("metrics") {
                n += 1;
            }
        }
        n
    };
    assert_eq!(leaders, 1, "exactly one of the remaining replicas leads");
    for r in replicas {
        r.stop().await.expect("clean stop");
    }
}
