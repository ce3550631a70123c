//! A BERT encoder for inference, on candle tensors. RoBERTa / XLM-RoBERTa checkpoints are the
//! same network with two differences handled here: position ids start after the padding index
//! (`pad_token_id + 1`), and the weights may sit under a `roberta.` prefix.
//!
//! Inference only: the teacher is never trained, so this path may use fused, gradient-free ops
//! (`candle_nn::ops::layer_norm`, `softmax_last_dim`). Q, K and V are fused into one matmul.
//!
//! This is the plain version: the teacher runs [`super::fast::FastBert`], the same network on
//! packed f32 buffers with fused kernels, which is tested against this one.

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::VarBuilder;
use serde::Deserialize;

use crate::Result;

#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub pad_token_id: u32,
    /// The first position id of a sequence: 0 for BERT, `pad_token_id + 1` for (XLM-)RoBERTa.
    #[serde(skip)]
    pub position_offset: usize,
}

impl BertConfig {
    /// Positions a sequence may use: the table's rows after the offset.
    pub fn max_tokens(&self) -> usize {
        self.max_position_embeddings
            .saturating_sub(self.position_offset)
    }
}

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}

struct Linear {
    weight_t: Tensor,
    bias: Tensor,
}

impl Linear {
    fn load(vb: &VarBuilder, name: &str, inp: usize, out: usize) -> candle_core::Result<Self> {
        let weight = vb.pp(name).get((out, inp), "weight")?;
        let bias = vb.pp(name).get(out, "bias")?;
        Ok(Linear {
            weight_t: weight.t()?.contiguous()?,
            bias,
        })
    }
    fn from_parts(weight: Tensor, bias: Tensor) -> candle_core::Result<Self> {
        Ok(Linear {
            weight_t: weight.t()?.contiguous()?,
            bias,
        })
    }
}

impl Module for Linear {
    /// (rows, in) → (rows, out); callers flatten the batch and sequence axes first.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.matmul(&self.weight_t)?.broadcast_add(&self.bias)
    }
}

struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    fn load(vb: &VarBuilder, name: &str, size: usize, eps: f64) -> candle_core::Result<Self> {
        let vb = vb.pp(name);
        // Old checkpoints name the parameters gamma/beta.
        let weight = vb.get(size, "weight").or_else(|_| vb.get(size, "gamma"))?;
        let bias = vb.get(size, "bias").or_else(|_| vb.get(size, "beta"))?;
        Ok(LayerNorm {
            weight,
            bias,
            eps: eps as f32,
        })
    }
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

struct Layer {
    qkv: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

pub struct Bert {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    hidden: usize,
    position_offset: usize,
}

/// The weights' root: sentence-transformers checkpoints have no "bert." prefix; HF BertModel
/// ones do, and (XLM-)RoBERTa ones may have "roberta.".
pub(crate) fn model_root(vb: VarBuilder) -> VarBuilder {
    if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
        vb.pp("bert")
    } else if vb.contains_tensor("roberta.embeddings.word_embeddings.weight") {
        vb.pp("roberta")
    } else {
        vb
    }
}

