//! The whole job, end to end: corpus → teacher labels → student → evaluation → report.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;

use crate::cache::{CachedEncoder, LabelCache};
use crate::config::{Config, StudentKind};
use crate::data::clean::Limits;
use crate::data::corpus::{
    build_corpus, write_corpus, BuildOptions, BuildReport, Corpus, CorpusSources,
};
use crate::data::testsets::TestSetIndex;
use crate::data::Pair;
use crate::eval::{self, DevSet, ModelReport, Suite};
use crate::rng::Rng;
use crate::student::subword::build_vocab;
use crate::student::{is_student_dir, SubwordConfig, SubwordStudent};
use crate::teacher::precomputed::Precomputed;
use crate::teacher::Teacher;
use crate::train::{self, Dataset, EpochLog, Example};
use crate::{Embeddings, Encoder, Error, Result};

/// Loads whatever `spec` names: a student directory, a teacher directory, or a repo id.
/// A repo id may hold any of the three (resolved through the hub cache, downloaded if missing).
pub fn load_encoder(spec: &str) -> Result<Box<dyn Encoder>> {
    let model = crate::model::resolve(spec)?;
    let path = model.dir.as_path();
    if is_student_dir(path) {
        return crate::student::load_student(path);
    }
    if crate::student::model2vec::is_model2vec_dir(path) {
        return Ok(Box::new(crate::student::model2vec::read(path)?));
    }
    Ok(Box::new(Teacher::from_dir(model)?))
}

pub fn progress_bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:>18} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

#[derive(Debug, Serialize)]
pub struct DistillReport {
    pub corpus: BuildReport,
    /// English-only sentences (WordNet) used for training.
    pub english_only: usize,
    /// Frequent words (wordfreq lists, every language) labelled and learnt directly.
    pub words: usize,
    /// Fortune entries (every language) labelled and learnt directly.
    pub fortunes: usize,
    /// Distinct English texts labelled by the teacher and used for training.
    pub english_texts: usize,
    /// Training examples per language (English: the English texts themselves).
    pub examples: BTreeMap<String, usize>,
    pub train_log: Vec<EpochLog>,
    pub models: Vec<ModelReport>,
    pub seconds: BTreeMap<String, f64>,
}

/// English texts to label: those translated into the most languages first, ties broken by a
/// hash so the choice is stable and unbiased, at most `max`.
pub fn select_english(train: &BTreeMap<String, Vec<Pair>>, max: usize) -> Vec<String> {
    let mut langs_of: HashMap<&str, usize> = HashMap::new();
    for pairs in train.values() {
        let mut seen = std::collections::HashSet::new();
        for p in pairs {
            if seen.insert(p.en.as_str()) {
                *langs_of.entry(p.en.as_str()).or_default() += 1;
            }
        }
    }
    let mut english: Vec<(&str, usize)> = langs_of.into_iter().collect();
    english.sort_by_key(|&(en, n)| {
        (
            std::cmp::Reverse(n),
            xxhash_rust::xxh3::xxh3_64(en.as_bytes()),
            en,
        )
    });
    english.truncate(max);
    english.into_iter().map(|(en, _)| en.to_string()).collect()
}

/// Training texts, targets and examples: each English text toward its own teacher vector, and
/// each translation toward the teacher vector of its English source (Reimers & Gurevych 2020).
pub struct TrainingData {
    pub texts: Vec<String>,
    pub targets: Vec<f32>,
    pub dim: usize,
    pub examples: Vec<Example>,
    pub per_language: BTreeMap<String, usize>,
}

impl TrainingData {
    pub fn assemble(
        english: &[String],
        english_targets: Vec<f32>,
        dim: usize,
        pairs: &BTreeMap<String, Vec<Pair>>,
    ) -> Self {
        let mut index: HashMap<String, u32> = HashMap::new();
        let mut texts: Vec<String> = Vec::new();
        let mut id_of = |text: &str, texts: &mut Vec<String>| -> u32 {
            *index.entry(text.to_string()).or_insert_with(|| {
                texts.push(text.to_string());
                texts.len() as u32 - 1
            })
        };
        let mut examples = Vec::new();
        let mut target_of: HashMap<&str, u32> = HashMap::new();
        for (i, en) in english.iter().enumerate() {
            target_of.insert(en.as_str(), i as u32);
            examples.push(Example {
                text: id_of(en, &mut texts),
                target: i as u32,
                weight: 1.0,
            });
        }
        let mut per_language = BTreeMap::from([("en".to_string(), english.len())]);
        for (lang, list) in pairs {
            let mut n = 0;
            for p in list {
                if let Some(&target) = target_of.get(p.en.as_str()) {
                    examples.push(Example {
                        text: id_of(&p.xx, &mut texts),
                        target,
                        weight: 1.0,
                    });
                    n += 1;
                }
            }
            per_language.insert(lang.clone(), n);
        }
        // Reimers & Gurevych train both terms for every pair: student(en) ≈ teacher(en) and
        // student(xx) ≈ teacher(en). Each English text is listed once, so it is weighted to give
        // the English term the same total weight as the translations.
        let translations = examples.len() - english.len();
        let english_weight = (translations as f32 / english.len().max(1) as f32).max(1.0);
        examples[..english.len()]
            .iter_mut()
            .for_each(|e| e.weight = english_weight);
        TrainingData {
            texts,
            targets: english_targets,
            dim,
            examples,
            per_language,
        }
    }

