//! Authentication, the authorizer callback and the review APIs. No recording covers them; the
//! bodies follow kube-apiserver's sources: `responsewriters.ForbiddenStatusError` and
//! `apierrors.NewForbidden` for the 403, the `authorization.k8s.io/v1` and
//! `authentication.k8s.io/v1` review types for the answers (created, never stored).

mod common;
use common::*;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rudder_apiserver::authz::{AuthorizationAttributes, Decision};
use serde_json::{json, Value};

/// An HTTPS client trusting the server's CA, presenting a client certificate.
fn tls_client(
    ca: &str,
    identity: Option<(&str, &str)>,
) -> Client<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, Full<Bytes>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let cfg = match identity {
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(cert.as_bytes()).map(|c| c.unwrap()).collect();
            b.with_client_auth_cert(chain, PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap()).unwrap()
        }
        None => b.with_no_client_auth(),
    };
    let conn =
        hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(cfg).https_only().enable_all_versions().build();
    Client::builder(TokioExecutor::new()).build(conn)
}

const SSAR: &str = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

/// Denies listing pods (with a reason) and any access to secrets; allows everything else.
fn deny_pods(a: &AuthorizationAttributes) -> Decision {
    match (a.resource.as_str(), a.verb.as_str()) {
        ("pods", "list") => Decision::Deny("not on my watch".into()),
        ("pods", "get") | ("secrets", _) | ("deployments", _) => Decision::NoOpinion,
        _ => Decision::Allow,
    }
}

/// A request with a bearer token.
async fn with_token(s: &ApiServer, method: &str, path: &str, token: &str, body: &Value) -> Resp {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = http::Request::builder()
        .method(method)
        .uri(format!("{}{}", s.url().to_string().trim_end_matches('/'), path))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), client.request(req)).await.unwrap().unwrap();
    let code = r.status().as_u16();
    let headers = r.headers().clone();
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    Resp { code, headers, body: String::from_utf8(bytes.to_vec()).unwrap() }
}

fn ssar(verb: &str, resource: &str, ns: &str) -> Value {
    json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"namespace": ns, "verb": verb, "resource": resource}}})
}

#[tokio::test]
async fn without_an_authorizer_everything_is_allowed_and_the_user_is_anonymous() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let r = h.post(SSAR, &ssar("list", "pods", "default")).await;
    assert_eq!(r.code, 201, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "spec": {"resourceAttributes": {"namespace": "default", "verb": "list", "resource": "pods"}},
            "status": {"allowed": true}})
    );
    let r = h
        .post(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
        )
        .await;
    assert_eq!(r.code, 201, "{}", r.body);
    assert_eq!(
        r.json()["status"],
        json!({"userInfo": {"username": "system:anonymous", "groups": ["system:unauthenticated"]}})
    );
    // Create-only, stored nowhere, and listed by discovery with the create verb alone.
    assert_eq!(h.get(SSAR).await.code, 405);
    let d = h.get("/apis/authorization.k8s.io/v1").await.json();
    let res =
        d["resources"].as_array().unwrap().iter().find(|r| r["name"] == "selfsubjectaccessreviews").unwrap().clone();
    assert_eq!(res["verbs"], json!(["create"]));
    assert_eq!(res["kind"], "SelfSubjectAccessReview");
    let d = h.get("/apis/authentication.k8s.io/v1").await.json();
    let names: Vec<&str> = d["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"selfsubjectreviews") && names.contains(&"tokenreviews"), "{names:?}");
}

