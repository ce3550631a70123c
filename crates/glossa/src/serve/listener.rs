//! The accept loop: one task per connection, at most `max_connections` of them, and shutdown
//! with a deadline.
//!
//! At the cap, a new connection takes the place of the *idle* one (no request being handled, and
//! the socket read dry: a keep-alive connection between requests, or one that has not finished
//! its head) that has waited on its client the longest, so idle sockets cannot lock out clients
//! that have something to ask, nor evict them between two requests. When every connection
//! is busy, the new one is answered 503 with `Retry-After` and closed.
//!
//! Shutdown: the first stop stops accepting and asks each connection to close once its request
//! is answered (idle ones close at once); after `shutdown_timeout` whatever is left is dropped.
//! A second stop during the drain drops everything at once.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;
use tower_service::Service;

use super::metrics::Metrics;
use super::stream::{raw_answer, ConnState, GuardedStream, RequestGuard, Timeouts};

#[derive(Debug, Clone, Copy)]
pub struct ConnOptions {
    pub max_connections: usize,
    pub timeouts: Timeouts,
    pub shutdown_timeout: Duration,
}

/// How the accept loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Every connection finished within the deadline.
    Clean,
    /// The deadline passed; this many connections were dropped.
    Deadline(usize),
    /// A second stop; this many connections were dropped.
    Forced(usize),
}

struct Entry {
    state: Arc<ConnState>,
    evict: Arc<Notify>,
}

/// Open connections by id; ids grow, so the first idle entry is the oldest.
#[derive(Default)]
struct Registry {
    conns: Mutex<BTreeMap<u64, Entry>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection if there is room, or an idle one to evict; its id, state and
    /// eviction signal.
    fn admit(&self, max: usize) -> Option<(u64, Arc<ConnState>, Arc<Notify>)> {
        let mut conns = self.lock();
        if conns.len() >= max && !evict_one(&mut conns) {
            return None;
        }
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (state, evict) = (Arc::new(ConnState::default()), Arc::new(Notify::new()));
        let entry = Entry {
            state: state.clone(),
            evict: evict.clone(),
        };
        conns.insert(id, entry);
        Some((id, state, evict))
    }
}

/// Closes the connection idle the longest, if there is one. (Not the oldest idle one: sockets
/// opened again and again to sit silent then evicted the older keep-alive connections of
/// well-behaved clients each time they were between two requests; docs/serving.md.)
fn evict_one(conns: &mut BTreeMap<u64, Entry>) -> bool {
    let Some(id) = conns
        .iter()
        .filter(|(_, e)| e.state.is_evictable())
        .min_by_key(|(_, e)| e.state.idle_since())
        .map(|(&id, _)| id)
    else {
        return false;
    };
    if let Some(victim) = conns.remove(&id) {
        victim.evict.notify_one();
    }
    true
}

/// How long a connection over the cap waits for one to become evictable (a fresh connection is
/// not, until its socket has been read dry) before it is answered 503.
const ROOM_WAIT: Duration = Duration::from_millis(100);

/// What a new connection needs to be served.
struct Admit {
    registry: Arc<Registry>,
    router: Router,
    metrics: Arc<Metrics>,
    options: ConnOptions,
    closing: watch::Receiver<bool>,
}

impl Admit {
    fn try_admit(&self) -> Option<Connection> {
        let (id, state, evict) = self.registry.admit(self.options.max_connections)?;
        Some(Connection {
            id,
            state,
            evict,
            registry: self.registry.clone(),
            router: self.router.clone(),
            metrics: self.metrics.clone(),
            timeouts: self.options.timeouts,
            closing: self.closing.clone(),
        })
    }

    async fn wait_for_room(self, stream: TcpStream) {
        let deadline = tokio::time::Instant::now() + ROOM_WAIT;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if let Some(conn) = self.try_admit() {
                return conn.run(stream).await;
            }
        }
        self.metrics.record_connection_closed("over_capacity");
        refuse(stream, self.options.timeouts, self.metrics).await;
    }
}

