//! The proxy example: the rules it prints for kube-proxy's well-known services (chain names as a
//! real cluster shows them), and against the embedded server after each change of services and
//! endpoints.

#[path = "../examples/proxy.rs"]
#[allow(dead_code)]
mod example;

use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use rudder::apimachinery::Patch;
use rudder::client::api::Api;
use rudder::controller::CancellationToken;
use rudder_apiserver::ApiServer;
use serde_json::json;
use tokio::sync::watch;

const EMPTY: &str = "*filter\nCOMMIT\n*nat\nCOMMIT\n";

/// Chain names as kube-proxy computes them, checked against a real cluster's (`iptables-save`
/// of kubeadm clusters: the API service and kube-dns).
#[test]
fn chain_names_match_kube_proxy() {
    assert_eq!(example::hash16("default/kubernetes:httpstcp"), "NPX46M4PTMTKRN6Y");
    assert_eq!(example::hash16("kube-system/kube-dns:dnsudp"), "TCOU7JCQXEZGVUNU");
    assert_eq!(example::hash16("kube-system/kube-dns:dns-tcptcp"), "ERIFXISQEP7F7OF4");
}

#[test]
fn table_and_rules_are_pure_functions() {
    let dns: Service = serde_json::from_value(json!({
        "metadata": {"name": "kube-dns", "namespace": "kube-system"},
        "spec": {"clusterIP": "10.96.0.10", "selector": {"k8s-app": "kube-dns"}, "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]}
    }))
    .unwrap();
    // Two slices, one endpoint in both (kept once), a terminating one and one of another port.
    let slice = |name: &str, endpoints: serde_json::Value| -> EndpointSlice {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "kube-system",
                         "labels": {"kubernetes.io/service-name": "kube-dns"}},
            "addressType": "IPv4",
            "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}],
            "endpoints": endpoints
        }))
        .unwrap()
    };
    let a = slice("kube-dns-a", json!([{"addresses": ["10.244.0.5"]}]));
    let b = slice(
        "kube-dns-b",
        json!([{"addresses": ["10.244.0.5"], "conditions": {"ready": true}},
               {"addresses": ["10.244.0.6"], "conditions": {"ready": false, "serving": true, "terminating": true}}]),
    );
    let table = example::build_table([&dns], [&a, &b]);
    let rules = example::render(&table);
    let expected = "*filter
-A KUBE-SERVICES -m comment --comment \"kube-system/kube-dns:dns-tcp has no endpoints\" -m tcp -p tcp -d 10.96.0.10 --dport 53 -j REJECT
COMMIT
*nat
-A KUBE-SERVICES -m comment --comment \"kube-system/kube-dns:dns cluster IP\" -m udp -p udp -d 10.96.0.10 --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment \"kube-system/kube-dns:dns -> 10.244.0.5:53\" -j KUBE-SEP-LPGSDLJ3FDW46N4W
-A KUBE-SEP-LPGSDLJ3FDW46N4W -m comment --comment kube-system/kube-dns:dns -s 10.244.0.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-LPGSDLJ3FDW46N4W -m comment --comment kube-system/kube-dns:dns -m udp -p udp -j DNAT --to-destination 10.244.0.5:53
COMMIT
";
    assert_eq!(rules, expected);
    assert_eq!(example::render(&example::Table::new()), EMPTY);
}

const SVC: &str = "KUBE-SVC-CDGGSHYLG3RE2FKL";
const SEP_1_1: &str = "KUBE-SEP-5KQ7U4LVWRJCDUUN";
const SEP_1_2: &str = "KUBE-SEP-UIQK3OSOSTRHRPBX";
const SEP_2_1: &str = "KUBE-SEP-QS3PVI5TRG5S4ZJK";

/// The expected rules for `default/web:http` (10.96.0.20:80) with `endpoints` (ip, SEP chain)
/// and, when `metrics`, its endpoint-less `metrics` port.
fn web_rules(endpoints: &[(&str, &str)], metrics: bool) -> String {
    let mut filter = String::new();
    let reject = |port: &str, n: u16| {
        format!("-A KUBE-SERVICES -m comment --comment \"default/web:{port} has no endpoints\" -m tcp -p tcp -d 10.96.0.20 --dport {n} -j REJECT\n")
    };
    if endpoints.is_empty() {
        filter.push_str(&reject("http", 80));
    }
    if metrics {
        filter.push_str(&reject("metrics", 9090));
    }
    let mut nat = String::new();
    if !endpoints.is_empty() {
        nat.push_str(&format!("-A KUBE-SERVICES -m comment --comment \"default/web:http cluster IP\" -m tcp -p tcp -d 10.96.0.20 --dport 80 -j {SVC}\n"));
        let n = endpoints.len();
        for (i, (ip, sep)) in endpoints.iter().enumerate() {
            let stat = match n - i {
                1 => String::new(),
                2 => " -m statistic --mode random --probability 0.5000000000".into(),
                3 => " -m statistic --mode random --probability 0.3333333333".into(),
                _ => unreachable!(),
            };
            nat.push_str(&format!("-A {SVC} -m comment --comment \"default/web:http -> {ip}:8080\"{stat} -j {sep}\n"));
        }
        for (ip, sep) in endpoints {
            nat.push_str(&format!("-A {sep} -m comment --comment default/web:http -s {ip} -j KUBE-MARK-MASQ\n"));
            nat.push_str(&format!(
                "-A {sep} -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination {ip}:8080\n"
            ));
        }
    }
    format!("*filter\n{filter}COMMIT\n*nat\n{nat}COMMIT\n")
}

