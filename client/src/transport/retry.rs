//! The retry policy, as client-go's `rest.Request` with `WithRetry`.
//!
//! Contract:
//! - A `429` or `5xx` response that carries `Retry-After: <seconds>` is retried, whatever the
//!   verb (the server asks for it and has not processed the request), after the larger of the
//!   server's delay and the backoff below.
//! - A connection that is refused, reset, or closed before the response (unexpected EOF) is
//!   retried only for idempotent reads (`GET`, `HEAD`; watches are GETs), after the larger of
//!   1 s and the backoff. A `POST`/`PUT`/`PATCH`/`DELETE` is never re-sent after a connection
//!   failure: the server may have processed it.
//! - The server's delay is capped at [`MAX_RETRY_AFTER`] (client-go has no cap; a
//!   `Retry-After: 86400` must not park a request for a day), and the transport never sleeps
//!   past the request's deadline: it returns the response instead.
//! - At most `max_retries` retries (client-go: 10). Backoff: 100 ms doubling per retry, capped
//!   at 5 s, plus up to 10% jitter; it only ever lengthens the server's delay.
//! - TLS failures and timeouts are not retried.

use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};

/// The delay before retrying a failed connection (client-go: 1 s).
pub(crate) const CONNECTION_RETRY_DELAY: Duration = Duration::from_secs(1);
/// The longest `Retry-After` honoured; a longer one is cut to this.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(5);

/// The server's `Retry-After` delay (at most [`MAX_RETRY_AFTER`]) when `status` is retriable
/// (429 or 5xx) and the header holds a whole number of seconds; `None` otherwise.
pub(crate) fn retry_after(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
        return None;
    }
    let secs = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// Whether `method` may be re-sent after a connection failure.
pub(crate) fn is_idempotent_read(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// The backoff before retry number `retry` (1-based), with jitter.
pub(crate) fn backoff(retry: u32) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1u32 << retry.saturating_sub(1).min(16));
    let base = exp.min(BACKOFF_CAP);
    let jitter: f64 = rand::random::<f64>() * 0.1;
    base + base.mul_f64(jitter)
}

/// The delay before retry number `retry` given the server's (or the connection rule's) hint.
pub(crate) fn delay(hint: Duration, retry: u32) -> Duration {
    hint.max(backoff(retry))
}

/// Whether an error chain is a connection that was refused, reset or closed early (the cases
/// client-go's `IsConnectionReset`/`IsProbableEOF` cover).
pub(crate) fn is_connection_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::UnexpectedEof
                    | ErrorKind::BrokenPipe
            ) {
                return true;
            }
        }
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_closed() || h.is_canceled() {
                return true;
            }
        }
        let msg = err.to_string().to_ascii_lowercase();
        if ["connection reset", "broken pipe", "unexpected eof", "connection refused", "connection closed"]
            .iter()
            .any(|m| msg.contains(m))
        {
            return true;
        }
        cur = err.source();
    }
    false
}
