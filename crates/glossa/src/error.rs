//! One error type for the library. Every variant that comes from a file names it, and the line
//! where there is one, so a user can go straight to what is wrong.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The OS error is part of the message and deliberately not a `source`: printing the chain
    /// (`{:#}`) would repeat it.
    #[error("{}: {os_error}", path.display())]
    Io {
        path: PathBuf,
        os_error: std::io::Error,
    },
    /// A malformed line or record in a text file.
    #[error("{}:{line}: {msg}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    /// A file that is well-formed but unusable: wrong shape, missing field, unknown kind.
    #[error("{}: {msg}", path.display())]
    Invalid { path: PathBuf, msg: String },
    /// A model reference that resolves to nothing loadable.
    #[error("model '{model}': {msg}")]
    Model { model: String, msg: String },
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("{0}")]
    Msg(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            os_error: source,
        }
    }
    pub fn parse(path: impl AsRef<Path>, line: usize, msg: impl Into<String>) -> Self {
        Error::Parse {
            path: path.as_ref().to_path_buf(),
            line,
            msg: msg.into(),
        }
    }
    pub fn invalid(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Error::Invalid {
            path: path.as_ref().to_path_buf(),
            msg: msg.into(),
        }
    }
    pub fn model(model: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Model {
            model: model.into(),
            msg: msg.into(),
        }
    }
    pub fn msg(msg: impl Into<String>) -> Self {
        Error::Msg(msg.into())
    }
}

/// Reads a whole file, naming it in the error.
pub fn read(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Reads a whole UTF-8 file, naming it in the error.
pub fn read_to_string(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    let bytes = read(path)?;
    decode_utf8(bytes, path)
}

/// A file's bytes as UTF-8 text; an error names `path` and the line of the first bad byte.
pub fn decode_utf8(bytes: Vec<u8>, path: impl AsRef<Path>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count();
        Error::parse(path, line, "invalid UTF-8")
    })
}

/// Reads and parses a JSON file, naming it in the error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: impl AsRef<Path>) -> Result<T> {
    let path = path.as_ref();
    let text = read_to_string(path)?;
    parse_json(&text, path)
}

/// Parses the JSON text of the file at `path` (only used to name it, with the line, in errors).
pub fn parse_json<T: serde::de::DeserializeOwned>(text: &str, path: impl AsRef<Path>) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::parse(path, e.line(), e.to_string()))
}

/// Moved to [`crate::io`], with the rest of the safe writing.
pub use crate::io::write_atomic;