impl Bert {
    pub fn load(vb: VarBuilder, cfg: &BertConfig) -> candle_core::Result<Self> {
        let vb = model_root(vb);
        let h = cfg.hidden_size;
        let emb = vb.pp("embeddings");
        let word = emb.get((cfg.vocab_size, h), "word_embeddings.weight")?;
        let position = emb.get(
            (cfg.max_position_embeddings, h),
            "position_embeddings.weight",
        )?;
        let token_type = emb.get((cfg.type_vocab_size, h), "token_type_embeddings.weight")?;
        let embedding_norm = LayerNorm::load(&emb, "LayerNorm", h, cfg.layer_norm_eps)?;
        // Not `with_capacity(num_hidden_layers)`: the count comes from config.json, and a huge
        // one must end at the first missing layer's weights, not in a failed allocation.
        let mut layers = Vec::new();
        for i in 0..cfg.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let a = l.pp("attention.self");
            let (q, k, v) = (
                Linear::load(&a, "query", h, h)?,
                Linear::load(&a, "key", h, h)?,
                Linear::load(&a, "value", h, h)?,
            );
            let weight = Tensor::cat(&[&q.weight_t, &k.weight_t, &v.weight_t], 1)?.t()?;
            let bias = Tensor::cat(&[&q.bias, &k.bias, &v.bias], 0)?;
            layers.push(Layer {
                qkv: Linear::from_parts(weight, bias)?,
                attention_out: Linear::load(&l, "attention.output.dense", h, h)?,
                attention_norm: LayerNorm::load(
                    &l,
                    "attention.output.LayerNorm",
                    h,
                    cfg.layer_norm_eps,
                )?,
                intermediate: Linear::load(&l, "intermediate.dense", h, cfg.intermediate_size)?,
                output: Linear::load(&l, "output.dense", cfg.intermediate_size, h)?,
                output_norm: LayerNorm::load(&l, "output.LayerNorm", h, cfg.layer_norm_eps)?,
            });
        }
        Ok(Bert {
            word,
            position,
            token_type,
            embedding_norm,
            layers,
            heads: cfg.num_attention_heads,
            hidden: h,
            position_offset: cfg.position_offset,
        })
    }

    /// Token states (batch, seq, hidden) for `ids` (batch, seq) with `mask` (batch, seq) of 1/0.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, l) = ids.dims2()?;
        let h = self.hidden;
        let words = self
            .word
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, l, h))?;
        // Sequences are padded on the right, so token i is at position offset + i (padding gets
        // other positions than in Hugging Face's code, but is masked out everywhere).
        let positions = self.position.narrow(0, self.position_offset, l)?;
        let types = self.token_type.narrow(0, 0, 1)?;
        let x = words.broadcast_add(&positions)?.broadcast_add(&types)?;
        let mut x = self.embedding_norm.forward(&x.reshape((b * l, h))?)?;
        // Additive mask: 0 for tokens, a large negative number for padding.
        let bias = ((mask.to_dtype(DType::F32)? - 1.0)? * 1e30)?.reshape((b, 1, 1, l))?;
        let (heads, hd) = (self.heads, h / self.heads);
        let scale = 1.0 / (hd as f64).sqrt();
        for layer in &self.layers {
            let qkv = layer.qkv.forward(&x)?.reshape((b, l, 3, heads, hd))?;
            let split = |i: usize| {
                qkv.narrow(2, i, 1)?
                    .squeeze(2)?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let (q, k, v) = (split(0)?, split(1)?, split(2)?);
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&bias)?;
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((b * l, h))?;
            let attended = layer
                .attention_norm
                .forward(&(layer.attention_out.forward(&context)? + &x)?)?;
            let inner = layer.intermediate.forward(&attended)?.gelu_erf()?;
            x = layer
                .output_norm
                .forward(&(layer.output.forward(&inner)? + attended)?)?;
        }
        Ok(x.reshape((b, l, h))?)
    }
}

pub fn cpu() -> Device {
    Device::Cpu
}

/// Pools token states into one vector per sequence.
pub fn mean_pool(states: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let summed = states.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?.clamp(1e-9, f64::INFINITY)?;
    Ok(summed.broadcast_div(&counts)?)
}

pub fn cls_pool(states: &Tensor) -> Result<Tensor> {
    Ok(states.narrow(1, 0, 1)?.squeeze(1)?)
}

pub fn max_pool(states: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let masked = states.broadcast_add(&((mask - 1.0)? * 1e30)?)?;
    Ok(masked.max(D::Minus2)?)
}

