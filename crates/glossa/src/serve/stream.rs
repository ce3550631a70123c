//! The socket under each HTTP connection, with the timeouts hyper lacks and a JSON body for the
//! errors hyper answers on its own.
//!
//! hyper's HTTP/1 server has one timer (`header_read_timeout`), which closes a slow head without
//! an answer and cannot tell a keep-alive connection that is merely idle from one trickling a
//! head; it has no write timeout, and the answers it writes to requests it cannot parse (400,
//! 431, 414) have empty bodies that no handler sees. So the stream it reads and writes is this
//! wrapper, which knows from [`ConnState`] whether a request is being handled:
//!
//! - waiting for a request and nothing received: closed after the keep-alive timeout;
//! - part of a head received: answered 408 and closed after the head timeout;
//! - a write (the response) that makes no progress for the write timeout fails the connection,
//!   so a client that never reads cannot hold its response in memory;
//! - bytes written while no request is being handled are hyper's own error answer: replaced by
//!   the same answer with a JSON error body, and counted.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::api::{ApiError, RETRY_AFTER_SECS};
use super::metrics::Metrics;

#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Waiting for a request with nothing received.
    pub keep_alive: Duration,
    /// From a head's first byte to its end.
    pub head: Duration,
    /// A write that makes no progress.
    pub write: Duration,
}

/// What the connection's HTTP side tells its socket: requests being handled, and whether a
/// response may still be in hyper's buffers.
#[derive(Debug, Default)]
pub struct ConnState {
    in_service: AtomicUsize,
    unflushed: AtomicBool,
    /// The last read found nothing to read: the connection is waiting on its client (a fresh
    /// one whose head is already in the socket's buffer is not, until it has been read).
    starved: AtomicBool,
    /// When the connection last began to wait on its client (nanoseconds since [`epoch`]): the
    /// cap evicts the connection idle the longest, so sockets opened to sit silent go before a
    /// keep-alive client between two requests.
    idle_since: AtomicU64,
}

/// The zero of [`ConnState`]'s times: the first time any connection asked.
fn nanos_since_epoch() -> u64 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    EPOCH
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
}

impl ConnState {
    /// Call when hyper hands a request to the service; the guard lives as long as its response
    /// body (so until the last byte has been given to hyper).
    pub fn start_request(self: &Arc<Self>) -> RequestGuard {
        self.in_service.fetch_add(1, Ordering::SeqCst);
        RequestGuard(self.clone())
    }

    /// No request being handled and nothing of a response left to write.
    pub fn is_idle(&self) -> bool {
        self.in_service.load(Ordering::SeqCst) == 0 && !self.unflushed.load(Ordering::SeqCst)
    }

    /// Idle and waiting on its client: closing it loses no request that has arrived.
    pub fn is_evictable(&self) -> bool {
        self.is_idle() && self.starved.load(Ordering::SeqCst)
    }

    /// When the connection last began to wait on its client (larger is more recent).
    pub fn idle_since(&self) -> u64 {
        self.idle_since.load(Ordering::SeqCst)
    }

    fn mark_waiting(&self) {
        self.idle_since.store(nanos_since_epoch(), Ordering::SeqCst);
    }
}

pub struct RequestGuard(Arc<ConnState>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        // Set before the count drops, so the socket never sees "idle" while the response's
        // last bytes may still sit in hyper's buffer.
        self.0.unflushed.store(true, Ordering::SeqCst);
        self.0.mark_waiting();
        self.0.in_service.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why a connection was closed by the server rather than the client.
pub const CLOSED_IDLE: &str = "keep_alive_timeout";
pub const CLOSED_HEAD: &str = "head_timeout";
pub const CLOSED_WRITE: &str = "write_timeout";

pub struct GuardedStream {
    inner: TcpStream,
    state: Arc<ConnState>,
    timeouts: Timeouts,
    metrics: Arc<Metrics>,
    /// When the connection last began waiting for a request.
    waiting_since: Instant,
    /// When the first byte of the head being read arrived.
    head_since: Option<Instant>,
    read_timer: Pin<Box<Sleep>>,
    write_timer: Pin<Box<Sleep>>,
    write_stalled_since: Option<Instant>,
    /// A replacement answer still to be written, and how much of it has been.
    rewritten: Option<(Vec<u8>, usize)>,
}

impl GuardedStream {
    pub fn new(
        inner: TcpStream,
        state: Arc<ConnState>,
        timeouts: Timeouts,
        metrics: Arc<Metrics>,
    ) -> Self {
        let now = Instant::now();
        GuardedStream {
            inner,
            state,
            timeouts,
            metrics,
            waiting_since: now,
            head_since: None,
            read_timer: Box::pin(tokio::time::sleep_until(now + timeouts.keep_alive)),
            write_timer: Box::pin(tokio::time::sleep_until(now + timeouts.write)),
            write_stalled_since: None,
            rewritten: None,
        }
    }

    /// The deadline of a read that is pending now, if one applies.
    fn read_deadline(&self) -> Option<(Instant, &'static str)> {
        if !self.state.is_idle() {
            return None; // a handler reads the body under its own timeout
        }
        match self.head_since {
            Some(start) => Some((start + self.timeouts.head, CLOSED_HEAD)),
            None => Some((self.waiting_since + self.timeouts.keep_alive, CLOSED_IDLE)),
        }
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_string())
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.state.starved.store(false, Ordering::SeqCst);
                if buf.filled().len() > before {
                    if this.state.is_idle() {
                        this.head_since.get_or_insert_with(Instant::now);
                    } else {
                        this.head_since = None;
                    }
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                if !this.state.starved.swap(true, Ordering::SeqCst) {
                    this.state.mark_waiting();
                }
                let Some((deadline, reason)) = this.read_deadline() else {
                    return Poll::Pending;
                };
                if this.read_timer.deadline() != deadline {
                    this.read_timer.as_mut().reset(deadline);
                }
                ready!(this.read_timer.as_mut().poll(cx));
                this.metrics.record_connection_closed(reason);
                if reason == CLOSED_HEAD {
                    this.answer_head_timeout();
                }
                Poll::Ready(Err(timed_out(reason)))
            }
        }
    }
}

