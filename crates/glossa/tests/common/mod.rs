//! Shared helpers for integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

pub mod tiny_bert;

pub const TEACHER: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// `../shared` beside the checkout (override with GLOSSA_SHARED).
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("GLOSSA_SHARED") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

/// The real teacher, which `scripts/fetch-assets.sh teacher` puts into the Hugging Face cache.
pub fn teacher() -> glossa::teacher::Teacher {
    glossa::teacher::Teacher::load(TEACHER).unwrap_or_else(|e| {
        panic!("{e}\n(the test command runs scripts/fetch-assets.sh teacher first)")
    })
}

/// `{"text": …, "embedding": [...]}` lines: the texts and their vectors.
pub fn read_reference(path: &std::path::Path) -> (Vec<String>, Vec<Vec<f32>>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let embedding = v["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            (v["text"].as_str().unwrap().to_string(), embedding)
        })
        .unzip()
}
