//! The routes: OpenAI's `POST /v1/embeddings`, TEI's `POST /embed` and `GET /info` (in
//! [`super::tei`]), `GET /health`, `GET /metrics`, `POST /admin/reload`; JSON errors for
//! everything else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;

use super::api::{self, ApiError, ErrorCode, Limits};
use super::batcher::{Arrival, BatchError, Batcher, Encoded};
use super::fair::ClientId;
use super::metrics::{self, Metrics};
use super::model::{ModelSlot, ReloadError};
use super::{access, tei, Options};

/// Bytes of an oversized body read and thrown away before answering 413: a client that sends
/// its whole body before reading the answer (most do) would otherwise see the connection reset
/// instead of the error. Past this the connection is simply closed.
const OVERSIZED_BODY_DRAIN: usize = 64 << 20;

const ROUTE_LIST: &str =
    "POST /v1/embeddings, POST /embed, GET /info, GET /health, GET /metrics, POST /admin/reload";

pub struct App {
    pub model: Arc<ModelSlot>,
    pub options: Options,
    pub batcher: Batcher,
    pub metrics: Arc<Metrics>,
    /// Large answers being written out as JSON at once; see [`large_answer`].
    pub answer_slots: Arc<tokio::sync::Semaphore>,
}

/// Floats from which an answer is built off the async workers: 2,048 vectors of 384 floats
/// take milliseconds to write as JSON; 32 of them (a typical request) do not.
const LARGE_ANSWER_FLOATS: usize = 1 << 16;

/// One slot per core for building large answers.
pub fn answer_slots() -> Arc<tokio::sync::Semaphore> {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    Arc::new(tokio::sync::Semaphore::new(cores))
}

/// The answer `build` makes, built on the blocking pool when it holds `floats` floats or more,
/// at most one per core at once. Built on an async worker, 64 answers of 2,048 vectors for
/// clients that never read held both workers for as long as they took to write: `/health`
/// waited up to 689 ms behind them (docs/serving.md).
pub async fn large_answer(
    app: &App,
    floats: usize,
    build: impl FnOnce() -> Response + Send + 'static,
) -> Response {
    if floats < LARGE_ANSWER_FLOATS {
        return build();
    }
    // The semaphore is never closed.
    let _slot = app.answer_slots.acquire().await;
    tokio::task::spawn_blocking(build)
        .await
        .unwrap_or_else(|panic| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoder_error",
                format!("building the answer failed: {panic}"),
            )
            .into_response()
        })
}

impl App {
    pub fn limits(&self) -> Limits {
        Limits {
            max_inputs: self.options.max_inputs,
            max_input_chars: self.options.max_input_chars,
            dim: self.model.get().dim(),
        }
    }
}

pub fn router(app: Arc<App>) -> Router {
    let router = Router::new()
        .route("/v1/embeddings", post(embeddings))
        .route("/embed", post(tei::embed))
        .route("/info", get(tei::info))
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .route("/admin/reload", post(reload))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            access::require_api_key,
        ));
    // CORS outside the key check, so a browser's preflight (which carries no key) is answered.
    let router = match access::cors(&app.options.cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        .layer(axum::middleware::from_fn_with_state(app.clone(), track))
        .with_state(app)
}

/// Counts every response by route and status (and errors by code), its latency, and the
/// requests in flight.
async fn track(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let route = metrics::route_label(request.uri().path());
    let _in_flight = app.metrics.enter();
    let start = Instant::now();
    let response = next.run(request).await;
    app.metrics
        .record_response(route, response.status().as_u16(), start.elapsed());
    if let Some(ErrorCode(code)) = response.extensions().get::<ErrorCode>() {
        app.metrics.record_error_code(code);
    } else if response.status().is_client_error() || response.status().is_server_error() {
        app.metrics.record_error_code("other");
    }
    response
}

async fn embeddings(State(app): State<Arc<App>>, request: Request) -> Response {
    embed_request(&app, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn embed_request(app: &App, request: Request) -> Result<Response, ApiError> {
    let (body, arrival) = read_json(app, request).await?;
    let request = api::parse_request(&body, &app.limits())?;
    let encoded = encode(app, request.texts, arrival).await?;
    let (format, name) = (request.format, app.model.get().name());
    let floats = encoded.embeddings.as_slice().len();
    Ok(large_answer(app, floats, move || {
        api::embeddings_response(&encoded, format, &name)
    })
    .await)
}

/// The body of a JSON request, read within the body timeout; the request is announced to the
/// batcher only now that it has arrived (one still uploading never holds a batch).
pub async fn read_json(app: &App, request: Request) -> Result<(Vec<u8>, Arrival), ApiError> {
    check_content_type(request.headers())?;
    let (parts, body) = request.into_parts();
    let limit = app.options.max_body_bytes;
    let timeout = app.options.body_timeout;
    let body = tokio::time::timeout(timeout, read_body(&parts.headers, body, limit))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request body did not arrive within {} s",
                    timeout.as_secs_f64()
                ),
            )
        })??;
    Ok((body, app.batcher.announce(client_of(app, &parts))))
}

