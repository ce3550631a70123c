//! `glossa serve`: any [`Encoder`] behind an OpenAI-compatible HTTP API, and TEI's.
//!
//! - `POST /v1/embeddings`: OpenAI's request and response (`float` or `base64` vectors, `usage`).
//! - `POST /embed`, `GET /info`: Hugging Face text-embeddings-inference's ([`tei`]).
//! - `GET /health`: the model's name and vector length.
//! - `GET /metrics`: Prometheus counters (requests, errors, inputs, batches, latency,
//!   connections).
//! - `POST /admin/reload`: load the model again (as SIGHUP does).
//!
//! Concurrent requests are merged into one encoder call ([`batcher`]); the vectors are those
//! `glossa embed` writes. Every error is JSON, those hyper answers on its own included
//! ([`stream`]). Slow and hostile clients are bounded by timeouts, a connection cap and a
//! bounded queue shared fairly between clients ([`listener`], [`stream`], [`batcher`],
//! [`fair`]). On SIGTERM or Ctrl-C the server stops
//! accepting, finishes what it holds for at most the shutdown timeout, and returns; a second
//! signal returns at once.

pub mod access;
pub mod api;
pub mod batcher;
pub mod fair;
pub mod listener;
pub mod metrics;
pub mod model;
pub mod routes;
pub mod stream;
pub mod tei;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::{Encoder, Error, Result};
pub use axum::http::HeaderName;
use batcher::{BatchOptions, Batcher};
use listener::{ConnOptions, Drained};
use metrics::Metrics;
pub use model::Loader;
use model::ModelSlot;
use routes::App;
use stream::Timeouts;

/// Everything `glossa serve`'s flags set. Not `Debug`: it holds the API key.
#[derive(Clone)]
pub struct Options {
    /// Inputs per encoder call, across requests.
    pub max_batch: usize,
    /// How long a batch waits for requests already arriving.
    pub max_wait: Duration,
    /// Inputs per request.
    pub max_inputs: usize,
    /// Characters per input.
    pub max_input_chars: usize,
    /// Bytes per request body.
    pub max_body_bytes: usize,
    /// Requests waiting for a batch, shared fairly between clients; past this they are
    /// answered 429.
    pub max_queue: usize,
    /// A header naming the client for the fair queue (set by a trusted proxy, such as
    /// `X-Forwarded-For` or `X-Client-Id`); without it, or when a request lacks it, the peer's
    /// address. Lower-case.
    pub client_id_header: Option<HeaderName>,
    /// How long a request refused for a full queue waits before its 429 is sent.
    pub refusal_delay: Duration,
    /// Open connections; past this the oldest idle one is closed, or the new one answered 503.
    pub max_connections: usize,
    /// How long a connection may wait for a request with nothing received.
    pub keep_alive_timeout: Duration,
    /// From a request head's first byte to its end.
    pub head_timeout: Duration,
    /// From a request's head to the end of its body.
    pub body_timeout: Duration,
    /// How long a response write may make no progress (a client that does not read).
    pub write_timeout: Duration,
    /// How long shutdown waits for requests in flight.
    pub shutdown_timeout: Duration,
    /// Required as `Authorization: Bearer KEY` on every route but `/health`.
    pub api_key: Option<String>,
    /// Origins allowed by CORS (`*` for any); none: no CORS headers.
    pub cors_origins: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_batch: 256,
            max_wait: Duration::from_millis(1),
            max_inputs: 2048,
            max_input_chars: 8192,
            max_body_bytes: 4 << 20,
            max_queue: 1024,
            client_id_header: None,
            refusal_delay: Duration::from_millis(100),
            max_connections: 1024,
            keep_alive_timeout: Duration::from_secs(15),
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(15),
            shutdown_timeout: Duration::from_secs(10),
            api_key: None,
            cors_origins: Vec::new(),
        }
    }
}

/// What the signal handler (or an embedding program) tells a running server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// First: stop accepting and drain (up to the shutdown timeout). Second: stop now.
    Stop,
    /// Load the model again; the old one serves until the new one is checked.
    Reload,
}

