//! The one interface every model shares: text in, one vector per text out.

use crate::Result;

/// A row-major matrix of embeddings, one row per input text.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    dim: usize,
    data: Vec<f32>,
}

impl Embeddings {
    pub fn new(dim: usize, data: Vec<f32>) -> Self {
        assert!(
            dim > 0 && data.len().is_multiple_of(dim),
            "data length {} is not a multiple of dim {dim}",
            data.len()
        );
        Embeddings { dim, data }
    }
    pub fn zeros(rows: usize, dim: usize) -> Self {
        Embeddings::new(dim, vec![0.0; rows * dim])
    }
    pub fn dim(&self) -> usize {
        self.dim
    }
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.dim..(i + 1) * self.dim]
    }
    pub fn rows(&self) -> impl Iterator<Item = &[f32]> {
        self.data.chunks_exact(self.dim)
    }
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }
    /// Scales every row to unit length; zero rows stay zero.
    pub fn normalize(&mut self) {
        for row in self.data.chunks_exact_mut(self.dim) {
            normalize(row);
        }
    }
}

/// Scales a vector to unit length in place; a zero vector stays zero.
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Cosine similarity; 0 when either vector is zero (an empty text has no direction).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (na, nb) = (dot(a, a).sqrt(), dot(b, b).sqrt());
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot(a, b) / (na * nb)
    }
}

/// Anything that turns text into vectors: the teacher, each student.
pub trait Encoder: Send + Sync {
    /// A short human-readable name for reports.
    fn name(&self) -> String;
    /// Length of each output vector.
    fn dim(&self) -> usize;
    /// One vector per text, in input order. Empty texts get a vector too.
    fn encode(&self, texts: &[&str]) -> Result<Embeddings>;
    /// How many tokens the model reads from `text`, for usage reports (the server's
    /// `prompt_tokens`). Whitespace-separated words unless the model knows better.
    fn count_tokens(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
    /// Bytes the model occupies on disk, where it has files.
    fn size_on_disk(&self) -> Option<u64> {
        None
    }
    /// Forgets whatever the model caches from the texts it has read, so that a benchmark can
    /// time it cold. Most models cache nothing.
    fn clear_cache(&self) {}
}
