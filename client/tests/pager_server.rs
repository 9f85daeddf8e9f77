//! The pager against the embedded API server over a real socket.

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use rudder_apimachinery::{HasMetadata, ListOptions};
use rudder_apiserver::ApiServer;
use rudder_client::api::Api;
use rudder_client::pager::{Pager, PagerEvent};
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

fn configmaps_gvr() -> rudder_apimachinery::GroupVersionResource {
    rudder_apimachinery::GroupVersionResource::new("", "v1", "configmaps")
}

/// Makes every continue token issued so far expire: one more change, then forget history.
fn expire_continue_tokens(s: &ApiServer) {
    s.control().insert_many(&configmaps_gvr(), vec![json!({"metadata": {"name": "late", "namespace": "default"}})]);
    s.control().compact();
}

#[tokio::test]
async fn stream_restarts_with_a_full_list_when_the_token_expires() {
    let (s, cms) = with_configmaps(12).await;
    let mut st = Box::pin(Pager::new(cms).page_size(5).stream(&ListOptions::default()));
    for _ in 0..5 {
        assert!(matches!(st.next().await, Some(Ok(PagerEvent::Item(_)))));
    }
    s.control().reset_counts();
    expire_continue_tokens(&s);
    assert!(matches!(st.next().await, Some(Ok(PagerEvent::Restarted))), "expired token restarts the listing");
    let mut names = Vec::new();
    let mut done = false;
    while let Some(ev) = st.next().await {
        match ev.unwrap() {
            PagerEvent::Item(c) => names.push(c.name().to_string()),
            PagerEvent::Done { .. } => done = true,
            PagerEvent::Restarted => panic!("restarted twice"),
        }
    }
    assert!(done);
    assert_eq!(names.len(), 13, "the full list, including the object added meanwhile: {names:?}");
    assert!(names.contains(&"late".to_string()));
    // The expired page 2, then one unlimited list.
    assert_eq!(s.control().request_count("list", "configmaps"), 2);
}

#[tokio::test]
async fn collect_all_falls_back_to_a_full_list_on_an_expired_token() {
    let (s, cms) = with_configmaps(40).await;
    s.control().set_latency(std::time::Duration::from_millis(15));
    let ctl = s.control();
    let task = tokio::spawn(async move { Pager::new(cms).page_size(1).collect_all(&ListOptions::default()).await });
    // Expire the tokens once two pages have been served (40 pages take ~600 ms).
    while ctl.request_count("list", "configmaps") < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    expire_continue_tokens(&s);
    let all = task.await.unwrap().expect("fallback list succeeds");
    let mut names: Vec<String> = all.items.iter().map(|c| c.name().to_string()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 41, "every object exactly once");
    assert_eq!(all.items.len(), 41, "no duplicates from the abandoned pages");
    assert!(ctl.request_count("list", "configmaps") < 40, "stopped paging after the fallback");
}

#[tokio::test]
async fn without_fallback_or_on_the_first_page_the_410_is_returned() {
    let (s, cms) = with_configmaps(12).await;
    let mut st =
        Box::pin(Pager::new(cms.clone()).page_size(5).full_list_if_expired(false).stream(&ListOptions::default()));
    for _ in 0..5 {
        st.next().await.unwrap().unwrap();
    }
    expire_continue_tokens(&s);
    let e = st.next().await.unwrap().unwrap_err();
    assert!(e.is_expired(), "{e}");
    assert!(st.next().await.is_none(), "the stream ends after an error");
    // A 410 on the first page is the caller's problem (its resourceVersion is too old).
    s.control().fail_next(1, "list", "configmaps", 410);
    let e = Pager::new(cms).page_size(5).collect_all(&ListOptions::default()).await.unwrap_err();
    assert!(e.is_expired(), "{e}");
}