/// Loads the model with `loader`, binds `addr`, calls `on_listening` with the bound address
/// (port 0 picks a free one), and serves until SIGTERM or Ctrl-C (SIGHUP reloads), on a
/// runtime of its own.
pub fn run(
    loader: Loader,
    addr: &str,
    options: Options,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<()> {
    check_options(&options)?;
    let encoder = loader()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("glossa-serve")
        .build()
        .map_err(|e| Error::msg(format!("cannot start the async runtime: {e}")))?;
    let served = runtime.block_on(async {
        let backlog = u32::try_from(options.max_connections).unwrap_or(u32::MAX);
        let listener = listener::bind(addr, backlog)
            .await
            .map_err(|e| Error::msg(format!("cannot listen on {addr}: {e}")))?;
        let bound = listener
            .local_addr()
            .map_err(|e| Error::msg(format!("address of the socket bound to {addr}: {e}")))?;
        on_listening(bound);
        let (control, commands) = mpsc::channel(8);
        tokio::spawn(forward_signals(control));
        serve(listener, encoder, Some(loader), options, commands).await
    });
    // An encoder call still running after a deadline or a second signal is not waited for.
    runtime.shutdown_timeout(Duration::from_millis(500));
    served
}

/// Serves on `listener` until a [`Control::Stop`] arrives (or `control` closes), then drains.
pub async fn serve(
    listener: tokio::net::TcpListener,
    encoder: Arc<dyn Encoder>,
    loader: Option<Loader>,
    options: Options,
    mut control: mpsc::Receiver<Control>,
) -> Result<()> {
    check_options(&options)?;
    let metrics = Arc::new(Metrics::new(encoder.name(), encoder.dim()));
    let model = Arc::new(ModelSlot::new(encoder, loader));
    let batch = BatchOptions {
        max_batch: options.max_batch,
        max_wait: options.max_wait,
        max_queue: options.max_queue,
    };
    let (batcher, batching) = Batcher::start(model.clone(), batch, metrics.clone());
    let conn = ConnOptions {
        max_connections: effective_max_connections(options.max_connections),
        timeouts: Timeouts {
            keep_alive: options.keep_alive_timeout,
            head: options.head_timeout,
            write: options.write_timeout,
        },
        shutdown_timeout: options.shutdown_timeout,
    };
    let app = Arc::new(App {
        model,
        options,
        batcher,
        metrics: metrics.clone(),
        answer_slots: routes::answer_slots(),
    });
    let (stop, stops) = mpsc::channel(2);
    let accepting = tokio::spawn(listener::accept_loop(
        listener,
        routes::router(app.clone()),
        conn,
        metrics,
        stops,
    ));
    let commands = tokio::spawn(async move {
        while let Some(command) = control.recv().await {
            match command {
                Control::Stop => {
                    let _ = stop.send(()).await;
                }
                Control::Reload => {
                    let app = app.clone();
                    tokio::spawn(async move {
                        let _ = routes::reload_model(&app).await;
                    });
                }
            }
        }
        // No one can send a command any more: stop, as a dropped shutdown future would.
        let _ = stop.send(()).await;
    });
    let drained = accepting
        .await
        .map_err(|e| Error::msg(format!("the accept loop failed: {e}")))?;
    // The command task holds the last handle on the app (and so on the batcher).
    commands.abort();
    let _ = commands.await;
    if drained == Drained::Clean {
        tracing::info!("all requests answered; stopping");
        // Every connection is closed and the app is gone, so the batcher's task ends (a reload
        // still running may hold it a moment).
        let _ = tokio::time::timeout(Duration::from_secs(1), batching).await;
    }
    Ok(())
}

fn check_options(options: &Options) -> Result<()> {
    for (name, value) in [
        ("max batch", options.max_batch),
        ("max inputs", options.max_inputs),
        ("max input chars", options.max_input_chars),
        ("max body bytes", options.max_body_bytes),
        ("max queue", options.max_queue),
        ("max connections", options.max_connections),
    ] {
        if value == 0 {
            return Err(Error::msg(format!("{name} must be at least 1")));
        }
    }
    for (name, value) in [
        ("keep-alive timeout", options.keep_alive_timeout),
        ("head timeout", options.head_timeout),
        ("body timeout", options.body_timeout),
        ("write timeout", options.write_timeout),
    ] {
        if value.is_zero() {
            return Err(Error::msg(format!("{name} must be more than 0")));
        }
    }
    if matches!(options.api_key.as_deref(), Some("")) {
        return Err(Error::msg(
            "the API key is empty: give a non-empty key, or none",
        ));
    }
    access::check_origins(&options.cors_origins).map_err(Error::msg)
}

/// File descriptors kept for the listener, model files, logs and a reload.
const RESERVED_FDS: usize = 32;

/// `max` lowered to fit the process's open-file limit (a connection over it would fail to be
/// accepted at all, with nothing sent), with a warning saying so.
fn effective_max_connections(max: usize) -> usize {
    let Some(limit) = open_file_limit() else {
        return max;
    };
    let fits = limit.saturating_sub(RESERVED_FDS).max(1);
    if fits < max {
        tracing::warn!(
            "the open-file limit is {limit}: serving at most {fits} connections instead of {max} \
             (raise it with `ulimit -n` to allow more)"
        );
        return fits;
    }
    max
}

/// The soft limit on open files, from /proc (Linux); `None` elsewhere or when unlimited.
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Turns SIGTERM and Ctrl-C into [`Control::Stop`] and SIGHUP into [`Control::Reload`], for as
/// long as the server runs.
async fn forward_signals(control: mpsc::Sender<Control>) {
    let mut signals = Signals::new();
    let mut stops = 0;
    loop {
        let command = signals.next().await;
        if command == Control::Stop {
            stops += 1;
            if stops == 1 {
                tracing::info!("stop signal: finishing requests in flight, then stopping (a second signal stops at once)");
            } else {
                tracing::warn!("second stop signal: stopping now");
            }
        } else {
            tracing::info!("SIGHUP: reloading the model");
        }
        if control.send(command).await.is_err() {
            return;
        }
    }
}

/// The signal streams, registered once so that none is missed between two waits.
#[cfg(unix)]
struct Signals(Vec<(Option<tokio::signal::unix::Signal>, Control)>);

#[cfg(unix)]
impl Signals {
    fn new() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        let kinds = [
            (SignalKind::terminate(), Control::Stop),
            (SignalKind::interrupt(), Control::Stop),
            (SignalKind::hangup(), Control::Reload),
        ];
        Signals(
            kinds
                .into_iter()
                .map(|(kind, command)| {
                    let stream = signal(kind)
                        .inspect_err(|e| {
                            tracing::warn!("cannot listen for signal {}: {e}", kind.as_raw_value())
                        })
                        .ok();
                    (stream, command)
                })
                .collect(),
        )
    }

    async fn next(&mut self) -> Control {
        std::future::poll_fn(|cx| {
            for (stream, command) in &mut self.0 {
                if let Some(stream) = stream {
                    if stream.poll_recv(cx).is_ready() {
                        return std::task::Poll::Ready(*command);
                    }
                }
            }
            std::task::Poll::Pending
        })
        .await
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> Self {
        Signals
    }
    async fn next(&mut self) -> Control {
        let _ = tokio::signal::ctrl_c().await;
        Control::Stop
    }
}