/// Listens on `addr` with room in the kernel's accept queue for `backlog` connections
/// (capped by `net.core.somaxconn`). tokio's `TcpListener::bind` asks for 128, like std: a
/// burst of more new connections than that overflows the queue, and the kernel drops their
/// handshakes (the client waits a second to retry) or resets them, although the server would
/// take them all.
pub async fn bind(addr: &str, backlog: u32) -> std::io::Result<TcpListener> {
    let mut last_error = None;
    for addr in tokio::net::lookup_host(addr).await? {
        match listen_on(addr, backlog) {
            Ok(listener) => return Ok(listener),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the address resolves to nothing",
        )
    }))
}

fn listen_on(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As std and tokio do: a restarted server can bind at once, its old connections in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    if let Some(cap) = somaxconn().filter(|&cap| cap < backlog) {
        tracing::warn!(
            "the kernel caps the accept queue at {cap} connections (net.core.somaxconn), not \
             {backlog}: a burst of new connections past it waits or is reset \
             (raise it with `sysctl -w net.core.somaxconn={backlog}`)"
        );
    }
    socket.listen(backlog)
}

/// The kernel's cap on a listener's accept queue (Linux); `None` elsewhere.
fn somaxconn() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Serves `router` on `listener` until the first message on `stop`; see the module docs.
pub async fn accept_loop(
    listener: TcpListener,
    router: Router,
    options: ConnOptions,
    metrics: Arc<Metrics>,
    mut stop: mpsc::Receiver<()>,
) -> Drained {
    let registry = Arc::new(Registry::default());
    let (closing, closing_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut last_accept_error = None;
    loop {
        while tasks.try_join_next().is_some() {}
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(e, &mut last_accept_error).await;
                    continue;
                }
            },
            _ = stop.recv() => break,
        };
        let _ = stream.set_nodelay(true);
        let admit = Admit {
            registry: registry.clone(),
            router: router.clone(),
            metrics: metrics.clone(),
            options,
            closing: closing_rx.clone(),
        };
        match admit.try_admit() {
            Some(conn) => tasks.spawn(conn.run(stream)),
            None => tasks.spawn(admit.wait_for_room(stream)),
        };
    }
    drop(listener);
    let _ = closing.send(true);
    drain(tasks, options.shutdown_timeout, &mut stop).await
}

/// Waits for the connections to finish, at most `deadline`, or until a second stop.
async fn drain(
    mut tasks: JoinSet<()>,
    deadline: Duration,
    stop: &mut mpsc::Receiver<()>,
) -> Drained {
    tracing::info!(
        "stopped accepting; finishing {} connection(s), at most {:.1} s",
        tasks.len(),
        deadline.as_secs_f64()
    );
    let all_done = async { while tasks.join_next().await.is_some() {} };
    let second_stop = async {
        if stop.recv().await.is_none() {
            std::future::pending::<()>().await;
        }
    };
    let outcome = tokio::select! {
        () = all_done => return Drained::Clean,
        () = tokio::time::sleep(deadline) => Drained::Deadline(0),
        () = second_stop => Drained::Forced(0),
    };
    let left = tasks.len();
    tasks.abort_all();
    match outcome {
        Drained::Deadline(_) => {
            tracing::warn!("shutdown deadline passed: closing {left} connection(s) unanswered");
            Drained::Deadline(left)
        }
        _ => {
            tracing::warn!("second stop signal: closing {left} connection(s) now");
            Drained::Forced(left)
        }
    }
}

