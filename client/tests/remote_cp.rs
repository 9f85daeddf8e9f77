//! `Api<Pod>::copy_to_pod` / `copy_from_pod` (tar over exec, as kubectl cp) against the
//! embedded server's container file system, both directions, files and directories.

use k8s_openapi::api::core::v1::Pod;
use rudder_apiserver::ApiServer;
use rudder_client::api::Api;
use serde_json::json;

async fn setup() -> (ApiServer, Api<Pod>) {
    let s = ApiServer::start().await.expect("server starts");
    let pods: Api<Pod> = Api::namespaced(s.client(), "default");
    let p: Pod = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"nodeName": "n1", "containers": [{"name": "main", "image": "i"}]}}))
    .unwrap();
    pods.create(&Default::default(), &p).await.unwrap();
    (s, pods)
}

#[tokio::test]
async fn a_directory_goes_in_and_comes_back_out() {
    let (s, pods) = setup().await;
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("site");
    std::fs::create_dir_all(src.join("css")).unwrap();
    std::fs::write(src.join("index.html"), b"<h1>hi</h1>").unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(src.join("css/big.bin"), &big).unwrap();

    pods.copy_to_pod("web", None, &src, "/srv/www").await.unwrap();
    let files = s.control().container_files("default", "web", "main");
    assert_eq!(files.lock().read("/srv/www/index.html").unwrap(), b"<h1>hi</h1>");
    assert_eq!(files.lock().read("/srv/www/css/big.bin").unwrap(), big.as_slice());

    let back = local.path().join("back");
    pods.copy_from_pod("web", Some("main"), "/srv/www", &back).await.unwrap();
    assert_eq!(std::fs::read(back.join("index.html")).unwrap(), b"<h1>hi</h1>");
    assert_eq!(std::fs::read(back.join("css/big.bin")).unwrap(), big);
}

#[tokio::test]
async fn a_single_file_both_ways_and_a_missing_source_is_an_error() {
    let (s, pods) = setup().await;
    let local = tempfile::tempdir().unwrap();
    let f = local.path().join("note.txt");
    std::fs::write(&f, b"remember").unwrap();
    pods.copy_to_pod("web", None, &f, "/tmp/renamed.txt").await.unwrap();
    assert_eq!(
        s.control().container_files("default", "web", "main").lock().read("/tmp/renamed.txt").unwrap(),
        b"remember"
    );
    let out = local.path().join("out.txt");
    pods.copy_from_pod("web", None, "/tmp/renamed.txt", &out).await.unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), b"remember");

    let e = pods.copy_from_pod("web", None, "/nope", &local.path().join("x")).await.unwrap_err();
    assert!(e.to_string().contains("No such file or directory"), "{e}");
}
