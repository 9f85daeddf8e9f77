//! The request-metrics hooks count as client-go's `rest_client_requests_total` (every attempt,
//! `<error>` when no response came) and `rest_client_request_duration_seconds` (one per
//! ordinary request, retries included) count, with the host as the only location label.

mod transport_support;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rudder_client::metrics::{Attempt, RequestDone, RequestMetrics};
use rudder_client::transport::RequestKind;
use rudder_client::Client;
use transport_support::{get, request, respond, serve_closing, serve_http};

#[derive(Default)]
struct Recorded {
    attempts: Mutex<Vec<(String, String, String)>>,
    requests: Mutex<Vec<(String, String, Duration)>>,
}

impl RequestMetrics for Recorded {
    fn attempt(&self, a: &Attempt<'_>) {
        self.attempts.lock().push((a.code_label(), a.method.to_owned(), a.host.to_owned()));
    }
    fn request(&self, r: &RequestDone<'_>) {
        self.requests.lock().push((r.method.to_owned(), r.host.to_owned(), r.duration));
    }
}

fn client(url: http::Uri, max_retries: u32, timeout: Option<Duration>) -> (Client, Arc<Recorded>) {
    let mut c = transport_support::config(url, None);
    c.max_retries = max_retries;
    c.timeout = timeout;
    let client = Client::new(c).unwrap();
    let rec = Arc::new(Recorded::default());
    client.set_request_metrics(rec.clone());
    (client, rec)
}

fn attempts(rec: &Recorded) -> Vec<(String, String, String)> {
    rec.attempts.lock().clone()
}

fn row(code: &str, method: &str, host: &str) -> (String, String, String) {
    (code.to_owned(), method.to_owned(), host.to_owned())
}

#[tokio::test(start_paused = true)]
async fn every_attempt_is_counted_and_the_request_timed_once_retries_included() {
    let server =
        serve_http(Arc::new(|_, n| if n == 0 { respond(503, &[("retry-after", "1")]) } else { respond(201, &[]) }))
            .await;
    let (client, rec) = client(server.http_url(), 3, None);
    let host = server.addr.to_string();
    // User info in the URL never reaches a label.
    let url: http::Uri =
        format!("http://user:s3cret@{host}/api/v1/namespaces/default/pods?labelSelector=x").parse().unwrap();
    let resp = client.send(request("POST", url), RequestKind::Normal).await.unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(attempts(&rec), [row("503", "POST", &host), row("201", "POST", &host)]);
    let requests = rec.requests.lock().clone();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!((requests[0].0.as_str(), requests[0].1.as_str()), ("POST", host.as_str()));
    assert!(requests[0].2 >= Duration::from_secs(1), "the retry's wait is part of the request: {requests:?}");
}

#[tokio::test(start_paused = true)]
async fn an_attempt_without_a_response_is_an_error() {
    let server = serve_closing().await;
    let (client, rec) = client(server.http_url(), 1, None);
    let host = server.addr.to_string();
    client.send(get(server.url("http", "/api")), RequestKind::Normal).await.unwrap_err();
    assert_eq!(attempts(&rec), [row("<error>", "GET", &host), row("<error>", "GET", &host)]);
    assert_eq!(rec.requests.lock().len(), 1);
}

#[tokio::test]
async fn a_request_cut_by_its_deadline_is_still_counted() {
    // A server that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            conns.push(tcp);
        }
    });
    let url: http::Uri = format!("http://{addr}").parse().unwrap();
    let (client, rec) = client(url, 0, Some(Duration::from_millis(100)));
    let err = client.send(get(format!("http://{addr}/api").parse().unwrap()), RequestKind::Normal).await.unwrap_err();
    assert!(matches!(err, rudder_client::Error::Timeout { .. }), "{err:?}");
    assert_eq!(attempts(&rec), [row("<error>", "GET", &addr.to_string())]);
    assert_eq!(rec.requests.lock().len(), 1);
    hold.abort();
}

#[tokio::test]
async fn a_watch_attempt_is_counted_but_not_timed() {
    let server = serve_http(Arc::new(|_, _| respond(200, &[]))).await;
    let (client, rec) = client(server.http_url(), 0, None);
    let resp = client.send(get(server.url("http", "/api/v1/pods?watch=true")), RequestKind::LongRunning).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(attempts(&rec), [row("200", "GET", &server.addr.to_string())]);
    assert!(rec.requests.lock().is_empty());
}
