//! One BERT: the encoder of BERT, RoBERTa and XLM-RoBERTa checkpoints (the last two are the same
//! network with position ids starting after the padding index, and weights that may sit under a
//! `roberta.` prefix), as typed layers loaded from Hugging Face's tensor names, run two ways:
//!
//! - [`fast::FastBert`]: inference on packed f32 buffers with fused kernels
//!   ([`crate::kernels`]); the teacher runs it.
//! - `cuda::CudaBert` (feature `cuda`): inference on an NVIDIA GPU, cuBLAS and a few fused
//!   kernels; the teacher runs it with `device = "cuda"`.
//! - [`Bert::forward`] ([`autodiff`]): candle ops that all have a backward; the Transformer
//!   student trains through it, and it is the fast path's test oracle.
//!
//! Both are built from the same [`Bert`] (`load(vb, &Config)`), so there is one config parser
//! ([`parse_config`]) and one set of tensor names ([`layers::names`], [`tensor_shapes`]).
//! This layer sits on the kernels and knows nothing of the teacher or the students above it.

pub mod autodiff;
mod config;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod fast;
pub mod layers;

pub use autodiff::{cls_pool, max_pool, mean_pool};
pub use config::{parse_config, Activation, Config};
pub use fast::FastBert;
pub use layers::{model_root, tensor_shapes, Bert};

/// How token states become one vector per text (sentence-transformers' `Pooling` module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    Mean,
    Cls,
    Max,
}