    pub fn dataset(&self) -> Dataset<'_> {
        Dataset {
            texts: &self.texts,
            targets: &self.targets,
            dim: self.dim,
            examples: self.examples.clone(),
            objective: crate::train::Objective::Mse,
        }
    }
}

fn timed<T>(
    seconds: &mut BTreeMap<String, f64>,
    stage: &str,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let start = Instant::now();
    tracing::info!("{stage}…");
    let out = f();
    seconds.insert(stage.to_string(), start.elapsed().as_secs_f64());
    out
}

/// The config's English-only sentences (train, dev); none when no WordNet folder is set.
pub fn english_only_from_config(
    config: &Config,
    tests: &TestSetIndex,
) -> Result<(Vec<String>, Vec<String>)> {
    match config
        .corpus
        .wordnet_dir
        .as_ref()
        .filter(|p| !p.as_os_str().is_empty())
    {
        None => Ok((Vec::new(), Vec::new())),
        Some(dir) => crate::data::corpus::english_sentences(
            dir,
            tests,
            limits_of(config),
            config.corpus.dev_permille,
            config.corpus.max_english_only,
        ),
    }
}

fn limits_of(config: &Config) -> Limits {
    Limits {
        min_chars: config.corpus.min_chars,
        max_chars: config.corpus.max_chars,
    }
}

/// Builds the config's parallel corpus; `tests` are the sentences kept out of it.
pub fn build_corpus_from_config(
    config: &Config,
    tests: &TestSetIndex,
) -> Result<(Corpus, BuildReport)> {
    let sources = CorpusSources {
        gettext_roots: config.corpus.gettext_roots.clone(),
        help_root: config
            .corpus
            .help_root
            .clone()
            .filter(|p| !p.as_os_str().is_empty()),
        dictionary_dirs: config.corpus.dictionary_dirs.clone(),
    };
    let options = BuildOptions {
        languages: config.corpus.languages.clone(),
        limits: limits_of(config),
        dev_permille: config.corpus.dev_permille,
    };
    build_corpus(&sources, &options, tests)
}

/// The teacher of a run: a model glossa runs, or embeddings computed elsewhere.
// One per run: the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum RunTeacher {
    Model(Teacher),
    Precomputed(Precomputed),
}

impl RunTeacher {
    pub fn load(config: &crate::config::TeacherConfig) -> Result<Self> {
        match (&config.embeddings, &config.texts) {
            (Some(vectors), Some(texts)) => {
                Ok(RunTeacher::Precomputed(Precomputed::load(texts, vectors)?))
            }
            (Some(_), None) | (None, Some(_)) => Err(Error::msg(
                "teacher.embeddings and teacher.texts go together: the vectors and the texts \
                 they embed, line by line",
            )),
            (None, None) => {
                let mut teacher = Teacher::load(&config.model)?;
                teacher.batch_size = config.batch_size;
                Ok(RunTeacher::Model(teacher))
            }
        }
    }

    pub fn fingerprint(&self) -> &str {
        match self {
            RunTeacher::Model(t) => t.fingerprint(),
            RunTeacher::Precomputed(t) => t.fingerprint(),
        }
    }

    /// True when the teacher can label `text` (a model can label anything).
    pub fn covers(&self, text: &str) -> bool {
        match self {
            RunTeacher::Model(_) => true,
            RunTeacher::Precomputed(t) => t.covers(text),
        }
    }

    fn model(&self) -> Result<&Teacher> {
        match self {
            RunTeacher::Model(t) => Ok(t),
            RunTeacher::Precomputed(t) => Err(Error::msg(format!(
                "the static and Transformer students start from the teacher model itself (its \
                 vector of each token; its layers); {} is precomputed embeddings, not a model \
                 (use kind = \"subword\")",
                t.name()
            ))),
        }
    }

    fn encoder(&self) -> &dyn Encoder {
        match self {
            RunTeacher::Model(t) => t,
            RunTeacher::Precomputed(t) => t,
        }
    }
}

