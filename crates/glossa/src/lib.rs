pub mod data;
pub mod encoder;
pub mod error;
pub mod model;
pub mod teacher;
pub use encoder::{Embeddings, Encoder};
pub use error::{Error, Result};
