//! The fastText-style subword student: a table of rows for vocabulary words and hashed
//! character n-grams; a sentence's vector is the mean of its features' rows, projected to the
//! teacher's dimension when the table is narrower.

use std::collections::HashMap;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::features::{char_ngrams, fasttext_hash, tokenize, TokenKind};
use super::STUDENT_FILE;
use crate::{Embeddings, Encoder, Error, Result};

const FORMAT: &str = "glossa-subword/1";

/// The student's shape and text processing; saved as `student.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubwordConfig {
    /// Width of each table row.
    pub dim: usize,
    /// Width of the output vector (the teacher's); a dim×output_dim projection when they differ.
    pub output_dim: usize,
    /// Rows for hashed n-grams (and out-of-vocabulary CJK tokens).
    pub buckets: usize,
    pub minn: usize,
    pub maxn: usize,
    pub lowercase: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedConfig {
    format: String,
    #[serde(flatten)]
    config: SubwordConfig,
    words: usize,
    /// The teacher it was distilled from; informational.
    #[serde(default)]
    teacher: String,
}

pub struct SubwordStudent {
    pub config: SubwordConfig,
    words: Vec<String>,
    vocab: HashMap<String, u32>,
    /// (words + buckets) × dim, row-major.
    pub table: super::table::Table,
    /// dim × output_dim, row-major; present only when dim != output_dim.
    pub projection: Option<Vec<f32>>,
    pub teacher: String,
    name: String,
    size_on_disk: Option<u64>,
}