/// Out of file descriptors (or another transient error): say so at most once a second, and
/// pause so the loop does not spin.
async fn accept_failed(e: std::io::Error, last: &mut Option<std::time::Instant>) {
    if last.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
        tracing::warn!("cannot accept a connection: {e} (lower --max-connections or raise the open-file limit)");
        *last = Some(std::time::Instant::now());
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// Answers 503 to a connection over the cap, then closes it after reading what it sent (so the
/// client sees the answer rather than a reset).
async fn refuse(mut stream: TcpStream, timeouts: Timeouts, metrics: Arc<Metrics>) {
    metrics.record_error("other", 503, "too_many_connections");
    let answer = super::api::ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "too_many_connections",
        "the server has as many connections as it takes, all busy; retry shortly",
    );
    let bytes = raw_answer(&answer);
    let write = async {
        stream.write_all(&bytes).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout(timeouts.write.min(Duration::from_secs(1)), write).await;
}

struct Connection {
    id: u64,
    state: Arc<ConnState>,
    evict: Arc<Notify>,
    registry: Arc<Registry>,
    router: Router,
    metrics: Arc<Metrics>,
    timeouts: Timeouts,
    closing: watch::Receiver<bool>,
}

impl Connection {
    async fn run(self, stream: TcpStream) {
        let _open = self.metrics.connection_opened();
        let (state, evict) = (self.state.clone(), self.evict.clone());
        let peer = stream.peer_addr().ok();
        let io = GuardedStream::new(stream, state.clone(), self.timeouts, self.metrics.clone());
        let service = RouterService {
            router: self.router.clone(),
            state,
            peer,
        };
        let conn = hyper::server::conn::http1::Builder::new().serve_connection(
            TokioIo::new(io),
            hyper::service::service_fn(move |r| service.call(r)),
        );
        tokio::pin!(conn);
        let result = tokio::select! {
            result = conn.as_mut() => result,
            () = evict.notified() => {
                self.metrics.record_connection_closed("evicted_idle");
                Ok(())
            }
            () = closing(self.closing.clone()) => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            tracing::debug!("connection closed: {e}");
        }
        self.registry.lock().remove(&self.id);
    }
}

/// Completes once the server starts shutting down.
async fn closing(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The router as hyper's service, marking the connection busy while a request is handled and
/// telling the handlers the peer's address (axum's `ConnectInfo`, for the fair queue).
#[derive(Clone)]
struct RouterService {
    router: Router,
    state: Arc<ConnState>,
    peer: Option<SocketAddr>,
}

impl RouterService {
    fn call(
        &self,
        mut request: Request<Incoming>,
    ) -> impl std::future::Future<Output = Result<axum::response::Response, Infallible>> {
        let guard = self.state.start_request();
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        let mut router = self.router.clone();
        async move {
            let response = router.call(request).await?;
            Ok(response.map(|body| {
                Body::new(GuardedBody {
                    body,
                    _guard: guard,
                })
            }))
        }
    }
}

/// A response body that keeps its connection marked busy until hyper drops it (sent or not).
struct GuardedBody {
    body: Body,
    _guard: RequestGuard,
}

impl HttpBody for GuardedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// More connections than std's backlog of 128 are let in, all at once, before the server
    /// accepts any of them (a burst the accept loop has not caught up with).
    #[test]
    fn a_burst_past_128_connections_waits_in_the_accept_queue() {
        let runtime = runtime();
        let listener = runtime.block_on(bind("127.0.0.1:0", 1024)).unwrap();
        let addr = listener.local_addr().unwrap();
        let burst = 300;
        let cap = somaxconn().unwrap_or(u32::MAX);
        assert!(
            cap > burst,
            "net.core.somaxconn is {cap}: this test needs more than {burst}"
        );
        // A handshake the queue has no room for is dropped; the client's retry comes a second
        // later, so a short connect timeout tells a queued connection from a dropped one.
        let connected: Vec<_> = (0..burst)
            .map(|i| {
                std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500))
                    .unwrap_or_else(|e| panic!("connection {i} of {burst}: {e}"))
            })
            .collect();
        assert_eq!(connected.len(), burst as usize);
        drop(listener);
    }

    #[test]
    fn an_address_that_cannot_be_bound_is_an_error() {
        let runtime = runtime();
        let taken = runtime.block_on(bind("127.0.0.1:0", 16)).unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let error = runtime.block_on(bind(&addr, 16)).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse, "{error}");
        assert!(runtime
            .block_on(bind("no-such-host.invalid:80", 16))
            .is_err());
    }
}
