//! The encoder's forward pass for inference, on plain f32 buffers: the network of
//! [`super::Bert`] (whose autodiff forward is the oracle it is tested against), computed with
//!
//! - no padding: the sequences of a batch are packed one after another, so every matmul row is a
//!   real token and attention runs per sequence (the autodiff path pads each batch to its
//!   longest member and masks);
//! - fused passes: biases are written into the output before the matmul accumulates onto it,
//!   residuals are accumulated onto in place, the attention scale rides on the matmul, GELU and
//!   layer norm run in place ([`crate::kernels::transformer`]);
//! - the `gemm` crate (what candle calls underneath) on contiguous buffers, without candle's
//!   per-op tensor allocations, strided copies and transposes ([`crate::kernels::matmul`]);
//! - one set of buffers per forward call, reused by every layer.
//!
//! Profile and measurements: docs/performance.md.

use candle_core::Tensor;
use candle_nn::VarBuilder;
use gemm::Parallelism;

use super::layers::{Bert, Layer, LayerNorm, Linear};
use super::{Activation, Config, Pooling};
use crate::kernels::matmul::{matmul, In, Out};
use crate::kernels::transformer as ops;
use crate::{Error, Result};

/// y = x·W + b with W stored transposed, (in, out) row-major, so rows of x meet columns of W.
struct Dense {
    weight_t: Vec<f32>,
    bias: Vec<f32>,
    inp: usize,
    out: usize,
}

struct Norm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

struct FastLayer {
    /// Q, K and V in one matmul: columns [0, h) are Q, [h, 2h) K, [2h, 3h) V.
    qkv: Dense,
    attention_out: Dense,
    attention_norm: Norm,
    intermediate: Dense,
    output: Dense,
    output_norm: Norm,
}

pub struct FastBert {
    /// (vocab, hidden), kept as the tensor the weights file gave (looked up with index_select,
    /// which refuses an id outside the table instead of reading past it).
    word: Tensor,
    /// (max_position_embeddings, hidden)
    position: Vec<f32>,
    /// Row 0 of the token-type table: every token is of type 0.
    token_type: Vec<f32>,
    embedding_norm: Norm,
    layers: Vec<FastLayer>,
    activation: Activation,
    hidden: usize,
    heads: usize,
    intermediate: usize,
    position_offset: usize,
    max_positions: usize,
}

fn vec1(t: Tensor) -> candle_core::Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

impl Dense {
    fn new(linear: &Linear) -> candle_core::Result<Self> {
        Self::from_parts(&linear.weight, &linear.bias)
    }

    /// From a PyTorch (out, in) weight and its bias.
    fn from_parts(weight: &Tensor, bias: &Tensor) -> candle_core::Result<Self> {
        let (out, inp) = weight.dims2()?;
        Ok(Dense {
            weight_t: vec1(weight.t()?.contiguous()?)?,
            bias: vec1(bias.clone())?,
            inp,
            out,
        })
    }

    /// `y` (rows, out) = x (rows, in)·W + b; `y` is overwritten.
    fn forward(&self, x: &[f32], y: &mut [f32], par: Parallelism) {
        for row in y.chunks_exact_mut(self.out) {
            row.copy_from_slice(&self.bias);
        }
        self.accumulate(x, y, par);
    }

    /// `y` (rows, out) += x (rows, in)·W + b: the residual connection, with no extra pass.
    fn forward_onto(&self, x: &[f32], y: &mut [f32], par: Parallelism) {
        ops::add_rows(y, &self.bias);
        self.accumulate(x, y, par);
    }

    fn accumulate(&self, x: &[f32], y: &mut [f32], par: Parallelism) {
        let rows = x.len() / self.inp;
        matmul(
            Out::new(y, rows, self.out, self.out, true),
            In::new(x, rows, self.inp, self.inp, 1),
            In::new(&self.weight_t, self.inp, self.out, self.out, 1),
            1.0,
            par,
        );
    }
}

impl Norm {
    fn new(norm: &LayerNorm) -> candle_core::Result<Self> {
        Ok(Norm {
            weight: vec1(norm.weight.clone())?,
            bias: vec1(norm.bias.clone())?,
            eps: norm.eps as f32,
        })
    }

