//! The bag-of-rows students: a table of rows and a sentence's vector is the mean of its
//! features' rows, projected to the teacher's dimension when the table is narrower.
//!
//! Two kinds share the table, training, quantization and serving and differ only in what a
//! feature is:
//! - fastText-style (`glossa-subword/1`): vocabulary words and hashed character n-grams;
//! - static token (`glossa-static/1`, Model2Vec-style): the token ids of a Hugging Face
//!   tokenizer (`tokenizer.json`), one row per vocabulary entry.

use std::collections::HashMap;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::features::{
    char_ngrams_in, fasttext_hash, for_each_token, tokenize, word_ngram_hashes, Marks, Scratch,
    TokenKind, UnspacedLetters, WordRules,
};
use super::pieces::{encode_ids, PieceCache};
use super::table::Precision;
use super::word_sums::WordSums;
use super::STUDENT_FILE;
use crate::{Embeddings, Encoder, Error, Result};

const FORMAT: &str = "glossa-subword/1";
/// A fastText-style student whose hash buckets were pruned (`glossa shrink`): its
/// `model.safetensors` adds `bucket_rows`, the table row of each bucket. Older readers refuse it
/// by its format instead of misreading the table.
const PRUNED_FORMAT: &str = "glossa-subword/2";
const STATIC_FORMAT: &str = "glossa-static/1";
/// The static student's tokenizer, saved next to its weights.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// What a feature is.
enum Featurizer {
    /// Words (by vocabulary) and hashed character n-grams.
    Subword(Vocab),
    /// A tokenizer's token ids (without special tokens; the unknown token is dropped, as
    /// Model2Vec does, so unseen text does not all pool into one row).
    Tokens {
        tokenizer: Box<tokenizers::Tokenizer>,
        unknown: Option<u32>,
        /// Ids of the pieces already seen (None for a tokenizer it cannot serve exactly).
        pieces: Option<PieceCache>,
    },
}

/// Word → row. foldhash rather than std's SipHash: the lookup is on every token of every text,
/// and the keys are the student's own vocabulary, not an attacker's.
type Vocab = HashMap<String, u32, foldhash::fast::RandomState>;

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
    /// Which combining marks stay inside words; absent from a `student.json` saved before it,
    /// whose student was trained with `Marks::Listed`.
    #[serde(default = "Marks::before_marks_were_saved")]
    pub marks: Marks,
    /// Arabic spelling variants folded before words are cut (`features::fold_arabic`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fold_arabic: bool,
    /// How runs of Thai, Lao, Khmer and Myanmar letters are read; absent from a `student.json`
    /// saved before it, whose student cut them into characters (`UnspacedLetters::Chars`).
    #[serde(default = "UnspacedLetters::before_it_was_saved")]
    pub unspaced_letters: UnspacedLetters,
    /// Word n-grams up to this length (2: each pair of neighbouring words) hashed into the
    /// bucket rows beside the character n-grams, as fastText's `wordNgrams`; 1 (none) in a
    /// `student.json` saved before it.
    #[serde(default = "no_word_ngrams", skip_serializing_if = "is_no_word_ngrams")]
    pub word_ngrams: usize,
}

fn no_word_ngrams() -> usize {
    1
}

fn is_no_word_ngrams(n: &usize) -> bool {
    *n == 1
}

impl SubwordConfig {
    /// A shape whose text is cut into words by `rules`, without word n-grams (a student that
    /// hashes them sets `word_ngrams` on top).
    pub fn new(
        dim: usize,
        output_dim: usize,
        buckets: usize,
        (minn, maxn): (usize, usize),
        rules: WordRules,
    ) -> SubwordConfig {
        SubwordConfig {
            dim,
            output_dim,
            buckets,
            minn,
            maxn,
            lowercase: rules.lowercase,
            marks: rules.marks,
            fold_arabic: rules.fold_arabic,
            unspaced_letters: rules.unspaced_letters,
            word_ngrams: 1,
        }
    }