/// Every tensor of a BERT encoder with its shape, under Hugging Face's names (no model prefix),
/// in a fixed order: embeddings, then each layer's attention, feed-forward and layer norms.
pub fn tensor_shapes(
    vocab_size: usize,
    max_positions: usize,
    type_vocab_size: usize,
    hidden: usize,
    intermediate: usize,
    layers: usize,
) -> Vec<(String, Vec<usize>)> {
    let (h, i) = (hidden, intermediate);
    let mut out: Vec<(String, Vec<usize>)> = vec![
        (
            "embeddings.word_embeddings.weight".into(),
            vec![vocab_size, h],
        ),
        (
            "embeddings.position_embeddings.weight".into(),
            vec![max_positions, h],
        ),
        (
            "embeddings.token_type_embeddings.weight".into(),
            vec![type_vocab_size, h],
        ),
        ("embeddings.LayerNorm.weight".into(), vec![h]),
        ("embeddings.LayerNorm.bias".into(), vec![h]),
    ];
    for l in 0..layers {
        for (name, shape) in [
            ("attention.self.query.weight", vec![h, h]),
            ("attention.self.query.bias", vec![h]),
            ("attention.self.key.weight", vec![h, h]),
            ("attention.self.key.bias", vec![h]),
            ("attention.self.value.weight", vec![h, h]),
            ("attention.self.value.bias", vec![h]),
            ("attention.output.dense.weight", vec![h, h]),
            ("attention.output.dense.bias", vec![h]),
            ("attention.output.LayerNorm.weight", vec![h]),
            ("attention.output.LayerNorm.bias", vec![h]),
            ("intermediate.dense.weight", vec![i, h]),
            ("intermediate.dense.bias", vec![i]),
            ("output.dense.weight", vec![h, i]),
            ("output.dense.bias", vec![h]),
            ("output.LayerNorm.weight", vec![h]),
            ("output.LayerNorm.bias", vec![h]),
        ] {
            out.push((format!("encoder.layer.{l}.{name}"), shape));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn weights(max_pos: usize, position_rows: Tensor) -> HashMap<String, Tensor> {
        let dev = cpu();
        let mut seed = 0u64;
        let mut rand = |shape: &[usize]| {
            let n: usize = shape.iter().product();
            let mut rng = crate::rng::Rng::new(seed);
            seed += 1;
            let v: Vec<f32> = (0..n).map(|_| rng.normal() * 0.3).collect();
            Tensor::from_vec(v, shape, &dev).unwrap()
        };
        let (h, i) = (8, 16);
        let mut w = HashMap::new();
        w.insert("embeddings.word_embeddings.weight".into(), rand(&[10, h]));
        w.insert(
            "embeddings.token_type_embeddings.weight".into(),
            rand(&[1, h]),
        );
        w.insert("embeddings.LayerNorm.weight".into(), rand(&[h]));
        w.insert("embeddings.LayerNorm.bias".into(), rand(&[h]));
        for (name, shape) in [
            ("attention.self.query", [h, h]),
            ("attention.self.key", [h, h]),
            ("attention.self.value", [h, h]),
            ("attention.output.dense", [h, h]),
            ("intermediate.dense", [i, h]),
            ("output.dense", [h, i]),
        ] {
            w.insert(format!("encoder.layer.0.{name}.weight"), rand(&shape));
            w.insert(format!("encoder.layer.0.{name}.bias"), rand(&shape[..1]));
        }
        for name in ["attention.output.LayerNorm", "output.LayerNorm"] {
            w.insert(format!("encoder.layer.0.{name}.weight"), rand(&[h]));
            w.insert(format!("encoder.layer.0.{name}.bias"), rand(&[h]));
        }
        assert_eq!(position_rows.dims()[0], max_pos);
        w.insert(
            "embeddings.position_embeddings.weight".into(),
            position_rows,
        );
        w
    }

    fn config(max_pos: usize, offset: usize) -> BertConfig {
        BertConfig {
            vocab_size: 10,
            hidden_size: 8,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            intermediate_size: 16,
            max_position_embeddings: max_pos,
            type_vocab_size: 1,
            layer_norm_eps: 1e-12,
            hidden_act: "gelu".into(),
            pad_token_id: 1,
            position_offset: offset,
        }
    }

    /// An XLM-R model whose position table is a BERT table with two rows in front (padding
    /// index 1, so real tokens start at position 2) computes the same states.
    #[test]
    fn xlm_roberta_positions_start_after_the_padding_index() {
        let dev = cpu();
        let mut rng = crate::rng::Rng::new(7);
        let bert_rows: Vec<f32> = (0..6 * 8).map(|_| rng.normal()).collect();
        let bert_pos = Tensor::from_vec(bert_rows.clone(), (6, 8), &dev).unwrap();
        let mut xlmr_rows: Vec<f32> = (0..2 * 8).map(|_| 100.0 + rng.normal()).collect();
        xlmr_rows.extend(&bert_rows);
        let xlmr_pos = Tensor::from_vec(xlmr_rows, (8, 8), &dev).unwrap();

        let bert_cfg = config(6, 0);
        let xlmr_cfg = config(8, 2);
        assert_eq!(xlmr_cfg.max_tokens(), 6);
        let bert = Bert::load(
            VarBuilder::from_tensors(weights(6, bert_pos), DType::F32, &dev),
            &bert_cfg,
        )
        .unwrap();
        let mut xw = weights(8, xlmr_pos);
        // XLM-R checkpoints may carry a `roberta.` prefix.
        xw = xw
            .into_iter()
            .map(|(k, v)| (format!("roberta.{k}"), v))
            .collect();
        let xlmr = Bert::load(VarBuilder::from_tensors(xw, DType::F32, &dev), &xlmr_cfg).unwrap();

        let ids = Tensor::from_vec(vec![0u32, 5, 7, 2, 0, 3, 2, 1], (2, 4), &dev).unwrap();
        let mask = Tensor::from_vec(vec![1u8, 1, 1, 1, 1, 1, 1, 0], (2, 4), &dev).unwrap();
        let a = mean_pool(&bert.forward(&ids, &mask).unwrap(), &mask).unwrap();
        let b = mean_pool(&xlmr.forward(&ids, &mask).unwrap(), &mask).unwrap();
        let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-5);
    }
}