#[tokio::test]
async fn a_denying_authorizer_answers_the_real_403_and_the_reviews_agree() {
    let s = ApiServer::builder().token("t0ken").authorizer(deny_pods).start().await.unwrap();
    let r = with_token(&s, "GET", "/api/v1/namespaces/ns/pods", "t0ken", &Value::Null).await;
    assert_eq!(r.code, 403, "{}", r.body);
    assert_eq!(
        r.body,
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"pods is forbidden: User \\\"rudder-test\\\" cannot list resource \\\"pods\\\" in API group \\\"\\\" in the namespace \\\"ns\\\": not on my watch\",\"reason\":\"Forbidden\",\"details\":{\"kind\":\"pods\"},\"code\":403}\n"
    );
    let r = with_token(&s, "GET", "/api/v1/namespaces/default/pods/p1", "t0ken", &Value::Null).await;
    assert_eq!(r.code, 403);
    assert_eq!(
        r.json()["message"],
        "pods \"p1\" is forbidden: User \"rudder-test\" cannot get resource \"pods\" in API group \"\" in the namespace \"default\""
    );
    assert_eq!(r.json()["details"], json!({"name": "p1", "kind": "pods"}));
    let r = with_token(&s, "GET", "/apis/apps/v1/deployments", "t0ken", &Value::Null).await;
    assert_eq!(
        r.json()["message"],
        "deployments.apps is forbidden: User \"rudder-test\" cannot list resource \"deployments\" in API group \"apps\" at the cluster scope"
    );
    // Allowed requests go through; a bad token is still 401 before any authorization.
    assert_eq!(with_token(&s, "GET", "/api/v1/namespaces/default/configmaps", "t0ken", &Value::Null).await.code, 200);
    assert_eq!(with_token(&s, "GET", "/api/v1/namespaces/ns/pods", "wrong", &Value::Null).await.code, 401);

    let r = with_token(&s, "POST", SSAR, "t0ken", &ssar("list", "pods", "ns")).await;
    assert_eq!(r.code, 201, "{}", r.body);
    assert_eq!(r.json()["status"], json!({"allowed": false, "denied": true, "reason": "not on my watch"}));
    let r = with_token(&s, "POST", SSAR, "t0ken", &ssar("get", "secrets", "ns")).await;
    assert_eq!(r.json()["status"], json!({"allowed": false}));
    let r = with_token(&s, "POST", SSAR, "t0ken", &ssar("list", "configmaps", "ns")).await;
    assert_eq!(r.json()["status"], json!({"allowed": true}));
    // SubjectAccessReview asks about the spec's user.
    let sar = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": "alice", "groups": ["dev"], "resourceAttributes": {"verb": "list", "resource": "pods", "namespace": "x"}}});
    let r = with_token(&s, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", "t0ken", &sar).await;
    assert_eq!(r.code, 201, "{}", r.body);
    assert_eq!(r.json()["status"]["allowed"], false);
    assert_eq!(r.json()["spec"]["user"], "alice");
    // The token's user, and TokenReview of the server's token and of another.
    let r = with_token(&s, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", "t0ken", &json!({})).await;
    assert_eq!(
        r.json()["status"]["userInfo"],
        json!({"username": "rudder-test", "groups": ["system:masters", "system:authenticated"]})
    );
    let tr = |token: &str| json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}});
    let r = with_token(&s, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", "t0ken", &tr("t0ken")).await;
    assert_eq!(r.code, 201, "{}", r.body);
    assert_eq!(r.json()["status"]["authenticated"], true);
    assert_eq!(r.json()["status"]["user"]["username"], "rudder-test");
    let r = with_token(&s, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", "t0ken", &tr("nope")).await;
    assert_eq!(r.json()["status"], json!({"user": {}}));
    let r = with_token(&s, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", "t0ken", &tr("")).await;
    assert_eq!(r.code, 400);
    assert_eq!(r.json()["message"], "token is required for TokenReview in authentication");
}

#[tokio::test]
async fn client_certificates_name_the_user_the_authorizer_sees() {
    let s = ApiServer::builder()
        .client_cert_auth()
        .authorizer(|a: &AuthorizationAttributes| {
            if a.user.name == "bob" && a.user.groups.iter().any(|g| g == "team") {
                Decision::Allow
            } else {
                Decision::NoOpinion
            }
        })
        .start()
        .await
        .unwrap();
    let list = |user: &'static str| {
        let (cert, key) = s.issue_client_cert(user, &["team"]).unwrap().unwrap();
        let client = tls_client(s.ca_pem().unwrap(), Some((&cert, &key)));
        let url = format!("{}api/v1/namespaces/default/configmaps", s.url());
        async move {
            let r = client.request(http::Request::get(url).body(Full::new(Bytes::new())).unwrap()).await.unwrap();
            let code = r.status().as_u16();
            let body = r.into_body().collect().await.unwrap().to_bytes();
            (code, String::from_utf8_lossy(&body).into_owned())
        }
    };
    assert_eq!(list("bob").await.0, 200);
    let (code, body) = list("eve").await;
    assert_eq!(code, 403);
    assert!(
        body.contains(
            r#"User \"eve\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"default\""#
        ),
        "{body}"
    );
}
