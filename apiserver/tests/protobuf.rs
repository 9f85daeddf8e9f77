//! The embedded server speaks Kubernetes' protobuf encoding as kube-apiserver does (no
//! recordings of protobuf bodies exist in `testdata/recorded`; the expectations follow
//! k8s.io/apiserver `endpoints/handlers/negotiation` and `rest.go` `transformDecodeError`,
//! apimachinery's protobuf serializer, and apiextensions-apiserver's CRD handler, which leaves
//! protobuf out of a custom resource's standard serializers).

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::ApiServer;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use rudder_client::apimachinery::protobuf;
use serde_json::{json, Value};

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
const CMS: &str = "/api/v1/namespaces/default/configmaps";

struct Raw {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

struct Answer {
    code: u16,
    content_type: String,
    body: Bytes,
}

impl Answer {
    fn value(&self) -> Value {
        if self.content_type.starts_with(PROTOBUF) {
            protobuf::from_slice(&self.body).unwrap_or_else(|e| panic!("not protobuf ({e}): {:?}", self.body))
        } else {
            serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
        }
    }
}

impl Raw {
    fn new(s: &ApiServer) -> Self {
        Raw {
            base: s.url().to_string().trim_end_matches('/').to_string(),
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        }
    }

    async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
        let mut b = http::Request::builder().method(method).uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(Full::new(Bytes::from(body))).unwrap();
        let r = tokio::time::timeout(Duration::from_secs(10), self.client.request(req)).await.unwrap().unwrap();
        let code = r.status().as_u16();
        let content_type = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let body =
            tokio::time::timeout(Duration::from_secs(10), r.into_body().collect()).await.unwrap().unwrap().to_bytes();
        Answer { code, content_type, body }
    }

    async fn get(&self, path: &str, accept: &str) -> Answer {
        self.send("GET", path, &[("accept", accept)], Vec::new()).await
    }

    async fn post_protobuf(&self, path: &str, v: &Value) -> Answer {
        let body = protobuf::to_vec(v).unwrap();
        self.send("POST", path, &[("content-type", PROTOBUF), ("accept", "application/json")], body).await
    }
}

fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"a": "b"}},
        "data": {"k": "v", "empty": ""}})
}

#[tokio::test]
async fn protobuf_bodies_create_and_update_like_json() {
    let s = ApiServer::start().await.unwrap();
    let h = Raw::new(&s);
    let created = h.post_protobuf(CMS, &cm("pb")).await;
    assert_eq!((created.code, created.content_type.as_str()), (201, "application/json"), "{:?}", created.body);
    let same_by_json = h
        .send("POST", CMS, &[("content-type", "application/json")], serde_json::to_vec(&cm("js")).unwrap())
        .await
        .value();
    let pb = created.value();
    assert_eq!((&pb["data"], &pb["metadata"]["labels"]), (&same_by_json["data"], &same_by_json["metadata"]["labels"]));
    assert_eq!(pb["data"], json!({"k": "v", "empty": ""}));

    // Update through protobuf too (a PUT with the resourceVersion read back).
    let mut next = pb.clone();
    next["data"]["k"] = json!("w");
    let put =
        h.send("PUT", &format!("{CMS}/pb"), &[("content-type", PROTOBUF)], protobuf::to_vec(&next).unwrap()).await;
    assert_eq!(put.code, 200, "{:?}", put.body);
    assert_eq!(put.value()["data"]["k"], "w");

    // Not an envelope, a broken envelope, another kind: the real 400s.
    let junk = h.send("POST", CMS, &[("content-type", PROTOBUF)], b"{\"kind\":\"ConfigMap\"}".to_vec()).await;
    assert_eq!(junk.code, 400);
    assert_eq!(
        junk.value()["message"],
        "the object provided is unrecognized (must be of type ConfigMap): provided data does not appear to be a \
         protobuf message, expected prefix [107 56 115 0] ({\"kind\":\"ConfigMap\"})"
    );
    let mut truncated = protobuf::to_vec(&cm("t")).unwrap();
    truncated.truncate(truncated.len() - 3);
    let broken = h.send("POST", CMS, &[("content-type", PROTOBUF)], truncated).await;
    assert_eq!(broken.code, 400);
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}});
    let wrong = h.post_protobuf(CMS, &secret).await;
    assert_eq!(wrong.code, 400);
    assert_eq!(
        wrong.value()["message"],
        "Secret in version \"v1\" cannot be handled as a ConfigMap: converting (Secret) to (ConfigMap): unknown conversion"
    );
    // Unknown media types stay 415.
    let csv = h.send("POST", CMS, &[("content-type", "text/csv")], b"a,b".to_vec()).await;
    assert_eq!(csv.code, 415);
}