    /// How this student cuts text into words.
    pub fn word_rules(&self) -> WordRules {
        WordRules {
            lowercase: self.lowercase,
            marks: self.marks,
            fold_arabic: self.fold_arabic,
            unspaced_letters: self.unspaced_letters,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedConfig {
    format: String,
    #[serde(flatten)]
    config: SubwordConfig,
    words: usize,
    /// Rows of the table after the words when buckets were pruned (kept buckets + the shared
    /// zero row); absent when every bucket has its own row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    table_buckets: Option<usize>,
    /// The teacher it was distilled from; informational.
    #[serde(default)]
    teacher: String,
    /// xxh3-64 of `model.safetensors`, checked on load (absent in directories written before
    /// checksums: then only shapes are checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checksum: Option<String>,
}

/// Where each hash bucket of a pruned student lives.
struct BucketRows {
    /// Table row per bucket.
    map: Vec<u32>,
    /// Table rows after the words.
    rows: usize,
}

pub struct TableStudent {
    pub config: SubwordConfig,
    words: Vec<String>,
    featurizer: Featurizer,
    /// (words + buckets) × dim, row-major.
    pub table: super::table::Table,
    /// dim × output_dim, row-major; present only when dim != output_dim.
    pub projection: Option<Vec<f32>>,
    /// Table row of each hash bucket once buckets were pruned (`student::shrink`): a pruned
    /// bucket reads a shared row that is zero when saved, so it still counts in the mean (the
    /// vector is the unpruned one with that bucket's row set to zero). None: bucket b is row
    /// words + b.
    bucket_rows: Option<BucketRows>,
    pub teacher: String,
    name: String,
    size_on_disk: Option<u64>,
    /// Each word's summed rows, for `encode` with a saved (read-only) fastText-style table.
    word_sums: WordSums,
}

impl TableStudent {
    /// A fresh student: rows uniform in ±1/dim (fastText's init), projection Xavier-uniform.
    pub fn new(config: SubwordConfig, words: Vec<String>, seed: u64) -> Result<Self> {
        validate(&config, words.len())?;
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
        Ok(TableStudent {
            word_sums: WordSums::new(config.dim),
            config,
            words,
            featurizer: Featurizer::Subword(vocab),
            table: table.into(),
            projection,
            bucket_rows: None,
            teacher: String::new(),
            name: "subword student".into(),
            size_on_disk: None,
        })
    }

    /// A static token student: one row per entry of `tokenizer`'s vocabulary (`table` is
    /// vocabulary × dim), projected by `projection` (dim × output_dim) when given.
    pub fn from_tokenizer(
        mut tokenizer: tokenizers::Tokenizer,
        dim: usize,
        output_dim: usize,
        table: Vec<f32>,
        projection: Option<Vec<f32>>,
    ) -> Result<Self> {
        // Sentences are pooled, never batched into a tensor: no padding, no truncation.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| Error::msg(format!("cannot turn off truncation: {e}")))?;
        let words = token_list(&tokenizer);
        let config = SubwordConfig::new(dim, output_dim, 0, (0, 0), WordRules::new(false));
        validate_static(&config, words.len())?;
        if table.len() != words.len() * dim {
            return Err(Error::msg(format!(
                "a static student of {} tokens × {dim} needs {} values, got {}",
                words.len(),
                words.len() * dim,
                table.len()
            )));
        }
        if projection
            .as_ref()
            .is_some_and(|p| p.len() != dim * output_dim)
            || (projection.is_none() && dim != output_dim)
        {
            return Err(Error::msg(format!(
                "a static student of width {dim} needs a {dim}×{output_dim} projection"
            )));
        }
        let unknown = unknown_token(&tokenizer);
        Ok(TableStudent {
            config,
            words,
            featurizer: Featurizer::Tokens {
                pieces: PieceCache::new(&tokenizer),
                tokenizer: Box::new(tokenizer),
                unknown,
            },
            table: table.into(),
            projection,
            bucket_rows: None,
            teacher: String::new(),
            name: "static student".into(),
            size_on_disk: None,
            word_sums: WordSums::new(dim),
        })
    }

    /// Forgets the cached piece ids (static) or word sums (fastText-style): benchmarks time
    /// the cold state.
    pub fn clear_cache(&self) {
        if let Featurizer::Tokens {
            pieces: Some(p), ..
        } = &self.featurizer
        {
            p.clear();
        }
        self.word_sums.clear();
    }

    /// True for a static token (Model2Vec-style) student.
    pub fn is_static(&self) -> bool {
        matches!(self.featurizer, Featurizer::Tokens { .. })
    }

    /// The static student's tokenizer.
    pub fn tokenizer(&self) -> Option<&tokenizers::Tokenizer> {
        match &self.featurizer {
            Featurizer::Tokens { tokenizer, .. } => Some(tokenizer),
            Featurizer::Subword(_) => None,
        }
    }

    /// Rows of the table: words, then buckets (kept ones and the shared row when pruned).
    pub fn rows(&self) -> usize {
        self.words.len() + self.table_buckets()
    }

    /// Rows after the words: `buckets`, or the kept buckets + the shared row when pruned.
    pub fn table_buckets(&self) -> usize {
        match &self.bucket_rows {
            Some(b) => b.rows,
            None => self.config.buckets,
        }
    }

    /// The table row of logical row `row` (words, then every one of `buckets`): itself unless
    /// buckets were pruned.
    pub fn table_row(&self, row: usize) -> usize {
        match (&self.bucket_rows, row.checked_sub(self.words.len())) {
            (Some(map), Some(b)) => map.map[b] as usize,
            _ => row,
        }
    }

    /// The bucket → row map of a pruned student.
    pub fn bucket_rows(&self) -> Option<&[u32]> {
        self.bucket_rows.as_ref().map(|b| b.map.as_slice())
    }

    /// This student with `words` and `table` (rows of `dim`) in place of its own, projected by
    /// `projection` (dim × output_dim; None: the output is the table's width); `bucket_rows`
    /// maps each bucket to a row of `table` (None: bucket b is row words + b). A static student
    /// keeps its tokenizer's vocabulary, so only its width can change.
    pub fn reshaped(
        &self,
        words: Vec<String>,
        (dim, table): (usize, Vec<f32>),
        projection: Option<(usize, Vec<f32>)>,
        bucket_rows: Option<Vec<u32>>,
    ) -> Result<Self> {
        let mut config = self.config.clone();
        config.dim = dim;
        config.output_dim = projection.as_ref().map_or(dim, |p| p.0);
        if projection
            .as_ref()
            .is_some_and(|(out, p)| p.len() != dim * out)
        {
            return Err(Error::msg(format!(
                "a projection from width {dim} has the wrong size"
            )));
        }
        let featurizer = match &self.featurizer {
            Featurizer::Tokens { tokenizer, .. } => {
                if words != self.words || bucket_rows.is_some() {
                    return Err(Error::msg(
                        "a static student's rows are its tokenizer's vocabulary: they cannot be pruned",
                    ));
                }
                featurizer_of(&words, Some((**tokenizer).clone()))
            }
            Featurizer::Subword(_) => featurizer_of(&words, None),
        };
        let table_buckets = match &bucket_rows {
            Some(map) => {
                let rows = table.len() / dim.max(1) - words.len().min(table.len() / dim.max(1));
                if map.len() != config.buckets
                    || map
                        .iter()
                        .any(|&r| (r as usize) < words.len() || r as usize >= words.len() + rows)
                {
                    return Err(Error::msg(format!(
                        "a bucket map needs {} entries, each a bucket row of the table ({} words + {rows} rows)",
                        config.buckets,
                        words.len()
                    )));
                }
                rows
            }
            None => config.buckets,
        };
        if self.is_static() {
            validate_static(&config, words.len())?;
        } else {
            validate(&config, words.len())?;
        }
        if table.len() != (words.len() + table_buckets) * dim {
            return Err(Error::msg(format!(
                "a table of {} words + {table_buckets} bucket rows × {dim} needs {} values, got {}",
                words.len(),
                (words.len() + table_buckets) * dim,
                table.len()
            )));
        }
        Ok(TableStudent {
            word_sums: WordSums::new(dim),
            config,
            words,
            featurizer,
            table: table.into(),
            projection: projection.map(|p| p.1),
            bucket_rows: bucket_rows.map(|map| BucketRows {
                map,
                rows: table_buckets,
            }),
            teacher: self.teacher.clone(),
            name: format!("{} (reshaped)", self.name),
            size_on_disk: None,
        })
    }

    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The row of a vocabulary word (of a token, for a static student).
    pub fn word_id(&self, word: &str) -> Option<u32> {
        match &self.featurizer {
            Featurizer::Subword(vocab) => vocab.get(word).copied(),
            Featurizer::Tokens { tokenizer, .. } => tokenizer.token_to_id(word),
        }
    }

    fn bucket(&self, bytes: &[u8]) -> u32 {
        self.bucket_of_hash(fasttext_hash(bytes) as u64)
    }

    fn bucket_of_hash(&self, hash: u64) -> u32 {
        let b = (hash % self.config.buckets as u64) as usize;
        match &self.bucket_rows {
            Some(rows) => rows.map[b],
            None => (self.words.len() + b) as u32,
        }
    }

    /// Calls `f` with the row of each word n-gram that ends at `token` (none unless
    /// `word_ngrams` > 1), after adding the token to the run of words in `word_hashes`.
    fn word_ngram_rows(&self, token: &str, word_hashes: &mut Vec<u32>, mut f: impl FnMut(u32)) {
        if self.config.word_ngrams < 2 {
            return;
        }
        word_hashes.push(fasttext_hash(token.as_bytes()));
        word_ngram_hashes(word_hashes, self.config.word_ngrams, |h| {
            f(self.bucket_of_hash(h))
        });
    }

    /// Appends the feature rows of `text` to `out` (a row may repeat; it then counts twice).
    pub fn features(&self, text: &str, out: &mut Vec<u32>) {
        self.features_in(text, out, &mut Scratch::default())
    }

    /// `features` with its buffers kept in `scratch` (one per thread), so that featurizing
    /// allocates nothing once they have grown.
    pub fn features_in(&self, text: &str, out: &mut Vec<u32>, scratch: &mut Scratch) {
        let vocab = match &self.featurizer {
            Featurizer::Subword(vocab) => vocab,
            Featurizer::Tokens {
                tokenizer,
                unknown,
                pieces,
            } => {
                if !pieces
                    .as_ref()
                    .is_some_and(|p| p.ids(tokenizer, *unknown, text, out))
                {
                    // A text the tokenizer cannot read (none is known for the shipped ones)
                    // pools to nothing, like an empty text.
                    encode_ids(tokenizer, *unknown, text, out);
                }
                return;
            }
        };
        let Scratch {
            tokens,
            bracketed,
            starts,
            word_hashes,
        } = scratch;
        word_hashes.clear();
        let (minn, maxn) = (self.config.minn, self.config.maxn);
        for_each_token(text, self.config.word_rules(), tokens, |token, kind| {
            let word = vocab.get(token).copied();
            bracket(token, bracketed);
            match kind {
                TokenKind::Word => {
                    out.extend(word);
                    char_ngrams_in(bracketed, minn, maxn, starts, |g| {
                        out.push(self.bucket(g.as_bytes()))
                    });
                    self.word_ngram_rows(token, word_hashes, |row| out.push(row));
                }
                TokenKind::Chars => {
                    // A word n-gram never spans a run of ideographs or unspaced letters.
                    word_hashes.clear();
                    out.push(word.unwrap_or_else(|| self.bucket(bracketed.as_bytes())))
                }
            }
        });
    }

    /// Mean of the rows (`hidden`, length dim) and the output (length output_dim).
    pub fn forward(&self, features: &[u32], hidden: &mut [f32], output: &mut [f32]) {
        hidden.fill(0.0);
        self.table.add_rows(features, self.config.dim, hidden);
        self.finish(features.len(), hidden, output);
    }

    /// `hidden` (the sum of `rows` rows) made their mean, and the output from it.
    fn finish(&self, rows: usize, hidden: &mut [f32], output: &mut [f32]) {
        if rows > 0 {
            let inv = 1.0 / rows as f32;
            hidden.iter_mut().for_each(|h| *h *= inv);
        }
        self.project(hidden, output);
    }

    /// The output of a hidden (mean-pooled) vector: itself, or through the projection.
    pub(crate) fn project(&self, hidden: &[f32], output: &mut [f32]) {
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

    /// The fastText-style vector of `text` into `output`, each word's rows summed once and then
    /// taken from `word_sums` (see there): the features of `features_in`, summed word by word.
    fn embed_by_words(&self, text: &str, vocab: &Vocab, b: &mut EmbedBuffers, output: &mut [f32]) {
        let dim = self.config.dim;
        let (minn, maxn) = (self.config.minn, self.config.maxn);
        let EmbedBuffers {
            features,
            hidden,
            scratch,
        } = b;
        let Scratch {
            tokens,
            bracketed,
            starts,
            word_hashes,
        } = scratch;
        word_hashes.clear();
        hidden.fill(0.0);
        let mut rows = 0;
        let mut shard = self.word_sums.shard();
        for_each_token(text, self.config.word_rules(), tokens, |token, kind| {
            bracket(token, bracketed);
            match kind {
                TokenKind::Word => {
                    rows += self.word_sums.add(&mut shard, token, hidden, |sum| {
                        features.clear();
                        features.extend(vocab.get(token).copied());
                        char_ngrams_in(bracketed, minn, maxn, starts, |g| {
                            features.push(self.bucket(g.as_bytes()))
                        });
                        self.table.add_rows(features, dim, sum);
                        features.len()
                    });
                    // Word n-grams depend on the neighbours: added row by row, never cached.
                    self.word_ngram_rows(token, word_hashes, |row| {
                        self.table.add_row(row as usize, dim, hidden);
                        rows += 1;
                    });
                }
                TokenKind::Chars => {
                    word_hashes.clear();
                    let row = vocab
                        .get(token)
                        .copied()
                        .unwrap_or_else(|| self.bucket(bracketed.as_bytes()));
                    self.table.add_row(row as usize, dim, hidden);
                    rows += 1;
                }
            }
        });
        drop(shard);
        self.finish(rows, hidden, output);
    }

    pub fn embed(&self, text: &str) -> Vec<f32> {
        let mut features = Vec::new();
        self.features(text, &mut features);
        let mut hidden = vec![0.0; self.config.dim];
        let mut output = vec![0.0; self.config.output_dim];
        self.forward(&features, &mut hidden, &mut output);
        output
    }

    /// Writes `student.json`, `model.safetensors` and `vocab.txt` (fastText-style) or
    /// `tokenizer.json` (static) into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        self.save_as(dir, Precision::F32)
    }

    /// Saves with the table stored at `precision` (f16, or int8 or int4 with a scale per row in
    /// the tensor `embeddings_scale`); the projection stays f32.
    pub fn save_as(&self, dir: &Path, precision: Precision) -> Result<()> {
        if self.size_on_disk.is_some() {
            // Loaded from a directory (named after it): never rewritten in place.
            crate::io::refuse_same(Path::new(&self.name), dir)?;
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        match &self.featurizer {
            Featurizer::Subword(_) => {
                let mut vocab = self.words.join("\n");
                vocab.push('\n');
                crate::io::write_atomic(dir.join("vocab.txt"), vocab.as_bytes())?;
            }
            Featurizer::Tokens { tokenizer, .. } => {
                let json = tokenizer
                    .to_string(false)
                    .map_err(|e| Error::msg(format!("serialising the tokenizer: {e}")))?;
                crate::io::write_atomic(dir.join(TOKENIZER_FILE), json.as_bytes())?;
            }
        }
        let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let (table, scales) = super::table::quantize(&self.table, self.config.dim, precision);
        let dtype = match precision {
            Precision::F32 => safetensors::Dtype::F32,
            Precision::F16 => safetensors::Dtype::F16,
            Precision::Int8 => safetensors::Dtype::I8,
            Precision::Int4 => safetensors::Dtype::U8,
        };
        let stored_dim = precision.stored_width(self.config.dim);
        let scale_bytes = bytes(&scales);
        let mut tensors = vec![(
            "embeddings".to_string(),
            safetensors::tensor::TensorView::new(dtype, vec![self.rows(), stored_dim], &table)
                .expect("shape matches"),
        )];
        if precision.has_row_scales() {
            tensors.push((
                "embeddings_scale".to_string(),
                safetensors::tensor::TensorView::new(
                    safetensors::Dtype::F32,
                    vec![self.rows()],
                    &scale_bytes,
                )
                .expect("shape matches"),
            ));
        }
        let map_bytes: Option<Vec<u8>> = self
            .bucket_rows()
            .map(|m| m.iter().flat_map(|r| r.to_le_bytes()).collect());
        if let Some(m) = &map_bytes {
            tensors.push((
                "bucket_rows".to_string(),
                safetensors::tensor::TensorView::new(
                    safetensors::Dtype::U32,
                    vec![self.config.buckets],
                    m,
                )
                .expect("shape matches"),
            ));
        }
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
        crate::io::write_atomic(dir.join("model.safetensors"), &blob)?;
        // Written last, with the weights' checksum: a directory is complete once it exists.
        let saved = SavedConfig {
            format: if self.is_static() {
                STATIC_FORMAT
            } else if self.bucket_rows.is_some() {
                PRUNED_FORMAT
            } else {
                FORMAT
            }
            .into(),
            config: self.config.clone(),
            words: self.words.len(),
            table_buckets: self.bucket_rows.as_ref().map(|b| b.rows),
            teacher: self.teacher.clone(),
            checksum: Some(format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&blob))),
        };
        crate::io::write_atomic(
            dir.join(STUDENT_FILE),
            &serde_json::to_vec_pretty(&saved).expect("config serialises"),
        )
    }

    /// Loads a student directory, checking every file against the others.
    pub fn load(dir: &Path) -> Result<Self> {
        let config_path = dir.join(STUDENT_FILE);
        let saved: SavedConfig = crate::error::read_json(&config_path)?;
        let (words, tokenizer) = read_vocabulary(dir, &saved)?;
        let (table, projection, bucket_rows) =
            map_weights(&dir.join("model.safetensors"), &saved, words.len())?;
        let featurizer = featurizer_of(&words, tokenizer);
        let mut student = TableStudent {
            word_sums: WordSums::new(saved.config.dim),
            config: saved.config.clone(),
            words,
            featurizer,
            table,
            projection,
            bucket_rows,
            teacher: String::new(),
            name: String::new(),
            size_on_disk: None,
        };
        student.teacher = saved.teacher;
        student.set_source(dir);
        Ok(student)
    }
}

/// The rows' words (subword student) or the tokenizer and its tokens (static student), checked
/// against `student.json`.
fn read_vocabulary(
    dir: &Path,
    saved: &SavedConfig,
) -> Result<(Vec<String>, Option<tokenizers::Tokenizer>)> {
    let config_path = dir.join(STUDENT_FILE);
    let out = match saved.format.as_str() {
        FORMAT | PRUNED_FORMAT => {
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
            validate(&saved.config, words.len())
                .map_err(|e| Error::invalid(&config_path, e.to_string()))?;
            if (saved.format == PRUNED_FORMAT) != saved.table_buckets.is_some()
                || saved.table_buckets == Some(0)
            {
                return Err(Error::invalid(
                    &config_path,
                    format!("{PRUNED_FORMAT} (and only it) needs table_buckets > 0"),
                ));
            }
            (words, None)
        }
        STATIC_FORMAT => {
            let path = dir.join(TOKENIZER_FILE);
            if !path.is_file() {
                return Err(Error::invalid(
                    &path,
                    "missing: a static student needs the tokenizer it was trained with",
                ));
            }
            let mut tokenizer = tokenizers::Tokenizer::from_file(&path)
                .map_err(|e| Error::invalid(&path, format!("cannot load tokenizer: {e}")))?;
            tokenizer.with_padding(None);
            tokenizer
                .with_truncation(None)
                .map_err(|e| Error::invalid(&path, format!("cannot turn off truncation: {e}")))?;
            let words = token_list(&tokenizer);
            if words.len() != saved.words {
                return Err(Error::invalid(
                    &path,
                    format!(
                        "the tokenizer has {} tokens, but {STUDENT_FILE} says the table has {} rows",
                        words.len(),
                        saved.words
                    ),
                ));
            }
            validate_static(&saved.config, words.len())
                .map_err(|e| Error::invalid(&config_path, e.to_string()))?;
            (words, Some(tokenizer))
        }
        other => {
            return Err(Error::invalid(
                &config_path,
                format!("format '{other}' is not {FORMAT}, {PRUNED_FORMAT} or {STATIC_FORMAT}"),
            ))
        }
    };
    Ok(out)
}

/// The table (mapped, or dequantized for f16 and int8), the projection and the bucket map of
/// `weights_path`, after its checksum and header are checked.
fn map_weights(
    weights_path: &Path,
    saved: &SavedConfig,
    words: usize,
) -> Result<(super::table::Table, Option<Vec<f32>>, Option<BucketRows>)> {
    if let Some(want) = &saved.checksum {
        verify_checksum(weights_path, want)?;
    }
    // Only the header is parsed here; the table itself is mapped, not read.
    let (header_len, metadata) = read_header(weights_path)?;
    let table_buckets = saved.table_buckets.unwrap_or(saved.config.buckets);
    let rows = words
        .checked_add(table_buckets)
        .filter(|&r| r <= u32::MAX as usize)
        .ok_or_else(|| Error::invalid(weights_path, "table_buckets is too large"))?;
    let precision = table_precision(&metadata, weights_path)?;
    let dim = saved.config.dim;
    // `len` counts values; an int4 row is stored as ⌈dim/2⌉ bytes. tensor_span checked that the
    // stored elements times 4 fit in usize, so rows · dim (at most twice them plus rows) does.
    let (start, _) = tensor_span(
        &metadata,
        weights_path,
        "embeddings",
        &[rows, precision.stored_width(dim)],
        precision,
    )?;
    let len = rows * dim;
    // Offsets count from the end of the header; one near usize::MAX must not wrap around.
    let data_at = |start: usize| {
        (8 + header_len).checked_add(start).ok_or_else(|| {
            Error::invalid(
                weights_path,
                format!("tensor data offset {start} is past the end of the file"),
            )
        })
    };
    let table = match precision {
        Precision::F32 => super::table::Table::map(weights_path, data_at(start)?, len)?,
        _ => {
            let scales = if precision.has_row_scales() {
                let (s, n) = tensor_span(
                    &metadata,
                    weights_path,
                    "embeddings_scale",
                    &[rows],
                    Precision::F32,
                )?;
                super::table::Table::map(weights_path, data_at(s)?, n)?.to_vec()
            } else {
                Vec::new()
            };
            super::table::Table::map_quantized(
                weights_path,
                data_at(start)?,
                len,
                saved.config.dim,
                precision,
                scales,
            )?
        }
    };
    let projection = if saved.config.dim != saved.config.output_dim {
        let (start, len) = tensor_span(
            &metadata,
            weights_path,
            "projection",
            &[saved.config.dim, saved.config.output_dim],
            Precision::F32,
        )?;
        Some(super::table::Table::map(weights_path, data_at(start)?, len)?.to_vec())
    } else {
        None
    };
    let bucket_rows = match saved.table_buckets {
        None => None,
        Some(buckets) => {
            let (start, len) = tensor_span_as(
                &metadata,
                weights_path,
                "bucket_rows",
                &[saved.config.buckets],
                ("U32", 4),
            )?;
            // Same width and alignment as f32: read through the f32 map, kept as bits.
            let raw = super::table::Table::map(weights_path, data_at(start)?, len)?;
            let map: Vec<u32> = raw.iter().map(|v| v.to_bits()).collect();
            if let Some(bad) = map
                .iter()
                .find(|&&r| (r as usize) < words || r as usize >= rows)
            {
                return Err(Error::invalid(
                    weights_path,
                    format!("bucket_rows holds row {bad}, outside the bucket rows {words}..{rows}"),
                ));
            }
            Some(BucketRows { map, rows: buckets })
        }
    };
    Ok((table, projection, bucket_rows))
}

/// How texts become rows: the tokenizer's ids, or words and character n-grams.
fn featurizer_of(words: &[String], tokenizer: Option<tokenizers::Tokenizer>) -> Featurizer {
    match tokenizer {
        Some(tokenizer) => Featurizer::Tokens {
            unknown: unknown_token(&tokenizer),
            pieces: PieceCache::new(&tokenizer),
            tokenizer: Box::new(tokenizer),
        },
        None => Featurizer::Subword(
            words
                .iter()
                .enumerate()
                .map(|(i, w)| (w.clone(), i as u32))
                .collect(),
        ),
    }
}

impl TableStudent {
    /// Names the student after the directory it was read from, whose size it reports.
    pub fn set_source(&mut self, dir: &Path) {
        self.name = dir.display().to_string();
        self.size_on_disk = Some(
            crate::hub::ModelDir {
                name: String::new(),
                dir: dir.to_path_buf(),
            }
            .size_on_disk(),
        );
    }
}

/// Compares a file's xxh3-64 with the one `student.json` recorded.
fn verify_checksum(path: &Path, want: &str) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: read-only map, dropped before returning.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    let got = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&map));
    if got != want {
        return Err(Error::invalid(
            path,
            format!(
                "checksum {got} does not match {want} recorded in {STUDENT_FILE}: the file is \
                 damaged or was replaced"
            ),
        ));
    }
    Ok(())
}

