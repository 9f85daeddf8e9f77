//! Retries, rate limiting and timeouts, over real loopback sockets (time-driven parts on
//! tokio's paused clock).

mod transport_support;

use std::sync::Arc;
use std::time::Duration;

use rudder_client::transport::rate_limit::RateLimiter;
use rudder_client::transport::{RequestKind, Transport};
use rudder_client::Error;
use tokio::time::Instant;
use transport_support::{get, ok, request, respond, serve_closing, serve_http};

fn config(url: http::Uri, max_retries: u32) -> rudder_client::Config {
    let mut c = transport_support::config(url, None);
    c.max_retries = max_retries;
    // The paused clock would otherwise jump to the request timeout while sockets are busy.
    c.timeout = None;
    c
}

#[tokio::test(start_paused = true)]
async fn retry_after_429_is_honoured() {
    let server =
        serve_http(Arc::new(|_, n| if n < 2 { respond(429, &[("retry-after", "3")]) } else { respond(200, &[]) }))
            .await;
    let t = Transport::new(&config(server.http_url(), 10)).unwrap();
    let start = Instant::now();
    let resp = t.send(get(server.url("http", "/api")), RequestKind::Normal).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(server.seen().len(), 3);
    assert!(start.elapsed() >= Duration::from_secs(6), "waited {:?}", start.elapsed());
}