async fn crontabs(h: &Raw) -> &'static str {
    let crd = json!({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
        "metadata":{"name":"crontabs.stable.example.com"},
        "spec":{"group":"stable.example.com","scope":"Namespaced","names":{"plural":"crontabs","kind":"CronTab"},
            "versions":[{"name":"v1","served":true,"storage":true,
                "schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}});
    let body = serde_json::to_vec(&crd).unwrap();
    let r = h
        .send(
            "POST",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            &[("content-type", "application/json")],
            body,
        )
        .await;
    assert_eq!(r.code, 201);
    let path = "/apis/stable.example.com/v1/namespaces/default/crontabs";
    let c = json!({"apiVersion":"stable.example.com/v1","kind":"CronTab","metadata":{"name":"c"},"spec":{"x":1}});
    let r = h.send("POST", path, &[("content-type", "application/json")], serde_json::to_vec(&c).unwrap()).await;
    assert_eq!(r.code, 201);
    path
}

#[tokio::test]
async fn custom_resources_refuse_protobuf_and_fall_back_to_json() {
    let s = ApiServer::start().await.unwrap();
    let h = Raw::new(&s);
    let path = crontabs(&h).await;
    // Protobuf only: 406, in JSON.
    let only = h.get(path, PROTOBUF).await;
    assert_eq!((only.code, only.content_type.as_str()), (406, "application/json"));
    assert_eq!(
        only.value()["message"],
        "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf"
    );
    // client-go's default for protobuf clients: JSON is the fallback.
    let both = h.get(&format!("{path}/c"), "application/vnd.kubernetes.protobuf, application/json").await;
    assert_eq!((both.code, both.content_type.as_str()), (200, "application/json"));
    assert_eq!(both.value()["spec"]["x"], 1);
    // A protobuf body for a custom resource: the real server's decode error (the envelope's
    // kind is taken from the body; the CRD's Unstructured has no protobuf unmarshaller).
    let mut envelope = protobuf::MAGIC.to_vec();
    envelope.extend(
        protobuf::Unknown { api_version: "stable.example.com/v1", kind: "CronTab", raw: b"", ..Default::default() }
            .encode()
            .get(4..)
            .unwrap(),
    );
    let create = h.send("POST", path, &[("content-type", PROTOBUF)], envelope).await;
    assert_eq!(create.code, 400);
    assert_eq!(
        create.value()["message"],
        "CronTab in version \"v1\" cannot be handled as a CronTab: object *unstructured.Unstructured does not \
         implement the protobuf marshalling interface and cannot be encoded to a protobuf message"
    );
}

#[tokio::test]
async fn built_in_answers_come_in_protobuf_when_asked() {
    let s = ApiServer::start().await.unwrap();
    let h = Raw::new(&s);
    for i in 0..3 {
        assert_eq!(h.post_protobuf(CMS, &cm(&format!("c{i}"))).await.code, 201);
    }
    let accept = "application/vnd.kubernetes.protobuf, application/json";
    let one = h.get(&format!("{CMS}/c1"), accept).await;
    assert_eq!((one.code, one.content_type.as_str()), (200, PROTOBUF));
    assert_eq!(&one.body[..4], b"k8s\0");
    let json_one = h.get(&format!("{CMS}/c1"), "application/json").await.value();
    assert_eq!(one.value(), json_one);

    let list = h.get(CMS, accept).await;
    assert_eq!(list.content_type, PROTOBUF);
    let list = list.value();
    assert_eq!(list["kind"], "ConfigMapList");
    let names: Vec<&str> =
        list["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["c0", "c1", "c2"]);
    assert_eq!(list["items"][0]["data"]["k"], "v");
    // Item for item what the JSON list holds (the protobuf list encodes each stored object once
    // and reuses it).
    let json_list = h.get(CMS, "application/json").await.value();
    assert_eq!((&list["items"], &list["metadata"]), (&json_list["items"], &json_list["metadata"]));
    let again = h.get(CMS, accept).await.value();
    assert_eq!(again, list);

    // Errors are protobuf Status.
    let missing = h.get(&format!("{CMS}/nope"), accept).await;
    assert_eq!((missing.code, missing.content_type.as_str()), (404, PROTOBUF));
    let status = missing.value();
    assert_eq!((status["kind"].as_str(), status["reason"].as_str()), (Some("Status"), Some("NotFound")));
    assert_eq!(status["message"], "configmaps \"nope\" not found");

    // Tables stay JSON.
    let table = h.get(CMS, "application/json;as=Table;v=v1;g=meta.k8s.io, application/vnd.kubernetes.protobuf").await;
    assert_eq!(table.content_type, "application/json");
    assert_eq!(table.value()["kind"], "Table");
    // Metadata-only lists come in protobuf too.
    let partial =
        h.get(CMS, "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1").await;
    assert_eq!(partial.content_type, PROTOBUF);
    let partial = partial.value();
    assert_eq!(partial["kind"], "PartialObjectMetadataList");
    assert_eq!(partial["items"][2]["metadata"]["name"], "c2");
    assert!(partial["items"][2].get("data").is_none());
}

#[tokio::test]
async fn watches_in_protobuf_are_length_prefixed_watch_events() {
    let s = ApiServer::start().await.unwrap();
    let h = Raw::new(&s);
    assert_eq!(h.post_protobuf(CMS, &cm("first")).await.code, 201);
    let req = http::Request::get(format!("{}{CMS}?watch=true&allowWatchBookmarks=true", h.base))
        .header("accept", "application/vnd.kubernetes.protobuf;stream=watch, application/json")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), h.client.request(req)).await.unwrap().unwrap();
    assert_eq!(r.headers()["content-type"], "application/vnd.kubernetes.protobuf;stream=watch");
    let mut body = r.into_body();
    let frames = protobuf::FrameDecoder::new(protobuf::DEFAULT_MAX_FRAME);
    let mut buf = bytes::BytesMut::new();
    let mut next = async || -> Value {
        loop {
            if let Some(frame) = frames.decode(&mut buf).unwrap() {
                return protobuf::from_watch_frame(&frame).unwrap();
            }
            let f = tokio::time::timeout(Duration::from_secs(5), body.frame()).await.unwrap().unwrap().unwrap();
            buf.extend_from_slice(&f.into_data().unwrap());
        }
    };
    let added = next().await;
    assert_eq!((added["type"].as_str(), added["object"]["metadata"]["name"].as_str()), (Some("ADDED"), Some("first")));
    assert_eq!(added["object"]["kind"], "ConfigMap");
    assert_eq!(added["object"], h.get(&format!("{CMS}/first"), "application/json").await.value());
    assert_eq!(h.post_protobuf(CMS, &cm("second")).await.code, 201);
    let second = next().await;
    assert_eq!((second["type"].as_str(), second["object"]["data"]["k"].as_str()), (Some("ADDED"), Some("v")));
    let deleted = h.send("DELETE", &format!("{CMS}/first"), &[], Vec::new()).await;
    assert_eq!(deleted.code, 200);
    let gone = next().await;
    assert_eq!((gone["type"].as_str(), gone["object"]["metadata"]["name"].as_str()), (Some("DELETED"), Some("first")));

    // A compacted resourceVersion: one ERROR frame holding the 410 Status.
    s.control().compact();
    let old = h.get(&format!("{CMS}?watch=true&resourceVersion=1"), PROTOBUF).await;
    assert_eq!(old.content_type, "application/vnd.kubernetes.protobuf;stream=watch");
    let mut buf = bytes::BytesMut::from(&old.body[..]);
    let frame = frames.decode(&mut buf).unwrap().unwrap();
    let err: Value = protobuf::from_watch_frame(&frame).unwrap();
    assert_eq!((err["type"].as_str(), err["object"]["code"].as_i64()), (Some("ERROR"), Some(410)));
}