    fn forward(&self, x: &mut [f32]) {
        ops::layer_norm(x, &self.weight, &self.bias, self.eps);
    }
}

impl FastLayer {
    fn new(layer: &Layer) -> candle_core::Result<Self> {
        let (weight, bias) = layer.fused_qkv()?;
        Ok(FastLayer {
            qkv: Dense::from_parts(&weight, &bias)?,
            attention_out: Dense::new(&layer.attention_out)?,
            attention_norm: Norm::new(&layer.attention_norm)?,
            intermediate: Dense::new(&layer.intermediate)?,
            output: Dense::new(&layer.output)?,
            output_norm: Norm::new(&layer.output_norm)?,
        })
    }
}

impl FastBert {
    /// Loads the encoder's typed layers ([`Bert::load`]) and repacks them.
    pub fn load(vb: VarBuilder, cfg: &Config) -> candle_core::Result<Self> {
        Self::new(&Bert::load(vb, cfg)?)
    }

    /// The same network as `bert`, on buffers of its own (the word table is shared).
    pub fn new(bert: &Bert) -> candle_core::Result<Self> {
        let cfg = &bert.config;
        let emb = &bert.embeddings;
        Ok(FastBert {
            word: emb.word.clone(),
            position: vec1(emb.position.clone())?,
            token_type: vec1(emb.token_type.narrow(0, 0, 1)?)?,
            embedding_norm: Norm::new(&emb.norm)?,
            layers: bert
                .layers
                .iter()
                .map(FastLayer::new)
                .collect::<candle_core::Result<_>>()?,
            activation: cfg.hidden_act,
            hidden: cfg.hidden_size,
            heads: cfg.num_attention_heads,
            intermediate: cfg.intermediate_size,
            position_offset: cfg.position_offset,
            max_positions: cfg.max_tokens(),
        })
    }

    /// Length of each vector.
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// One pooled vector per sequence of token ids, `hidden` values each, row after row.
    /// A sequence without tokens gets a zero vector. `par` is the matmuls' own parallelism
    /// (for a call that is one of several running in parallel: `Parallelism::None`).
    pub fn embed(&self, seqs: &[&[u32]], pooling: Pooling, par: Parallelism) -> Result<Vec<f32>> {
        let h = self.hidden;
        let total: usize = seqs.iter().map(|s| s.len()).sum();
        let longest = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        if longest > self.max_positions {
            return Err(Error::msg(format!(
                "a sequence of {longest} tokens is longer than the model's {} positions",
                self.max_positions
            )));
        }
        let mut pooled = vec![0f32; seqs.len() * h];
        if total == 0 {
            return Ok(pooled);
        }
        let x = self.states(seqs, total, longest, par)?;
        let mut start = 0;
        for (s, out) in seqs.iter().zip(pooled.chunks_exact_mut(h)) {
            let n = s.len();
            if n == 0 {
                continue;
            }
            let rows = &x[start * h..(start + n) * h];
            start += n;
            match pooling {
                Pooling::Cls => out.copy_from_slice(&rows[..h]),
                Pooling::Mean => {
                    for row in rows.chunks_exact(h) {
                        crate::kernels::add(out, row);
                    }
                    let inv = 1.0 / n as f32;
                    out.iter_mut().for_each(|v| *v *= inv);
                }
                Pooling::Max => {
                    out.copy_from_slice(&rows[..h]);
                    for row in rows[h..].chunks_exact(h) {
                        for (o, &v) in out.iter_mut().zip(row) {
                            *o = o.max(v);
                        }
                    }
                }
            }
        }
        Ok(pooled)
    }