impl GuardedStream {
    /// A best-effort 408 to a client whose head stalled; the connection closes either way.
    fn answer_head_timeout(&mut self) {
        let bytes = error_response(StatusCode::REQUEST_TIMEOUT, self.timeouts.head);
        let _ = self.inner.try_write(&bytes);
        self.metrics.record_error(
            "other",
            StatusCode::REQUEST_TIMEOUT.as_u16(),
            "request_timeout",
        );
    }

    /// Runs a write-side poll, failing it once it has made no progress for the write timeout.
    fn timed<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match poll(Pin::new(&mut self.inner), cx) {
            Poll::Ready(result) => {
                self.write_stalled_since = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                let since = *self.write_stalled_since.get_or_insert_with(Instant::now);
                let deadline = since + self.timeouts.write;
                if self.write_timer.deadline() != deadline {
                    self.write_timer.as_mut().reset(deadline);
                }
                ready!(self.write_timer.as_mut().poll(cx));
                self.metrics.record_connection_closed(CLOSED_WRITE);
                Poll::Ready(Err(timed_out(CLOSED_WRITE)))
            }
        }
    }

    /// Writes what is left of a rewritten answer.
    fn poll_rewritten(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, done)) = self.rewritten.take() {
            if done == bytes.len() {
                break;
            }
            let chunk = bytes[done..].to_vec();
            self.rewritten = Some((bytes, done));
            let n = ready!(self.timed(cx, |io, cx| io.poll_write(cx, &chunk)))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            if let Some((_, done)) = &mut self.rewritten {
                *done += n;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_rewritten(cx))?;
        if this.state.is_idle() {
            if let Some(status) = hyper_error_status(buf) {
                // hyper answers a request it could not parse, then closes: the same status,
                // with a body in this server's error shape.
                this.metrics
                    .record_error("other", status.as_u16(), error_code(status));
                this.rewritten = Some((error_response(status, this.timeouts.head), 0));
                ready!(this.poll_rewritten(cx))?;
                return Poll::Ready(Ok(buf.len()));
            }
        }
        this.timed(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_rewritten(cx))?;
        ready!(this.timed(cx, |io, cx| io.poll_flush(cx)))?;
        // Everything hyper wrote is out: a finished response leaves the connection waiting.
        if this.state.in_service.load(Ordering::SeqCst) == 0
            && this.state.unflushed.swap(false, Ordering::SeqCst)
        {
            this.waiting_since = Instant::now();
            this.head_since = None;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_rewritten(cx))?;
        this.timed(cx, |io, cx| io.poll_shutdown(cx))
    }
}

/// The status of an answer hyper writes on its own (only client errors: a head it could not
/// parse, or one too large).
fn hyper_error_status(buf: &[u8]) -> Option<StatusCode> {
    let rest = buf
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| buf.strip_prefix(b"HTTP/1.0 "))?;
    let code = std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()?;
    StatusCode::from_u16(code)
        .ok()
        .filter(StatusCode::is_client_error)
}

fn error_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        _ => "malformed_request",
    }
}

fn error_message(status: StatusCode, head_timeout: Duration) -> String {
    match status {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            "the request head is too large (too many headers, or headers too long)".into()
        }
        StatusCode::URI_TOO_LONG => "the request URI is too long".into(),
        StatusCode::REQUEST_TIMEOUT => format!(
            "the request head did not arrive within {} s",
            head_timeout.as_secs_f64()
        ),
        _ => "the request is not valid HTTP/1.x (request line or headers malformed)".into(),
    }
}

/// A whole HTTP/1.1 answer with a JSON error body, closing the connection.
pub fn error_response(status: StatusCode, head_timeout: Duration) -> Vec<u8> {
    let error = ApiError::new(
        status,
        error_code(status),
        error_message(status, head_timeout),
    );
    raw_answer(&error)
}

/// `error` as the bytes of a whole answer that closes the connection, for errors answered
/// below the router.
pub fn raw_answer(error: &ApiError) -> Vec<u8> {
    let body = error.to_json();
    let retry = match error.status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
            format!("retry-after: {RETRY_AFTER_SECS}\r\n")
        }
        _ => String::new(),
    };
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{retry}\
         connection: close\r\n\r\n",
        error.status.as_u16(),
        error.status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_client_error_status_lines_are_hyper_answers() {
        assert_eq!(
            hyper_error_status(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        assert_eq!(
            hyper_error_status(b"HTTP/1.0 400 Bad Request\r\n"),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(hyper_error_status(b"HTTP/1.1 200 OK\r\n"), None);
        assert_eq!(hyper_error_status(b"{\"data\":"), None);
        assert_eq!(hyper_error_status(b"HTTP/1.1 4"), None);
    }

    #[test]
    fn a_rewritten_answer_is_complete_json_and_closes() {
        let bytes = error_response(StatusCode::BAD_REQUEST, Duration::from_secs(10));
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("connection: close"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(value["error"]["code"], "malformed_request");
    }
}
