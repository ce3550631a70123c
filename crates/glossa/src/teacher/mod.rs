//! The teacher: any BERT-family sentence-transformers model, loaded from a directory or the
//! Hugging Face cache, run on candle.
//!
//! What sentence-transformers reads, this reads: `config.json` (architecture), `model.safetensors`,
//! `tokenizer.json`, `sentence_bert_config.json` (`max_seq_length`), `modules.json` with its
//! `Pooling` module's `config.json` (mean, CLS or max) and `Normalize`.

pub mod bert;

use std::path::Path;

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;
use serde::Deserialize;
use tokenizers::{Tokenizer, TruncationParams};

use crate::model::{resolve, ModelDir};
use crate::{Embeddings, Encoder, Error, Result};
use bert::{Bert, BertConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    Mean,
    Cls,
    Max,
}

pub struct Teacher {
    dir: ModelDir,
    model: Bert,
    tokenizer: Tokenizer,
    pooling: Pooling,
    normalize: bool,
    max_tokens: usize,
    dim: usize,
    fingerprint: String,
    /// Sentences per forward pass; inputs are sorted by length so a batch wastes little padding.
    pub batch_size: usize,
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct Architecture {
    model_type: Option<String>,
}

impl Teacher {
    /// Loads a teacher from a directory or a Hugging Face repo id.
    pub fn load(spec: &str) -> Result<Self> {
        Self::from_dir(resolve(spec)?)
    }

    pub fn from_dir(dir: ModelDir) -> Result<Self> {
        let config_path = dir.required("config.json")?;
        let arch: Architecture = crate::error::read_json(&config_path)?;
        match arch.model_type.as_deref() {
            Some("bert") => {}
            Some(other) => {
                return Err(Error::invalid(
                    &config_path,
                    format!("unknown architecture '{other}' (model_type); supported: bert"),
                ))
            }
            None => {
                return Err(Error::invalid(
                    &config_path,
                    "no model_type field: cannot tell the architecture",
                ))
            }
        }
        let config: BertConfig = crate::error::read_json(&config_path)?;
        if config.num_attention_heads == 0 || config.hidden_size % config.num_attention_heads != 0 {
            return Err(Error::invalid(
                &config_path,
                "hidden_size is not a multiple of num_attention_heads",
            ));
        }
        let weights = dir.required("model.safetensors")?;
        // SAFETY: the file is mapped read-only; it must not be modified while the teacher lives.
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &bert::cpu()) }
                .map_err(|e| Error::invalid(&weights, format!("cannot read weights: {e}")))?;
        let model = Bert::load(vb, &config)
            .map_err(|e| Error::invalid(&weights, format!("does not match config.json: {e}")))?;

        let (pooling, normalize) = read_modules(&dir)?;
        let max_seq = match dir.file("sentence_bert_config.json") {
            p if p.is_file() => crate::error::read_json::<SentenceBertConfig>(&p)?.max_seq_length,
            _ => None,
        };
        let max_tokens = max_seq
            .unwrap_or(config.max_position_embeddings)
            .min(config.max_position_embeddings);
        let tokenizer = load_tokenizer(&dir.required("tokenizer.json")?, max_tokens)?;
        let fingerprint = fingerprint(
            &dir,
            &[&config_path, &weights, &dir.file("tokenizer.json")],
            pooling,
            normalize,
            max_tokens,
        )?;
        Ok(Teacher {
            dim: config.hidden_size,
            dir,
            model,
            tokenizer,
            pooling,
            normalize,
            max_tokens,
            fingerprint,
            batch_size: 32,
        })
    }

    /// A string that changes whenever anything that shapes the embeddings changes: used to key
    /// the soft-label cache.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    fn encode_batch(&self, encodings: &[&tokenizers::Encoding]) -> Result<Tensor> {
        let longest = encodings
            .iter()
            .map(|e| e.get_ids().len())
            .max()
            .unwrap_or(0);
        let mut ids = Vec::with_capacity(encodings.len() * longest);
        let mut mask = Vec::with_capacity(encodings.len() * longest);
        for e in encodings {
            let n = e.get_ids().len();
            ids.extend_from_slice(e.get_ids());
            ids.extend(std::iter::repeat_n(0u32, longest - n));
            mask.extend(std::iter::repeat_n(1u8, n));
            mask.extend(std::iter::repeat_n(0u8, longest - n));
        }
        let device = bert::cpu();
        let shape = (encodings.len(), longest);
        let ids = Tensor::from_vec(ids, shape, &device)?;
        let mask = Tensor::from_vec(mask, shape, &device)?;
        let states = self.model.forward(&ids, &mask)?;
        let pooled = match self.pooling {
            Pooling::Mean => bert::mean_pool(&states, &mask)?,
            Pooling::Cls => bert::cls_pool(&states)?,
            Pooling::Max => bert::max_pool(&states, &mask)?,
        };
        Ok(pooled)
    }
}