impl Encoder for RunTeacher {
    fn name(&self) -> String {
        self.encoder().name()
    }
    fn dim(&self) -> usize {
        self.encoder().dim()
    }
    fn encode(&self, texts: &[&str]) -> Result<Embeddings> {
        self.encoder().encode(texts)
    }
    fn count_tokens(&self, text: &str) -> usize {
        self.encoder().count_tokens(text)
    }
    fn size_on_disk(&self) -> Option<u64> {
        self.encoder().size_on_disk()
    }
}

/// Encodes `texts` into the cache with a progress bar; returns how many were new.
pub fn label(
    teacher: &dyn Encoder,
    cache: &mut LabelCache,
    texts: &[&str],
    what: &str,
) -> Result<usize> {
    let missing = cache.missing(texts.iter().copied()).len();
    if missing == 0 {
        tracing::info!(
            "{what}: all {} texts already labelled in {}",
            texts.len(),
            cache.dir().display()
        );
        return Ok(0);
    }
    tracing::info!(
        "{what}: {missing} of {} texts to label ({} cached)",
        texts.len(),
        texts.len() - missing
    );
    let bar = progress_bar(missing as u64, what);
    let last_log = Mutex::new(Instant::now());
    let n = cache.fill(teacher, texts.iter().copied(), 256, &|done, total| {
        bar.set_position(done as u64);
        let mut last = last_log.lock().unwrap();
        if last.elapsed().as_secs() >= 30 {
            tracing::info!("{what}: {done}/{total}");
            *last = Instant::now();
        }
    })?;
    bar.finish_and_clear();
    Ok(n)
}

/// The English texts from pairs followed by the English-only ones not already among them.
/// Up to `per_language` translations per language of the texts in `english`, in a fixed
/// pseudo-random order: texts the teacher labels itself (student(x) ≈ teacher(x)).
fn direct_texts(
    train: &BTreeMap<String, Vec<Pair>>,
    english: &[String],
    per_language: usize,
) -> Vec<String> {
    if per_language == 0 {
        return Vec::new();
    }
    let selected: std::collections::HashSet<&str> = english.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for pairs in train.values() {
        let mut xx: Vec<&str> = pairs
            .iter()
            .filter(|p| selected.contains(p.en.as_str()))
            .map(|p| p.xx.as_str())
            .collect();
        xx.sort_by_key(|t| (xxhash_rust::xxh3::xxh3_64(t.as_bytes()), *t));
        xx.dedup();
        out.extend(xx.into_iter().take(per_language).map(str::to_string));
    }
    out
}

/// The `words_per_language` most frequent words of each corpus language and of English from
/// the wordfreq lists (words with a letter, test sentences excluded): texts the teacher labels
/// itself. A language without a list is named in a warning and skipped.
fn frequent_words(config: &Config, tests: &TestSetIndex) -> Result<Vec<String>> {
    let per_language = config.corpus.words_per_language;
    if per_language == 0 {
        return Ok(Vec::new());
    }
    let dir = asset_dir(
        config.corpus.wordfreq_dir.as_deref(),
        ("words_per_language", "wordfreq_dir"),
        ("the wordfreq lists", "words"),
    )?;
    let mut out = Vec::new();
    let languages = std::iter::once("en").chain(config.corpus.languages.iter().map(String::as_str));
    for lang in languages {
        let Some(path) = crate::data::wordfreq::list_path(dir, lang) else {
            tracing::warn!(
                "{}: no small_{lang}.msgpack.gz or large_{lang}.msgpack.gz; no {lang} words",
                dir.display()
            );
            continue;
        };
        let words: Vec<String> = crate::data::wordfreq::read_list(&path)?
            .into_iter()
            .filter(|w| crate::data::wordfreq::is_useful(w) && !tests.contains(w))
            .take(per_language)
            .collect();
        tracing::info!("{} {lang} words from {}", words.len(), path.display());
        out.extend(words);
    }
    Ok(out)
}

/// The folder `corpus.<setting>` reads, named by `corpus.<dir_setting>`. An error when that is
/// unset or empty, or when the folder is missing: the message says `what` the folder holds and
/// which `scripts/fetch-assets.sh` `step` fetches it.
fn asset_dir<'a>(
    dir: Option<&'a Path>,
    (setting, dir_setting): (&str, &str),
    (what, step): (&str, &str),
) -> Result<&'a Path> {
    let dir = dir.filter(|p| !p.as_os_str().is_empty()).ok_or_else(|| {
        Error::msg(format!(
            "corpus.{setting} is set but corpus.{dir_setting} is not"
        ))
    })?;
    if !dir.is_dir() {
        return Err(Error::invalid(
            dir,
            format!(
                "no such folder: corpus.{setting} needs {what} \
                 (`scripts/fetch-assets.sh {step}` fetches them)"
            ),
        ));
    }
    Ok(dir)
}

