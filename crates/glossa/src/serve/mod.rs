//! `glossa serve`: any [`Encoder`] behind an OpenAI-compatible HTTP API.
//!
//! - `POST /v1/embeddings`: OpenAI's request and response (`float` or `base64` vectors, `usage`).
//! - `GET /health`: the model's name and vector length.
//! - `GET /metrics`: Prometheus counters (requests, inputs, batch sizes, latency, in flight).
//!
//! Concurrent requests are merged into one encoder call ([`batcher`]); the vectors are those
//! `glossa embed` writes. Every error is JSON in OpenAI's shape. On SIGTERM or Ctrl-C the server
//! stops accepting connections, finishes the requests it holds, and returns.

pub mod api;
pub mod batcher;
pub mod metrics;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;

use crate::{Encoder, Error, Result};
use api::{ApiError, Limits};
use batcher::{BatchError, BatchOptions, Batcher};
use metrics::Metrics;

/// Bytes of an oversized body read and thrown away before answering 413: a client that sends
/// its whole body before reading the answer (most do) would otherwise see the connection reset
/// instead of the error. Past this the connection is simply closed.
const OVERSIZED_BODY_DRAIN: usize = 64 << 20;

#[derive(Debug, Clone, Copy)]
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
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_batch: 256,
            max_wait: Duration::from_millis(1),
            max_inputs: 2048,
            max_input_chars: 8192,
            max_body_bytes: 4 << 20,
        }
    }
}

struct App {
    model: String,
    dim: usize,
    options: Options,
    batcher: Batcher,
    metrics: Arc<Metrics>,
}

/// Binds `addr`, calls `on_listening` with the bound address (port 0 picks a free one), and
/// serves until SIGTERM or Ctrl-C, on a runtime of its own.
pub fn run(
    encoder: Arc<dyn Encoder>,
    addr: &str,
    options: Options,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<()> {
    check_options(&options)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("glossa-serve")
        .build()
        .map_err(|e| Error::msg(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::msg(format!("cannot listen on {addr}: {e}")))?;
        let bound = listener
            .local_addr()
            .map_err(|e| Error::msg(format!("address of the socket bound to {addr}: {e}")))?;
        on_listening(bound);
        serve(listener, encoder, options, shutdown_signal()).await
    })
}

/// Serves on `listener` until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    encoder: Arc<dyn Encoder>,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    check_options(&options)?;
    let metrics = Arc::new(Metrics::new(encoder.name(), encoder.dim()));
    let batch = BatchOptions {
        max_batch: options.max_batch,
        max_wait: options.max_wait,
    };
    let (batcher, batching) = Batcher::start(encoder.clone(), batch, metrics.clone());
    let app = Arc::new(App {
        model: encoder.name(),
        dim: encoder.dim(),
        options,
        batcher,
        metrics,
    });
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| Error::msg(format!("server failed: {e}")))?;
    tracing::info!("all requests answered; stopping");
    // Every connection is closed, so the last batcher handle is gone and its task ends.
    let _ = batching.await;
    Ok(())
}

fn check_options(options: &Options) -> Result<()> {
    for (name, value) in [
        ("max batch", options.max_batch),
        ("max inputs", options.max_inputs),
        ("max input chars", options.max_input_chars),
        ("max body bytes", options.max_body_bytes),
    ] {
        if value == 0 {
            return Err(Error::msg(format!("{name} must be at least 1")));
        }
    }
    Ok(())
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/embeddings", post(embeddings))
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(app.clone(), track))
        .with_state(app)
}

/// Counts every response by route and status, its latency, and the requests in flight.
async fn track(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let route = metrics::route_label(request.uri().path());
    let _in_flight = app.metrics.enter();
    let start = Instant::now();
    let response = next.run(request).await;
    app.metrics
        .record_response(route, response.status().as_u16(), start.elapsed());
    response
}

async fn embeddings(State(app): State<Arc<App>>, request: Request) -> Response {
    embed_request(&app, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn embed_request(app: &App, request: Request) -> Result<Response, ApiError> {
    // Announced before the body is read, so a batch forming now waits for these inputs.
    let arrival = app.batcher.announce();
    check_content_type(request.headers())?;
    let (parts, body) = request.into_parts();
    let body = read_body(&parts.headers, body, app.options.max_body_bytes).await?;
    let limits = Limits {
        max_inputs: app.options.max_inputs,
        max_input_chars: app.options.max_input_chars,
        dim: app.dim,
    };
    let request = api::parse_request(&body, &limits)?;
    let encoded = app
        .batcher
        .embed(request.texts, arrival)
        .await
        .map_err(|e| match e {
            BatchError::Stopped => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the server is shutting down",
            ),
            BatchError::Encoder(msg) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoder_error",
                format!("the model failed to encode the input: {msg}"),
            ),
        })?;
    Ok(api::embeddings_response(
        &encoded,
        request.format,
        &app.model,
    ))
}

/// JSON, or no Content-Type at all (a bare `curl --data-binary` body is still read); anything
/// else is answered 415 rather than guessed at.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let shown = String::from_utf8_lossy(value.as_bytes()).into_owned();
    let essence = shown
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("Content-Type must be application/json, got '{shown}'"),
    ))
}

/// The whole body, at most `limit` bytes; a larger one is drained (up to a bound) and refused
/// with 413.
async fn read_body(headers: &HeaderMap, mut body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            format!("the request body is larger than this server's limit of {limit} bytes"),
        )
    };
    let declared = declared_length(headers);
    if declared.is_some_and(|n| n > limit + OVERSIZED_BODY_DRAIN) {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    let mut seen = 0usize;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let frame = frame.map_err(|e| {
            ApiError::bad_request(
                "body_read_error",
                format!("could not read the request body: {e}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        seen += data.len();
        if seen <= limit {
            bytes.extend_from_slice(&data);
        } else if seen > limit + OVERSIZED_BODY_DRAIN {
            break;
        }
    }
    if seen > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

#[derive(Serialize)]
struct Health<'a> {
    status: &'static str,
    model: &'a str,
    dim: usize,
}

async fn health(State(app): State<Arc<App>>) -> Response {
    api::json_response(
        StatusCode::OK,
        &Health {
            status: "ok",
            model: &app.model,
            dim: app.dim,
        },
    )
}

async fn metrics_text(State(app): State<Arc<App>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}

async fn not_found(request: Request) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no route {} {}; routes: POST /v1/embeddings, GET /health, GET /metrics",
            request.method(),
            request.uri().path()
        ),
    )
    .into_response()
}

async fn method_not_allowed(request: Request) -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on {}; routes: POST /v1/embeddings, GET /health, GET /metrics",
            request.method(),
            request.uri().path()
        ),
    )
    .into_response()
}

/// Completes on SIGTERM (what service managers and `kill` send) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C: finishing requests in flight, then stopping"),
        () = terminate => tracing::info!("SIGTERM: finishing requests in flight, then stopping"),
    }
}
