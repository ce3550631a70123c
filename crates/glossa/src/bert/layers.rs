//! The encoder as typed layers, each built by `load(vb, …)` from Hugging Face's tensor names:
//! the one place those names are written. Both ways of running it start here: the autodiff
//! forward ([`super::autodiff`]) uses these tensors as they are (they may be the tensors of
//! candle `Var`s), the fast path ([`super::fast`]) repacks them into plain buffers.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use super::Config;

/// Hugging Face's BERT tensor names, relative to the model root (no `bert.` / `roberta.`
/// prefix); a layer's parts are relative to [`names::layer`].
pub mod names {
    pub const WORD: &str = "embeddings.word_embeddings";
    pub const POSITION: &str = "embeddings.position_embeddings";
    pub const TOKEN_TYPE: &str = "embeddings.token_type_embeddings";
    pub const EMBEDDING_NORM: &str = "embeddings.LayerNorm";
    pub const QUERY: &str = "attention.self.query";
    pub const KEY: &str = "attention.self.key";
    pub const VALUE: &str = "attention.self.value";
    pub const ATTENTION_OUT: &str = "attention.output.dense";
    pub const ATTENTION_NORM: &str = "attention.output.LayerNorm";
    pub const INTERMEDIATE: &str = "intermediate.dense";
    pub const OUTPUT: &str = "output.dense";
    pub const OUTPUT_NORM: &str = "output.LayerNorm";

    /// The prefix of layer `i`'s tensors.
    pub fn layer(i: usize) -> String {
        format!("encoder.layer.{i}")
    }
}

/// y = x·Wᵀ + b, with W stored as PyTorch stores it: (out, in).
pub struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl Linear {
    pub fn load(vb: VarBuilder, inp: usize, out: usize) -> candle_core::Result<Self> {
        Ok(Linear {
            weight: vb.get((out, inp), "weight")?,
            bias: vb.get(out, "bias")?,
        })
    }
}

pub struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub eps: f64,
}

impl LayerNorm {
    pub fn load(vb: VarBuilder, size: usize, eps: f64) -> candle_core::Result<Self> {
        // Old checkpoints name the parameters gamma/beta.
        let weight = vb.get(size, "weight").or_else(|_| vb.get(size, "gamma"))?;
        let bias = vb.get(size, "bias").or_else(|_| vb.get(size, "beta"))?;
        Ok(LayerNorm { weight, bias, eps })
    }
}

pub struct InputEmbeddings {
    /// (vocab_size, hidden)
    pub word: Tensor,
    /// (max_position_embeddings, hidden)
    pub position: Tensor,
    /// (type_vocab_size, hidden); every token is of type 0.
    pub token_type: Tensor,
    pub norm: LayerNorm,
}

impl InputEmbeddings {
    pub fn load(vb: &VarBuilder, cfg: &Config) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        Ok(InputEmbeddings {
            word: vb.pp(names::WORD).get((cfg.vocab_size, h), "weight")?,
            position: vb
                .pp(names::POSITION)
                .get((cfg.max_position_embeddings, h), "weight")?,
            token_type: vb
                .pp(names::TOKEN_TYPE)
                .get((cfg.type_vocab_size, h), "weight")?,
            norm: LayerNorm::load(vb.pp(names::EMBEDDING_NORM), h, cfg.layer_norm_eps)?,
        })
    }
}

/// One encoder layer: self-attention, then the feed-forward block, each followed by a residual
/// add and a layer norm (post-norm, as BERT).
pub struct Layer {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub attention_out: Linear,
    pub attention_norm: LayerNorm,
    pub intermediate: Linear,
    pub output: Linear,
    pub output_norm: LayerNorm,
}

impl Layer {
    /// Q, K and V as one (3·hidden, hidden) weight and its bias, rows in that order: the
    /// inference engines run the three projections as one matmul.
    pub fn fused_qkv(&self) -> candle_core::Result<(Tensor, Tensor)> {
        let (q, k, v) = (&self.query, &self.key, &self.value);
        Ok((
            Tensor::cat(&[&q.weight, &k.weight, &v.weight], 0)?,
            Tensor::cat(&[&q.bias, &k.bias, &v.bias], 0)?,
        ))
    }

    pub fn load(vb: VarBuilder, cfg: &Config) -> candle_core::Result<Self> {
        let (h, i, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
        Ok(Layer {
            query: Linear::load(vb.pp(names::QUERY), h, h)?,
            key: Linear::load(vb.pp(names::KEY), h, h)?,
            value: Linear::load(vb.pp(names::VALUE), h, h)?,
            attention_out: Linear::load(vb.pp(names::ATTENTION_OUT), h, h)?,
            attention_norm: LayerNorm::load(vb.pp(names::ATTENTION_NORM), h, eps)?,
            intermediate: Linear::load(vb.pp(names::INTERMEDIATE), h, i)?,
            output: Linear::load(vb.pp(names::OUTPUT), i, h)?,
            output_norm: LayerNorm::load(vb.pp(names::OUTPUT_NORM), h, eps)?,
        })
    }
}

pub struct Bert {
    pub embeddings: InputEmbeddings,
    pub layers: Vec<Layer>,
    pub config: Config,
}

impl Bert {
    /// The encoder of `cfg`'s shape from `vb`, under any of the roots [`model_root`] knows.
    pub fn load(vb: VarBuilder, cfg: &Config) -> candle_core::Result<Self> {
        let vb = model_root(vb);
        let embeddings = InputEmbeddings::load(&vb, cfg)?;
        // Not `with_capacity(num_hidden_layers)`: the count comes from config.json, and a huge
        // one must end at the first missing layer's weights, not in a failed allocation.
        let mut layers = Vec::new();
        for i in 0..cfg.num_hidden_layers {
            layers.push(Layer::load(vb.pp(names::layer(i)), cfg)?);
        }
        Ok(Bert {
            embeddings,
            layers,
            config: cfg.clone(),
        })
    }