impl SubwordStudent {
    /// A fresh student: rows uniform in ±1/dim (fastText's init), projection Xavier-uniform.
    pub fn new(config: SubwordConfig, words: Vec<String>, seed: u64) -> Result<Self> {
        validate(&config)?;
        let rows = words.len() + config.buckets;
        let mut rng = crate::rng::Rng::new(seed);
        let scale = 1.0 / config.dim as f32;
        let table: Vec<f32> = (0..rows * config.dim)
            .map(|_| (rng.next_f32() * 2.0 - 1.0) * scale)
            .collect();
        let projection = (config.dim != config.output_dim).then(|| {
            let limit = (6.0 / (config.dim + config.output_dim) as f32).sqrt();
            (0..config.dim * config.output_dim)
                .map(|_| (rng.next_f32() * 2.0 - 1.0) * limit)
                .collect()
        });
        let vocab = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as u32))
            .collect();
        Ok(SubwordStudent {
            config,
            words,
            vocab,
            table: table.into(),
            projection,
            teacher: String::new(),
            name: "subword student".into(),
            size_on_disk: None,
        })
    }

    pub fn rows(&self) -> usize {
        self.words.len() + self.config.buckets
    }

    pub fn words(&self) -> &[String] {
        &self.words
    }

    fn bucket(&self, bytes: &[u8]) -> u32 {
        (self.words.len() + (fasttext_hash(bytes) as usize % self.config.buckets)) as u32
    }

    /// Appends the feature rows of `text` to `out` (a row may repeat; it then counts twice).
    pub fn features(&self, text: &str, out: &mut Vec<u32>) {
        let mut tokens = Vec::new();
        tokenize(text, self.config.lowercase, &mut tokens);
        let mut bracketed = String::new();
        for (token, kind) in &tokens {
            let word = self.vocab.get(token.as_str()).copied();
            bracketed.clear();
            bracketed.push('<');
            bracketed.push_str(token);
            bracketed.push('>');
            match kind {
                TokenKind::Word => {
                    out.extend(word);
                    char_ngrams(&bracketed, self.config.minn, self.config.maxn, |g| {
                        out.push(self.bucket(g.as_bytes()))
                    });
                }
                TokenKind::Chars => {
                    out.push(word.unwrap_or_else(|| self.bucket(bracketed.as_bytes())))
                }
            }
        }
    }

    /// Mean of the rows (`hidden`, length dim) and the output (length output_dim).
    pub fn forward(&self, features: &[u32], hidden: &mut [f32], output: &mut [f32]) {
        let dim = self.config.dim;
        hidden.fill(0.0);
        for &f in features {
            crate::kernels::add(
                hidden,
                &self.table[f as usize * dim..(f as usize + 1) * dim],
            );
        }
        if !features.is_empty() {
            let inv = 1.0 / features.len() as f32;
            hidden.iter_mut().for_each(|h| *h *= inv);
        }
        match &self.projection {
            None => output.copy_from_slice(hidden),
            Some(p) => {
                output.fill(0.0);
                for (i, &h) in hidden.iter().enumerate() {
                    crate::kernels::axpy(
                        output,
                        h,
                        &p[i * self.config.output_dim..(i + 1) * self.config.output_dim],
                    );
                }
            }
        }
    }

    pub fn embed(&self, text: &str) -> Vec<f32> {
        let mut features = Vec::new();
        self.features(text, &mut features);
        let mut hidden = vec![0.0; self.config.dim];
        let mut output = vec![0.0; self.config.output_dim];
        self.forward(&features, &mut hidden, &mut output);
        output
    }

    /// Writes `student.json`, `vocab.txt` and `model.safetensors` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let saved = SavedConfig {
            format: FORMAT.into(),
            config: self.config.clone(),
            words: self.words.len(),
            teacher: self.teacher.clone(),
        };
        crate::error::write_atomic(
            dir.join(STUDENT_FILE),
            &serde_json::to_vec_pretty(&saved).expect("config serialises"),
        )?;
        let mut vocab = self.words.join("\n");
        vocab.push('\n');
        crate::error::write_atomic(dir.join("vocab.txt"), vocab.as_bytes())?;
        let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let table = bytes(&self.table);
        let mut tensors = vec![(
            "embeddings".to_string(),
            safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                vec![self.rows(), self.config.dim],
                &table,
            )
            .expect("shape matches"),
        )];
        let projection = self.projection.as_deref().map(bytes);
        if let Some(p) = &projection {
            tensors.push((
                "projection".to_string(),
                safetensors::tensor::TensorView::new(
                    safetensors::Dtype::F32,
                    vec![self.config.dim, self.config.output_dim],
                    p,
                )
                .expect("shape matches"),
            ));
        }
        let blob = safetensors::serialize(tensors, None)
            .map_err(|e| Error::msg(format!("serialising weights: {e}")))?;
        crate::error::write_atomic(dir.join("model.safetensors"), &blob)
    }

    /// Loads a student directory, checking every file against the others.
    pub fn load(dir: &Path) -> Result<Self> {
        let config_path = dir.join(STUDENT_FILE);
        let saved: SavedConfig = crate::error::read_json(&config_path)?;
        if saved.format != FORMAT {
            return Err(Error::invalid(
                &config_path,
                format!("format '{}' is not {FORMAT}", saved.format),
            ));
        }
        let vocab_path = dir.join("vocab.txt");
        let vocab_text = crate::error::read_to_string(&vocab_path)?;
        let words: Vec<String> = vocab_text.lines().map(str::to_owned).collect();
        if words.len() != saved.words {
            return Err(Error::invalid(
                &vocab_path,
                format!(
                    "{} words, but {STUDENT_FILE} says {}",
                    words.len(),
                    saved.words
                ),
            ));
        }
        validate(&saved.config).map_err(|e| Error::invalid(&config_path, e.to_string()))?;
        let weights_path = dir.join("model.safetensors");
        // Only the header is parsed here; the table itself is mapped, not read.
        let (header_len, metadata) = read_header(&weights_path)?;
        let rows = words.len() + saved.config.buckets;
        let (start, len) = tensor_span(
            &metadata,
            &weights_path,
            "embeddings",
            &[rows, saved.config.dim],
        )?;
        let table = super::table::Table::map(&weights_path, 8 + header_len + start, len)?;
        let projection = if saved.config.dim != saved.config.output_dim {
            let (start, len) = tensor_span(
                &metadata,
                &weights_path,
                "projection",
                &[saved.config.dim, saved.config.output_dim],
            )?;
            Some(super::table::Table::map(&weights_path, 8 + header_len + start, len)?.to_vec())
        } else {
            None
        };
        let vocab = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as u32))
            .collect();
        let mut student = SubwordStudent {
            config: saved.config.clone(),
            words,
            vocab,
            table,
            projection,
            teacher: String::new(),
            name: String::new(),
            size_on_disk: None,
        };
        student.teacher = saved.teacher;
        student.name = dir.display().to_string();
        student.size_on_disk = Some(
            crate::model::ModelDir {
                name: String::new(),
                dir: dir.to_path_buf(),
            }
            .size_on_disk(),
        );
        Ok(student)
    }
}