/// Up to `fortunes_per_language` entries of each corpus language's fortune databases (within
/// the corpus's length bounds, test sentences excluded, picked in a fixed hash order): everyday
/// text the teacher labels itself. A database that is not UTF-8 is named in a warning and
/// skipped; a language without databases gives none.
fn fortune_texts(config: &Config, tests: &TestSetIndex) -> Result<Vec<String>> {
    let per_language = config.corpus.fortunes_per_language;
    if per_language == 0 {
        return Ok(Vec::new());
    }
    let dir = asset_dir(
        config.corpus.fortunes_dir.as_deref(),
        ("fortunes_per_language", "fortunes_dir"),
        ("the fortune databases", "fortunes"),
    )?;
    let (min, max) = (config.corpus.min_chars, config.corpus.max_chars);
    let mut out = Vec::new();
    for lang in &config.corpus.languages {
        let mut texts = Vec::new();
        for path in crate::data::fortune::database_files(dir, lang)? {
            match crate::data::fortune::read_database(&path) {
                Ok(entries) => texts.extend(entries),
                Err(e) => tracing::warn!("skipped {e}"),
            }
        }
        texts.retain(|t| (min..=max).contains(&t.chars().count()) && !tests.contains(t));
        texts.sort_unstable();
        texts.dedup();
        // A stable sort keeps hash ties in text order, so the pick stays deterministic.
        texts.sort_by_cached_key(|t| xxhash_rust::xxh3::xxh3_64(t.as_bytes()));
        texts.truncate(per_language);
        if !texts.is_empty() {
            tracing::info!(
                "{} {lang} fortune entries from {}",
                texts.len(),
                dir.display()
            );
        }
        out.extend(texts);
    }
    Ok(out)
}

pub fn with_english_only(mut english: Vec<String>, only: &[String]) -> Vec<String> {
    let have: std::collections::HashSet<String> = english.iter().cloned().collect();
    english.extend(only.iter().filter(|t| !have.contains(*t)).cloned());
    english
}

fn dev_sample(
    dev: &BTreeMap<String, Vec<Pair>>,
    per_language: usize,
) -> BTreeMap<String, Vec<Pair>> {
    dev.iter()
        .map(|(lang, pairs)| {
            let mut pairs = pairs.clone();
            pairs.sort_by_key(|p| {
                xxhash_rust::xxh3::xxh3_64(format!("{}\t{}", p.en, p.xx).as_bytes())
            });
            pairs.truncate(per_language);
            (lang.clone(), pairs)
        })
        .collect()
}

/// The mean of the rows.
fn mean_row(x: &Embeddings) -> Vec<f32> {
    let mut mean = vec![0.0f32; x.dim()];
    for row in x.rows() {
        crate::kernels::add(&mut mean, row);
    }
    let inv = 1.0 / x.len().max(1) as f32;
    mean.iter_mut().for_each(|m| *m *= inv);
    mean
}

/// Subtracts `mean` from every row and renormalises it.
fn center_rows(x: &mut Embeddings, mean: &[f32]) {
    for i in 0..x.len() {
        let row = x.row_mut(i);
        crate::kernels::axpy(row, -1.0, mean);
        crate::encoder::normalize(row);
    }
}

fn random_unit_targets(rows: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut v: Vec<f32> = (0..rows * dim).map(|_| rng.normal()).collect();
    v.chunks_mut(dim).for_each(crate::encoder::normalize);
    v
}

/// A fresh fastText-style student for `data`: vocabulary from its texts, random rows.
fn new_subword_student(config: &Config, data: &TrainingData, what: &str) -> Result<SubwordStudent> {
    let s = &config.student;
    let words = build_vocab(
        data.texts.iter().map(String::as_str),
        s.lowercase,
        s.min_count,
        s.max_words,
    );
    let shape = SubwordConfig {
        dim: s.dim.unwrap_or(data.dim),
        output_dim: data.dim,
        buckets: s.buckets,
        minn: s.minn,
        maxn: s.maxn,
        lowercase: s.lowercase,
    };
    tracing::info!("{what}: {} words + {} buckets", words.len(), shape.buckets);
    SubwordStudent::new(shape, words, config.train.seed)
}

