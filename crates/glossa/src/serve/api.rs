//! The OpenAI embeddings API: the request parsed by hand so every error names the field that was
//! wrong, the response, and errors in OpenAI's shape
//! `{"error": {"message", "type", "param", "code"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Serialize;
use serde_json::Value;

use super::batcher::Encoded;

/// What one request may ask for.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_inputs: usize,
    /// Per input, in characters (Unicode scalar values), not bytes.
    pub max_input_chars: usize,
    /// The model's vector length: `dimensions`, when sent, must equal it.
    pub dim: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingFormat {
    /// A JSON array of numbers.
    Float,
    /// The little-endian f32 bytes, base64: a quarter of the size, and exact.
    Base64,
}

#[derive(Debug, PartialEq)]
pub struct EmbeddingRequest {
    pub texts: Vec<String>,
    pub format: EncodingFormat,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// Machine-readable reason, e.g. `input_too_long`.
    pub code: &'static str,
    /// The request field at fault, e.g. `input[3]`.
    pub param: Option<String>,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            param: None,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn about(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// OpenAI's `type`: the client's fault, or the server's.
    fn kind(&self) -> &'static str {
        if self.status.is_server_error() {
            "server_error"
        } else {
            "invalid_request_error"
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: &'a str,
}

/// The error code a response carries, for `/metrics` (set by [`ApiError`]'s responses).
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

/// Seconds a client told 429 (queue full) or 503 (too many connections) should wait.
pub const RETRY_AFTER_SECS: u64 = 1;

impl ApiError {
    fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            error: ErrorDetail {
                message: &self.message,
                kind: self.kind(),
                param: self.param.as_deref(),
                code: self.code,
            },
        }
    }

    /// The JSON body alone, for answers written below the router.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.body()).expect("error bodies serialise")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = json_response(self.status, &self.body());
        with_error_code(&mut response, self.status, self.code);
        response
    }
}

/// Marks `response` as the error `code`, adding `Retry-After` where waiting helps.
pub fn with_error_code(response: &mut Response, status: StatusCode, code: &'static str) {
    response.extensions_mut().insert(ErrorCode(code));
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(RETRY_AFTER_SECS),
        );
    }
}

/// A JSON response; serialising these plain structs cannot fail.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(body).expect("response types serialise");
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response()
}

/// A request body as a JSON object: UTF-8, valid JSON, an object; each failure a 400 naming
/// what was wrong (shared by the OpenAI and TEI routes).
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        ApiError::bad_request(
            "invalid_utf8",
            format!(
                "the request body is not valid UTF-8 (bad byte at offset {})",
                e.valid_up_to()
            ),
        )
    })?;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("the request body is not valid JSON: {e}"),
        )
    })?;
    let Value::Object(fields) = value else {
        return Err(ApiError::bad_request(
            "invalid_type",
            format!(
                "the request body must be a JSON object, got {}",
                describe(&value)
            ),
        ));
    };
    Ok(fields)
}

/// Parses and checks a `POST /v1/embeddings` body. Unknown fields (`user`, …) are ignored, as
/// OpenAI's clients send fields a server may not use.
pub fn parse_request(body: &[u8], limits: &Limits) -> Result<EmbeddingRequest, ApiError> {
    let fields = json_object(body)?;
    check_model(fields.get("model"))?;
    check_dimensions(fields.get("dimensions"), limits.dim)?;
    let format = parse_encoding_format(fields.get("encoding_format"))?;
    let texts = parse_texts(fields.get("input"), "input", limits)?;
    Ok(EmbeddingRequest { texts, format })
}

/// The texts of `field` (OpenAI's `input`, TEI's `inputs`): one string or a non-empty list of
/// strings, each non-empty and within the limits.
pub fn parse_texts(
    value: Option<&Value>,
    field: &str,
    limits: &Limits,
) -> Result<Vec<String>, ApiError> {
    let texts = match value {
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                "missing_required_parameter",
                format!("'{field}' is required: a string or an array of strings"),
            )
            .about(field))
        }
        Some(Value::String(s)) => {
            check_text(field.into(), s, limits)?;
            return Ok(vec![s.clone()]);
        }
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_type",
                format!(
                    "'{field}' must be a string or an array of strings, got {}",
                    describe(other)
                ),
            )
            .about(field))
        }
    };
    if texts.is_empty() {
        return Err(ApiError::bad_request(
            "empty_input",
            format!("'{field}' is an empty array: send at least one string"),
        )
        .about(field));
    }
    if texts.len() > limits.max_inputs {
        return Err(ApiError::bad_request(
            "too_many_inputs",
            format!(
                "'{field}' has {} items; this server takes at most {} per request",
                texts.len(),
                limits.max_inputs
            ),
        )
        .about(field));
    }
    texts
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let param = format!("{field}[{i}]");
            match item {
                Value::String(s) => check_text(param, s, limits).map(|()| s.clone()),
                other => Err(ApiError::bad_request(
                    "invalid_type",
                    format!(
                        "'{param}' must be a string, got {}{}",
                        describe(other),
                        token_hint(other)
                    ),
                )
                .about(param)),
            }
        })
        .collect()
}