    /// Every tensor under its Hugging Face name (no prefix), in [`tensor_shapes`]' order.
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        let e = &self.embeddings;
        let mut out = vec![
            (format!("{}.weight", names::WORD), e.word.clone()),
            (format!("{}.weight", names::POSITION), e.position.clone()),
            (
                format!("{}.weight", names::TOKEN_TYPE),
                e.token_type.clone(),
            ),
            (
                format!("{}.weight", names::EMBEDDING_NORM),
                e.norm.weight.clone(),
            ),
            (
                format!("{}.bias", names::EMBEDDING_NORM),
                e.norm.bias.clone(),
            ),
        ];
        for (i, layer) in self.layers.iter().enumerate() {
            let prefix = names::layer(i);
            for (part, weight, bias) in layer.parts() {
                out.push((format!("{prefix}.{part}.weight"), weight.clone()));
                out.push((format!("{prefix}.{part}.bias"), bias.clone()));
            }
        }
        out
    }
}

impl Layer {
    /// Each part's name, weight and bias, in [`tensor_shapes`]' order.
    fn parts(&self) -> [(&'static str, &Tensor, &Tensor); 8] {
        let (q, k, v) = (&self.query, &self.key, &self.value);
        let (a, an) = (&self.attention_out, &self.attention_norm);
        let (i, o, on) = (&self.intermediate, &self.output, &self.output_norm);
        [
            (names::QUERY, &q.weight, &q.bias),
            (names::KEY, &k.weight, &k.bias),
            (names::VALUE, &v.weight, &v.bias),
            (names::ATTENTION_OUT, &a.weight, &a.bias),
            (names::ATTENTION_NORM, &an.weight, &an.bias),
            (names::INTERMEDIATE, &i.weight, &i.bias),
            (names::OUTPUT, &o.weight, &o.bias),
            (names::OUTPUT_NORM, &on.weight, &on.bias),
        ]
    }
}

/// The weights' root: sentence-transformers checkpoints have no "bert." prefix; HF BertModel
/// ones do, and (XLM-)RoBERTa ones may have "roberta.".
pub fn model_root(vb: VarBuilder) -> VarBuilder {
    let word = format!("{}.weight", names::WORD);
    if vb.contains_tensor(&format!("bert.{word}")) {
        vb.pp("bert")
    } else if vb.contains_tensor(&format!("roberta.{word}")) {
        vb.pp("roberta")
    } else {
        vb
    }
}

/// Every tensor of a BERT encoder with its shape, under Hugging Face's names (no model prefix),
/// in a fixed order: embeddings, then each layer's attention, feed-forward and layer norms.
/// (The order matters: a student initialised from scratch draws its weights in it.)
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
        (format!("{}.weight", names::WORD), vec![vocab_size, h]),
        (
            format!("{}.weight", names::POSITION),
            vec![max_positions, h],
        ),
        (
            format!("{}.weight", names::TOKEN_TYPE),
            vec![type_vocab_size, h],
        ),
        (format!("{}.weight", names::EMBEDDING_NORM), vec![h]),
        (format!("{}.bias", names::EMBEDDING_NORM), vec![h]),
    ];
    for l in 0..layers {
        let layer = names::layer(l);
        for (part, weight) in [
            (names::QUERY, vec![h, h]),
            (names::KEY, vec![h, h]),
            (names::VALUE, vec![h, h]),
            (names::ATTENTION_OUT, vec![h, h]),
            (names::ATTENTION_NORM, vec![h]),
            (names::INTERMEDIATE, vec![i, h]),
            (names::OUTPUT, vec![h, i]),
            (names::OUTPUT_NORM, vec![h]),
        ] {
            let bias = vec![weight[0]];
            out.push((format!("{layer}.{part}.weight"), weight));
            out.push((format!("{layer}.{part}.bias"), bias));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use std::collections::HashMap;

    /// The names the loader reads and the names [`tensor_shapes`] lists (which the student
    /// writes) are the same set: a model of exactly those tensors loads, and one without any
    /// of them does not.
    #[test]
    fn the_loader_reads_exactly_the_listed_tensors() {
        let cfg = super::super::parse_config(
            r#"{"model_type": "bert", "hidden_size": 6, "intermediate_size": 10,
                "max_position_embeddings": 9, "num_attention_heads": 2, "num_hidden_layers": 2,
                "vocab_size": 7, "type_vocab_size": 3}"#,
            std::path::Path::new("config.json"),
        )
        .unwrap();
        let shapes = tensor_shapes(7, 9, 3, 6, 10, 2);
        assert_eq!(shapes.len(), 5 + 2 * 16);
        let all: HashMap<String, Tensor> = shapes
            .iter()
            .map(|(name, dims)| {
                let t = Tensor::zeros(dims.as_slice(), DType::F32, &Device::Cpu).unwrap();
                (name.clone(), t)
            })
            .collect();
        let load = |w: HashMap<String, Tensor>| {
            Bert::load(VarBuilder::from_tensors(w, DType::F32, &Device::Cpu), &cfg)
        };
        let bert = load(all.clone()).unwrap();
        assert_eq!(bert.layers.len(), 2);
        // And the loaded layers name their tensors back the same way, in the same order.
        let named: Vec<(String, Vec<usize>)> = bert
            .named_tensors()
            .into_iter()
            .map(|(name, t)| (name, t.dims().to_vec()))
            .collect();
        assert_eq!(named, shapes);
        for (name, _) in &shapes {
            let mut fewer = all.clone();
            fewer.remove(name);
            assert!(load(fewer).is_err(), "{name} is listed but not read");
        }
    }
}