/// The Model2Vec-style static student: every token of the teacher's tokenizer through the
/// teacher (via the label cache, so an interrupted run resumes), PCA, SIF weights from the token
/// counts of the training texts.
fn new_static_student(
    config: &Config,
    teacher: &Teacher,
    cache: &mut LabelCache,
    data: &TrainingData,
) -> Result<SubwordStudent> {
    use crate::student::token_init;
    let path = teacher.tokenizer_path();
    let tokenizer = tokenizers::Tokenizer::from_file(&path)
        .map_err(|e| Error::invalid(&path, format!("cannot load tokenizer: {e}")))?;
    let counts = token_init::token_counts(&tokenizer, data.texts.par_iter().map(String::as_str));
    let mut texts = token_init::token_texts(&tokenizer);
    let kept = token_init::keep_most_used(&mut texts, &counts, config.student.max_tokens);
    let present: Vec<&str> = texts.iter().flatten().map(String::as_str).collect();
    tracing::info!(
        "static student: the teacher encodes {} of {} tokens on their own ({} occur in the \
         training texts; at most student.max_tokens = {})",
        present.len(),
        texts.len(),
        kept.used,
        config.student.max_tokens
    );
    label(teacher, cache, &present, "token vectors")?;
    let vectors = cache.lookup(&present)?;
    let mut rows = vectors.rows();
    let per_token: Vec<Option<&[f32]>> = texts
        .iter()
        .map(|t| {
            t.as_ref()
                .map(|_| rows.next().expect("one vector per present token"))
        })
        .collect();
    let weights = token_init::sif_weights(&counts, config.student.sif_coefficient);
    let dim = config.student.dim.unwrap_or(teacher.dim());
    let mut student =
        token_init::build_static(tokenizer, &per_token, teacher.dim(), dim, &weights)?;
    student.teacher = teacher.name();
    Ok(student)
}

/// Trains `student` on `data` toward its targets (MSE), with the run's progress and checkpoints.
fn train_student(
    config: &Config,
    mut student: SubwordStudent,
    data: &TrainingData,
    dev: &TrainingData,
    what: &str,
) -> Result<(SubwordStudent, Vec<EpochLog>)> {
    tracing::info!(
        "{what}: {} rows of {}, {} examples, {} epochs",
        student.rows(),
        student.config.dim,
        data.examples.len(),
        config.train.epochs
    );
    let logs = train_with_progress(
        config,
        &config.train,
        &mut student,
        &data.dataset(),
        Some(&dev.dataset()),
        what,
        &|loss| format!("{what} mse×1000 {:.3}", loss * 1000.0),
    )?;
    Ok((student, logs))
}

/// Builds and trains the Transformer student of `config.transformer`, with a progress bar.
fn train_transformer_student(
    config: &Config,
    data: &TrainingData,
    dev: &TrainingData,
    what: &str,
) -> Result<(crate::student::TransformerStudent, Vec<EpochLog>)> {
    let cfg = &config.transformer;
    let teacher_dir = crate::model::resolve(&config.teacher.model)?;
    let mut student = crate::train_transformer::new_student(&teacher_dir, cfg)?;
    let bar = progress_bar(0, what);
    let mut last_log = Instant::now();
    let logs = crate::train_transformer::train(
        &mut student,
        &data.dataset(),
        Some(&dev.dataset()),
        cfg,
        &mut |step, total, loss| {
            bar.set_length(total as u64);
            bar.set_position(step as u64);
            bar.set_message(format!("{what} mse×1000 {:.3}", loss * 1000.0));
            // The bar is hidden when stderr is not a terminal: the log shows the loss falling.
            if last_log.elapsed().as_secs() >= 30 || step == total {
                tracing::info!(
                    "{what}: step {step}/{total}, running mse×1000 {:.3}",
                    loss * 1000.0
                );
                last_log = Instant::now();
            }
        },
    )?;
    bar.finish_and_clear();
    Ok((student, logs))
}

/// Trains `student` with a progress bar and checkpoints under the run's `checkpoints/<what>`.
pub fn train_with_progress(
    config: &Config,
    cfg: &train::TrainConfig,
    student: &mut SubwordStudent,
    data: &Dataset,
    dev: Option<&Dataset>,
    what: &str,
    message: &dyn Fn(f32) -> String,
) -> Result<Vec<EpochLog>> {
    let bar = progress_bar(0, what);
    let checkpointing = train::Checkpointing {
        path: checkpoint_path(config, what),
        every: cfg.checkpoint_every,
        resume: config.resume,
    };
    let logs = train::train(
        student,
        data,
        dev,
        cfg,
        Some(&checkpointing),
        &mut |step, total, loss| {
            bar.set_length(total as u64);
            bar.set_position(step as u64);
            if step % 200 == 0 {
                bar.set_message(message(loss));
            }
        },
    )?;
    bar.finish_and_clear();
    Ok(logs)
}

/// Where the training of model `what` keeps its checkpoint.
pub fn checkpoint_path(config: &Config, what: &str) -> std::path::PathBuf {
    config
        .run_dir
        .join("checkpoints")
        .join(format!("{}.ckpt", what.replace([' ', '/', ','], "-")))
}

