//! The pager against the embedded API server over a real socket.
#![cfg(feature = "testing")]

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use rudder_apimachinery::{HasMetadata, ListOptions};
use rudder_client::api::Api;
use rudder_client::pager::{Pager, PagerEvent};
use rudder_client::testing::ApiServer;
use serde_json::json;

async fn with_configmaps(n: usize) -> (ApiServer, Api<ConfigMap>) {
    let s = ApiServer::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(s.client(), "default");
    for i in 0..n {
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": format!("cm-{i:03}")}})).unwrap();
        cms.create(&Default::default(), &cm).await.unwrap();
    }
    (s, cms)
}

#[tokio::test]
async fn collect_all_pages_through_everything() {
    let (_s, cms) = with_configmaps(23).await;
    let all = Pager::new(cms.clone()).page_size(5).collect_all(&ListOptions::default()).await.unwrap();
    let names: Vec<String> = all.items.iter().map(|c| c.name().to_string()).collect();
    let want: Vec<String> = (0..23).map(|i| format!("cm-{i:03}")).collect();
    assert_eq!(names, want);
    assert!(!all.resource_version().is_empty());
    assert!(all.continue_token().is_none());
    // The default page size covers it in one page.
    assert_eq!(Pager::new(cms).collect_all(&ListOptions::default()).await.unwrap().items.len(), 23);
}

#[tokio::test]
async fn stream_yields_items_then_done() {
    let (_s, cms) = with_configmaps(12).await;
    let events: Vec<_> = Pager::new(cms).page_size(5).stream(&ListOptions::default()).collect().await;
    let items = events.iter().filter(|e| matches!(e, Ok(PagerEvent::Item(_)))).count();
    assert_eq!(items, 12);
    assert!(matches!(events.last(), Some(Ok(PagerEvent::Done { resource_version })) if !resource_version.is_empty()));
    assert!(!events.iter().any(|e| matches!(e, Ok(PagerEvent::Restarted))));
}
