//! The encoder's forward pass on candle tensors, with a backward for every op: the Transformer
//! student trains through it (its weights are then the tensors of candle `Var`s), and it is the
//! oracle the fast path is tested against.
//!
//! Layer norm is built from mean/sub/sqr/sqrt/div and softmax is candle's composed
//! `ops::softmax` (max/exp/sum/div): candle's fused `layer_norm` and `softmax_last_dim` have
//! no backward, so a model built on them leaves parameters untrained without any error. GELU
//! is `gelu_erf`, the erf form BERT and PyTorch use.
//!
//! Batches are padded on the right to their longest member, with a mask of 1 (token) / 0
//! (padding).

use candle_core::{DType, Tensor, D};

use super::layers::{Bert, InputEmbeddings, Layer, LayerNorm, Linear};
use super::Activation;
use crate::Result;

impl Linear {
    /// (rows, in) → (rows, out); callers flatten the batch and sequence axes first.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)
    }
}

impl LayerNorm {
    /// Over the last axis, variance with 1/n as PyTorch's.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        normed
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)
    }
}

impl Activation {
    fn forward(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Activation::GeluErf => x.gelu_erf(),
        }
    }
}

impl InputEmbeddings {
    /// Token `i` of every sequence is at position `offset + i` (sequences are padded on the
    /// right; padding gets other positions than in Hugging Face's code, but is masked out).
    fn forward(&self, ids: &Tensor, offset: usize) -> candle_core::Result<Tensor> {
        let (b, l) = ids.dims2()?;
        let h = self.word.dim(1)?;
        let words = self
            .word
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, l, h))?;
        let positions = self.position.narrow(0, offset, l)?;
        let types = self.token_type.narrow(0, 0, 1)?;
        let x = words.broadcast_add(&positions)?.broadcast_add(&types)?;
        self.norm.forward(&x.reshape((b * l, h))?)
    }
}

impl Layer {
    /// `x` (batch·seq, hidden) → the same shape; `bias` (batch, 1, 1, seq) is added to the
    /// attention scores.
    fn forward(
        &self,
        x: &Tensor,
        bias: &Tensor,
        (b, l): (usize, usize),
        heads: usize,
        act: Activation,
    ) -> candle_core::Result<Tensor> {
        let h = x.dim(1)?;
        let hd = h / heads;
        let split = |linear: &Linear| -> candle_core::Result<Tensor> {
            linear
                .forward(x)?
                .reshape((b, l, heads, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, k, v) = (split(&self.query)?, split(&self.key)?, split(&self.value)?);
        let scale = 1.0 / (hd as f64).sqrt();
        let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(bias)?;
        let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
        let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((b * l, h))?;
        let attended = self
            .attention_norm
            .forward(&(self.attention_out.forward(&context)? + x)?)?;
        let inner = act.forward(&self.intermediate.forward(&attended)?)?;
        self.output_norm
            .forward(&(self.output.forward(&inner)? + attended)?)
    }
}

impl Bert {
    /// Token states (batch, seq, hidden) for `ids` (batch, seq; u32) with `mask` (batch, seq;
    /// 1 for tokens, 0 for padding, of any dtype).
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, l) = ids.dims2()?;
        let cfg = &self.config;
        let mut x = self.embeddings.forward(ids, cfg.position_offset)?;
        // Additive mask: 0 for tokens, a large negative number for padding.
        let bias = ((mask.to_dtype(DType::F32)? - 1.0)? * 1e30)?.reshape((b, 1, 1, l))?;
        for layer in &self.layers {
            x = layer.forward(&x, &bias, (b, l), cfg.num_attention_heads, cfg.hidden_act)?;
        }
        Ok(x.reshape((b, l, cfg.hidden_size))?)
    }
}

/// The mean of each sequence's token states: (batch, seq, hidden) → (batch, hidden).
pub fn mean_pool(states: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let summed = states.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?.clamp(1e-9, f64::INFINITY)?;
    Ok(summed.broadcast_div(&counts)?)
}

/// The first token's state.
pub fn cls_pool(states: &Tensor) -> Result<Tensor> {
    Ok(states.narrow(1, 0, 1)?.squeeze(1)?)
}

/// The largest value of each dimension over each sequence's tokens.
pub fn max_pool(states: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let masked = states.broadcast_add(&((mask - 1.0)? * 1e30)?)?;
    Ok(masked.max(D::Minus2)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bert::Config;
    use candle_core::Device;
    use candle_nn::VarBuilder;
    use std::collections::HashMap;

    fn weights(max_pos: usize, position_rows: Tensor) -> HashMap<String, Tensor> {
        let dev = Device::Cpu;
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

    fn config(max_pos: usize, offset: usize) -> Config {
        Config {
            vocab_size: 10,
            hidden_size: 8,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            intermediate_size: 16,
            max_position_embeddings: max_pos,
            type_vocab_size: 1,
            layer_norm_eps: 1e-12,
            hidden_act: Activation::GeluErf,
            pad_token_id: 1,
            position_offset: offset,
        }
    }

    /// An XLM-R model whose position table is a BERT table with two rows in front (padding
    /// index 1, so real tokens start at position 2) computes the same states.
    #[test]
    fn xlm_roberta_positions_start_after_the_padding_index() {
        let dev = Device::Cpu;
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
