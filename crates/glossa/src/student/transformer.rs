//! The Transformer student: a BERT with fewer layers (and optionally a narrower hidden size) than
//! its teacher, initialised from a chosen subset of the teacher's layers (DistilBERT takes every
//! other one) or from scratch, and trained with candle's autodiff (`crate::train::autodiff`).
//!
//! The network is the teacher's ([`crate::bert`]): the same typed layers under the same tensor
//! names, run through their autodiff forward ([`crate::bert::autodiff`]), where every op has a
//! backward. The weights are kept by name (the file format's view); a forward pass builds the
//! typed layers over those very tensors.
//!
//! A saved student directory is also a sentence-transformers directory (`config.json`,
//! `model.safetensors` under Hugging Face's BERT tensor names, the tokenizer files, `modules.json`
//! with mean pooling, an optional `Dense` projection and `Normalize`), so
//! `SentenceTransformer(dir)` loads it and computes the same vectors
//! (`scripts/check-st-export.sh`). `student.json` adds what glossa needs: the shape, the teacher,
//! and checksums of the weight files.

use std::collections::BTreeMap;
use std::path::Path;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tokenizers::{PaddingParams, Tokenizer};

use super::table::Precision;
use super::STUDENT_FILE;
use crate::bert::layers::{names, InputEmbeddings, Layer, Linear};
use crate::bert::Bert;
use crate::hub::ModelDir;
use crate::{Embeddings, Encoder, Error, Result};

pub const FORMAT: &str = "glossa-transformer/1";

/// Where the projection to the teacher's width lives: sentence-transformers' `Dense` module.
const DENSE_DIR: &str = "2_Dense";
/// The projection's tensors, `projection.weight` / `projection.bias` (saved as the `Dense`
/// module's `linear.*`).
const PROJECTION: &str = "projection";
/// The tensor whose gradient is zero by construction (see [`TransformerShape::trainable`]).
const KEY_BIAS: &str = "attention.self.key.bias";
/// Tokenizer side files copied from the teacher when it has them (Hugging Face's
/// `AutoTokenizer` reads `tokenizer_config.json`; the rest are for older loaders).
const TOKENIZER_SIDE_FILES: [&str; 4] = [
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "sentencepiece.bpe.model",
];

/// The network's shape; saved in `student.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformerShape {
    /// The teacher's `model_type` (bert, roberta, xlm-roberta), written to `config.json`.
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    pub pad_token_id: u32,
    /// The first position id (0 for BERT, `pad_token_id + 1` for (XLM-)RoBERTa).
    pub position_offset: usize,
    /// Texts are truncated to this many tokens.
    pub max_tokens: usize,
    /// The teacher's width; a `Dense` projection is added when `hidden_size` differs.
    pub output_dim: usize,
}

impl TransformerShape {
    /// Every tensor with its shape, in a fixed order. Names are Hugging Face's BERT names; the
    /// projection, when there is one, is `projection.weight` / `projection.bias`.
    pub fn tensors(&self) -> Vec<(String, Vec<usize>)> {
        let mut out = crate::bert::tensor_shapes(
            self.vocab_size,
            self.max_position_embeddings,
            self.type_vocab_size,
            self.hidden_size,
            self.intermediate_size,
            self.num_layers,
        );
        if self.has_projection() {
            out.push((
                format!("{PROJECTION}.weight"),
                vec![self.output_dim, self.hidden_size],
            ));
            out.push((format!("{PROJECTION}.bias"), vec![self.output_dim]));
        }
        out
    }

    /// The encoder's configuration. Its activation is BERT's GELU, the one `config.json` is
    /// written with (a teacher with another is refused when its config is read).
    pub fn bert_config(&self) -> crate::bert::Config {
        crate::bert::Config {
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            num_hidden_layers: self.num_layers,
            num_attention_heads: self.num_heads,
            intermediate_size: self.intermediate_size,
            max_position_embeddings: self.max_position_embeddings,
            type_vocab_size: self.type_vocab_size,
            layer_norm_eps: self.layer_norm_eps,
            hidden_act: crate::bert::Activation::GeluErf,
            pad_token_id: self.pad_token_id,
            position_offset: self.position_offset,
        }
    }

    pub fn has_projection(&self) -> bool {
        self.hidden_size != self.output_dim
    }

    /// Whether training updates tensor `name`. The key bias does not: q·(k_j + b) = q·k_j + q·b
    /// adds the same number to every key's score for a query, which softmax ignores, so its
    /// gradient is exactly zero and it is kept as it was initialised (copied, or zero).
    pub fn trainable(name: &str) -> bool {
        !name.ends_with(KEY_BIAS)
    }

