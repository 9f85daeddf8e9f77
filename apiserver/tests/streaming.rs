//! The embedded server's `pods/exec` and `pods/portforward` handshakes as a raw WebSocket
//! client sees them: subprotocol negotiation (403 with an empty body for an offer the server
//! does not speak, as x/net/websocket answers), 400 for an upgrade that is not a WebSocket
//! handshake, the v4 protocol's JSON status, and the `create` verb the authorizer is asked.

use std::sync::{Arc, Mutex};

use futures::{SinkExt, StreamExt};
use rudder_apiserver::authz::{AuthorizationAttributes, Decision};
use rudder_apiserver::ApiServer;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

async fn server_with_pod(builder: rudder_apiserver::ApiServerBuilder) -> ApiServer {
    let s = builder.start().await.expect("server starts");
    let pods: rudder_client::api::Api<k8s_openapi::api::core::v1::Pod> =
        rudder_client::api::Api::namespaced(s.client(), "default");
    let p = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"nodeName": "n1", "containers": [{"name": "main", "image": "busybox",
            "ports": [{"containerPort": 8080}]}]}}))
    .unwrap();
    pods.create(&Default::default(), &p).await.unwrap();
    s
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// Opens a WebSocket to `path` offering `protocols`; the handshake's result.
async fn open(s: &ApiServer, path: &str, protocols: &str) -> Result<(Ws, Option<String>), WsError> {
    let url = format!("ws://{}{path}", s.url().authority().unwrap());
    let mut req = url.into_client_request().unwrap();
    if !protocols.is_empty() {
        req.headers_mut().insert("Sec-WebSocket-Protocol", protocols.parse().unwrap());
    }
    let tcp = TcpStream::connect(s.url().authority().unwrap().as_str()).await.unwrap();
    let (ws, resp) = tokio_tungstenite::client_async(req, tcp).await?;
    let chosen = resp.headers().get("Sec-WebSocket-Protocol").map(|v| v.to_str().unwrap().to_string());
    Ok((ws, chosen))
}

/// Every binary message until the server closes, as (channel, data).
async fn drain(ws: &mut Ws) -> Vec<(u8, Vec<u8>)> {
    let mut got = Vec::new();
    while let Some(Ok(m)) = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next()).await.unwrap() {
        if let Message::Binary(b) = m {
            got.push((b[0], b[1..].to_vec()));
        }
    }
    got
}

const EXEC: &str =
    "/api/v1/namespaces/default/pods/web/exec?command=sh&command=-c&command=echo+hi%3B+exit+2&stdout=true";

#[tokio::test]
async fn an_unsupported_subprotocol_is_403_with_an_empty_body() {
    let s = server_with_pod(ApiServer::builder()).await;
    match open(&s, EXEC, "v9.channel.k8s.io").await {
        Err(WsError::Http(resp)) => {
            assert_eq!(resp.status(), 403);
            assert!(resp.body().as_ref().is_none_or(|b| b.is_empty()));
        }
        other => panic!("expected 403, got {:?}", other.map(|(_, p)| p)),
    }
    // The base64 variants are not served either.
    assert!(open(&s, EXEC, "v4.base64.channel.k8s.io").await.is_err());
}

#[tokio::test]
async fn v4_is_negotiated_when_offered_alone_and_carries_a_json_status() {
    let s = server_with_pod(ApiServer::builder()).await;
    let (mut ws, chosen) = open(&s, EXEC, "v4.channel.k8s.io").await.unwrap();
    assert_eq!(chosen.as_deref(), Some("v4.channel.k8s.io"));
    let got = drain(&mut ws).await;
    // The kubelet's "connection established": one empty message on stdout first.
    assert_eq!(got[0], (1, vec![]));
    assert_eq!(got[1], (1, b"hi\n".to_vec()));
    let (ch, status) = got.last().unwrap();
    assert_eq!(*ch, 3);
    let status: Value = serde_json::from_slice(status).unwrap();
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0], json!({"reason": "ExitCode", "message": "2"}));
    assert_eq!(status["metadata"], json!({}));
}