fn validate(config: &SubwordConfig) -> Result<()> {
    if config.dim == 0
        || config.output_dim == 0
        || config.buckets == 0
        || config.minn == 0
        || config.minn > config.maxn
    {
        return Err(Error::msg(format!(
            "invalid student shape: {config:?} (dim, output_dim, buckets > 0; 0 < minn <= maxn)"
        )));
    }
    Ok(())
}

/// The safetensors header: its length in bytes and its JSON (tensor name → dtype, shape, offsets).
fn read_header(path: &Path) -> Result<(usize, serde_json::Map<String, serde_json::Value>)> {
    use std::io::Read;
    let bad = |msg: String| Error::invalid(path, format!("not a safetensors file: {msg}"));
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(|e| bad(e.to_string()))?;
    let len = u64::from_le_bytes(len) as usize;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len() as usize;
    if len > 100_000_000 || 8 + len > file_len {
        return Err(bad(format!(
            "header of {len} bytes does not fit in {file_len} bytes"
        )));
    }
    let mut header = vec![0u8; len];
    file.read_exact(&mut header)
        .map_err(|e| bad(e.to_string()))?;
    let json: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| bad(e.to_string()))?;
    match json {
        serde_json::Value::Object(map) => Ok((len, map)),
        _ => Err(bad("the header is not a JSON object".into())),
    }
}

/// Byte offset (from the end of the header) and element count of an F32 tensor of `shape`.
fn tensor_span(
    header: &serde_json::Map<String, serde_json::Value>,
    path: &Path,
    name: &str,
    shape: &[usize],
) -> Result<(usize, usize)> {
    let t = header
        .get(name)
        .ok_or_else(|| Error::invalid(path, format!("no tensor '{name}'")))?;
    let dtype = t["dtype"].as_str().unwrap_or("?");
    if dtype != "F32" {
        return Err(Error::invalid(
            path,
            format!("tensor '{name}' is {dtype}, expected F32"),
        ));
    }
    let numbers = |field: &str| -> Vec<usize> {
        let list = t[field].as_array().map(Vec::as_slice).unwrap_or_default();
        list.iter()
            .filter_map(|d| d.as_u64().map(|d| d as usize))
            .collect()
    };
    let found = numbers("shape");
    if found != shape {
        return Err(Error::invalid(path, format!("tensor '{name}' has shape {found:?}, expected {shape:?} (from student.json and vocab.txt)")));
    }
    let offsets = numbers("data_offsets");
    let count: usize = shape.iter().product();
    match offsets[..] {
        [start, end] if end.checked_sub(start) == Some(count * 4) => Ok((start, count)),
        _ => Err(Error::invalid(path, format!("tensor '{name}' has data offsets {offsets:?}, which do not hold {count} f32 values"))),
    }
}