impl Encoder for Teacher {
    fn name(&self) -> String {
        self.dir.name.clone()
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn encode(&self, texts: &[&str]) -> Result<Embeddings> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::model(&self.dir.name, format!("tokenization failed: {e}")))?;
        // Longest first, so batches hold sentences of similar length and little padding.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].get_ids().len()));
        // Batches run in parallel: candle parallelises matmuls but not the element-wise ops
        // (GELU, softmax, layer norm), which leave cores idle on short batches.
        let chunks: Vec<&[usize]> = order.chunks(self.batch_size.max(1)).collect();
        let pooled: Vec<Vec<Vec<f32>>> = chunks
            .par_iter()
            .map(|chunk| {
                let batch: Vec<&tokenizers::Encoding> =
                    chunk.iter().map(|&i| &encodings[i]).collect();
                Ok(self.encode_batch(&batch)?.to_vec2()?)
            })
            .collect::<Result<_>>()?;
        let mut out = Embeddings::zeros(texts.len(), self.dim);
        for (chunk, rows) in chunks.iter().zip(pooled) {
            for (&i, row) in chunk.iter().zip(rows) {
                out.row_mut(i).copy_from_slice(&row);
            }
        }
        if self.normalize {
            out.normalize();
        }
        Ok(out)
    }

    /// Word pieces the model reads, special tokens included and truncation applied; words
    /// if the tokenizer fails (it then fails again, with its message, in `encode`).
    fn count_tokens(&self, text: &str) -> usize {
        match self.tokenizer.encode(text, true) {
            Ok(encoding) => encoding.get_ids().len(),
            Err(_) => text.split_whitespace().count(),
        }
    }

    fn size_on_disk(&self) -> Option<u64> {
        Some(self.dir.size_on_disk())
    }
}

/// Pooling and normalisation from `modules.json`; a plain Hugging Face model (no modules.json)
/// gets mean pooling without normalisation, as sentence-transformers gives it.
fn read_modules(dir: &ModelDir) -> Result<(Pooling, bool)> {
    let modules_path = dir.file("modules.json");
    if !modules_path.is_file() {
        return Ok((Pooling::Mean, false));
    }
    let modules: Vec<ModuleEntry> = crate::error::read_json(&modules_path)?;
    let normalize = modules.iter().any(|m| m.kind.ends_with(".Normalize"));
    let pooling = match modules.iter().find(|m| m.kind.ends_with(".Pooling")) {
        None => Pooling::Mean,
        Some(m) => {
            let path = dir.required(&format!("{}/config.json", m.path))?;
            let cfg: PoolingConfig = crate::error::read_json(&path)?;
            match (
                cfg.pooling_mode_mean_tokens,
                cfg.pooling_mode_cls_token,
                cfg.pooling_mode_max_tokens,
            ) {
                (true, false, false) => Pooling::Mean,
                (false, true, false) => Pooling::Cls,
                (false, false, true) => Pooling::Max,
                _ => {
                    return Err(Error::invalid(
                        &path,
                        "exactly one of mean, CLS or max pooling must be set",
                    ))
                }
            }
        }
    };
    Ok((pooling, normalize))
}

/// Loads `tokenizer.json` with padding off (batches are padded here, to their longest member —
/// shipped files may say `Fixed(128)`) and truncation at the model's `max_seq_length`.
fn load_tokenizer(path: &Path, max_tokens: usize) -> Result<Tokenizer> {
    let mut tokenizer = Tokenizer::from_file(path)
        .map_err(|e| Error::invalid(path, format!("cannot load tokenizer: {e}")))?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_tokens,
            ..Default::default()
        }))
        .map_err(|e| Error::invalid(path, format!("cannot set truncation: {e}")))?;
    Ok(tokenizer)
}

fn fingerprint(
    dir: &ModelDir,
    files: &[&Path],
    pooling: Pooling,
    normalize: bool,
    max_tokens: usize,
) -> Result<String> {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for file in files {
        let bytes = crate::error::read(file)?;
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    hasher.update(format!("{pooling:?}/{normalize}/{max_tokens}").as_bytes());
    let slug: String = dir
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let slug = slug.trim_matches(|c| c == '_' || c == '.').to_string();
    Ok(format!("{slug}-{:016x}", hasher.digest()))
}