/// The longest word n-gram a student may hash: a text of w words has up to w · n of them, so an
/// unbounded n from a damaged `student.json` would make encoding quadratic in the text.
const MAX_WORD_NGRAMS: usize = 8;

/// Checks a shape for a student with `words` vocabulary words: sizes that are zero, or whose
/// table would not fit in memory or in the u32 row ids of features, are refused before anything
/// is allocated or indexed.
fn validate(config: &SubwordConfig, words: usize) -> Result<()> {
    if config.dim == 0
        || config.output_dim == 0
        || config.buckets == 0
        || config.minn == 0
        || config.minn > config.maxn
        || !(1..=MAX_WORD_NGRAMS).contains(&config.word_ngrams)
    {
        return Err(Error::msg(format!(
            "invalid student shape: {config:?} (dim, output_dim, buckets > 0; 0 < minn <= maxn; \
             1 <= word_ngrams <= {MAX_WORD_NGRAMS})"
        )));
    }
    let rows = words.checked_add(config.buckets);
    let fits = |n: Option<usize>| n.and_then(|n| n.checked_mul(4)).is_some();
    if rows.is_none_or(|rows| rows - 1 > u32::MAX as usize) {
        return Err(Error::msg(format!(
            "invalid student shape: {words} words + {} buckets is more than the 2^32 rows a \
             student can address",
            config.buckets
        )));
    }
    if !fits(rows.and_then(|rows| rows.checked_mul(config.dim)))
        || !fits(config.dim.checked_mul(config.output_dim))
    {
        return Err(Error::msg(format!(
            "invalid student shape: {config:?} with {words} words is too large to address"
        )));
    }
    Ok(())
}