#[tokio::test]
async fn the_client_order_wins_and_no_offer_means_the_plain_channel_protocol() {
    let s = server_with_pod(ApiServer::builder()).await;
    let (_ws, chosen) = open(&s, EXEC, "v4.channel.k8s.io, v5.channel.k8s.io").await.unwrap();
    assert_eq!(chosen.as_deref(), Some("v4.channel.k8s.io"));
    let (mut ws, chosen) = open(&s, EXEC, "").await.unwrap();
    assert_eq!(chosen, None);
    // channel.k8s.io: the error channel carries text, not a Status.
    let got = drain(&mut ws).await;
    let (ch, text) = got.last().unwrap();
    assert_eq!(*ch, 3);
    assert!(String::from_utf8_lossy(text).starts_with("command terminated with non-zero exit code"));
}

#[tokio::test]
async fn v5_close_signal_ends_stdin() {
    let s = server_with_pod(ApiServer::builder()).await;
    let path = "/api/v1/namespaces/default/pods/web/exec?command=cat&stdin=true&stdout=true";
    let (mut ws, _) = open(&s, path, "v5.channel.k8s.io").await.unwrap();
    ws.send(Message::Binary(b"\x00abc".to_vec().into())).await.unwrap();
    ws.send(Message::Binary(vec![255, 0].into())).await.unwrap();
    let got = drain(&mut ws).await;
    let out: Vec<u8> = got.iter().filter(|(c, _)| *c == 1).flat_map(|(_, d)| d.clone()).collect();
    assert_eq!(out, b"abc");
    assert_eq!(got.last().unwrap(), &(3, br#"{"metadata":{},"status":"Success"}"#.to_vec()));
}

#[tokio::test]
async fn a_plain_spdy_upgrade_is_400_and_options_are_checked_first() {
    let s = server_with_pod(ApiServer::builder()).await;
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let send = |path: &str, upgrade: &str| {
        let req = http::Request::get(format!("{}{}", s.url().to_string().trim_end_matches('/'), path))
            .header("Connection", "Upgrade")
            .header("Upgrade", upgrade)
            .body(http_body_util::Empty::new())
            .unwrap();
        http.request(req)
    };
    assert_eq!(send(EXEC, "SPDY/3.1").await.unwrap().status(), 400);
    let no_command = "/api/v1/namespaces/default/pods/web/exec?stdout=true";
    let resp = send(no_command, "websocket").await.unwrap();
    assert_eq!(resp.status(), 400);
    let no_stream = "/api/v1/namespaces/default/pods/web/exec?command=ls";
    assert_eq!(send(no_stream, "websocket").await.unwrap().status(), 400);
    let missing = "/api/v1/namespaces/default/pods/nope/portforward?ports=80";
    assert_eq!(send(missing, "websocket").await.unwrap().status(), 404);
}

#[tokio::test]
async fn the_authorizer_is_asked_for_create_on_the_subresource() {
    let seen: Arc<Mutex<Vec<AuthorizationAttributes>>> = Arc::default();
    let seen2 = seen.clone();
    let builder = ApiServer::builder().authorizer(move |a: &AuthorizationAttributes| {
        if a.subresource == "exec" {
            seen2.lock().unwrap().push(a.clone());
            return Decision::Deny("no exec for you".into());
        }
        Decision::Allow
    });
    let s = server_with_pod(builder).await;
    match open(&s, EXEC, "v5.channel.k8s.io").await {
        Err(WsError::Http(resp)) => {
            assert_eq!(resp.status(), 403);
            let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap_or_default()).unwrap();
            assert_eq!(
                body["message"],
                "pods \"web\" is forbidden: User \"system:anonymous\" cannot create resource \"pods/exec\" in API group \"\" in the namespace \"default\": no exec for you"
            );
        }
        other => panic!("expected 403, got {:?}", other.map(|(_, p)| p)),
    }
    let seen = seen.lock().unwrap();
    assert_eq!((seen[0].verb.as_str(), seen[0].name.as_str()), ("create", "web"));
}