impl Encoder for SubwordStudent {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn dim(&self) -> usize {
        self.config.output_dim
    }
    fn encode(&self, texts: &[&str]) -> Result<Embeddings> {
        let rows: Vec<Vec<f32>> = texts
            .par_iter()
            .with_min_len(64)
            .map(|t| self.embed(t))
            .collect();
        Ok(Embeddings::new(self.config.output_dim, rows.concat()))
    }
    /// The student's own tokens: words, and characters and bigrams of unspaced scripts.
    fn count_tokens(&self, text: &str) -> usize {
        let mut tokens = Vec::new();
        tokenize(text, false, &mut tokens);
        tokens.len()
    }
    fn size_on_disk(&self) -> Option<u64> {
        self.size_on_disk
    }
}

/// The vocabulary: tokens seen at least `min_count` times, most frequent first (ties by text),
/// at most `max_words`.
pub fn build_vocab<'a>(
    texts: impl IntoIterator<Item = &'a str>,
    lowercase: bool,
    min_count: usize,
    max_words: usize,
) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut tokens = Vec::new();
    for text in texts {
        tokens.clear();
        tokenize(text, lowercase, &mut tokens);
        for (t, _) in tokens.drain(..) {
            *counts.entry(t).or_default() += 1;
        }
    }
    let mut words: Vec<(String, usize)> = counts
        .into_iter()
        .filter(|(_, c)| *c >= min_count)
        .collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    words.truncate(max_words);
    words.into_iter().map(|(w, _)| w).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(dim: usize, output_dim: usize) -> SubwordStudent {
        let config = SubwordConfig {
            dim,
            output_dim,
            buckets: 50,
            minn: 3,
            maxn: 4,
            lowercase: true,
        };
        let words = build_vocab(["the cat", "the dog", "日本"], true, 1, 10);
        SubwordStudent::new(config, words, 1).unwrap()
    }

    #[test]
    fn features_are_words_plus_ngrams_and_vectors_are_means() {
        let s = tiny(4, 4);
        let mut f = Vec::new();
        s.features("The cat", &mut f);
        // "the": word + <th, <the, the, the>, he> ; "cat": word + 5 n-grams
        assert_eq!(f.len(), 12);
        let v = s.embed("The cat");
        let mean: Vec<f32> = (0..4)
            .map(|d| f.iter().map(|&r| s.table[r as usize * 4 + d]).sum::<f32>() / 12.0)
            .collect();
        for (a, b) in v.iter().zip(&mean) {
            assert!((a - b).abs() < 1e-6);
        }
        assert_eq!(
            s.embed(""),
            vec![0.0; 4],
            "an empty text is the zero vector"
        );
        assert_eq!(s.embed("!!!"), vec![0.0; 4]);
    }

    #[test]
    fn save_load_round_trip_and_mismatches_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let s = tiny(4, 6);
        s.save(dir.path()).unwrap();
        let back = SubwordStudent::load(dir.path()).unwrap();
        assert_eq!(back.embed("the dog barks"), s.embed("the dog barks"));
        assert_eq!(back.encode(&["x", ""]).unwrap().len(), 2);

        std::fs::write(dir.path().join("vocab.txt"), "the\n").unwrap();
        let err = SubwordStudent::load(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("vocab.txt") && err.contains("1 words"),
            "{err}"
        );

        s.save(dir.path()).unwrap();
        let mut wrong = s.config.clone();
        wrong.buckets = 51;
        let other = SubwordStudent::new(wrong, s.words().to_vec(), 1).unwrap();
        let json = std::fs::read_to_string(dir.path().join(STUDENT_FILE)).unwrap();
        other.save(dir.path()).unwrap();
        std::fs::write(dir.path().join(STUDENT_FILE), json).unwrap();
        let err = SubwordStudent::load(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("model.safetensors") && err.contains("shape"),
            "{err}"
        );

        std::fs::write(dir.path().join(STUDENT_FILE), "{ not json").unwrap();
        let err = SubwordStudent::load(dir.path()).err().unwrap().to_string();
        assert!(err.contains("student.json:1"), "{err}");
    }
}