    /// Sizes that are zero, that do not divide, or that no text could use are refused before
    /// anything is allocated.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_heads", self.num_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
            ("max_tokens", self.max_tokens),
            ("output_dim", self.output_dim),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{field} is 0"));
        }
        if !self.hidden_size.is_multiple_of(self.num_heads) {
            return Err(format!(
                "hidden_size {} is not a multiple of num_heads {}",
                self.hidden_size, self.num_heads
            ));
        }
        if self.position_offset + self.max_tokens > self.max_position_embeddings {
            return Err(format!(
                "max_tokens {} from position {} needs more than the {} position embeddings",
                self.max_tokens, self.position_offset, self.max_position_embeddings
            ));
        }
        let params: Option<usize> = self.tensors().iter().try_fold(0usize, |acc, (_, s)| {
            acc.checked_add(s.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?)
        });
        if params.is_none_or(|p| p > (1 << 34)) {
            return Err("too many parameters to hold in memory".into());
        }
        Ok(())
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedConfig {
    format: String,
    #[serde(flatten)]
    shape: TransformerShape,
    /// The teacher it was distilled from and how it was initialised; informational.
    #[serde(default)]
    teacher: String,
    #[serde(default)]
    init: String,
    /// How the weights are stored: f32 (loadable by sentence-transformers), or int8 with a scale
    /// per row for every matrix (glossa only; dequantised to f32 when loaded).
    #[serde(default = "f32_precision")]
    precision: String,
    /// xxh3-64 of each weight file, by path relative to the directory; checked on load.
    checksums: BTreeMap<String, String>,
}

fn f32_precision() -> String {
    "f32".into()
}

pub struct TransformerStudent {
    pub shape: TransformerShape,
    /// Every tensor of [`TransformerShape::tensors`], f32. While training, the trainable ones
    /// are the tensors of candle `Var`s (same storage), so optimizer steps show here.
    weights: BTreeMap<String, Tensor>,
    /// Padding off (batches are padded here), truncation at `max_tokens`.
    tokenizer: Tokenizer,
    /// Tokenizer side files copied from the teacher (name, bytes), written with the student.
    side_files: Vec<(String, Vec<u8>)>,
    pub teacher: String,
    pub init: String,
    name: String,
    size_on_disk: Option<u64>,
    /// Sentences per forward pass when encoding.
    pub batch_size: usize,
}

fn cpu() -> Device {
    Device::Cpu
}

/// The student's network: the BERT encoder (`crate::bert`, run through its autodiff forward),
/// mean pooling, and the projection to the teacher's width when there is one.
struct Network {
    bert: Bert,
    projection: Option<Linear>,
}

impl Network {
    fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let states = self.bert.forward(ids, mask)?;
        let pooled = crate::bert::mean_pool(&states, mask)?;
        match &self.projection {
            Some(projection) => Ok(projection.forward(&pooled)?),
            None => Ok(pooled),
        }
    }
}

impl TransformerStudent {
    /// A student whose layer `i` is the teacher's layer `layers[i]`, with the teacher's
    /// embeddings, tokenizer and width. `max_tokens` caps the teacher's own limit.
    pub fn from_teacher(dir: &ModelDir, layers: &[usize], max_tokens: usize) -> Result<Self> {
        let config_path = dir.required("config.json")?;
        let text = crate::error::read_to_string(&config_path)?;
        let config = crate::bert::parse_config(&text, &config_path)?;
        if layers.is_empty() {
            return Err(Error::msg("a Transformer student needs at least one layer"));
        }
        if let Some(&bad) = layers.iter().find(|&&l| l >= config.num_hidden_layers) {
            return Err(Error::invalid(
                &config_path,
                format!(
                    "the student asks for teacher layer {bad}, but the teacher has {} (0 to {})",
                    config.num_hidden_layers,
                    config.num_hidden_layers.saturating_sub(1)
                ),
            ));
        }
        let model_type: serde_json::Value = crate::error::parse_json(&text, &config_path)?;
        let shape = TransformerShape {
            model_type: model_type["model_type"]
                .as_str()
                .unwrap_or("bert")
                .to_string(),
            vocab_size: config.vocab_size,
            hidden_size: config.hidden_size,
            num_layers: layers.len(),
            num_heads: config.num_attention_heads,
            intermediate_size: config.intermediate_size,
            max_position_embeddings: config.max_position_embeddings,
            type_vocab_size: config.type_vocab_size,
            layer_norm_eps: config.layer_norm_eps,
            pad_token_id: config.pad_token_id,
            position_offset: config.position_offset,
            max_tokens: max_tokens.min(config.max_tokens()),
            output_dim: config.hidden_size,
        };
        shape
            .validate()
            .map_err(|e| Error::invalid(&config_path, e))?;
        let weights_path = dir.required("model.safetensors")?;
        let picked = teacher_layers(&weights_path, &config, layers)?;
        let weights: BTreeMap<String, Tensor> = picked.named_tensors().into_iter().collect();
        let mut student = Self::assemble(shape, weights, &dir.required("tokenizer.json")?)?;
        student.side_files = TOKENIZER_SIDE_FILES
            .iter()
            .filter(|f| dir.file(f).is_file())
            .map(|f| Ok((f.to_string(), crate::error::read(dir.file(f))?)))
            .collect::<Result<_>>()?;
        student.teacher = dir.name.clone();
        student.init = format!("teacher layers {layers:?}");
        Ok(student)
    }

    /// A student with random weights (normal, σ = 0.02, as BERT's init; biases 0, layer-norm
    /// gains 1) and the given tokenizer file.
    pub fn scratch(shape: TransformerShape, tokenizer: &Path, seed: u64) -> Result<Self> {
        shape.validate().map_err(Error::msg)?;
        let mut rng = crate::rng::Rng::new(seed);
        let mut weights = BTreeMap::new();
        for (name, dims) in shape.tensors() {
            let n: usize = dims.iter().product();
            let values: Vec<f32> = if name.ends_with("LayerNorm.weight") {
                vec![1.0; n]
            } else if name.ends_with(".bias") {
                vec![0.0; n]
            } else {
                (0..n).map(|_| rng.normal() * 0.02).collect()
            };
            weights.insert(name, Tensor::from_vec(values, dims, &cpu())?);
        }
        let mut student = Self::assemble(shape, weights, tokenizer)?;
        student.init = format!("scratch, seed {seed}");
        Ok(student)
    }