#[tokio::test(start_paused = true)]
async fn post_is_retried_on_retry_after_500() {
    let server =
        serve_http(Arc::new(|_, n| if n == 0 { respond(500, &[("retry-after", "1")]) } else { respond(201, &[]) }))
            .await;
    let t = Transport::new(&config(server.http_url(), 10)).unwrap();
    let start = Instant::now();
    let resp = t.send(request("POST", server.url("http", "/api")), RequestKind::Normal).await.unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(server.seen().len(), 2);
    assert!(start.elapsed() >= Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_retries_and_returns_the_last_response() {
    let server = serve_http(Arc::new(|_, _| respond(503, &[("retry-after", "1")]))).await;
    let t = Transport::new(&config(server.http_url(), 2)).unwrap();
    let resp = t.send(get(server.url("http", "/api")), RequestKind::Normal).await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(server.seen().len(), 3, "one attempt plus two retries");
}

#[tokio::test(start_paused = true)]
async fn errors_without_retry_after_are_not_retried() {
    let server = serve_http(Arc::new(|_, n| if n == 0 { respond(500, &[]) } else { respond(429, &[]) })).await;
    let t = Transport::new(&config(server.http_url(), 10)).unwrap();
    assert_eq!(t.send(get(server.url("http", "/a")), RequestKind::Normal).await.unwrap().status(), 500);
    assert_eq!(t.send(get(server.url("http", "/a")), RequestKind::Normal).await.unwrap().status(), 429);
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn connection_reset_is_retried_for_get_and_reported() {
    let server = serve_closing().await;
    let t = Transport::new(&config(server.http_url(), 2)).unwrap();
    let start = Instant::now();
    let err = t.send(get(server.url("http", "/api")), RequestKind::Normal).await.unwrap_err();
    match &err {
        Error::RetriesExhausted { attempts, earlier, last } => {
            assert_eq!(*attempts, 3);
            assert_eq!(earlier.len(), 2);
            assert!(earlier.iter().all(|e| e.contains(&server.addr.to_string())), "{earlier:?}");
            assert!(last.is_connect(), "{last:?}");
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
    assert!(err.is_connect());
    assert_eq!(*server.accepted.lock(), 3);
    assert!(start.elapsed() >= Duration::from_secs(2), "1 s between connection retries");
}

#[tokio::test(start_paused = true)]
async fn watch_establishment_is_retried_after_a_reset() {
    let server = serve_closing().await;
    let t = Transport::new(&config(server.http_url(), 1)).unwrap();
    let err = t.send(get(server.url("http", "/api/v1/pods?watch=1")), RequestKind::LongRunning).await.unwrap_err();
    assert!(matches!(err, Error::RetriesExhausted { attempts: 2, .. }), "{err:?}");
    assert_eq!(*server.accepted.lock(), 2);
}

#[tokio::test(start_paused = true)]
async fn connection_reset_is_not_retried_for_post() {
    let server = serve_closing().await;
    let t = Transport::new(&config(server.http_url(), 5)).unwrap();
    let err = t.send(request("POST", server.url("http", "/api")), RequestKind::Normal).await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert_eq!(*server.accepted.lock(), 1);
}

#[tokio::test(start_paused = true)]
async fn connection_refused_is_retried_for_get() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url: http::Uri = format!("http://127.0.0.1:{port}/api").parse().unwrap();
    let t = Transport::new(&config(url.clone(), 1)).unwrap();
    let err = t.send(get(url), RequestKind::Normal).await.unwrap_err();
    assert!(matches!(&err, Error::RetriesExhausted { attempts: 2, .. }), "{err:?}");
    assert!(err.to_string().to_lowercase().contains("refused"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn rate_limiter_bursts_then_paces() {
    let limiter = RateLimiter::new(5.0, 10);
    let start = Instant::now();
    for _ in 0..10 {
        limiter.acquire().await;
    }
    assert_eq!(start.elapsed(), Duration::ZERO, "the burst passes at once");
    for i in 1..=5u32 {
        limiter.acquire().await;
        let want = Duration::from_millis(200) * i;
        let got = start.elapsed();
        assert!(got >= want && got < want + Duration::from_millis(5), "request {}: {got:?}", 10 + i);
    }
    // Idle time refills the bucket, up to the burst.
    tokio::time::advance(Duration::from_secs(60)).await;
    let t0 = Instant::now();
    for _ in 0..10 {
        limiter.acquire().await;
    }
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert!(!limiter.try_acquire());
}

#[tokio::test(start_paused = true)]
async fn rate_limiter_serves_waiters_in_order() {
    let limiter = Arc::new(RateLimiter::new(10.0, 1));
    limiter.acquire().await;
    let order = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..4 {
        let (l, o) = (limiter.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            l.acquire().await;
            o.lock().push(i);
        }));
        tokio::task::yield_now().await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.lock(), [0, 1, 2, 3]);
}

#[test]
fn rate_limiter_disabled() {
    assert!(RateLimiter::from_config(None, 10).is_none());
    assert!(RateLimiter::from_config(Some(0.0), 10).is_none());
    assert!(RateLimiter::from_config(Some(-1.0), 10).is_none());
    assert!(RateLimiter::from_config(Some(5.0), 10).is_some());
}

#[tokio::test]
async fn normal_requests_are_rate_limited_but_watches_are_not() {
    let server = serve_http(ok()).await;
    let mut c = config(server.http_url(), 0);
    c.qps = Some(5.0);
    c.burst = 1;
    let t = Transport::new(&c).unwrap();
    let start = std::time::Instant::now();
    for _ in 0..3 {
        t.send(get(server.url("http", "/api")), RequestKind::Normal).await.unwrap();
    }
    assert!(start.elapsed() >= Duration::from_millis(390), "3 requests at 5 qps: {:?}", start.elapsed());

    let mut c = config(server.http_url(), 0);
    c.qps = Some(1.0);
    c.burst = 1;
    let t = Transport::new(&c).unwrap();
    let start = std::time::Instant::now();
    for _ in 0..5 {
        t.send(get(server.url("http", "/api?watch=1")), RequestKind::LongRunning).await.unwrap();
    }
    // Rate limited, these would take 4 s.
    assert!(start.elapsed() < Duration::from_secs(2), "watches waited: {:?}", start.elapsed());
}

#[tokio::test]
async fn timeout_applies_to_normal_requests_not_watches() {
    let server = serve_http(ok()).await;
    // A server that is slow to answer: delay the response head.
    let slow = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(|_req| async {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        Ok::<_, std::convert::Infallible>(respond(200, &[]))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        addr
    };
    drop(server);
    let url: http::Uri = format!("http://{slow}/api").parse().unwrap();
    let mut c = config(url.clone(), 3);
    c.timeout = Some(Duration::from_millis(100));
    let t = Transport::new(&c).unwrap();
    let err = t.send(get(url.clone()), RequestKind::Normal).await.unwrap_err();
    assert!(matches!(&err, Error::Timeout { after, .. } if *after == Duration::from_millis(100)), "{err:?}");
    let resp = t.send(get(url), RequestKind::LongRunning).await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test(start_paused = true)]
async fn each_retry_passes_the_rate_limiter_again() {
    let server =
        serve_http(Arc::new(|_, n| if n < 2 { respond(429, &[("retry-after", "0")]) } else { respond(200, &[]) }))
            .await;
    let mut c = config(server.http_url(), 10);
    c.qps = Some(1.0);
    c.burst = 1;
    let t = Transport::new(&c).unwrap();
    let start = Instant::now();
    let resp = t.send(get(server.url("http", "/api")), RequestKind::Normal).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(server.seen().len(), 3);
    // Retry-After: 0 and a sub-second backoff, but 1 qps: the two retries wait ~1 s each.
    assert!(start.elapsed() >= Duration::from_secs(2), "{:?}", start.elapsed());
}
