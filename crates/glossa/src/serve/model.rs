//! The model being served, replaceable while serving: a reload (SIGHUP or `POST /admin/reload`)
//! loads the model again from where it came from, checks it, and only then swaps it in; until
//! then, and whenever the new one fails, the old one keeps answering. Batches already running
//! finish on the model they started with (each holds its own `Arc`).

use std::sync::{Arc, RwLock};

use crate::{Encoder, Result};

/// Loads the model again (from the same directory or repo id), on a blocking thread.
pub type Loader = Arc<dyn Fn() -> Result<Arc<dyn Encoder>> + Send + Sync>;

/// What a successful reload put in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    pub model: String,
    pub dim: usize,
}

pub struct ModelSlot {
    current: RwLock<Arc<dyn Encoder>>,
    loader: Option<Loader>,
    /// One reload at a time: a second request while one runs is refused, not queued.
    reloading: tokio::sync::Mutex<()>,
}

/// Why a reload did not happen; the old model is still serving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadError {
    Unsupported,
    Busy,
    Failed(String),
}

impl std::fmt::Display for ReloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReloadError::Unsupported => write!(
                f,
                "this server was started without a way to reload its model"
            ),
            ReloadError::Busy => write!(f, "a reload is already running"),
            ReloadError::Failed(why) => write!(f, "{why}; the previous model is still serving"),
        }
    }
}

/// A sentence the new model must embed before it replaces the old one.
const PROBE: &str = "glossa reload check: the quick brown fox";

impl ModelSlot {
    pub fn new(encoder: Arc<dyn Encoder>, loader: Option<Loader>) -> Self {
        ModelSlot {
            current: RwLock::new(encoder),
            loader,
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    pub fn get(&self) -> Arc<dyn Encoder> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Loads, verifies and swaps in the model again.
    pub async fn reload(&self) -> std::result::Result<Reloaded, ReloadError> {
        let loader = self.loader.clone().ok_or(ReloadError::Unsupported)?;
        let _one = self.reloading.try_lock().map_err(|_| ReloadError::Busy)?;
        let dim = self.get().dim();
        let fresh = tokio::task::spawn_blocking(move || -> std::result::Result<_, String> {
            let encoder = loader().map_err(|e| format!("loading the model failed: {e}"))?;
            verify(encoder.as_ref(), dim)?;
            Ok(encoder)
        })
        .await
        .unwrap_or_else(|panic| Err(format!("loading the model panicked: {panic}")))
        .map_err(ReloadError::Failed)?;
        let reloaded = Reloaded {
            model: fresh.name(),
            dim: fresh.dim(),
        };
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(reloaded)
    }
}

/// The new model must give the old one's vector length (clients' indexes depend on it) and a
/// finite vector for a probe sentence.
fn verify(encoder: &dyn Encoder, dim: usize) -> std::result::Result<(), String> {
    if encoder.dim() != dim {
        return Err(format!(
            "the new model's vectors have {} dimensions, the served one's {dim}: clients would \
             mix incompatible vectors (restart the server to change models)",
            encoder.dim()
        ));
    }
    let probe = encoder
        .encode(&[PROBE])
        .map_err(|e| format!("the new model failed to embed a probe sentence: {e}"))?;
    if probe.len() != 1 || probe.dim() != dim || !probe.as_slice().iter().all(|x| x.is_finite()) {
        return Err("the new model gave no finite vector for a probe sentence".into());
    }
    Ok(())
}