/// OpenAI also takes token ids (arrays of integers); this server embeds text only.
fn token_hint(value: &Value) -> &'static str {
    match value {
        Value::Number(_) | Value::Array(_) => " (token ids are not supported: send text)",
        _ => "",
    }
}

fn check_text(param: String, text: &str, limits: &Limits) -> Result<(), ApiError> {
    if text.is_empty() {
        return Err(
            ApiError::bad_request("empty_input", format!("'{param}' is an empty string"))
                .about(param),
        );
    }
    // Counting stops past the limit, so a huge input costs no more than a long one.
    let chars = text.chars().take(limits.max_input_chars + 1).count();
    if chars > limits.max_input_chars {
        return Err(ApiError::bad_request(
            "input_too_long",
            format!(
                "'{param}' has more than {} characters (it has {})",
                limits.max_input_chars,
                text.chars().count()
            ),
        )
        .about(param));
    }
    Ok(())
}

/// `model` is echoed by OpenAI's clients; any name is accepted (this server holds one model),
/// but it must be a string when present.
fn check_model(value: Option<&Value>) -> Result<(), ApiError> {
    match value {
        None | Some(Value::Null) | Some(Value::String(_)) => Ok(()),
        Some(other) => Err(ApiError::bad_request(
            "invalid_type",
            format!("'model' must be a string, got {}", describe(other)),
        )
        .about("model")),
    }
}

/// `dimensions` shortens OpenAI's newer models' vectors; these models have one length.
fn check_dimensions(value: Option<&Value>, dim: usize) -> Result<(), ApiError> {
    match value {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Number(n)) if n.as_u64() == Some(dim as u64) => Ok(()),
        Some(Value::Number(n)) => Err(ApiError::bad_request(
            "invalid_value",
            format!("'dimensions' is {n}, but this model's vectors have {dim} dimensions and cannot be shortened"),
        )
        .about("dimensions")),
        Some(other) => Err(ApiError::bad_request(
            "invalid_type",
            format!("'dimensions' must be an integer, got {}", describe(other)),
        )
        .about("dimensions")),
    }
}

fn parse_encoding_format(value: Option<&Value>) -> Result<EncodingFormat, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(EncodingFormat::Float),
        Some(Value::String(s)) if s == "float" => Ok(EncodingFormat::Float),
        Some(Value::String(s)) if s == "base64" => Ok(EncodingFormat::Base64),
        Some(Value::String(s)) => Err(ApiError::bad_request(
            "invalid_value",
            format!("'encoding_format' is '{s}'; supported: 'float', 'base64'"),
        )
        .about("encoding_format")),
        Some(other) => Err(ApiError::bad_request(
            "invalid_type",
            format!(
                "'encoding_format' must be a string ('float' or 'base64'), got {}",
                describe(other)
            ),
        )
        .about("encoding_format")),
    }
}

/// A JSON value's type, as an error message says it.
pub fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[derive(Serialize)]
struct EmbeddingList<'a> {
    object: &'static str,
    data: Vec<EmbeddingItem<'a>>,
    model: &'a str,
    usage: Usage,
}

#[derive(Serialize)]
struct EmbeddingItem<'a> {
    object: &'static str,
    index: usize,
    embedding: Vector<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Vector<'a> {
    Float(&'a [f32]),
    Base64(String),
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: usize,
    total_tokens: usize,
}

/// The `{"object": "list", "data": [...], "model", "usage"}` response.
pub fn embeddings_response(encoded: &Encoded, format: EncodingFormat, model: &str) -> Response {
    let data = encoded
        .embeddings
        .rows()
        .enumerate()
        .map(|(index, row)| EmbeddingItem {
            object: "embedding",
            index,
            embedding: match format {
                EncodingFormat::Float => Vector::Float(row),
                EncodingFormat::Base64 => Vector::Base64(base64_f32(row)),
            },
        })
        .collect();
    let body = EmbeddingList {
        object: "list",
        data,
        model,
        usage: Usage {
            prompt_tokens: encoded.tokens,
            total_tokens: encoded.tokens,
        },
    };
    json_response(StatusCode::OK, &body)
}

