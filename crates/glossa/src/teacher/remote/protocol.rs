//! The two wire formats a remote teacher speaks: OpenAI's `POST /v1/embeddings` and Text
//! Embeddings Inference's `POST /embed`. Bodies are built and read here, nothing else.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Embeddings;

/// Which API the endpoints speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// `POST /v1/embeddings` (OpenAI, vLLM, glossa serve, most hosted embedding APIs).
    #[default]
    OpenAi,
    /// `POST /embed` (Hugging Face Text Embeddings Inference; glossa serve too).
    Tei,
}

impl Api {
    /// The request path appended to an endpoint given as `http://host:port`.
    pub fn path(self) -> &'static str {
        match self {
            Api::OpenAi => "/v1/embeddings",
            Api::Tei => "/embed",
        }
    }

    /// The JSON body that asks for the vectors of `texts`.
    pub fn request(self, model: &str, texts: &[&str]) -> Vec<u8> {
        let body = match self {
            Api::OpenAi => json!({"model": model, "input": texts, "encoding_format": "float"}),
            // TEI truncates to the model's length only when asked; the local teacher always does.
            Api::Tei => json!({"inputs": texts, "truncate": true}),
        };
        serde_json::to_vec(&body).expect("a JSON value serialises")
    }

    /// The vectors in an answer to a request for `count` texts, in request order.
    pub fn parse(self, body: &[u8], count: usize) -> Result<Embeddings, String> {
        let rows: Vec<Vec<f32>> = match self {
            Api::OpenAi => openai_rows(body, count)?,
            Api::Tei => serde_json::from_slice(body)
                .map_err(|e| format!("the answer is not a JSON array of vectors: {e}"))?,
        };
        if rows.len() != count {
            return Err(format!("{} vectors for {count} texts", rows.len()));
        }
        let dim = rows.first().map_or(0, Vec::len);
        if dim == 0 || rows.iter().any(|r| r.len() != dim) {
            return Err("vectors of differing or zero length".into());
        }
        if rows.iter().flatten().any(|x| !x.is_finite()) {
            return Err("a vector holds NaN or infinity".into());
        }
        Ok(Embeddings::new(dim, rows.concat()))
    }
}

#[derive(Deserialize)]
struct OpenAiList {
    data: Vec<OpenAiItem>,
}

#[derive(Deserialize)]
struct OpenAiItem {
    index: usize,
    embedding: Vec<f32>,
}

/// OpenAI's `data` items carry their index: put each row back where it was asked.
fn openai_rows(body: &[u8], count: usize) -> Result<Vec<Vec<f32>>, String> {
    let list: OpenAiList = serde_json::from_slice(body)
        .map_err(|e| format!("the answer is not an OpenAI embedding list: {e}"))?;
    let mut rows = vec![None; count];
    for item in list.data {
        let slot = rows
            .get_mut(item.index)
            .ok_or_else(|| format!("index {} in an answer for {count} texts", item.index))?;
        if slot.replace(item.embedding).is_some() {
            return Err(format!("index {} answered twice", item.index));
        }
    }
    rows.into_iter()
        .enumerate()
        .map(|(i, r)| r.ok_or_else(|| format!("no vector for index {i}")))
        .collect()
}

/// The server's own words from an error body (OpenAI's `error.message`, TEI's `error`), or the
/// start of the body.
pub fn error_message(body: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let said = value["error"]["message"]
        .as_str()
        .or_else(|| value["error"].as_str());
    match said {
        Some(s) => s.to_string(),
        None => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_in_request_order_and_bad_ones_refused() {
        let body = br#"{"data":[{"index":1,"embedding":[3,4]},{"index":0,"embedding":[1,2]}]}"#;
        let e = Api::OpenAi.parse(body, 2).unwrap();
        assert_eq!(e.as_slice(), &[1.0, 2.0, 3.0, 4.0]);
        assert!(Api::OpenAi.parse(body, 3).unwrap_err().contains("index 2"));
        let twice = br#"{"data":[{"index":0,"embedding":[3]},{"index":0,"embedding":[1]}]}"#;
        assert!(Api::OpenAi.parse(twice, 2).unwrap_err().contains("twice"));
        let tei = Api::Tei.parse(b"[[1,2],[3,4]]", 2).unwrap();
        assert_eq!(tei.as_slice(), &[1.0, 2.0, 3.0, 4.0]);
        assert!(Api::Tei
            .parse(b"[[1,2],[3]]", 2)
            .unwrap_err()
            .contains("differing"));
        assert!(Api::Tei.parse(b"{\"x\":1}", 2).is_err());
        assert_eq!(
            error_message(br#"{"error":{"message":"too long"}}"#),
            "too long"
        );
        assert_eq!(
            error_message(br#"{"error":"busy","error_type":"x"}"#),
            "busy"
        );
    }

    #[test]
    fn requests_name_the_model_for_openai_and_truncate_for_tei() {
        let openai: serde_json::Value =
            serde_json::from_slice(&Api::OpenAi.request("m", &["a", "b"])).unwrap();
        assert_eq!(openai["model"], "m");
        assert_eq!(openai["input"][1], "b");
        let tei: serde_json::Value =
            serde_json::from_slice(&Api::Tei.request("m", &["a"])).unwrap();
        assert_eq!(tei["inputs"][0], "a");
        assert_eq!(tei["truncate"], true);
    }
}
