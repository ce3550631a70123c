//! glossa: distil a Transformer sentence-embedding teacher into a small, fast, multilingual student.
//!
//! The modules follow the pipeline, left to right; a stage knows the stages to its left only:
//!
//! ```text
//! data ──► teacher ──► cache ──► student ──► loss ──► train ──► eval ──► export
//! ```
//!
//! Every model that turns text into vectors implements [`Encoder`], so evaluation, the `embed`
//! command and any server never care which model they hold.

pub mod bert;
pub mod data;
pub mod encoder;
pub mod error;
pub mod eval;
pub mod hub;
pub mod interop;
pub mod io;
pub mod kernels;
pub mod linalg;
pub mod progress;
pub mod recipes;
pub mod rng;
#[cfg(feature = "serve")]
pub mod serve;
pub mod student;
pub mod teacher;
pub mod train;

pub use encoder::{Embeddings, Encoder};
pub use error::{Error, Result};