/// Waits until the published rules equal `expected`; on timeout fails showing both.
async fn expect_rules(rx: &mut watch::Receiver<String>, step: &str, expected: &str) {
    let reached =
        matches!(tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|r| r == expected)).await, Ok(Ok(_)));
    if !reached {
        let last = rx.borrow().clone();
        assert_eq!(last, expected, "rules after step {step:?}");
    }
}

#[tokio::test]
async fn rules_follow_services_and_endpoints() {
    let server = ApiServer::start().await.unwrap();
    let client = server.client();
    let services = Api::<Service>::namespaced(client.clone(), "default");
    let slices = Api::<EndpointSlice>::namespaced(client.clone(), "default");
    let (tx, mut rx) = watch::channel(String::new());
    let shutdown = CancellationToken::new();
    let opts = example::Options { min_sync_period: Duration::from_millis(20), ..Default::default() };
    let proxy = tokio::spawn(example::run(client.clone(), opts, tx, shutdown.clone()));
    let set_endpoints = |name: &'static str, eps: serde_json::Value| {
        let slices = slices.clone();
        async move { slices.patch(name, &Default::default(), &Patch::Merge(json!({"endpoints": eps}))).await.unwrap() }
    };
    let ready = |ip: &str| json!({"addresses": [ip], "conditions": {"ready": true}});

    expect_rules(&mut rx, "nothing yet", EMPTY).await;

    // A service without a selector and its hand-written slice: one endpoint.
    services.create(&Default::default(), &example::service("web", "10.96.0.20", "http", 80).unwrap()).await.unwrap();
    let web_a = example::slice("web-a", "web", "http", 8080, &[("10.244.1.1", true)]).unwrap();
    slices.create(&Default::default(), &web_a).await.unwrap();
    expect_rules(&mut rx, "one endpoint", &web_rules(&[("10.244.1.1", SEP_1_1)], false)).await;

    // Scaled up to three endpoints over two slices.
    set_endpoints("web-a", json!([ready("10.244.1.1"), ready("10.244.1.2")])).await;
    let web_b = example::slice("web-b", "web", "http", 8080, &[("10.244.2.1", true)]).unwrap();
    slices.create(&Default::default(), &web_b).await.unwrap();
    let three = [("10.244.1.1", SEP_1_1), ("10.244.1.2", SEP_1_2), ("10.244.2.1", SEP_2_1)];
    expect_rules(&mut rx, "three endpoints", &web_rules(&three, false)).await;

    // One not ready, one terminating (and no longer ready), one with no condition (ready).
    set_endpoints(
        "web-a",
        json!([{"addresses": ["10.244.1.1"]},
               {"addresses": ["10.244.1.2"], "conditions": {"ready": false, "terminating": true}}]),
    )
    .await;
    set_endpoints("web-b", json!([{"addresses": ["10.244.2.1"], "conditions": {"ready": false}}])).await;
    expect_rules(&mut rx, "two not ready", &web_rules(&[("10.244.1.1", SEP_1_1)], false)).await;

    // A headless service with a ready endpoint gets no rules; then web gains a port without
    // endpoints (written after the headless service, so the sync that shows it saw both).
    services.create(&Default::default(), &example::service("db", "None", "pg", 5432).unwrap()).await.unwrap();
    let db = example::slice("db-a", "db", "pg", 5432, &[("10.244.3.1", true)]).unwrap();
    slices.create(&Default::default(), &db).await.unwrap();
    let ports = json!({"spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"},
                                          {"name": "metrics", "port": 9090, "protocol": "TCP"}]}});
    services.patch("web", &Default::default(), &Patch::Merge(ports)).await.unwrap();
    expect_rules(&mut rx, "headless db, web:metrics", &web_rules(&[("10.244.1.1", SEP_1_1)], true)).await;

    // Scaled down to nothing: both ports REJECT.
    set_endpoints("web-a", json!([])).await;
    set_endpoints("web-b", json!([])).await;
    expect_rules(&mut rx, "no endpoints", &web_rules(&[], true)).await;

    // Deleted: nothing left (the headless service never had rules).
    services.delete("web", &Default::default()).await.unwrap();
    expect_rules(&mut rx, "web deleted", EMPTY).await;

    shutdown.cancel();
    proxy.await.unwrap().unwrap();
}