    /// The last layer's token states (total tokens, hidden) for the packed sequences.
    fn states(
        &self,
        seqs: &[&[u32]],
        total: usize,
        longest: usize,
        par: Parallelism,
    ) -> Result<Vec<f32>> {
        let (h, heads) = (self.hidden, self.heads);
        let hd = h / heads;
        let ids: Vec<u32> = seqs.iter().flat_map(|s| s.iter().copied()).collect();
        let ids = Tensor::from_vec(ids, total, self.word.device())?;
        let mut x = vec1(self.word.index_select(&ids, 0)?)?;
        // Sequences are packed, so token i of each is at position offset + i.
        let mut row = 0;
        for s in seqs {
            for i in 0..s.len() {
                let p = (self.position_offset + i) * h;
                let dst = &mut x[row * h..(row + 1) * h];
                crate::kernels::add(dst, &self.position[p..p + h]);
                crate::kernels::add(dst, &self.token_type);
                row += 1;
            }
        }
        self.embedding_norm.forward(&mut x);

        let mut qkv = vec![0f32; total * 3 * h];
        let mut context = vec![0f32; total * h];
        let mut inner = vec![0f32; total * self.intermediate];
        let mut scores = vec![0f32; longest * longest];
        let scale = 1.0 / (hd as f32).sqrt();
        for layer in &self.layers {
            layer.qkv.forward(&x, &mut qkv, par);
            let mut start = 0;
            for s in seqs {
                let n = s.len();
                if n == 0 {
                    continue;
                }
                let q = &qkv[start * 3 * h..(start + n) * 3 * h];
                let ctx = &mut context[start * h..(start + n) * h];
                let scores = &mut scores[..n * n];
                for head in 0..heads {
                    let col = head * hd;
                    // scores (n, n) = scale · Q (n, hd) · Kᵀ (hd, n); K read transposed in place.
                    matmul(
                        Out::new(scores, n, n, n, false),
                        In::new(&q[col..], n, hd, 3 * h, 1),
                        In::new(&q[h + col..], hd, n, 1, 3 * h),
                        scale,
                        Parallelism::None,
                    );
                    ops::softmax_rows(scores, n);
                    // context[:, head] (n, hd) = P (n, n) · V (n, hd)
                    matmul(
                        Out::new(&mut ctx[col..], n, hd, h, false),
                        In::new(scores, n, n, n, 1),
                        In::new(&q[2 * h + col..], n, hd, 3 * h, 1),
                        1.0,
                        Parallelism::None,
                    );
                }
                start += n;
            }
            layer.attention_out.forward_onto(&context, &mut x, par);
            layer.attention_norm.forward(&mut x);
            layer.intermediate.forward(&x, &mut inner, par);
            match self.activation {
                Activation::GeluErf => ops::gelu_erf(&mut inner),
            }
            layer.output.forward_onto(&inner, &mut x, par);
            layer.output_norm.forward(&mut x);
        }
        Ok(x)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::autodiff;
    use super::*;
    use candle_core::{DType, Device};
    use std::collections::HashMap;

    /// Random weights of a BERT with odd sizes (no dimension a multiple of a vector width),
    /// under `prefix`.
    pub(crate) fn weights(cfg: &Config, prefix: &str) -> HashMap<String, Tensor> {
        let dev = Device::Cpu;
        let mut rng = crate::rng::Rng::new(3);
        let mut rand = |shape: &[usize]| {
            let n: usize = shape.iter().product();
            let v: Vec<f32> = (0..n).map(|_| rng.normal() * 0.4).collect();
            Tensor::from_vec(v, shape, &dev).unwrap()
        };
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let mut w = HashMap::new();
        let e = format!("{prefix}embeddings");
        w.insert(
            format!("{e}.word_embeddings.weight"),
            rand(&[cfg.vocab_size, h]),
        );
        w.insert(
            format!("{e}.position_embeddings.weight"),
            rand(&[cfg.max_position_embeddings, h]),
        );
        w.insert(
            format!("{e}.token_type_embeddings.weight"),
            rand(&[cfg.type_vocab_size, h]),
        );
        w.insert(format!("{e}.LayerNorm.weight"), rand(&[h]));
        w.insert(format!("{e}.LayerNorm.bias"), rand(&[h]));
        for layer in 0..cfg.num_hidden_layers {
            let l = format!("{prefix}encoder.layer.{layer}");
            for (name, shape) in [
                ("attention.self.query", [h, h]),
                ("attention.self.key", [h, h]),
                ("attention.self.value", [h, h]),
                ("attention.output.dense", [h, h]),
                ("intermediate.dense", [i, h]),
                ("output.dense", [h, i]),
            ] {
                w.insert(format!("{l}.{name}.weight"), rand(&shape));
                w.insert(format!("{l}.{name}.bias"), rand(&shape[..1]));
            }
            for name in ["attention.output.LayerNorm", "output.LayerNorm"] {
                w.insert(format!("{l}.{name}.weight"), rand(&[h]));
                w.insert(format!("{l}.{name}.bias"), rand(&[h]));
            }
        }
        w
    }

    pub(crate) fn config(hidden: usize, heads: usize, inter: usize, offset: usize) -> Config {
        Config {
            vocab_size: 29,
            hidden_size: hidden,
            num_hidden_layers: 2,
            num_attention_heads: heads,
            intermediate_size: inter,
            max_position_embeddings: 40 + offset,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            hidden_act: Activation::GeluErf,
            pad_token_id: 1,
            position_offset: offset,
        }
    }

    /// The fast path against its oracle, the autodiff forward, on random weights and sequences
    /// of odd, mixed lengths (the autodiff path pads and masks them, the fast one packs them),
    /// for every pooling, BERT and XLM-R positions, serial and parallel matmuls.
    #[test]
    fn fast_path_matches_the_autodiff_oracle() {
        let dev = Device::Cpu;
        let lens = [1usize, 7, 13, 2, 33, 5, 17];
        let mut rng = crate::rng::Rng::new(9);
        let seqs: Vec<Vec<u32>> = lens
            .iter()
            .map(|&n| (0..n).map(|_| (rng.next_u64() % 29) as u32).collect())
            .collect();
        let longest = *lens.iter().max().unwrap();
        let mut ids = Vec::new();
        let mut mask = Vec::new();
        for s in &seqs {
            ids.extend(s.iter().copied().chain(std::iter::repeat(0)).take(longest));
            mask.extend((0..longest).map(|i| u8::from(i < s.len())));
        }
        let ids = Tensor::from_vec(ids, (seqs.len(), longest), &dev).unwrap();
        let mask = Tensor::from_vec(mask, (seqs.len(), longest), &dev).unwrap();
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();

        for (cfg, prefix) in [
            (config(15, 3, 37, 0), ""),
            (config(20, 4, 33, 2), "roberta."),
            (config(36, 2, 50, 0), "bert."),
        ] {
            let w = weights(&cfg, prefix);
            let vb = || VarBuilder::from_tensors(w.clone(), DType::F32, &dev);
            let plain = Bert::load(vb(), &cfg).unwrap();
            let fast = FastBert::load(vb(), &cfg).unwrap();
            let states = plain.forward(&ids, &mask).unwrap();
            for pooling in [Pooling::Mean, Pooling::Cls, Pooling::Max] {
                let want = match pooling {
                    Pooling::Mean => autodiff::mean_pool(&states, &mask),
                    Pooling::Cls => autodiff::cls_pool(&states),
                    Pooling::Max => autodiff::max_pool(&states, &mask),
                }
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
                for par in [Parallelism::None, Parallelism::Rayon(2)] {
                    let got = fast.embed(&refs, pooling, par).unwrap();
                    let diff = got
                        .iter()
                        .zip(&want)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0f32, f32::max);
                    assert!(
                        diff < 1e-4,
                        "h={} {pooling:?}: max diff {diff}",
                        cfg.hidden_size
                    );
                }
            }
        }
    }

    #[test]
    fn empty_and_overlong_sequences() {
        let dev = Device::Cpu;
        let cfg = config(15, 3, 37, 0);
        let fast = FastBert::load(
            VarBuilder::from_tensors(weights(&cfg, ""), DType::F32, &dev),
            &cfg,
        )
        .unwrap();
        // No tokens at all, and an empty text among others: zero vectors, no panic.
        assert_eq!(
            fast.embed(&[&[], &[]], Pooling::Mean, Parallelism::None)
                .unwrap(),
            vec![0.0; 30]
        );
        let out = fast
            .embed(&[&[3, 4], &[]], Pooling::Cls, Parallelism::None)
            .unwrap();
        assert!(out[..15].iter().any(|&v| v != 0.0) && out[15..].iter().all(|&v| v == 0.0));
        // More tokens than positions, or an id outside the vocabulary: errors.
        let long = vec![1u32; 41];
        let err = fast
            .embed(&[&long], Pooling::Mean, Parallelism::None)
            .unwrap_err();
        assert!(err.to_string().contains("41 tokens"), "{err}");
        assert!(fast
            .embed(&[&[3, 29]], Pooling::Mean, Parallelism::None)
            .is_err());
    }
}
