//! Shared helpers for integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

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