/// Checks the shape of a static student with `tokens` vocabulary entries (no buckets, no
/// n-grams).
fn validate_static(config: &SubwordConfig, tokens: usize) -> Result<()> {
    if config.dim == 0
        || config.output_dim == 0
        || config.buckets != 0
        || config.word_ngrams != 1
        || tokens == 0
    {
        return Err(Error::msg(format!(
            "invalid static student shape: {config:?} over {tokens} tokens (dim, output_dim and \
             the vocabulary > 0; no buckets)"
        )));
    }
    if tokens > u32::MAX as usize
        || tokens
            .checked_mul(config.dim)
            .and_then(|n| n.checked_mul(4))
            .is_none()
        || config
            .dim
            .checked_mul(config.output_dim)
            .and_then(|n| n.checked_mul(4))
            .is_none()
    {
        return Err(Error::msg(format!(
            "invalid static student shape: {config:?} over {tokens} tokens is too large to address"
        )));
    }
    Ok(())
}

/// The tokenizer's vocabulary in id order (added tokens included); a gap in the ids is an
/// empty string, so row i is always token i.
fn token_list(tokenizer: &tokenizers::Tokenizer) -> Vec<String> {
    let n = tokenizer.get_vocab_size(true);
    (0..n as u32)
        .map(|id| tokenizer.id_to_token(id).unwrap_or_default())
        .collect()
}