    fn assemble(
        shape: TransformerShape,
        weights: BTreeMap<String, Tensor>,
        tokenizer: &Path,
    ) -> Result<Self> {
        let tokenizer = crate::teacher::load_tokenizer(tokenizer, shape.max_tokens)?;
        if tokenizer.get_vocab_size(true) > shape.vocab_size {
            tracing::warn!(
                "the tokenizer knows {} tokens, the embedding table has {} rows",
                tokenizer.get_vocab_size(true),
                shape.vocab_size
            );
        }
        Ok(TransformerStudent {
            shape,
            weights,
            tokenizer,
            side_files: Vec::new(),
            teacher: String::new(),
            init: String::new(),
            name: "transformer student".into(),
            size_on_disk: None,
            batch_size: 32,
        })
    }

    pub fn weight(&self, name: &str) -> Option<&Tensor> {
        self.weights.get(name)
    }

    /// Replaces a tensor (same shape; used by training to swap variables in and out).
    pub(crate) fn set_weight(&mut self, name: &str, t: Tensor) {
        self.weights.insert(name.to_string(), t);
    }

    pub fn weights(&self) -> &BTreeMap<String, Tensor> {
        &self.weights
    }

    /// Turns every trainable tensor into a candle `Var` and returns them, named; the student's
    /// forward pass then records the graph for `backward`.
    pub fn make_trainable(&mut self) -> Result<Vec<(String, Var)>> {
        let mut vars = Vec::new();
        for (name, t) in self.weights.iter_mut() {
            if TransformerShape::trainable(name) {
                let var = Var::from_tensor(t)?;
                *t = var.as_tensor().clone();
                vars.push((name.clone(), var));
            }
        }
        Ok(vars)
    }

    /// Ends training: the tensors stop being variables, so encoding records no graph.
    pub fn freeze(&mut self) {
        for t in self.weights.values_mut() {
            *t = t.detach();
        }
    }