/// Longest `--client-id-header` value used as is; a longer one is cut (it only has to tell
/// clients apart).
const MAX_CLIENT_ID_BYTES: usize = 256;

/// Who sent a request, for the fair queue: the `--client-id-header` value a trusted proxy set,
/// else the peer's address.
fn client_of(app: &App, parts: &Parts) -> ClientId {
    let stated = app
        .options
        .client_id_header
        .as_ref()
        .and_then(|name| parts.headers.get(name));
    if let Some(value) = stated {
        let bytes = &value.as_bytes()[..value.len().min(MAX_CLIENT_ID_BYTES)];
        return ClientId::Header(String::from_utf8_lossy(bytes).into());
    }
    match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(peer)) => ClientId::from_addr(peer.ip()),
        None => ClientId::Unknown,
    }
}

/// The vectors of `texts`, batched with other requests'. A refusal for a full queue is
/// answered only after `--refusal-delay-ms`: a client that ignores `Retry-After` and sends
/// again at once would otherwise keep the server busy refusing it (16,800 refusals a second
/// from 128 connections, measured in docs/serving.md).
pub async fn encode(app: &App, texts: Vec<String>, arrival: Arrival) -> Result<Encoded, ApiError> {
    let outcome = app.batcher.embed(texts, arrival).await;
    if outcome.as_ref().err() == Some(&BatchError::Full) {
        tokio::time::sleep(app.options.refusal_delay).await;
    }
    outcome.map_err(|e| match e {
        BatchError::Stopped => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        ),
        BatchError::Full => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "queue_full",
            format!(
                "the server has {} requests waiting already, and this client its share \
                     of them; retry after {} s",
                app.options.max_queue,
                api::RETRY_AFTER_SECS
            ),
        ),
        BatchError::Encoder(msg) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "encoder_error",
            format!("the model failed to encode the input: {msg}"),
        ),
    })
}

/// JSON, no Content-Type at all, or curl's default for `--data`/`--data-binary`
/// (`application/x-www-form-urlencoded`: the body is still read as JSON); anything else is
/// answered 415 rather than guessed at.
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
    if essence == "application/json"
        || essence.ends_with("+json")
        || essence == "application/x-www-form-urlencoded"
    {
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
struct Health {
    status: &'static str,
    model: String,
    dim: usize,
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let model = app.model.get();
    api::json_response(
        StatusCode::OK,
        &Health {
            status: "ok",
            model: model.name(),
            dim: model.dim(),
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

#[derive(Serialize)]
struct ReloadAnswer {
    status: &'static str,
    model: String,
    dim: usize,
}

/// `POST /admin/reload`: what SIGHUP does, answered when done.
async fn reload(State(app): State<Arc<App>>) -> Response {
    match reload_model(&app).await {
        Ok((model, dim)) => api::json_response(
            StatusCode::OK,
            &ReloadAnswer {
                status: "reloaded",
                model,
                dim,
            },
        ),
        Err(e) => {
            let (status, code) = match e {
                ReloadError::Busy => (StatusCode::CONFLICT, "reload_in_progress"),
                ReloadError::Unsupported => (StatusCode::NOT_IMPLEMENTED, "reload_unsupported"),
                ReloadError::Failed(_) => (StatusCode::INTERNAL_SERVER_ERROR, "reload_failed"),
            };
            ApiError::new(status, code, e.to_string()).into_response()
        }
    }
}

/// Reloads the model, logging and counting the outcome.
pub async fn reload_model(app: &App) -> Result<(String, usize), ReloadError> {
    tracing::info!("reloading the model");
    match app.model.reload().await {
        Ok(done) => {
            tracing::info!("reloaded: now serving {} (dim {})", done.model, done.dim);
            let model = (done.model, done.dim);
            app.metrics.record_reload("ok", Some(model.clone()));
            Ok(model)
        }
        Err(e) => {
            tracing::error!("reload failed: {e}");
            app.metrics.record_reload("failed", None);
            Err(e)
        }
    }
}

async fn not_found(request: Request) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no route {} {}; routes: {ROUTE_LIST}",
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
            "{} is not allowed on {}; routes: {ROUTE_LIST}",
            request.method(),
            request.uri().path()
        ),
    )
    .into_response()
}