/// Runs the whole pipeline for `config`, writing everything under `config.run_dir`.
pub fn distill(config: &Config) -> Result<DistillReport> {
    // Checked before the teacher's hours are spent, not after.
    if config.student.kind == StudentKind::Transformer && config.train.contrastive_weight > 0.0 {
        return Err(Error::msg(
            "train.contrastive_weight is for the subword and static students: the Transformer \
             student trains on MSE with the [transformer] section's settings",
        ));
    }
    let run_dir = &config.run_dir;
    std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
    crate::error::write_atomic(run_dir.join("config.toml"), config.to_toml().as_bytes())?;
    let mut seconds = BTreeMap::new();

    // Loaded once: both the pairs and the English-only sentences are filtered against it.
    let tests = TestSetIndex::load(&config.eval_dir)?;
    let mut words = frequent_words(config, &tests)?;
    let mut fortunes = fortune_texts(config, &tests)?;
    let (corpus, corpus_report) = timed(&mut seconds, "corpus", || {
        build_corpus_from_config(config, &tests)
    })?;
    write_corpus(&run_dir.join("corpus"), &corpus, &corpus_report)?;
    for (lang, r) in &corpus_report.languages {
        tracing::info!("corpus {lang}: {} train, {} dev pairs", r.train, r.dev);
    }
    for skipped in &corpus_report.skipped_files {
        tracing::warn!("skipped {skipped}");
    }

    let teacher = timed(&mut seconds, "load teacher", || {
        RunTeacher::load(&config.teacher)
    })?;
    // Embeddings computed elsewhere cover the texts they were computed for: train on those.
    let mut corpus = corpus;
    let mut english_only_pair = english_only_from_config(config, &tests)?;
    if let RunTeacher::Precomputed(p) = &teacher {
        let before: usize = corpus.train.values().map(Vec::len).sum();
        for pairs in corpus.train.values_mut().chain(corpus.dev.values_mut()) {
            pairs.retain(|pair| p.covers(&pair.en));
        }
        english_only_pair.0.retain(|t| p.covers(t));
        english_only_pair.1.retain(|t| p.covers(t));
        let after: usize = corpus.train.values().map(Vec::len).sum();
        tracing::info!(
            "precomputed teacher: {after} of {before} training pairs have a vector for their \
             English side"
        );
    }
    let mut cache = LabelCache::open(
        &config.cache_dir,
        &teacher.name(),
        teacher.fingerprint(),
        teacher.dim(),
    )?;
    let (english_only, english_only_dev) = english_only_pair;
    let english = with_english_only(
        select_english(&corpus.train, config.corpus.max_english),
        &english_only,
    );
    let direct = direct_texts(&corpus.train, &english, config.corpus.direct_per_language);
    if !direct.is_empty() {
        tracing::info!(
            "{} translations are also learnt directly toward the teacher's own vectors",
            direct.len()
        );
    }
    let english = with_english_only(english, &direct);
    if let RunTeacher::Precomputed(p) = &teacher {
        words.retain(|w| p.covers(w));
        fortunes.retain(|t| p.covers(t));
    }
    let english = with_english_only(english, &words);
    let english = with_english_only(english, &fortunes);
    let dev_pairs = dev_sample(&corpus.dev, config.corpus.dev_pairs_per_language);
    let dev_english = with_english_only(
        select_english(&dev_pairs, usize::MAX),
        &english_only_dev[..english_only_dev
            .len()
            .min(config.corpus.dev_pairs_per_language)],
    );
    tracing::info!(
        "{} English-only sentences for training, {} for dev",
        english_only.len(),
        english_only_dev.len()
    );
    timed(&mut seconds, "teacher labels", || {
        let refs: Vec<&str> = english
            .iter()
            .chain(&dev_english)
            .map(String::as_str)
            .collect();
        label(&teacher, &mut cache, &refs, "teacher labels")
    })?;
    let dim = teacher.dim();
    let mut targets = cache.lookup(&english.iter().map(String::as_str).collect::<Vec<_>>())?;
    let mut dev_targets =
        cache.lookup(&dev_english.iter().map(String::as_str).collect::<Vec<_>>())?;
    if config.student.center_targets {
        let mean = mean_row(&targets);
        tracing::info!(
            "centring the teacher's vectors: their mean has norm {:.3}",
            crate::encoder::dot(&mean, &mean).sqrt()
        );
        center_rows(&mut targets, &mean);
        center_rows(&mut dev_targets, &mean);
    }
    let data = TrainingData::assemble(&english, targets.into_vec(), dim, &corpus.train);
    let dev_data = TrainingData::assemble(&dev_english, dev_targets.into_vec(), dim, &dev_pairs);
    tracing::info!(
        "training on {} distinct English texts, {} examples",
        english.len(),
        data.examples.len()
    );

    let student_dir = run_dir.join("student");
    let transformer = config.student.kind == StudentKind::Transformer;
    // The static student's starting point is a model of its own (Model2Vec's): kept and
    // evaluated, so the report shows what training adds.
    let init_dir = run_dir.join("student-init");
    let mut init_only = None;
    let (student, train_log): (Box<dyn Encoder>, Vec<EpochLog>) = if transformer {
        teacher.model()?;
        let (student, log) = timed(&mut seconds, "train student", || {
            train_transformer_student(config, &data, &dev_data, "student")
        })?;
        student.save(&student_dir)?;
        (crate::student::load_student(&student_dir)?, log)
    } else {
        let initial = match config.student.kind {
            StudentKind::Static => {
                let initial = timed(&mut seconds, "static init", || {
                    new_static_student(config, teacher.model()?, &mut cache, &data)
                })?;
                initial.save(&init_dir)?;
                init_only = Some(SubwordStudent::load(&init_dir)?);
                initial
            }
            _ => new_subword_student(config, &data, "student")?,
        };
        let (mut student, log) = timed(&mut seconds, "train student", || {
            train_student(config, initial, &data, &dev_data, "student")
        })?;
        student.teacher = teacher.name();
        student.save(&student_dir)?;
        (Box::new(SubwordStudent::load(&student_dir)?), log)
    };
    tracing::info!("student saved to {}", student_dir.display());

    // The control measures what string overlap alone gives a subword table; a Transformer
    // student has no such baseline here.
    let control = if config.eval.random_target_control && !transformer {
        let random = random_unit_targets(english.len(), dim, config.train.seed.wrapping_add(1));
        let control_data = TrainingData::assemble(&english, random, dim, &corpus.train);
        Some(
            timed(&mut seconds, "train control", || {
                let initial = match config.student.kind {
                    StudentKind::Static => SubwordStudent::load(&init_dir)?,
                    _ => new_subword_student(config, &control_data, "control")?,
                };
                train_student(config, initial, &control_data, &dev_data, "control")
            })?
            .0,
        )
    } else {
        None
    };

    let mut suite = Suite::load(
        &config.eval_dir,
        &config.eval.tatoeba,
        config.eval.sts17,
        config.eval.stsb,
    )?;
    // Dev MSE compares each model with the teacher's raw vectors; a student of centred targets
    // lives in another space, so the comparison would mean nothing.
    if !config.student.center_targets {
        suite.dev = Some(dev_set(&dev_pairs, &dev_english, &cache)?);
    }
    let options = eval::Options {
        measure_speed: true,
        speed_seconds: config.eval.speed_seconds,
    };
    let mut models = Vec::new();
    let eval_bar = |msg: &str| tracing::info!("evaluating {msg}");
    let teacher_report = timed(&mut seconds, "evaluate teacher", || {
        let cached = CachedEncoder {
            encoder: &teacher,
            cache: Mutex::new(&mut cache),
        };
        let mut report = eval::evaluate(
            "teacher",
            &cached,
            &suite,
            &eval::Options {
                measure_speed: false,
                ..options
            },
            &eval_bar,
        )?;
        if let RunTeacher::Model(t) = &teacher {
            report.sentences_per_second = Some(eval::throughput(
                t,
                &suite.speed_texts,
                eval::SPEED_BATCH,
                config.eval.speed_seconds,
            )?);
        }
        Ok(report)
    });
    match (teacher_report, &teacher) {
        (Ok(report), _) => models.push(report),
        // Precomputed embeddings rarely include the test sets: the students are still scored.
        (Err(e), RunTeacher::Precomputed(_)) => {
            tracing::warn!("the teacher is not scored: {e}")
        }
        (Err(e), RunTeacher::Model(_)) => return Err(e),
    }
    if let Some(init) = &init_only {
        models.push(timed(&mut seconds, "evaluate static init", || {
            eval::evaluate("student, init only", init, &suite, &options, &eval_bar)
        })?);
    }
    models.push(timed(&mut seconds, "evaluate student", || {
        eval::evaluate("student", student.as_ref(), &suite, &options, &eval_bar)
    })?);
    if let Some(control) = &control {
        models.push(timed(&mut seconds, "evaluate control", || {
            eval::evaluate(
                "random-target control",
                control,
                &suite,
                &options,
                &eval_bar,
            )
        })?);
    }

    let report = DistillReport {
        corpus: corpus_report,
        english_only: english_only.len(),
        words: words.len(),
        fortunes: fortunes.len(),
        english_texts: english.len(),
        examples: data.per_language.clone(),
        train_log,
        models,
        seconds,
    };
    crate::error::write_atomic(
        run_dir.join("report.json"),
        &serde_json::to_vec_pretty(&report).expect("report serialises"),
    )?;
    crate::error::write_atomic(
        run_dir.join("report.txt"),
        eval::render_table(&report.models).as_bytes(),
    )?;
    let notes = vec![
        format!("Teacher: {}. Student: {}.", teacher.name(), student_dir.display()),
        format!(
            "{} distinct texts labelled ({} of them English-only sentences, {} frequent words, {} fortune entries); training examples per language: {}.",
            report.english_texts,
            report.english_only,
            report.words,
            report.fortunes,
            report.examples.iter().map(|(l, n)| format!("{l} {n}")).collect::<Vec<_>>().join(", ")
        ),
    ];
    let page = crate::report::html(
        "glossa distillation report",
        &report.models,
        &report.train_log,
        &notes,
    );
    crate::error::write_atomic(run_dir.join("report.html"), page.as_bytes())?;
    crate::model_card::write(&student_dir, config, &report.models)?;
    remove_checkpoints(config);
    Ok(report)
}

