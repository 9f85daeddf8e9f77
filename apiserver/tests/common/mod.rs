//! Raw-HTTP helpers for the embedded API server tests.
#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

pub use rudder_apiserver::ApiServer;

/// A raw HTTP client bound to one server.
pub struct Http {
    pub base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// A complete response.
#[derive(Debug)]
pub struct Resp {
    pub code: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Http {
    pub fn new(server: &ApiServer) -> Self {
        let base = server.url().to_string().trim_end_matches('/').to_string();
        Http { base, client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()) }
    }

    pub async fn raw(&self, method: &str, path: &str, ct: Option<&str>, body: &str) -> http::Response<Incoming> {
        let mut b = http::Request::builder().method(method).uri(format!("{}{}", self.base, path));
        b = b.header("user-agent", "rudder-test/1.0");
        if let Some(ct) = ct {
            b = b.header("content-type", ct);
        }
        let req = b.body(Full::new(Bytes::from(body.to_string()))).unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .expect("request timed out")
            .unwrap()
    }

    pub async fn req(&self, method: &str, path: &str, ct: Option<&str>, body: &str) -> Resp {
        let r = self.raw(method, path, ct, body).await;
        let code = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes =
            tokio::time::timeout(Duration::from_secs(10), r.into_body().collect()).await.unwrap().unwrap().to_bytes();
        Resp { code, headers, body: String::from_utf8(bytes.to_vec()).unwrap() }
    }

    /// A GET with an `Accept` header.
    pub async fn get_accept(&self, path: &str, accept: &str) -> Resp {
        let req = http::Request::get(format!("{}{}", self.base, path))
            .header("user-agent", "rudder-test/1.0")
            .header("accept", accept)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let r = tokio::time::timeout(Duration::from_secs(10), self.client.request(req)).await.unwrap().unwrap();
        let code = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        Resp { code, headers, body: String::from_utf8(bytes.to_vec()).unwrap() }
    }

    /// Polls GET `path` until `ok` holds for its JSON answer (every 20 ms, at most 5 s);
    /// fails the test naming `what` and the last answer otherwise.
    pub async fn eventually(&self, path: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let r = self.get(path).await;
            let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            if ok(&v) {
                return v;
            }
            assert!(tokio::time::Instant::now() < deadline, "{what}: never happened; last answer: {}", r.body);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.req("GET", path, None, "").await
    }
    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.req("POST", path, Some("application/json"), &body.to_string()).await
    }
    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.req("PUT", path, Some("application/json"), &body.to_string()).await
    }
    pub async fn patch(&self, path: &str, ct: &str, body: &Value) -> Resp {
        self.req("PATCH", path, Some(ct), &body.to_string()).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.req("DELETE", path, None, "").await
    }

    /// Opens a watch with an `Accept` header and returns a line reader.
    pub async fn watch_accept(&self, path: &str, accept: &str) -> Lines {
        let req = http::Request::get(format!("{}{}", self.base, path))
            .header("accept", accept)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let r = tokio::time::timeout(Duration::from_secs(10), self.client.request(req)).await.unwrap().unwrap();
        assert_eq!(r.status().as_u16(), 200, "watch {path}");
        Lines { body: r.into_body(), buf: Vec::new(), ended: false }
    }

    /// Opens a watch and returns a line reader.
    pub async fn watch(&self, path: &str) -> Lines {
        let r = self.raw("GET", path, None, "").await;
        assert_eq!(r.status().as_u16(), 200, "watch {path}");
        Lines { body: r.into_body(), buf: Vec::new(), ended: false }
    }
}

/// Reads a streamed body line by line.
pub struct Lines {
    body: Incoming,
    buf: Vec<u8>,
    pub ended: bool,
}

impl Lines {
    /// The next line as JSON, or None at the end of the body; panics after `secs`.
    pub async fn next_within(&mut self, secs: f64) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(serde_json::from_slice(&line).unwrap());
            }
            if self.ended {
                return None;
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame()).await.expect("no watch event in time");
            match frame {
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        self.buf.extend_from_slice(&d);
                    }
                }
                _ => self.ended = true,
            }
        }
    }

    pub async fn next(&mut self) -> Value {
        self.next_within(5.0).await.expect("watch ended")
    }

    /// Asserts nothing arrives for `secs`.
    pub async fn quiet(&mut self, secs: f64) {
        if self.buf.contains(&b'\n') {
            panic!("unexpected event: {}", String::from_utf8_lossy(&self.buf));
        }
        if let Ok(Some(Ok(f))) = tokio::time::timeout(Duration::from_secs_f64(secs), self.body.frame()).await {
            if let Ok(d) = f.into_data() {
                panic!("unexpected event: {}", String::from_utf8_lossy(&d));
            }
        }
    }
}

pub fn cm(name: &str, labels: Value) -> Value {
    serde_json::json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":name,"labels":labels},"data":{"k":"v"}})
}

/// The condition of type `kind` in an object's `status.conditions` (fails the test without one).
pub fn condition<'a>(v: &'a Value, kind: &str) -> &'a Value {
    v["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
        .unwrap_or_else(|| panic!("no {kind} condition in {}", v["status"]))
}