/// Little-endian f32 bytes in standard base64, as OpenAI sends them.
pub fn base64_f32(row: &[f32]) -> String {
    let bytes: Vec<u8> = row.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_inputs: 3,
        max_input_chars: 5,
        dim: 4,
    };

    fn parse(body: &str) -> Result<EmbeddingRequest, ApiError> {
        parse_request(body.as_bytes(), &LIMITS)
    }

    fn fails(body: &str, code: &str, param: Option<&str>, words: &[&str]) {
        let err = parse(body).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST, "{err:?}");
        assert_eq!(err.code, code, "{err:?}");
        assert_eq!(err.param.as_deref(), param, "{err:?}");
        for w in words {
            assert!(err.message.contains(w), "{:?} lacks {w:?}", err.message);
        }
    }

    #[test]
    fn a_string_or_a_list_of_strings_is_input() {
        let one = parse(r#"{"input": "héllo", "model": "m"}"#).unwrap();
        assert_eq!(one.texts, vec!["héllo"]);
        assert_eq!(one.format, EncodingFormat::Float);
        let list = parse(r#"{"input": ["a", "b"], "encoding_format": "base64", "user": "x"}"#);
        let list = list.unwrap();
        assert_eq!(list.texts, vec!["a", "b"]);
        assert_eq!(list.format, EncodingFormat::Base64);
        assert!(parse(r#"{"input": "a", "dimensions": 4, "encoding_format": null}"#).is_ok());
    }

    #[test]
    fn each_bad_field_is_named() {
        fails(
            r#"{"model": "m"}"#,
            "missing_required_parameter",
            Some("input"),
            &["required"],
        );
        fails(
            r#"{"input": 3}"#,
            "invalid_type",
            Some("input"),
            &["got a number"],
        );
        fails(
            r#"{"input": ["a", 7]}"#,
            "invalid_type",
            Some("input[1]"),
            &["token ids"],
        );
        fails(
            r#"{"input": [[1, 2]]}"#,
            "invalid_type",
            Some("input[0]"),
            &["an array"],
        );
        fails(
            r#"{"input": []}"#,
            "empty_input",
            Some("input"),
            &["empty array"],
        );
        fails(
            r#"{"input": ["a", ""]}"#,
            "empty_input",
            Some("input[1]"),
            &["empty string"],
        );
        fails(r#"{"input": ""}"#, "empty_input", Some("input"), &[]);
        fails(
            r#"{"input": ["a","b","c","d"]}"#,
            "too_many_inputs",
            Some("input"),
            &["4 items", "at most 3"],
        );
        fails(
            r#"{"input": ["ok", "éééééé"]}"#,
            "input_too_long",
            Some("input[1]"),
            &["more than 5", "has 6"],
        );
        fails(
            r#"{"input": "a", "model": 1}"#,
            "invalid_type",
            Some("model"),
            &["'model' must be a string"],
        );
        fails(
            r#"{"input": "a", "encoding_format": "int8"}"#,
            "invalid_value",
            Some("encoding_format"),
            &["'int8'"],
        );
        fails(
            r#"{"input": "a", "encoding_format": true}"#,
            "invalid_type",
            Some("encoding_format"),
            &["a boolean"],
        );
        fails(
            r#"{"input": "a", "dimensions": 2}"#,
            "invalid_value",
            Some("dimensions"),
            &["4 dimensions"],
        );
        fails(
            r#"["a"]"#,
            "invalid_type",
            None,
            &["JSON object", "an array"],
        );
        fails(r#"{"input": "a""#, "invalid_json", None, &["line 1 column"]);
    }

    #[test]
    fn five_characters_fit_whatever_their_bytes() {
        assert!(parse(r#"{"input": "ééééé"}"#).is_ok());
        assert!(parse(r#"{"input": "日本語日本"}"#).is_ok());
    }

    #[test]
    fn invalid_utf8_names_its_offset() {
        let err = parse_request(b"{\"input\": \"a\xff\"}", &LIMITS).unwrap_err();
        assert_eq!(err.code, "invalid_utf8");
        assert!(err.message.contains("offset 12"), "{}", err.message);
    }

    #[test]
    fn base64_is_little_endian_f32() {
        assert_eq!(base64_f32(&[1.0]), "AACAPw==");
    }
}
