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
