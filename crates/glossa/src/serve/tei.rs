//! Hugging Face text-embeddings-inference's API, so TEI clients (`huggingface_hub`'s
//! `InferenceClient.feature_extraction`, LangChain's `HuggingFaceEndpointEmbeddings`, …) work
//! unchanged: `POST /embed` answers a bare array of vectors, `GET /info` describes the model.
//! Errors take TEI's shape `{"error": "...", "error_type": "Validation"}`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use super::api::{self, ApiError};
use super::routes::{encode, large_answer, read_json, App};

/// `POST /embed`: `{"inputs": "text" | ["text", …], "normalize": true, "truncate": false}`.
pub async fn embed(State(app): State<Arc<App>>, request: Request) -> Response {
    match embed_request(&app, request).await {
        Ok(response) => response,
        Err(e) => tei_error(e),
    }
}

async fn embed_request(app: &App, request: Request) -> Result<Response, ApiError> {
    let (body, arrival) = read_json(app, request).await?;
    let (texts, normalize) = parse(&body, app)?;
    let mut encoded = encode(app, texts, arrival).await?;
    if normalize {
        encoded.embeddings.normalize();
    }
    let floats = encoded.embeddings.as_slice().len();
    Ok(large_answer(app, floats, move || {
        let rows: Vec<&[f32]> = encoded.embeddings.rows().collect();
        api::json_response(StatusCode::OK, &rows)
    })
    .await)
}

fn parse(body: &[u8], app: &App) -> Result<(Vec<String>, bool), ApiError> {
    let fields = api::json_object(body)?;
    let texts = api::parse_texts(fields.get("inputs"), "inputs", &app.limits())?;
    // TEI normalises unless told not to.
    let normalize = flag(&fields, "normalize", true)?;
    // Inputs longer than the model reads are cut by the model itself either way.
    flag(&fields, "truncate", false)?;
    Ok((texts, normalize))
}

fn flag(
    fields: &serde_json::Map<String, Value>,
    name: &str,
    default: bool,
) -> Result<bool, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(ApiError::bad_request(
            "invalid_type",
            format!("'{name}' must be a boolean, got {}", api::describe(other)),
        )),
    }
}

#[derive(Serialize)]
struct TeiError<'a> {
    error: &'a str,
    error_type: &'static str,
}

/// An error in TEI's shape and statuses: validation errors are 422 there, not 400.
fn tei_error(e: ApiError) -> Response {
    let (status, error_type) = match e.status {
        StatusCode::BAD_REQUEST => (StatusCode::UNPROCESSABLE_ENTITY, "Validation"),
        StatusCode::TOO_MANY_REQUESTS => (e.status, "Overloaded"),
        s if s.is_server_error() => (s, "Backend"),
        s => (s, "Validation"),
    };
    let mut response = api::json_response(
        status,
        &TeiError {
            error: &e.message,
            error_type,
        },
    );
    api::with_error_code(&mut response, status, e.code);
    response
}

#[derive(Serialize)]
struct Info {
    model_id: String,
    model_sha: Option<String>,
    model_dtype: &'static str,
    model_type: Value,
    /// Characters per input here (TEI counts tokens).
    max_input_length: usize,
    max_batch_tokens: usize,
    max_client_batch_size: usize,
    max_concurrent_requests: usize,
    tokenization_workers: usize,
    version: &'static str,
}

/// `GET /info`: the fields TEI's clients read.
pub async fn info(State(app): State<Arc<App>>) -> Response {
    let model = app.model.get();
    let info = Info {
        model_id: model.name(),
        model_sha: None,
        model_dtype: "float32",
        model_type: serde_json::json!({"embedding": {"pooling": "mean", "dim": model.dim()}}),
        max_input_length: app.options.max_input_chars,
        max_batch_tokens: app.options.max_batch * app.options.max_input_chars,
        max_client_batch_size: app.options.max_inputs,
        max_concurrent_requests: app.options.max_queue,
        tokenization_workers: 1,
        version: env!("CARGO_PKG_VERSION"),
    };
    api::json_response(StatusCode::OK, &info).into_response()
}