/// The id of the tokenizer's unknown token, if its model has one.
fn unknown_token(tokenizer: &tokenizers::Tokenizer) -> Option<u32> {
    let json = serde_json::to_value(tokenizer.get_model()).ok()?;
    let name = match json.get("unk_token") {
        Some(serde_json::Value::String(s)) => s.clone(),
        _ => {
            // Unigram models name it by id.
            return json
                .get("unk_id")
                .and_then(|v| v.as_u64())
                .map(|v| v as u32);
        }
    };
    tokenizer.token_to_id(&name)
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

/// The precision of the `embeddings` tensor, from its dtype.
fn table_precision(
    header: &serde_json::Map<String, serde_json::Value>,
    path: &Path,
) -> Result<Precision> {
    let dtype = header
        .get("embeddings")
        .and_then(|t| t["dtype"].as_str())
        .unwrap_or("?");
    [
        Precision::F32,
        Precision::F16,
        Precision::Int8,
        Precision::Int4,
    ]
    .into_iter()
    .find(|p| p.dtype() == dtype)
    .ok_or_else(|| {
        Error::invalid(
            path,
            format!("tensor 'embeddings' is {dtype}, expected F32, F16, I8 or U8 (int4)"),
        )
    })
}

/// Byte offset (from the end of the header) and element count of a tensor of `shape` stored at
/// `precision`.
fn tensor_span(
    header: &serde_json::Map<String, serde_json::Value>,
    path: &Path,
    name: &str,
    shape: &[usize],
    precision: Precision,
) -> Result<(usize, usize)> {
    let width = precision.row_bytes(1);
    tensor_span_as(header, path, name, shape, (precision.dtype(), width))
}

/// `tensor_span` for any dtype: `(name, bytes per value)`.
fn tensor_span_as(
    header: &serde_json::Map<String, serde_json::Value>,
    path: &Path,
    name: &str,
    shape: &[usize],
    (want, width): (&str, usize),
) -> Result<(usize, usize)> {
    let t = header
        .get(name)
        .ok_or_else(|| Error::invalid(path, format!("no tensor '{name}'")))?;
    let dtype = t["dtype"].as_str().unwrap_or("?");
    if dtype != want {
        return Err(Error::invalid(
            path,
            format!("tensor '{name}' is {dtype}, expected {}", want),
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
        return Err(Error::invalid(path, format!("tensor '{name}' has shape {found:?}, expected {shape:?} (from student.json and the vocabulary)")));
    }
    let offsets = numbers("data_offsets");
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|n| n.checked_mul(4).is_some())
        .ok_or_else(|| {
            Error::invalid(
                path,
                format!("tensor '{name}' of shape {shape:?} is too large"),
            )
        })?;
    let size = count.checked_mul(width).ok_or_else(|| {
        Error::invalid(
            path,
            format!("tensor '{name}' of shape {shape:?} is too large"),
        )
    })?;
    match offsets[..] {
        [start, end] if end.checked_sub(start) == Some(size) => Ok((start, count)),
        _ => Err(Error::invalid(
            path,
            format!(
                "tensor '{name}' has data offsets {offsets:?}, which do not hold {count} {} values",
                want
            ),
        )),
    }
}

/// A thread's buffers for `encode`.
struct EmbedBuffers {
    features: Vec<u32>,
    hidden: Vec<f32>,
    scratch: Scratch,
}

impl EmbedBuffers {
    fn new(dim: usize) -> Self {
        EmbedBuffers {
            features: Vec::new(),
            hidden: vec![0.0; dim],
            scratch: Scratch::default(),
        }
    }
}

/// `<token>` into `out`, reusing its buffer: the form whose n-grams fastText hashes.
fn bracket(token: &str, out: &mut String) {
    out.clear();
    out.push('<');
    out.push_str(token);
    out.push('>');
}

impl Encoder for TableStudent {
    fn name(&self) -> String {
        self.name.clone()
    }
    // The encoder's dimension is what it outputs, not the width of its table rows.
    #[allow(clippy::misnamed_getters)]
    fn dim(&self) -> usize {
        self.config.output_dim
    }
    fn encode(&self, texts: &[&str]) -> Result<Embeddings> {
        let out_dim = self.config.output_dim;
        let mut values = vec![0.0; texts.len() * out_dim];
        // A text takes ~10-100 µs, a rayon task ~1 µs: tasks of a few texts let a batch of 32
        // use both threads (at 64 texts a task, as before, it never did), each thread keeping
        // its buffers across its texts.
        values
            .par_chunks_mut(out_dim.max(1))
            .zip(texts.par_iter())
            .with_min_len(4)
            .for_each_init(
                || EmbedBuffers::new(self.config.dim),
                |b, (row, text)| match &self.featurizer {
                    // A saved table is read-only, so sums of its rows stay true (a table being
                    // trained is owned, and takes the plain path).
                    Featurizer::Subword(vocab) if self.table.is_mapped() => {
                        self.embed_by_words(text, vocab, b, row)
                    }
                    _ => {
                        b.features.clear();
                        self.features_in(text, &mut b.features, &mut b.scratch);
                        self.forward(&b.features, &mut b.hidden, row);
                    }
                },
            );
        Ok(Embeddings::new(out_dim, values))
    }
    /// The student's own tokens: words, and characters and bigrams of unspaced scripts.
    fn count_tokens(&self, text: &str) -> usize {
        if self.is_static() {
            let mut ids = Vec::new();
            self.features(text, &mut ids);
            return ids.len();
        }
        let mut tokens = Vec::new();
        let rules = WordRules {
            lowercase: false,
            ..self.config.word_rules()
        };
        tokenize(text, rules, &mut tokens);
        tokens.len()
    }
    fn size_on_disk(&self) -> Option<u64> {
        self.size_on_disk
    }
    fn clear_cache(&self) {
        TableStudent::clear_cache(self)
    }
}

/// The vocabulary: tokens seen at least `min_count` times, most frequent first (ties by text),
/// at most `max_words`.
pub fn build_vocab<'a>(
    texts: impl IntoIterator<Item = &'a str>,
    rules: WordRules,
    min_count: usize,
    max_words: usize,
) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut tokens = Vec::new();
    for text in texts {
        tokens.clear();
        tokenize(text, rules, &mut tokens);
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

    fn tiny(dim: usize, output_dim: usize) -> TableStudent {
        let config = SubwordConfig::new(dim, output_dim, 50, (3, 4), WordRules::new(true));
        let words = build_vocab(["the cat", "the dog", "日本"], WordRules::new(true), 1, 10);
        TableStudent::new(config, words, 1).unwrap()
    }

    fn strip_checksum(json: &str) -> String {
        let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
        v.as_object_mut().unwrap().remove("checksum").unwrap();
        v.to_string()
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

    /// `features` as it was before `features_in` (std HashMap, a String per token): the
    /// reference the allocation-free path must equal, id for id and in order.
    fn features_reference(s: &TableStudent, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        let rules = s.config.word_rules();
        for (token, kind) in super::super::features::tests::tokenize_reference(text, rules) {
            let word = s.words.iter().position(|w| *w == token).map(|i| i as u32);
            let bracketed = format!("<{token}>");
            match kind {
                TokenKind::Word => {
                    out.extend(word);
                    super::super::features::char_ngrams(
                        &bracketed,
                        s.config.minn,
                        s.config.maxn,
                        |g| out.push(s.bucket(g.as_bytes())),
                    );
                }
                TokenKind::Chars => {
                    out.push(word.unwrap_or_else(|| s.bucket(bracketed.as_bytes())))
                }
            }
        }
        out
    }

    /// `features_reference` plus the word n-grams, as fastText adds them: after the words, from
    /// each run of words (a run of ideographs or unspaced letters ends one), sorted.
    fn features_reference_sorted(s: &TableStudent, text: &str) -> Vec<u32> {
        let mut out = features_reference(s, text);
        let rules = s.config.word_rules();
        let tokens = super::super::features::tests::tokenize_reference(text, rules);
        for run in tokens.split(|(_, kind)| *kind == TokenKind::Chars) {
            let hashes: Vec<u64> = run
                .iter()
                .map(|(t, _)| fasttext_hash(t.as_bytes()) as i32 as i64 as u64)
                .collect();
            for (i, &first) in hashes.iter().enumerate() {
                let mut h = first;
                for &next in hashes.iter().skip(i + 1).take(s.config.word_ngrams - 1) {
                    h = h.wrapping_mul(116_049_371).wrapping_add(next);
                    out.push(s.bucket_of_hash(h));
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// A student whose vocabulary comes from `lines`, saved and loaded (a mapped table).
    fn student_with_word_ngrams(lines: &[String], dir: &Path, word_ngrams: usize) -> TableStudent {
        let config = SubwordConfig {
            word_ngrams,
            ..SubwordConfig::new(16, 8, 1000, (3, 6), WordRules::new(true))
        };
        let words = build_vocab(
            lines.iter().map(String::as_str),
            WordRules::new(true),
            2,
            3000,
        );
        let s = TableStudent::new(config, words, 3).unwrap();
        s.save(dir).unwrap();
        TableStudent::load(dir).unwrap()
    }

    #[test]
    fn fast_features_and_word_sums_equal_the_plain_path_on_multilingual_text() {
        let lines = super::super::features::tests::multilingual_lines(25);
        for word_ngrams in [1, 3] {
            let dir = tempfile::tempdir().unwrap();
            let s = student_with_word_ngrams(&lines, dir.path(), word_ngrams);
            assert_eq!(s.config.word_ngrams, word_ngrams, "saved and loaded");
            fast_paths_equal_the_plain_path(&s, &lines, dir.path());
        }
    }

    fn fast_paths_equal_the_plain_path(s: &TableStudent, lines: &[String], dir: &Path) {
        assert!(s.table.is_mapped());
        let mut scratch = Scratch::default();
        let mut word_ngram_rows = 0;
        for line in lines {
            let mut got = Vec::new();
            s.features_in(line, &mut got, &mut scratch);
            if s.config.word_ngrams == 1 {
                assert_eq!(got, features_reference(s, line), "{line:?}");
            } else {
                word_ngram_rows += got.len() - features_reference(s, line).len();
                got.sort_unstable();
                assert_eq!(got, features_reference_sorted(s, line), "{line:?}");
            }
        }
        assert_eq!(word_ngram_rows > 0, s.config.word_ngrams > 1);
        // encode sums each word's rows once (word_sums): the plain vectors up to rounding,
        // whether the cache is cold (first pass) or warm (second).
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        for pass in 0..2 {
            let got = s.encode(&refs).unwrap();
            for (i, text) in refs.iter().enumerate() {
                let want = s.embed(text);
                let scale = want.iter().fold(1e-3f32, |m, x| m.max(x.abs()));
                for (a, b) in got.row(i).iter().zip(&want) {
                    assert!(
                        (a - b).abs() <= 1e-5 * scale,
                        "pass {pass}, {text:?}: {a} vs {b}"
                    );
                }
            }
        }
        assert!(!s.word_sums.is_empty());
        s.clear_cache();
        assert!(s.word_sums.is_empty());
        // A table being trained (owned) takes the plain path: the very same vectors.
        let owned = {
            let mut o = TableStudent::load(dir).unwrap();
            o.table[0] += 0.0;
            o
        };
        assert!(!owned.table.is_mapped());
        let got = owned.encode(&refs[..50]).unwrap();
        for (i, text) in refs[..50].iter().enumerate() {
            assert_eq!(got.row(i), owned.embed(text).as_slice(), "{text:?}");
        }
    }

    #[test]
    fn save_load_round_trip_and_mismatches_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let s = tiny(4, 6);
        s.save(dir.path()).unwrap();
        let back = TableStudent::load(dir.path()).unwrap();
        assert_eq!(back.embed("the dog barks"), s.embed("the dog barks"));
        assert_eq!(back.encode(&["x", ""]).unwrap().len(), 2);

        std::fs::write(dir.path().join("vocab.txt"), "the\n").unwrap();
        let err = TableStudent::load(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("vocab.txt") && err.contains("1 words"),
            "{err}"
        );

        s.save(dir.path()).unwrap();
        let mut wrong = s.config.clone();
        wrong.buckets = 51;
        let other = TableStudent::new(wrong, s.words().to_vec(), 1).unwrap();
        let json = std::fs::read_to_string(dir.path().join(STUDENT_FILE)).unwrap();
        other.save(dir.path()).unwrap();
        std::fs::write(dir.path().join(STUDENT_FILE), &json).unwrap();
        let err = TableStudent::load(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("model.safetensors") && err.contains("checksum"),
            "weights replaced under student.json: {err}"
        );
        // Without a checksum (directories from before checksums), shapes are still checked.
        std::fs::write(dir.path().join(STUDENT_FILE), strip_checksum(&json)).unwrap();
        let err = TableStudent::load(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("model.safetensors") && err.contains("shape"),
            "{err}"
        );

        std::fs::write(dir.path().join(STUDENT_FILE), "{ not json").unwrap();
        let err = TableStudent::load(dir.path()).err().unwrap().to_string();
        assert!(err.contains("student.json:1"), "{err}");
    }

    #[test]
    fn word_rules_are_saved_and_a_student_saved_before_them_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = tiny(4, 4).config;
        config.fold_arabic = true;
        config.unspaced_letters = UnspacedLetters::Ngrams;
        let words = build_vocab(["مدرسة স্কুলে ภาษาไทย"], config.word_rules(), 1, 10);
        assert_eq!(words, ["مدرسه", "স্কুলে", "ภาษาไทย"]);
        let s = TableStudent::new(config.clone(), words, 1).unwrap();
        s.save(dir.path()).unwrap();
        let back = TableStudent::load(dir.path()).unwrap();
        assert_eq!(back.config, config);
        assert_eq!(back.embed("مَدْرَسَة"), s.embed("مدرسة"));

        // A student.json written before `marks`, `fold_arabic` and `unspaced_letters`: the rules
        // it was trained with.
        let json = std::fs::read_to_string(dir.path().join(STUDENT_FILE)).unwrap();
        let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
        let fields = old.as_object_mut().unwrap();
        assert_eq!(fields.remove("marks"), Some(serde_json::json!("all")));
        assert_eq!(fields.remove("fold_arabic"), Some(serde_json::json!(true)));
        assert_eq!(
            fields.remove("unspaced_letters"),
            Some(serde_json::json!("ngrams"))
        );
        std::fs::write(dir.path().join(STUDENT_FILE), old.to_string()).unwrap();
        let old = TableStudent::load(dir.path()).unwrap();
        assert_eq!(old.config.marks, Marks::Listed);
        assert!(!old.config.fold_arabic);
        assert_eq!(old.config.unspaced_letters, UnspacedLetters::Chars);
    }

    #[test]
    fn quantized_students_load_smaller_and_embed_nearly_the_same() {
        let s = tiny(8, 8);
        let f32_dir = tempfile::tempdir().unwrap();
        s.save(f32_dir.path()).unwrap();
        let size = |d: &Path| {
            std::fs::metadata(d.join("model.safetensors"))
                .unwrap()
                .len()
        };
        let text = "the cat sat on 日本";
        let want = s.embed(text);
        let precisions = [
            (Precision::F16, 1e-4),
            (Precision::Int8, 2e-3),
            (Precision::Int4, 0.03),
        ];
        for (precision, tolerance) in precisions {
            let dir = tempfile::tempdir().unwrap();
            s.save_as(dir.path(), precision).unwrap();
            let q = TableStudent::load(dir.path()).unwrap();
            assert_eq!(q.table.precision(), precision);
            let got = q.embed(text);
            let cos = crate::encoder::cosine(&got, &want);
            assert!(cos > 1.0 - tolerance, "{precision:?}: cosine {cos}");
            assert!(
                size(dir.path()) < size(f32_dir.path()) * 6 / 10,
                "{precision:?}"
            );
            // A quantized student can be fine-tuned: writing dequantizes its table.
            let mut q = q;
            q.table[0] += 1.0;
            assert_eq!(q.table.precision(), Precision::F32);
        }
        // An odd width: int4 rows start on a byte, the last high nibble is padding.
        let odd = tiny(5, 5);
        let dir = tempfile::tempdir().unwrap();
        odd.save_as(dir.path(), Precision::Int4).unwrap();
        let q = TableStudent::load(dir.path()).unwrap();
        let cos = crate::encoder::cosine(&q.embed(text), &odd.embed(text));
        assert!(cos > 0.97, "odd-width int4: cosine {cos}");
        let (one_row, _) = super::super::table::quantize(&odd.table[..5], 5, Precision::Int4);
        assert_eq!(one_row.len(), 3);
        // An int8 file without its scales is refused by name.
        let dir = tempfile::tempdir().unwrap();
        s.save_as(dir.path(), Precision::Int8).unwrap();
        let path = dir.path().join("model.safetensors");
        let mut bytes = std::fs::read(&path).unwrap();
        let name = b"embeddings_scale";
        let at = bytes.windows(name.len()).position(|w| w == name).unwrap();
        bytes[at + name.len() - 1] = b'X';
        std::fs::write(&path, &bytes).unwrap();
        let json_path = dir.path().join(STUDENT_FILE);
        let json = std::fs::read_to_string(&json_path).unwrap();
        std::fs::write(&json_path, strip_checksum(&json)).unwrap();
        let err = TableStudent::load(dir.path()).err().unwrap().to_string();
        assert!(err.contains("no tensor 'embeddings_scale'"), "{err}");
    }

    /// A one-word student (rows: "a" + 1 bucket, dim 1) from literal files.
    fn literal_student(dir: &Path, json: &str, weights_header: &str) -> Result<TableStudent> {
        std::fs::write(dir.join(STUDENT_FILE), json).unwrap();
        std::fs::write(dir.join("vocab.txt"), "a\n").unwrap();
        let mut weights = (weights_header.len() as u64).to_le_bytes().to_vec();
        weights.extend_from_slice(weights_header.as_bytes());
        weights.extend_from_slice(&[0, 0, 128, 63, 0, 0, 0, 64]); // 1.0, 2.0
        std::fs::write(dir.join("model.safetensors"), weights).unwrap();
        TableStudent::load(dir)
    }

    const VALID_WEIGHTS: &str =
        r#"{"embeddings":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]}}"#;

    #[test]
    fn absurd_sizes_in_student_json_are_refused_or_harmless() {
        // Found while writing the fuzz targets (student_json), reproduced with them: a bucket
        // count near usize::MAX overflowed `words + buckets` (a panic, or in a release build a
        // wrapped row count and an out-of-bounds row); n-gram lengths near usize::MAX overflowed
        // `i + n` in char_ngrams at the first embed.
        let dir = tempfile::tempdir().unwrap();
        let ok = literal_student(
            dir.path(),
            r#"{"format":"glossa-subword/1","dim":1,"output_dim":1,"buckets":1,"minn":3,"maxn":3,"lowercase":true,"words":1}"#,
            VALID_WEIGHTS,
        )
        .unwrap();
        // The word's row (1.0) and the bucket row of "<a>" (2.0).
        assert_eq!(ok.embed("a"), vec![1.5]);

        let err = literal_student(
            dir.path(),
            r#"{"format":"glossa-subword/1","dim":1,"output_dim":1,"buckets":18446744073709551615,"minn":3,"maxn":4,"lowercase":true,"words":1}"#,
            VALID_WEIGHTS,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.contains("student.json") && err.contains("more than the 2^32 rows"),
            "{err}"
        );
        for (dim, out) in [(18446744073709551615usize, 1usize), (1 << 62, 2)] {
            let err = literal_student(
                dir.path(),
                &format!(r#"{{"format":"glossa-subword/1","dim":{dim},"output_dim":{out},"buckets":1,"minn":3,"maxn":4,"lowercase":true,"words":1}}"#),
                VALID_WEIGHTS,
            )
            .err()
            .unwrap()
            .to_string();
            assert!(
                err.contains("student.json") && err.contains("too large to address"),
                "{err}"
            );
        }

        let huge_ngrams = literal_student(
            dir.path(),
            r#"{"format":"glossa-subword/1","dim":1,"output_dim":1,"buckets":1,"minn":18446744073709551615,"maxn":18446744073709551615,"lowercase":true,"words":1}"#,
            VALID_WEIGHTS,
        )
        .unwrap();
        // No n-gram is that long: only the word's own row.
        assert_eq!(huge_ngrams.embed("a bb"), vec![1.0]);

        for n in ["0", "9", "18446744073709551615"] {
            let err = literal_student(
                dir.path(),
                &format!(r#"{{"format":"glossa-subword/1","dim":1,"output_dim":1,"buckets":1,"minn":3,"maxn":3,"lowercase":true,"word_ngrams":{n},"words":1}}"#),
                VALID_WEIGHTS,
            )
            .err()
            .unwrap()
            .to_string();
            assert!(err.contains("1 <= word_ngrams <= 8"), "{n}: {err}");
        }
    }

    #[test]
    fn tensor_offsets_near_the_end_of_the_address_space_are_refused() {
        // Found while writing the fuzz targets (student_safetensors), reproduced with them:
        // `8 + header + start` overflowed for a start offset near u64::MAX.
        let dir = tempfile::tempdir().unwrap();
        let json = r#"{"format":"glossa-subword/1","dim":1,"output_dim":1,"buckets":1,"minn":1,"maxn":2,"lowercase":true,"words":1}"#;
        let err = literal_student(
            dir.path(),
            json,
            r#"{"embeddings":{"dtype":"F32","shape":[2,1],"data_offsets":[18446744073709551607,18446744073709551615]}}"#,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.contains("model.safetensors") && err.contains("past the end of the file"),
            "{err}"
        );
    }
}
