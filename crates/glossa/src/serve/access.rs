//! Who may call the server: an API key on every route but `/health`, and CORS (off unless
//! origins are given).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::api::ApiError;
use super::routes::App;

/// Checks `Authorization: Bearer KEY` (what OpenAI's and TEI's clients send) when the server
/// has a key. `/health` stays open so that load balancers need no secret.
pub async fn require_api_key(
    State(app): State<Arc<App>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(key) = app.options.api_key.as_deref() else {
        return next.run(request).await;
    };
    if request.uri().path() == "/health" {
        return next.run(request).await;
    }
    match bearer(request.headers().get(header::AUTHORIZATION)) {
        Some(sent) if key_matches(sent, key) => next.run(request).await,
        Some(_) => unauthorized("the API key is not valid"),
        None => unauthorized("this server needs an API key: send 'Authorization: Bearer KEY'"),
    }
}

fn bearer(value: Option<&HeaderValue>) -> Option<&[u8]> {
    let value = value?.as_bytes();
    let scheme = value.get(..7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| value[7..].trim_ascii())
}

/// Equal keys, compared in time that does not depend on where they first differ (the length
/// may show; the key's bytes do not).
fn key_matches(sent: &[u8], key: &str) -> bool {
    sent.ct_eq(key.as_bytes()).into()
}

fn unauthorized(message: &str) -> Response {
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_api_key", message).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// The CORS layer for `origins` (`*` for any); `None` when there are none (no CORS headers:
/// browsers on other origins are refused by their own rules).
pub fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
    )
}

/// Origins must be `*` or `scheme://host[:port]`, checked at start-up.
pub fn check_origins(origins: &[String]) -> Result<(), String> {
    for origin in origins {
        let valid = origin == "*"
            || ((origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.ends_with('/')
                && HeaderValue::from_str(origin).is_ok());
        if !valid {
            return Err(format!(
                "CORS origin '{origin}' is not '*' or scheme://host[:port] (e.g. https://example.com)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_keys_are_read_case_insensitively_and_compared_exactly() {
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(bearer(Some(&h("Bearer abc"))), Some(&b"abc"[..]));
        assert_eq!(bearer(Some(&h("bearer  abc "))), Some(&b"abc"[..]));
        assert_eq!(bearer(Some(&h("Basic abc"))), None);
        assert_eq!(bearer(None), None);
        assert!(key_matches(b"abc", "abc"));
        assert!(!key_matches(b"abd", "abc"));
        assert!(!key_matches(b"ab", "abc"));
        assert!(!key_matches(b"", "abc"));
    }

    #[test]
    fn origins_are_checked() {
        assert!(check_origins(&["*".into(), "https://a.example:8443".into()]).is_ok());
        assert!(check_origins(&["a.example".into()]).is_err());
        assert!(check_origins(&["https://a.example/".into()]).is_err());
    }
}