    /// Token ids of `text`, truncated to `max_tokens`, special tokens included.
    pub fn token_ids(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::model(&self.name, format!("tokenization failed: {e}")))?;
        Ok(encodings
            .into_iter()
            .map(|e| e.get_ids().to_vec())
            .collect())
    }

    /// The batch as (ids, mask) tensors, padded on the right to its longest member (at least
    /// one position, so a batch of empty texts is not an empty axis).
    pub fn batch_tensors(&self, batch: &[&[u32]]) -> Result<(Tensor, Tensor)> {
        let longest = batch.iter().map(|t| t.len()).max().unwrap_or(0).max(1);
        let mut ids = Vec::with_capacity(batch.len() * longest);
        let mut mask = Vec::with_capacity(batch.len() * longest);
        for t in batch {
            let n = t.len().min(longest);
            ids.extend_from_slice(&t[..n]);
            ids.extend(std::iter::repeat_n(self.shape.pad_token_id, longest - n));
            mask.extend(std::iter::repeat_n(1f32, n));
            mask.extend(std::iter::repeat_n(0f32, longest - n));
        }
        let dims = (batch.len(), longest);
        Ok((
            Tensor::from_vec(ids, dims, &cpu())?,
            Tensor::from_vec(mask, dims, &cpu())?,
        ))
    }

    /// The network over the current weights: the same tensors, so while training (when they
    /// are the tensors of `Var`s) a forward pass through it records the graph.
    fn network(&self) -> Result<Network> {
        let tensors: HashMap<String, Tensor> = self
            .weights
            .iter()
            .map(|(name, t)| (name.clone(), t.clone()))
            .collect();
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &cpu());
        let s = &self.shape;
        let projection = s
            .has_projection()
            .then(|| Linear::load(vb.pp(PROJECTION), s.hidden_size, s.output_dim))
            .transpose()?;
        Ok(Network {
            bert: Bert::load(vb, &s.bert_config())?,
            projection,
        })
    }

    /// Sentence vectors (batch, output_dim) before normalisation: mean of the token states over
    /// `mask` (batch, seq; f32 1/0), projected when the student is narrower than its teacher.
    /// Differentiable when the weights are `Var`s.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        self.network()?.forward(ids, mask)
    }

    /// Writes the student (f32): a sentence-transformers directory plus `student.json`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        self.save_as(dir, Precision::F32)
    }

    /// Saves with every matrix stored at `precision`. Int8 keeps one f32 scale per row (the
    /// largest |value| / 127) in a tensor `<name>_scale`; vectors (biases, layer-norm gains)
    /// stay f32. Only the f32 form is a sentence-transformers directory; f16 is not offered.
    pub fn save_as(&self, dir: &Path, precision: Precision) -> Result<()> {
        if self.size_on_disk.is_some() {
            // Loaded from a directory (named after it): never rewritten in place.
            crate::io::refuse_same(Path::new(&self.name), dir)?;
        }
        if matches!(precision, Precision::F16 | Precision::Int4) {
            return Err(Error::msg(format!(
                "the Transformer student is stored as f32 or int8 ({precision:?} is not implemented)"
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let s = &self.shape;
        let mut main = Vec::new();
        let mut dense = Vec::new();
        for (name, dims) in s.tensors() {
            let values: Vec<f32> = self.weights[&name].flatten_all()?.to_vec1()?;
            let (target, name) = match name.strip_prefix("projection.") {
                Some(rest) => (&mut dense, format!("linear.{rest}")),
                None => (&mut main, name),
            };
            if precision == Precision::Int8 && dims.len() == 2 {
                let (q, scales) = quantize_rows(&values, dims[1]);
                target.push((name.clone(), safetensors::Dtype::I8, dims.clone(), q));
                target.push((
                    format!("{name}_scale"),
                    safetensors::Dtype::F32,
                    vec![dims[0]],
                    f32_bytes(&scales),
                ));
            } else {
                target.push((name, safetensors::Dtype::F32, dims, f32_bytes(&values)));
            }
        }
        let mut checksums = BTreeMap::new();
        let mut write_weights =
            |rel: &str, tensors: &[(String, safetensors::Dtype, Vec<usize>, Vec<u8>)]| {
                let views = tensors.iter().map(|(name, dtype, dims, bytes)| {
                    let view = safetensors::tensor::TensorView::new(*dtype, dims.clone(), bytes)
                        .expect("shape matches");
                    (name.clone(), view)
                });
                let blob = safetensors::serialize(views, None)
                    .map_err(|e| Error::msg(format!("serialising weights: {e}")))?;
                crate::io::write_atomic(dir.join(rel), &blob)?;
                checksums.insert(
                    rel.to_string(),
                    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&blob)),
                );
                Ok::<_, Error>(())
            };
        write_weights("model.safetensors", &main)?;
        let json = |v: serde_json::Value| serde_json::to_vec_pretty(&v).expect("json");
        let mut modules = vec![
            serde_json::json!({"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}),
            serde_json::json!({"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}),
        ];
        if s.has_projection() {
            write_weights(&format!("{DENSE_DIR}/model.safetensors"), &dense)?;
            crate::io::write_atomic(
                dir.join(DENSE_DIR).join("config.json"),
                &json(serde_json::json!({
                    "in_features": s.hidden_size, "out_features": s.output_dim, "bias": true,
                    "activation_function": "torch.nn.modules.linear.Identity"
                })),
            )?;
            modules.push(serde_json::json!({"idx": 2, "name": "2", "path": DENSE_DIR, "type": "sentence_transformers.models.Dense"}));
        }
        let n = modules.len();
        let normalize_dir = format!("{n}_Normalize");
        std::fs::create_dir_all(dir.join(&normalize_dir))
            .map_err(|e| Error::io(dir.join(&normalize_dir), e))?;
        modules.push(serde_json::json!({"idx": n, "name": n.to_string(), "path": normalize_dir, "type": "sentence_transformers.models.Normalize"}));
        crate::io::write_atomic(
            dir.join("modules.json"),
            &json(serde_json::Value::from(modules)),
        )?;
        crate::io::write_atomic(
            dir.join("1_Pooling").join("config.json"),
            &json(serde_json::json!({
                "word_embedding_dimension": s.hidden_size,
                "pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true,
                "pooling_mode_max_tokens": false, "pooling_mode_mean_sqrt_len_tokens": false
            })),
        )?;
        crate::io::write_atomic(
            dir.join("sentence_bert_config.json"),
            &json(serde_json::json!({"max_seq_length": s.max_tokens, "do_lower_case": false})),
        )?;
        let architecture = match s.model_type.as_str() {
            "xlm-roberta" => "XLMRobertaModel",
            "roberta" => "RobertaModel",
            _ => "BertModel",
        };
        crate::io::write_atomic(
            dir.join("config.json"),
            &json(serde_json::json!({
                "architectures": [architecture], "model_type": s.model_type,
                "vocab_size": s.vocab_size, "hidden_size": s.hidden_size,
                "num_hidden_layers": s.num_layers, "num_attention_heads": s.num_heads,
                "intermediate_size": s.intermediate_size, "hidden_act": "gelu",
                "max_position_embeddings": s.max_position_embeddings,
                "type_vocab_size": s.type_vocab_size, "layer_norm_eps": s.layer_norm_eps,
                "pad_token_id": s.pad_token_id, "hidden_dropout_prob": 0.1,
                "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
                "position_embedding_type": "absolute"
            })),
        )?;
        // The shipped tokenizer may pad to a fixed length; batch-longest is what any reader of
        // this file wants.
        let mut tokenizer = self.tokenizer.clone();
        let pad_token = tokenizer
            .id_to_token(s.pad_token_id)
            .unwrap_or_else(|| "[PAD]".into());
        tokenizer.with_padding(Some(PaddingParams {
            pad_id: s.pad_token_id,
            pad_token,
            ..Default::default()
        }));
        let text = tokenizer
            .to_string(false)
            .map_err(|e| Error::msg(format!("serialising the tokenizer: {e}")))?;
        crate::io::write_atomic(dir.join("tokenizer.json"), text.as_bytes())?;
        for (name, bytes) in &self.side_files {
            crate::io::write_atomic(dir.join(name), bytes)?;
        }
        // Written last, with the weights' checksums: a directory is complete once it exists.
        let saved = SavedConfig {
            format: FORMAT.into(),
            shape: s.clone(),
            teacher: self.teacher.clone(),
            init: self.init.clone(),
            precision: match precision {
                Precision::Int8 => "int8".into(),
                _ => "f32".into(),
            },
            checksums,
        };
        crate::io::write_atomic(
            dir.join(STUDENT_FILE),
            &serde_json::to_vec_pretty(&saved).expect("config serialises"),
        )
    }

    /// Loads a student directory, checking every tensor's name, shape and type against
    /// `student.json` and every weight file against its checksum.
    pub fn load(dir: &Path) -> Result<Self> {
        let config_path = dir.join(STUDENT_FILE);
        let saved: SavedConfig = crate::error::read_json(&config_path)?;
        if saved.format != FORMAT {
            return Err(Error::invalid(
                &config_path,
                format!("format '{}' is not {FORMAT}", saved.format),
            ));
        }
        let int8 = match saved.precision.as_str() {
            "f32" => false,
            "int8" => true,
            other => {
                return Err(Error::invalid(
                    &config_path,
                    format!("precision '{other}' is not f32 or int8"),
                ))
            }
        };
        let shape = saved.shape;
        shape
            .validate()
            .map_err(|e| Error::invalid(&config_path, format!("invalid shape: {e}")))?;
        let mut files = vec!["model.safetensors".to_string()];
        if shape.has_projection() {
            files.push(format!("{DENSE_DIR}/model.safetensors"));
        }
        let mut blobs = BTreeMap::new();
        for rel in &files {
            let path = dir.join(rel);
            let bytes = crate::error::read(&path)?;
            let got = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes));
            match saved.checksums.get(rel) {
                Some(want) if *want == got => {}
                Some(want) => {
                    return Err(Error::invalid(
                        &path,
                        format!(
                            "checksum {got} does not match {want} recorded in {STUDENT_FILE}: \
                             the file is damaged or was replaced"
                        ),
                    ))
                }
                None => {
                    return Err(Error::invalid(
                        &config_path,
                        format!("no checksum for {rel}"),
                    ))
                }
            }
            blobs.insert(rel.clone(), (path, bytes));
        }
        let parsed: BTreeMap<&String, safetensors::SafeTensors> = blobs
            .iter()
            .map(|(rel, (path, bytes))| {
                safetensors::SafeTensors::deserialize(bytes)
                    .map(|t| (rel, t))
                    .map_err(|e| Error::invalid(path, format!("not a safetensors file: {e}")))
            })
            .collect::<Result<_>>()?;
        let mut weights = BTreeMap::new();
        for (name, dims) in shape.tensors() {
            let (rel, stored) = match name.strip_prefix("projection.") {
                Some(rest) => (
                    format!("{DENSE_DIR}/model.safetensors"),
                    format!("linear.{rest}"),
                ),
                None => ("model.safetensors".to_string(), name.clone()),
            };
            let path = &blobs[&rel].0;
            let file = &parsed[&rel];
            let view = file
                .tensor(&stored)
                .map_err(|_| Error::invalid(path, format!("missing tensor '{stored}'")))?;
            let tensor = if int8 && dims.len() == 2 {
                let scale_name = format!("{stored}_scale");
                let scales = file
                    .tensor(&scale_name)
                    .map_err(|_| Error::invalid(path, format!("missing tensor '{scale_name}'")))?;
                let scales = tensor_of(&scales, &scale_name, &dims[..1], path)?;
                dequantize(&view, &stored, &dims, &scales, path)?
            } else {
                tensor_of(&view, &stored, &dims, path)?
            };
            weights.insert(name, tensor);
        }
        let mut student = Self::assemble(shape, weights, &dir.join("tokenizer.json"))?;
        student.side_files = TOKENIZER_SIDE_FILES
            .iter()
            .filter(|f| dir.join(f).is_file())
            .map(|f| Ok((f.to_string(), crate::error::read(dir.join(f))?)))
            .collect::<Result<_>>()?;
        student.teacher = saved.teacher;
        student.init = saved.init;
        student.name = dir.display().to_string();
        student.size_on_disk = Some(
            ModelDir {
                name: String::new(),
                dir: dir.to_path_buf(),
            }
            .size_on_disk(),
        );
        Ok(student)
    }
}

/// The teacher's embeddings and its layers `layers`, in that order (student layer i is teacher
/// layer `layers[i]`), read through the encoder's own loader: the same names, prefixes and
/// old gamma/beta layer norms as the teacher.
fn teacher_layers(weights: &Path, config: &crate::bert::Config, layers: &[usize]) -> Result<Bert> {
    // SAFETY: the file is mapped read-only, and every tensor is copied out of it before this
    // returns.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &cpu()) }
        .map_err(|e| Error::invalid(weights, format!("cannot read weights: {e}")))?;
    let vb = crate::bert::model_root(vb);
    let mismatch = |e| Error::invalid(weights, format!("does not match config.json: {e}"));
    let embeddings = InputEmbeddings::load(&vb, config).map_err(mismatch)?;
    let layers = layers
        .iter()
        .map(|&l| Layer::load(vb.pp(names::layer(l)), config))
        .collect::<candle_core::Result<_>>()
        .map_err(mismatch)?;
    Ok(Bert {
        embeddings,
        layers,
        config: config.clone(),
    })
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Int8 rows with one scale each: the row's largest |value| maps to 127.
fn quantize_rows(values: &[f32], width: usize) -> (Vec<u8>, Vec<f32>) {
    let mut q = Vec::with_capacity(values.len());
    let mut scales = Vec::with_capacity(values.len() / width.max(1));
    for row in values.chunks(width.max(1)) {
        let max = row.iter().fold(0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        scales.push(scale);
        q.extend(
            row.iter()
                .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8 as u8),
        );
    }
    (q, scales)
}

/// A stored f32 tensor of the expected shape, or an error naming the file and the tensor.
fn tensor_of(
    view: &safetensors::tensor::TensorView,
    name: &str,
    dims: &[usize],
    path: &Path,
) -> Result<Tensor> {
    check_view(view, name, dims, safetensors::Dtype::F32, path)?;
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(Tensor::from_vec(values, dims, &cpu())?)
}

fn dequantize(
    view: &safetensors::tensor::TensorView,
    name: &str,
    dims: &[usize],
    scales: &Tensor,
    path: &Path,
) -> Result<Tensor> {
    check_view(view, name, dims, safetensors::Dtype::I8, path)?;
    let scales: Vec<f32> = scales.to_vec1()?;
    let values: Vec<f32> = view
        .data()
        .chunks_exact(dims[1].max(1))
        .zip(&scales)
        .flat_map(|(row, &s)| row.iter().map(move |&b| b as i8 as f32 * s))
        .collect();
    Ok(Tensor::from_vec(values, dims, &cpu())?)
}

fn check_view(
    view: &safetensors::tensor::TensorView,
    name: &str,
    dims: &[usize],
    dtype: safetensors::Dtype,
    path: &Path,
) -> Result<()> {
    if view.dtype() != dtype {
        return Err(Error::invalid(
            path,
            format!(
                "tensor '{name}' is stored as {:?}, expected {dtype:?}",
                view.dtype()
            ),
        ));
    }
    if view.shape() != dims {
        return Err(Error::invalid(
            path,
            format!(
                "tensor '{name}' has shape {:?}, expected {dims:?}",
                view.shape()
            ),
        ));
    }
    Ok(())
}

impl Encoder for TransformerStudent {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn dim(&self) -> usize {
        self.shape.output_dim
    }

    fn encode(&self, texts: &[&str]) -> Result<Embeddings> {
        let ids = self.token_ids(texts)?;
        // Longest first, so a batch holds texts of similar length and little padding; batches
        // run in parallel because candle parallelises matmuls but not the element-wise ops.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let chunks: Vec<&[usize]> = order.chunks(self.batch_size.max(1)).collect();
        let network = self.network()?;
        let pooled: Vec<Vec<Vec<f32>>> = chunks
            .par_iter()
            .map(|chunk| {
                let batch: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
                let (ids, mask) = self.batch_tensors(&batch)?;
                Ok(network
                    .forward(&ids, &mask)?
                    .to_dtype(DType::F32)?
                    .to_vec2()?)
            })
            .collect::<Result<_>>()?;
        let mut out = Embeddings::zeros(texts.len(), self.shape.output_dim);
        for (chunk, rows) in chunks.iter().zip(pooled) {
            for (&i, row) in chunk.iter().zip(rows) {
                out.row_mut(i).copy_from_slice(&row);
            }
        }
        out.normalize();
        Ok(out)
    }

    fn count_tokens(&self, text: &str) -> usize {
        match self.tokenizer.encode(text, true) {
            Ok(e) => e.get_ids().len(),
            Err(_) => text.split_whitespace().count(),
        }
    }

    fn size_on_disk(&self) -> Option<u64> {
        self.size_on_disk
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    const TOKENIZER: &str = r#"{"version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [], "normalizer": null, "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "unk_token": "[UNK]",
                  "vocab": {"[PAD]": 0, "[UNK]": 1, "hello": 2, "world": 3, "a": 4, "b": 5,
                            "c": 6, "d": 7}}}"#;

    pub(crate) fn shape(layers: usize, hidden: usize, output_dim: usize) -> TransformerShape {
        TransformerShape {
            model_type: "bert".into(),
            vocab_size: 8,
            hidden_size: hidden,
            num_layers: layers,
            num_heads: 2,
            intermediate_size: 16,
            max_position_embeddings: 16,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            pad_token_id: 0,
            position_offset: 0,
            max_tokens: 16,
            output_dim,
        }
    }

    /// A tiny BERT teacher directory with `layers` random layers (no modules.json: mean pooling,
    /// no normalisation).
    pub(crate) fn tiny_teacher(dir: &Path, layers: usize) -> ModelDir {
        let s = shape(layers, 8, 8);
        let mut rng = crate::rng::Rng::new(3);
        let data: Vec<(String, Vec<usize>, Vec<u8>)> = s
            .tensors()
            .into_iter()
            .map(|(name, dims)| {
                let n: usize = dims.iter().product();
                let v: Vec<f32> = (0..n).map(|_| rng.normal() * 0.5).collect();
                (name, dims, f32_bytes(&v))
            })
            .collect();
        let views = data.iter().map(|(name, dims, bytes)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, dims.clone(), bytes)
                    .unwrap();
            (name.clone(), view)
        });
        std::fs::write(
            dir.join("model.safetensors"),
            safetensors::serialize(views, None).unwrap(),
        )
        .unwrap();
        std::fs::write(
            dir.join("config.json"),
            format!(
                r#"{{"model_type": "bert", "hidden_size": 8, "intermediate_size": 16,
                "max_position_embeddings": 16, "num_attention_heads": 2,
                "num_hidden_layers": {layers}, "type_vocab_size": 2, "vocab_size": 8}}"#
            ),
        )
        .unwrap();
        std::fs::write(dir.join("tokenizer.json"), TOKENIZER).unwrap();
        ModelDir {
            name: "tiny".into(),
            dir: dir.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;
    use super::*;

    const TEXTS: [&str; 4] = ["hello world", "a b c d hello", "", "world d d"];

    fn grads_of(
        student: &mut TransformerStudent,
    ) -> (Vec<(String, Var)>, candle_core::backprop::GradStore) {
        let vars = student.make_trainable().unwrap();
        let ids = student.token_ids(&TEXTS).unwrap();
        let refs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        let (ids, mask) = student.batch_tensors(&refs).unwrap();
        let out = student.forward(&ids, &mask).unwrap();
        let mut rng = crate::rng::Rng::new(9);
        let (b, d) = out.dims2().unwrap();
        let target: Vec<f32> = (0..b * d).map(|_| rng.normal()).collect();
        let target = Tensor::from_vec(target, (b, d), &cpu()).unwrap();
        let loss = (out - target).unwrap().sqr().unwrap().mean_all().unwrap();
        (vars, loss.backward().unwrap())
    }

    fn max_abs(t: &Tensor) -> f32 {
        t.abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    /// The trap this model exists for: candle's fused layer norm and softmax have no backward,
    /// so a model built on them leaves parameters untrained without any error.
    #[test]
    fn every_trainable_parameter_receives_a_nonzero_gradient() {
        let dir = tempfile::tempdir().unwrap();
        let teacher = tiny_teacher(dir.path(), 3);
        let tok = dir.path().join("tokenizer.json");
        for mut student in [
            TransformerStudent::from_teacher(&teacher, &[0, 2], 16).unwrap(),
            // Narrower than the teacher, from scratch: with the projection.
            TransformerStudent::scratch(shape(2, 4, 8), &tok, 1).unwrap(),
        ] {
            let (vars, grads) = grads_of(&mut student);
            let expected = student.shape.tensors().len() - student.shape.num_layers;
            assert_eq!(vars.len(), expected, "all but the key biases train");
            for (name, var) in &vars {
                let g = grads
                    .get(var.as_tensor())
                    .unwrap_or_else(|| panic!("{name}: no gradient"));
                assert!(max_abs(g) > 0.0, "{name}: zero gradient");
            }
            // Why the key bias is not trained: made a variable, its gradient is zero up to
            // rounding, next to the query bias's.
            let name = "encoder.layer.0.attention.self.key.bias";
            assert!(!TransformerShape::trainable(name));
            let key_bias = Var::from_tensor(student.weight(name).unwrap()).unwrap();
            student.set_weight(name, key_bias.as_tensor().clone());
            let (vars, grads) = grads_of(&mut student);
            let query_bias = &vars
                .iter()
                .find(|(n, _)| n == "encoder.layer.0.attention.self.query.bias")
                .unwrap()
                .1;
            let gq = max_abs(grads.get(query_bias.as_tensor()).unwrap());
            let gk = grads.get(key_bias.as_tensor()).map_or(0.0, max_abs);
            assert!(gk <= 1e-3 * gq, "key bias {gk} vs query bias {gq}");
        }
    }

    /// The key bias shifts every score of a query by the same amount: moving it changes
    /// nothing, which is why it gets no gradient.
    #[test]
    fn the_key_bias_does_not_change_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let teacher = tiny_teacher(dir.path(), 1);
        let mut student = TransformerStudent::from_teacher(&teacher, &[0], 16).unwrap();
        let before = student.encode(&TEXTS).unwrap();
        let name = "encoder.layer.0.attention.self.key.bias";
        let shifted = (student.weights[name].clone() + 3.0).unwrap();
        student.weights.insert(name.into(), shifted);
        let after = student.encode(&TEXTS).unwrap();
        for (a, b) in before.as_slice().iter().zip(after.as_slice()) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }

    /// With all of the teacher's layers the student's own (differentiable) forward pass computes
    /// the teacher's vectors.
    #[test]
    fn all_teacher_layers_compute_the_teachers_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let md = tiny_teacher(dir.path(), 3);
        let student = TransformerStudent::from_teacher(&md, &[0, 1, 2], 16).unwrap();
        let teacher = crate::teacher::Teacher::from_dir(md).unwrap();
        let mut want = teacher.encode(&TEXTS).unwrap();
        want.normalize();
        let got = student.encode(&TEXTS).unwrap();
        for (a, b) in want.as_slice().iter().zip(got.as_slice()) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        let err = TransformerStudent::from_teacher(
            &ModelDir {
                name: "tiny".into(),
                dir: dir.path().into(),
            },
            &[0, 3],
            16,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.contains("config.json") && err.contains("teacher layer 3"),
            "{err}"
        );
    }

    #[test]
    fn a_saved_student_reloads_bit_identically() {
        let dir = tempfile::tempdir().unwrap();
        let teacher = tiny_teacher(dir.path(), 2);
        let tok = dir.path().join("tokenizer.json");
        for student in [
            TransformerStudent::from_teacher(&teacher, &[1], 16).unwrap(),
            TransformerStudent::scratch(shape(1, 4, 8), &tok, 5).unwrap(),
        ] {
            let out = dir.path().join("student");
            student.save(&out).unwrap();
            let loaded = TransformerStudent::load(&out).unwrap();
            assert_eq!(loaded.shape, student.shape);
            for (name, t) in student.weights() {
                let a: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
                let b: Vec<f32> = loaded.weights()[name]
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                assert!(
                    a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{name} changed"
                );
            }
            assert_eq!(
                student.encode(&TEXTS).unwrap(),
                loaded.encode(&TEXTS).unwrap()
            );
            // Saving the loaded copy writes the same bytes.
            let again = dir.path().join("again");
            loaded.save(&again).unwrap();
            assert_eq!(
                std::fs::read(out.join("model.safetensors")).unwrap(),
                std::fs::read(again.join("model.safetensors")).unwrap()
            );
            // The saved tokenizer pads batches to their longest member.
            let tok: serde_json::Value =
                serde_json::from_slice(&std::fs::read(out.join("tokenizer.json")).unwrap())
                    .unwrap();
            assert_eq!(tok["padding"]["strategy"], "BatchLongest");
            std::fs::remove_dir_all(&out).unwrap();
        }
    }

    #[test]
    fn int8_copies_stay_close_and_are_smaller() {
        let dir = tempfile::tempdir().unwrap();
        let teacher = tiny_teacher(dir.path(), 2);
        let student = TransformerStudent::from_teacher(&teacher, &[0, 1], 16).unwrap();
        let (a, b) = (dir.path().join("f32"), dir.path().join("int8"));
        student.save(&a).unwrap();
        student.save_as(&b, Precision::Int8).unwrap();
        let q = TransformerStudent::load(&b).unwrap();
        let (x, y) = (student.encode(&TEXTS).unwrap(), q.encode(&TEXTS).unwrap());
        // Row 2, the empty text, is the zero vector in both.
        for i in [0, 1, 3] {
            let c = crate::encoder::cosine(x.row(i), y.row(i));
            assert!(c > 0.99, "row {i}: cosine {c}");
        }
        let size = |d: &Path| {
            std::fs::metadata(d.join("model.safetensors"))
                .unwrap()
                .len()
        };
        assert!(size(&b) < size(&a));
    }

    /// Rewrites the student's model.safetensors through `edit` and records the new checksum, so
    /// that the loader's shape and type checks (not the checksum) are what refuse it.
    fn rewrite(
        dir: &Path,
        edit: impl Fn(&mut Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)>),
    ) {
        let path = dir.join("model.safetensors");
        let bytes = std::fs::read(&path).unwrap();
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut tensors: Vec<_> = file
            .tensors()
            .into_iter()
            .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
            .collect();
        edit(&mut tensors);
        let views = tensors.iter().map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        });
        let blob = safetensors::serialize(views, None).unwrap();
        std::fs::write(&path, &blob).unwrap();
        let cfg_path = dir.join(STUDENT_FILE);
        let mut cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
        cfg["checksums"]["model.safetensors"] =
            format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&blob)).into();
        std::fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    }

    #[test]
    fn damaged_student_directories_are_refused_by_file_and_tensor() {
        let dir = tempfile::tempdir().unwrap();
        let teacher = tiny_teacher(dir.path(), 1);
        let student = TransformerStudent::from_teacher(&teacher, &[0], 16).unwrap();
        let out = dir.path().join("s");
        let fresh = || {
            let _ = std::fs::remove_dir_all(&out);
            student.save(&out).unwrap();
        };
        let err = |dir: &Path| TransformerStudent::load(dir).err().unwrap().to_string();
        let q = "encoder.layer.0.attention.self.query.weight";

        fresh();
        std::fs::remove_file(out.join("tokenizer.json")).unwrap();
        let e = err(&out);
        assert!(e.contains("tokenizer.json"), "{e}");

        fresh();
        std::fs::remove_file(out.join("model.safetensors")).unwrap();
        let e = err(&out);
        assert!(e.contains("model.safetensors"), "{e}");

        fresh();
        rewrite(&out, |t| t.retain(|(n, ..)| n != q));
        let e = err(&out);
        assert!(
            e.contains("model.safetensors") && e.contains(&format!("missing tensor '{q}'")),
            "{e}"
        );

        fresh();
        rewrite(&out, |t| {
            let x = t.iter_mut().find(|(n, ..)| n == q).unwrap();
            x.2 = vec![4, 16];
        });
        let e = err(&out);
        assert!(
            e.contains("model.safetensors") && e.contains(q) && e.contains("[4, 16]"),
            "{e}"
        );

        fresh();
        rewrite(&out, |t| {
            let x = t.iter_mut().find(|(n, ..)| n == q).unwrap();
            x.1 = safetensors::Dtype::I32;
        });
        let e = err(&out);
        assert!(
            e.contains("model.safetensors") && e.contains(q) && e.contains("I32"),
            "{e}"
        );

        fresh();
        let mut bytes = std::fs::read(out.join("model.safetensors")).unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 1;
        std::fs::write(out.join("model.safetensors"), bytes).unwrap();
        let e = err(&out);
        assert!(
            e.contains("model.safetensors") && e.contains("checksum"),
            "{e}"
        );
    }
}