/// The run is complete: its checkpoints (weights + optimizer state, several times the model's
/// size) are no longer needed.
pub fn remove_checkpoints(config: &Config) {
    let dir = config.run_dir.join("checkpoints");
    if dir.exists() {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!("could not remove {}: {e}", dir.display());
        }
    }
}

/// Dev translations per language with the teacher's vectors of their English sides, plus the
/// English texts themselves under "en".
fn dev_set(
    dev_pairs: &BTreeMap<String, Vec<Pair>>,
    dev_english: &[String],
    cache: &LabelCache,
) -> Result<DevSet> {
    let mut by_lang = BTreeMap::new();
    let english_refs: Vec<&str> = dev_english.iter().map(String::as_str).collect();
    by_lang.insert(
        "en".to_string(),
        (dev_english.to_vec(), cache.lookup(&english_refs)?),
    );
    for (lang, pairs) in dev_pairs {
        let en: Vec<&str> = pairs.iter().map(|p| p.en.as_str()).collect();
        let targets: Embeddings = cache.lookup(&en)?;
        by_lang.insert(
            lang.clone(),
            (pairs.iter().map(|p| p.xx.clone()).collect(), targets),
        );
    }
    Ok(DevSet { by_lang })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<Pair> {
        list.iter()
            .map(|(en, xx)| Pair {
                en: en.to_string(),
                xx: xx.to_string(),
            })
            .collect()
    }

    #[test]
    fn english_in_more_languages_is_selected_first() {
        let train = BTreeMap::from([
            (
                "de".to_string(),
                pairs(&[("Open", "Öffnen"), ("Close", "Schließen")]),
            ),
            ("fr".to_string(), pairs(&[("Open", "Ouvrir")])),
        ]);
        assert_eq!(select_english(&train, 1), vec!["Open"]);
        assert_eq!(select_english(&train, 10).len(), 2);
    }

    #[test]
    fn translations_target_their_english_source() {
        let train = BTreeMap::from([(
            "de".to_string(),
            pairs(&[("Open", "Öffnen"), ("Skipped", "Übersprungen")]),
        )]);
        let english = vec!["Open".to_string()];
        let data = TrainingData::assemble(&english, vec![1.0, 0.0], 2, &train);
        assert_eq!(data.texts, vec!["Open", "Öffnen"]);
        assert_eq!(
            data.examples,
            vec![
                Example {
                    text: 0,
                    target: 0,
                    weight: 1.0
                },
                Example {
                    text: 1,
                    target: 0,
                    weight: 1.0
                }
            ]
        );
        assert_eq!(data.per_language["de"], 1);
    }

    #[test]
    fn fortunes_are_bounded_deduplicated_capped_and_keep_test_sentences_out() {
        let dir = tempfile::tempdir().unwrap();
        let de = dir.path().join("de");
        std::fs::create_dir(&de).unwrap();
        let long = "Wort ".repeat(80);
        std::fs::write(
            de.join("zitate"),
            format!(
                "Eins zwei.\n%\nDrei vier.\n%\nEins zwei.\n%\nIch bin müde.\n%\n{long}\n%\nX\n"
            ),
        )
        .unwrap();
        std::fs::write(de.join("alt"), b"Gr\xfc\xdfe\n%\n").unwrap();
        let mut config = Config::default();
        config.corpus.languages = vec!["de".into(), "fr".into()];
        config.corpus.fortunes_dir = Some(dir.path().to_path_buf());
        config.corpus.fortunes_per_language = 10;
        let tests = TestSetIndex::from_texts(["ich bin MÜDE"]);
        let mut texts = fortune_texts(&config, &tests).unwrap();
        texts.sort();
        // The Latin-1 file is skipped with a warning, the 400-character entry and the
        // one-character one fall outside the length bounds, the test sentence is left out.
        assert_eq!(texts, vec!["Drei vier.", "Eins zwei."]);
        config.corpus.fortunes_per_language = 1;
        assert_eq!(fortune_texts(&config, &tests).unwrap().len(), 1);
        config.corpus.fortunes_dir = Some(dir.path().join("missing"));
        let msg = fortune_texts(&config, &tests).unwrap_err().to_string();
        assert!(
            msg.contains("missing") && msg.contains("fetch-assets.sh fortunes"),
            "{msg}"
        );
    }
}
