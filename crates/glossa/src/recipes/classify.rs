//! The cross-lingual classification path (design document §4–§5).
//!
//! A linear head on the teacher's sentence embeddings is trained on English labelled text. Its
//! logits are the soft labels: the student (encoder + the same head shape) learns them with the
//! Hinton objective on the English labelled texts and on the parallel corpus, where a translation
//! takes the logits of its English source, as in the embedding recipe. The student then classifies
//! languages the English-only teacher cannot read (zero-shot cross-lingual transfer).
//!
//! The head has no bias: the student carries it as its output projection (mean-pooled rows ·
//! head), so a student distilled for embeddings starts as a working classifier.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};

use crate::data::corpus::is_dev;
use crate::data::labelled::{load_chatterbot, LabelledReport, LabelledSet, LabelledText};
use crate::data::select::{select_english, with_english_only};
use crate::data::testsets::TestSetIndex;
use crate::data::Pair;
use crate::progress::Progress;
use crate::recipes::config::Config;
use crate::recipes::run::Run;
use crate::recipes::sources::{build_corpus_from_config, english_only_from_config};
use crate::recipes::students::{fresh_subword_student, train_with_progress};
use crate::recipes::teacher::label;
use crate::student::TableStudent;
use crate::teacher::cache::LabelCache;
use crate::teacher::Teacher;
use crate::train::loss::hard_cross_entropy;
use crate::train::pairs::TrainingData;
use crate::train::{EpochLog, Example, Objective, TrainConfig};
use crate::{Embeddings, Encoder, Error, Result};

/// The `[classify]` section of the config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifyConfig {
    /// The chatterbot corpus's `data/` folder (`<language>/<topic>.yml`).
    pub data_dir: PathBuf,
    /// Keep the topics present in at least this many languages.
    pub min_languages: usize,
    /// The language the teacher's head is trained on; every other one is zero-shot.
    pub train_language: String,
    /// Languages with fewer distinct texts are not reported (too few to score).
    pub min_texts: usize,
    /// Languages with at least this many texts get an in-language split: `test_permille` of
    /// their texts are the test set of every row, the rest trains the in-language heads.
    pub min_in_language: usize,
    pub test_permille: u32,
    /// Languages whose translations join the transfer set besides the corpus languages. Their
    /// pairs count only where the English side is among the texts selected from the corpus
    /// languages, so they need no extra teacher time (gettext catalogs cover 180+ locales).
    pub extra_languages: Vec<String>,
    /// An embedding student to start from (`glossa distill`'s output); empty: train from scratch.
    pub init_student: Option<PathBuf>,
    pub head: HeadConfig,
    /// Student training (encoder + head).
    pub train: TrainConfig,
    /// Share of the loss the English labelled texts carry against the parallel corpus; they
    /// are repeated (not up-weighted) to reach it, which keeps batches' gradients even.
    pub labelled_share: f32,
    /// The student `classify distill` ships: temperature and α of α·soft + (1 − α)·hard.
    pub temperature: f32,
    pub alpha: f32,
    /// The ablation grid; each pair trains one more student. Empty: no ablation.
    pub ablation_temperatures: Vec<f32>,
    pub ablation_alphas: Vec<f32>,
    /// Also train the hard-label baselines: a student on the English gold labels alone (no
    /// teacher), and one on the teacher's hard labels (α = 0: argmax on the transfer set).
    pub hard_label_baseline: bool,
}

impl Default for ClassifyConfig {
    fn default() -> Self {
        ClassifyConfig {
            data_dir: "assets/chatterbot/chatterbot_corpus/data".into(),
            min_languages: 10,
            train_language: "en".into(),
            min_texts: 30,
            min_in_language: 500,
            test_permille: 200,
            extra_languages: Vec::new(),
            init_student: Some("runs/default/student".into()),
            head: HeadConfig::default(),
            train: TrainConfig {
                epochs: 1,
                lr: 0.003,
                ..TrainConfig::default()
            },
            labelled_share: 0.1,
            temperature: 2.0,
            alpha: 0.5,
            ablation_temperatures: vec![1.0, 2.0, 4.0],
            ablation_alphas: vec![0.5, 1.0],
            hard_label_baseline: true,
        }
    }
}

/// Training the linear head: full-batch Adam on mean cross-entropy + l2·‖W‖².
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeadConfig {
    pub steps: usize,
    pub lr: f32,
    pub l2: f32,
}

impl Default for HeadConfig {
    fn default() -> Self {
        HeadConfig {
            steps: 300,
            lr: 0.05,
            l2: 1e-4,
        }
    }
}

/// Multinomial logistic regression without intercept: logits = x · W, W is dim × classes.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearHead {
    pub labels: Vec<String>,
    pub dim: usize,
    /// dim × classes, row-major (the layout of a student's projection).
    pub weight: Vec<f32>,
}

impl LinearHead {
    pub fn classes(&self) -> usize {
        self.labels.len()
    }

    pub fn logits(&self, x: &[f32]) -> Vec<f32> {
        let k = self.classes();
        let mut out = vec![0.0; k];
        for (i, &xi) in x.iter().enumerate() {
            crate::kernels::axpy(&mut out, xi, &self.weight[i * k..(i + 1) * k]);
        }
        out
    }

    /// Logits of every row, flattened.
    pub fn logits_all(&self, x: &Embeddings) -> Vec<f32> {
        x.rows().flat_map(|r| self.logits(r)).collect()
    }

    /// Fits the head on rows `x` with classes `y`. Deterministic: zero start, full batch.
    pub fn fit(x: &Embeddings, y: &[usize], labels: Vec<String>, cfg: &HeadConfig) -> Self {
        let (dim, k, n) = (x.dim(), labels.len(), y.len().max(1));
        let mut head = LinearHead {
            labels,
            dim,
            weight: vec![0.0; dim * k],
        };
        let (mut m, mut v) = (vec![0.0; dim * k], vec![0.0; dim * k]);
        let mut grad = vec![0.0; dim * k];
        let mut g_logits = vec![0.0; k];
        for step in 1..=cfg.steps {
            grad.iter_mut()
                .zip(&head.weight)
                .for_each(|(g, w)| *g = 2.0 * cfg.l2 * w);
            for (row, &class) in x.rows().zip(y) {
                let logits = head.logits(row);
                hard_cross_entropy(&logits, class, &mut g_logits);
                for (i, &xi) in row.iter().enumerate() {
                    crate::kernels::axpy(&mut grad[i * k..(i + 1) * k], xi / n as f32, &g_logits);
                }
            }
            let hyper = crate::kernels::AdamStep::new(cfg.lr, 0.9, 0.999, 1e-8, step as u64);
            crate::kernels::adam(&mut head.weight, &mut m, &mut v, &grad, &hyper);
        }
        head
    }

    /// Writes `head.safetensors`: tensor `weight` [dim, classes], labels in the metadata.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes: Vec<u8> = self.weight.iter().flat_map(|w| w.to_le_bytes()).collect();
        let view = TensorView::new(Dtype::F32, vec![self.dim, self.classes()], &bytes)
            .map_err(|e| Error::invalid(path, e.to_string()))?;
        let metadata = std::collections::HashMap::from([(
            "labels".to_string(),
            serde_json::to_string(&self.labels).expect("labels serialise"),
        )]);
        let data = safetensors::serialize([("weight", view)], Some(metadata))
            .map_err(|e| Error::invalid(path, e.to_string()))?;
        crate::io::write_atomic(path, &data)
    }

    pub fn load(path: &Path) -> Result<Self> {
        Self::parse(&crate::error::read(path)?, path)
    }

    /// Reads a head from the bytes of a `head.safetensors`; `path` is only used to name the file
    /// in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| Error::invalid(path, format!("not a safetensors file: {e}")))?;
        let labels: Vec<String> = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("labels"))
            .ok_or_else(|| Error::invalid(path, "no `labels` in the metadata"))
            .and_then(|l| {
                serde_json::from_str(l)
                    .map_err(|e| Error::invalid(path, format!("bad `labels` metadata: {e}")))
            })?;
        let tensors = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| Error::invalid(path, e.to_string()))?;
        let w = tensors
            .tensor("weight")
            .map_err(|_| Error::invalid(path, "no tensor `weight`"))?;
        let shape = w.shape().to_vec();
        if w.dtype() != Dtype::F32 || shape.len() != 2 || shape[1] != labels.len() {
            return Err(Error::invalid(
                path,
                format!(
                    "`weight` is {:?} {shape:?}; expected F32 [dim, {}] (one column per label)",
                    w.dtype(),
                    labels.len()
                ),
            ));
        }
        let weight = w
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(LinearHead {
            labels,
            dim: shape[0],
            weight,
        })
    }
}

pub fn argmax(x: &[f32]) -> usize {
    x.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv {
                (i, v)
            } else {
                (bi, bv)
            }
        })
        .0
}

/// Accuracy and macro-F1 (over the classes present in the gold labels or the predictions, as
/// scikit-learn averages), in percent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub n: usize,
    pub accuracy: f32,
    pub macro_f1: f32,
    /// The class predicted most often, and the percent of texts it was predicted for: a
    /// classifier that cannot read a language tends to give one class to all of it, and its
    /// accuracy is then that class's share of the language's test set (docs/classification.md).
    #[serde(default)]
    pub most_predicted: usize,
    #[serde(default)]
    pub most_predicted_share: f32,
}

pub fn scores(predicted: &[usize], gold: &[usize], classes: usize) -> Scores {
    assert_eq!(predicted.len(), gold.len());
    let (mut tp, mut fp, mut fnn) = (vec![0usize; classes], vec![0; classes], vec![0; classes]);
    for (&p, &g) in predicted.iter().zip(gold) {
        if p == g {
            tp[g] += 1;
        } else {
            fp[p] += 1;
            fnn[g] += 1;
        }
    }
    let present: Vec<usize> = (0..classes)
        .filter(|&c| tp[c] + fp[c] + fnn[c] > 0)
        .collect();
    let f1 = |c: usize| {
        let denom = 2 * tp[c] + fp[c] + fnn[c];
        if denom == 0 {
            0.0
        } else {
            2.0 * tp[c] as f32 / denom as f32
        }
    };
    let correct: usize = tp.iter().sum();
    let mut counts = vec![0usize; classes];
    for &p in predicted {
        counts[p] += 1;
    }
    // The first of the most frequent, so ties are reported the same way every run.
    let most_predicted = (0..classes).rev().max_by_key(|&c| counts[c]).unwrap_or(0);
    let share = |count: usize| 100.0 * count as f32 / gold.len().max(1) as f32;
    Scores {
        n: gold.len(),
        accuracy: share(correct),
        macro_f1: 100.0 * present.iter().map(|&c| f1(c)).sum::<f32>() / present.len().max(1) as f32,
        most_predicted,
        most_predicted_share: counts.get(most_predicted).map_or(0.0, |&c| share(c)),
    }
}

/// Which texts of each language train and which test.
#[derive(Debug, Clone, Default)]
pub struct Splits {
    /// Indices (into the labelled set) of the texts each language is scored on.
    pub test: BTreeMap<String, Vec<usize>>,
    /// Indices of the texts that train in-language heads (the train language's head included).
    pub train: BTreeMap<String, Vec<usize>>,
}

impl Splits {
    /// The train language and every language with `min_in_language` texts are split by a hash
    /// of the text; other languages with `min_texts` are scored on all their texts; smaller
    /// ones are not scored.
    pub fn new(set: &LabelledSet, cfg: &ClassifyConfig) -> Self {
        let mut by_lang: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, t) in set.texts.iter().enumerate() {
            by_lang.entry(&t.lang).or_default().push(i);
        }
        let mut splits = Splits::default();
        for (lang, idx) in by_lang {
            let split = lang == cfg.train_language || idx.len() >= cfg.min_in_language;
            if split {
                let (test, train): (Vec<usize>, Vec<usize>) = idx
                    .iter()
                    .partition(|&&i| is_dev(&set.texts[i].text, cfg.test_permille));
                splits.train.insert(lang.to_string(), train);
                splits.test.insert(lang.to_string(), test);
            } else if idx.len() >= cfg.min_texts {
                splits.test.insert(lang.to_string(), idx);
            }
        }
        splits
    }
}

/// One classifier's scores per language.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassifierRow {
    pub name: String,
    pub by_language: BTreeMap<String, Scores>,
}

impl ClassifierRow {
    /// Mean accuracy and macro-F1 over the languages `keep` accepts; None when there are none.
    pub fn mean(&self, keep: impl Fn(&str) -> bool) -> Option<(f32, f32, usize)> {
        let kept: Vec<&Scores> = self
            .by_language
            .iter()
            .filter(|(l, _)| keep(l))
            .map(|(_, s)| s)
            .collect();
        (!kept.is_empty()).then(|| {
            let n = kept.len() as f32;
            (
                kept.iter().map(|s| s.accuracy).sum::<f32>() / n,
                kept.iter().map(|s| s.macro_f1).sum::<f32>() / n,
                kept.len(),
            )
        })
    }
}

/// Scores a classifier given the logits of every labelled text.
fn score_row(
    name: &str,
    set: &LabelledSet,
    logits: &[Vec<f32>],
    test: &BTreeMap<String, Vec<usize>>,
) -> ClassifierRow {
    let classes = set.labels().len();
    let by_language = test
        .iter()
        .map(|(lang, idx)| {
            let predicted: Vec<usize> = idx.iter().map(|&i| argmax(&logits[i])).collect();
            let gold: Vec<usize> = idx.iter().map(|&i| set.class_of(&set.texts[i])).collect();
            (lang.clone(), scores(&predicted, &gold, classes))
        })
        .collect();
    ClassifierRow {
        name: name.to_string(),
        by_language,
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClassifyReport {
    pub data: LabelledReport,
    pub train_language: String,
    /// Languages the parallel corpus covers (their means are reported apart).
    pub corpus_languages: Vec<String>,
    /// English texts of the parallel corpus whose teacher logits are targets.
    pub transfer_english: usize,
    pub transfer_examples: usize,
    /// How many times each English labelled text is repeated per epoch.
    pub labelled_repeats: usize,
    /// Transfer examples per language ("en": the corpus's English texts).
    pub transfer_per_language: BTreeMap<String, usize>,
    /// How soft the teacher's labels are on the transfer set, per temperature.
    pub teacher_softness: Vec<Softness>,
    pub rows: Vec<ClassifierRow>,
    pub train_logs: BTreeMap<String, Vec<EpochLog>>,
    pub seconds: BTreeMap<String, f64>,
}

/// The teacher's soft labels at one temperature, averaged over the transfer set's English texts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Softness {
    pub temperature: f32,
    /// Mean probability of the top class.
    pub top_probability: f32,
    /// Mean entropy in nats (ln 11 = 2.40 for 11 uniform classes).
    pub entropy: f32,
}

fn softness(logits: &[f32], classes: usize, temperature: f32) -> Softness {
    let (mut top, mut entropy, mut n) = (0.0f64, 0.0f64, 0usize);
    for row in logits.chunks(classes) {
        let p = crate::train::loss::softmax(row, temperature);
        top += p.iter().cloned().fold(0.0f32, f32::max) as f64;
        entropy -= p
            .iter()
            .filter(|&&q| q > 0.0)
            .map(|&q| (q * q.ln()) as f64)
            .sum::<f64>();
        n += 1;
    }
    let n = n.max(1) as f64;
    Softness {
        temperature,
        top_probability: (top / n) as f32,
        entropy: (entropy / n) as f32,
    }
}

/// Whether a chatterbot language code is one the corpus covers (`zh-Hant` counts as `zh`).
fn in_corpus(lang: &str, corpus_languages: &[String]) -> bool {
    let base = lang.split('-').next().unwrap_or(lang);
    corpus_languages.iter().any(|l| l == base)
}

/// The console table: a row per classifier, accuracy (macro-F1) per language, then the means.
pub fn render(report: &ClassifyReport) -> String {
    let langs: Vec<String> = crate::eval::keys_of(&report.rows, |r: &ClassifierRow| &r.by_language);
    let name_width = report
        .rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(10)
        + 2;
    let mut out = format!(
        "Accuracy % per language (test texts in brackets); zero-shot unless the row says in-language.\n{:name_width$}",
        "classifier"
    );
    for l in &langs {
        out += &format!("{l:>8}");
    }
    out += "  mean non-en (n) | covered by corpus (n) | macro-F1 non-en\n";
    let train = report.train_language.as_str();
    let n_of = |l: &str| {
        report
            .rows
            .iter()
            .find_map(|r| r.by_language.get(l).map(|s| s.n))
            .unwrap_or(0)
    };
    out += &format!("{:name_width$}", "(texts)");
    for l in &langs {
        out += &format!("{:>8}", format!("[{}]", n_of(l)));
    }
    out += "\n";
    for row in &report.rows {
        out += &format!("{:name_width$}", row.name);
        for l in &langs {
            out += &match row.by_language.get(l) {
                Some(s) => format!("{:>8.1}", s.accuracy),
                None => format!("{:>8}", "–"),
            };
        }
        let other = row.mean(|l| l != train);
        let covered = row.mean(|l| l != train && in_corpus(l, &report.corpus_languages));
        let fmt = |m: Option<(f32, f32, usize)>, f1: bool| match m {
            Some((acc, mf1, n)) => format!("{:.1} ({n})", if f1 { mf1 } else { acc }),
            None => "–".into(),
        };
        out += &format!(
            "  {:>15} | {:>21} | {:>15}\n",
            fmt(other, false),
            fmt(covered, false),
            fmt(other, true)
        );
    }
    out + &render_most_predicted(report, &langs, name_width)
}

/// Per row and language, the class predicted most and the percent of texts given it: where
/// one class takes most of a language, the classifier cannot read it, and the accuracy is that
/// class's share of the language's test set rather than a measure of understanding.
fn render_most_predicted(report: &ClassifyReport, langs: &[String], name_width: usize) -> String {
    let labels = &report.data.labels;
    let mut out = format!(
        "\nMost predicted class per language (percent of its texts):\n{:name_width$}",
        "classifier"
    );
    for l in langs {
        out += &format!("{l:>14}");
    }
    out += "\n";
    for row in &report.rows {
        out += &format!("{:name_width$}", row.name);
        for l in langs {
            let cell = row.by_language.get(l).map_or("–".to_string(), |s| {
                let label = labels.get(s.most_predicted).map_or("?", String::as_str);
                format!("{label:.9} {:.0}", s.most_predicted_share)
            });
            out += &format!("{cell:>14}");
        }
        out += "\n";
    }
    out
}

/// Teacher embeddings of every labelled text (through the label cache).
fn teacher_embeddings(
    teacher: &Teacher,
    cache: &mut LabelCache,
    set: &LabelledSet,
    progress: &dyn Progress,
) -> Result<Embeddings> {
    let texts: Vec<&str> = set.texts.iter().map(|t| t.text.as_str()).collect();
    label(teacher, cache, &texts, "teacher (labelled)", progress)?;
    cache.lookup(&texts)
}

fn rows_of(x: &Embeddings, idx: &[usize]) -> Embeddings {
    Embeddings::new(
        x.dim(),
        idx.iter().flat_map(|&i| x.row(i).to_vec()).collect(),
    )
}

/// Fits a head on the given texts' rows of `x`.
fn fit_head(x: &Embeddings, set: &LabelledSet, idx: &[usize], cfg: &HeadConfig) -> LinearHead {
    let y: Vec<usize> = idx.iter().map(|&i| set.class_of(&set.texts[i])).collect();
    LinearHead::fit(&rows_of(x, idx), &y, set.labels().to_vec(), cfg)
}

/// In-language heads on `x` for every split language but the train language: each head is
/// fitted on its language's train texts and gives logits for its test texts only.
fn in_language_logits(
    x: &Embeddings,
    set: &LabelledSet,
    splits: &Splits,
    cfg: &ClassifyConfig,
) -> (Vec<Vec<f32>>, BTreeMap<String, Vec<usize>>) {
    let mut logits = vec![Vec::new(); set.texts.len()];
    let mut test = BTreeMap::new();
    for (lang, train) in &splits.train {
        if *lang == cfg.train_language {
            continue;
        }
        let head = fit_head(x, set, train, &cfg.head);
        for &i in &splits.test[lang] {
            logits[i] = head.logits(x.row(i));
        }
        test.insert(lang.clone(), splits.test[lang].clone());
    }
    (logits, test)
}

/// A classifier student: `glossa distill`'s student with the head as its output projection, or
/// a fresh one.
fn initial_student(
    cfg: &ClassifyConfig,
    config: &Config,
    head: &LinearHead,
    texts: &[String],
) -> Result<TableStudent> {
    let k = head.classes();
    match cfg
        .init_student
        .as_ref()
        .filter(|p| !p.as_os_str().is_empty())
    {
        Some(dir) => {
            if !dir.is_dir() {
                return Err(Error::invalid(
                    dir,
                    "classify.init_student does not exist: run scripts/distill-default.sh \
                     first, or set init_student = \"\" to train the student from scratch",
                ));
            }
            let mut student = TableStudent::load(dir)?;
            if student.config.output_dim != head.dim {
                return Err(Error::invalid(
                    dir,
                    format!(
                        "the student outputs {} dimensions, the teacher's head reads {}: \
                         distil the student from the same teacher",
                        student.config.output_dim, head.dim
                    ),
                ));
            }
            let (dim, out) = (student.config.dim, student.config.output_dim);
            // Compose an existing projection P (dim × out) with the head W (out × k).
            let projection = match &student.projection {
                None => head.weight.clone(),
                Some(p) => (0..dim)
                    .flat_map(|i| {
                        let mut row = vec![0.0; k];
                        for j in 0..out {
                            crate::kernels::axpy(
                                &mut row,
                                p[i * out + j],
                                &head.weight[j * k..(j + 1) * k],
                            );
                        }
                        row
                    })
                    .collect(),
            };
            student.projection = Some(projection);
            student.config.output_dim = k;
            Ok(student)
        }
        None => fresh_subword_student(&config.student, texts, head.dim, k, cfg.train.seed),
    }
}

/// The corpus languages and the extra ones, without repeats.
fn transfer_languages(config: &Config) -> Vec<String> {
    let mut langs = config.corpus.languages.clone();
    for lang in &config.classify.extra_languages {
        if !langs.contains(lang) {
            langs.push(lang.clone());
        }
    }
    langs
}

/// The transfer set: teacher logits of the corpus's English texts (targets for them and their
/// translations) and of the English labelled texts (repeated), with hard labels: the teacher's
/// argmax for corpus texts, the gold label for labelled ones.
struct TransferSet {
    data: TrainingData,
    hard_labels: Vec<u32>,
    english: usize,
    repeats: usize,
    /// Transfer examples per language (translations whose English side has a teacher label).
    pairs_per_language: BTreeMap<String, usize>,
}

fn transfer_set(
    config: &Config,
    tc: &mut TeacherClassifier,
    labelled_logits: &[Vec<f32>],
    progress: &dyn Progress,
) -> Result<TransferSet> {
    let (teacher, cache, head, set) = (&tc.teacher, &mut tc.cache, &tc.head, &tc.set);
    let labelled_train = &tc.splits.train[&config.classify.train_language];
    let tests = TestSetIndex::load(&config.eval_dir)?;
    let mut wider = config.clone();
    wider.corpus.languages = transfer_languages(config);
    let (corpus, _) = build_corpus_from_config(&wider, &tests)?;
    // The English texts are selected from the corpus languages alone, as `glossa distill`
    // selects them, so the teacher's cached labels cover them.
    let base: BTreeMap<String, Vec<Pair>> = corpus
        .train
        .iter()
        .filter(|(lang, _)| config.corpus.languages.contains(lang))
        .map(|(l, p)| (l.clone(), p.clone()))
        .collect();
    let (english_only, _) = english_only_from_config(config, &tests)?;
    let english = with_english_only(
        select_english(&base, config.corpus.max_english),
        &english_only,
    );
    let refs: Vec<&str> = english.iter().map(String::as_str).collect();
    label(teacher, cache, &refs, "teacher (transfer)", progress)?;
    let logits = head.logits_all(&cache.lookup(&refs)?);
    let k = head.classes();
    let mut hard_labels: Vec<u32> = logits.chunks(k).map(|l| argmax(l) as u32).collect();
    let mut data = TrainingData::assemble(&english, logits, k, &corpus.train, &BTreeMap::new());
    let transfer_weight: f32 = data.examples.iter().map(|e| e.weight).sum();
    let share = config.classify.labelled_share.clamp(0.0, 0.99);
    let repeats = ((share / (1.0 - share)) * transfer_weight / labelled_train.len().max(1) as f32)
        .round()
        .max(1.0) as usize;
    for &i in labelled_train {
        let text = data.texts.len() as u32;
        let target = hard_labels.len() as u32;
        data.texts.push(set.texts[i].text.clone());
        data.targets.extend_from_slice(&labelled_logits[i]);
        hard_labels.push(set.class_of(&set.texts[i]) as u32);
        data.examples.extend(std::iter::repeat_n(
            Example {
                text,
                target,
                weight: 1.0,
            },
            repeats,
        ));
    }
    Ok(TransferSet {
        pairs_per_language: data.per_language.clone(),
        english: english.len(),
        data,
        hard_labels,
        repeats,
    })
}

/// A student variant of the ablation.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Variant {
    temperature: f32,
    alpha: f32,
    /// Trained on the gold labels of the English labelled texts only: no teacher, no
    /// parallel corpus (the classic baseline KD is measured against).
    gold_only: bool,
}

impl Variant {
    fn distill(temperature: f32, alpha: f32) -> Self {
        Variant {
            temperature,
            alpha,
            gold_only: false,
        }
    }

    fn name(&self) -> String {
        if self.gold_only {
            "student, gold labels only (no teacher)".into()
        } else if self.alpha == 0.0 {
            "student, teacher's hard labels (α=0)".into()
        } else {
            format!("student, KD T={} α={}", self.temperature, self.alpha)
        }
    }
}

fn variants(cfg: &ClassifyConfig) -> Vec<Variant> {
    let mut list = Vec::new();
    if cfg.hard_label_baseline {
        list.push(Variant {
            gold_only: true,
            ..Variant::distill(1.0, 0.0)
        });
        list.push(Variant::distill(1.0, 0.0));
    }
    for &alpha in &cfg.ablation_alphas {
        for &temperature in &cfg.ablation_temperatures {
            list.push(Variant::distill(temperature, alpha));
        }
    }
    let shipped = Variant::distill(cfg.temperature, cfg.alpha);
    if !list.contains(&shipped) {
        list.push(shipped);
    }
    list
}

fn train_variant(
    run: &Run,
    cfg: &ClassifyConfig,
    config: &Config,
    head: &LinearHead,
    transfer: &TransferSet,
    variant: Variant,
) -> Result<(TableStudent, Vec<EpochLog>)> {
    let mut student = initial_student(cfg, config, head, &transfer.data.texts)?;
    let mut dataset = transfer.data.dataset();
    if variant.gold_only {
        // The labelled texts' targets follow the corpus's English rows.
        let first_labelled = transfer.english as u32;
        dataset.examples.retain(|e| e.target >= first_labelled);
    }
    dataset.objective = Objective::Distill {
        temperature: variant.temperature,
        alpha: variant.alpha,
        labels: &transfer.hard_labels,
    };
    let name = variant.name();
    let logs = train_with_progress(
        run,
        &cfg.train,
        &mut student,
        &dataset,
        None,
        &format!("classify-{name}"),
        &|loss| format!("loss {loss:.4}"),
    )?;
    Ok((student, logs))
}

/// Student logits of every labelled text.
fn student_logits(student: &TableStudent, set: &LabelledSet) -> Result<Vec<Vec<f32>>> {
    let texts: Vec<&str> = set.texts.iter().map(|t| t.text.as_str()).collect();
    let out = student.encode(&texts)?;
    Ok(out.rows().map(<[f32]>::to_vec).collect())
}

/// Loads the labelled set, the teacher, and trains the teacher's English head.
pub struct TeacherClassifier {
    pub set: LabelledSet,
    pub splits: Splits,
    pub teacher: Teacher,
    pub cache: LabelCache,
    pub embeddings: Embeddings,
    pub head: LinearHead,
}

pub fn train_teacher(config: &Config, progress: &dyn Progress) -> Result<TeacherClassifier> {
    let cfg = &config.classify;
    let set = load_chatterbot(&cfg.data_dir, cfg.min_languages)?;
    let splits = Splits::new(&set, cfg);
    let train = splits.train.get(&cfg.train_language).ok_or_else(|| {
        Error::invalid(
            &cfg.data_dir,
            format!(
                "no labelled texts in the train language '{}'",
                cfg.train_language
            ),
        )
    })?;
    if !config.teacher.endpoints.is_empty() {
        // Not silently ignored: the classification path runs its teacher here.
        return Err(Error::msg(
            "teacher.endpoints (--teacher-endpoint) label for `glossa distill` only; `classify \
             distill` runs the teacher here: remove them",
        ));
    }
    let mut teacher = Teacher::load_on(&config.teacher.model, config.teacher.device)?;
    teacher.batch_size = config.teacher.batch_size;
    let mut cache = LabelCache::open(
        &config.cache_dir,
        &teacher.name(),
        teacher.fingerprint(),
        teacher.dim(),
    )?;
    let embeddings = teacher_embeddings(&teacher, &mut cache, &set, progress)?;
    let head = fit_head(&embeddings, &set, train, &cfg.head);
    let dir = config.run_dir.join("teacher-head");
    head.save(&dir.join("head.safetensors"))?;
    tracing::info!(
        "teacher head: {} classes on {} {} texts -> {}",
        head.classes(),
        train.len(),
        cfg.train_language,
        dir.display()
    );
    Ok(TeacherClassifier {
        set,
        splits,
        teacher,
        cache,
        embeddings,
        head,
    })
}

/// The teacher's rows: zero-shot with the English head, and in-language heads.
pub fn teacher_rows(tc: &TeacherClassifier, cfg: &ClassifyConfig) -> Vec<ClassifierRow> {
    let logits: Vec<Vec<f32>> = tc.embeddings.rows().map(|r| tc.head.logits(r)).collect();
    let mut rows = vec![score_row(
        &format!("teacher + {} head", cfg.train_language),
        &tc.set,
        &logits,
        &tc.splits.test,
    )];
    let (logits, test) = in_language_logits(&tc.embeddings, &tc.set, &tc.splits, cfg);
    if !test.is_empty() {
        rows.push(score_row(
            "teacher, in-language heads",
            &tc.set,
            &logits,
            &test,
        ));
    }
    rows
}

/// `glossa classify distill`: the teacher's head, the students of the ablation, one table.
pub fn distill(config: &Config, progress: &dyn Progress) -> Result<ClassifyReport> {
    let cfg = &config.classify;
    let run = Run::create(config, progress)?;
    let mut tc = run.stage("teacher head", || train_teacher(config, progress))?;
    let mut rows = teacher_rows(&tc, cfg);
    let labelled_logits: Vec<Vec<f32>> = tc.embeddings.rows().map(|r| tc.head.logits(r)).collect();
    let transfer = run.stage("transfer set", || {
        transfer_set(config, &mut tc, &labelled_logits, progress)
    })?;
    tracing::info!(
        "transfer set: {} English texts, {} examples; English labelled texts repeated {}×",
        transfer.english,
        transfer.data.examples.len(),
        transfer.repeats
    );
    let gold_head = match init_student_dir(cfg) {
        Some(dir) => embedding_student_rows(cfg, config, &tc, &transfer, dir, &mut rows)?,
        None => tc.head.clone(),
    };
    let train_logs = train_variants(&run, config, &tc, &transfer, &gold_head, &mut rows)?;
    let report = classify_report(config, &tc, &transfer, rows, train_logs, run.seconds());
    let json = serde_json::to_vec_pretty(&report).expect("report serialises");
    run.write("classify.json", &json)?;
    run.write("classify.txt", render(&report).as_bytes())?;
    run.remove_checkpoints();
    Ok(report)
}

/// `classify.init_student`, when it is set.
fn init_student_dir(cfg: &ClassifyConfig) -> Option<&Path> {
    cfg.init_student
        .as_deref()
        .filter(|p| !p.as_os_str().is_empty())
}

/// The rows of the embedding-distilled student given as `init_student` (with the teacher's
/// head, and with in-language heads on its embeddings); returns the head the gold-only
/// baseline starts from: one fitted on the student's own embeddings of the English labelled
/// texts, so nothing of the classification teacher reaches it.
fn embedding_student_rows(
    cfg: &ClassifyConfig,
    config: &Config,
    tc: &TeacherClassifier,
    transfer: &TransferSet,
    dir: &Path,
    rows: &mut Vec<ClassifierRow>,
) -> Result<LinearHead> {
    let init = initial_student(cfg, config, &tc.head, &transfer.data.texts)?;
    rows.push(score_row(
        "student, embedding-distilled + teacher head",
        &tc.set,
        &student_logits(&init, &tc.set)?,
        &tc.splits.test,
    ));
    let embedder = TableStudent::load(dir)?;
    let texts: Vec<&str> = tc.set.texts.iter().map(|t| t.text.as_str()).collect();
    let x = embedder.encode(&texts)?;
    let english_train = &tc.splits.train[&cfg.train_language];
    let gold_head = fit_head(&x, &tc.set, english_train, &cfg.head);
    let (logits, test) = in_language_logits(&x, &tc.set, &tc.splits, cfg);
    if !test.is_empty() {
        let name = "student embeddings, in-language heads";
        rows.push(score_row(name, &tc.set, &logits, &test));
    }
    Ok(gold_head)
}

/// Trains and scores every variant of the ablation; the shipped one is saved as the run's
/// student.
fn train_variants(
    run: &Run,
    config: &Config,
    tc: &TeacherClassifier,
    transfer: &TransferSet,
    gold_head: &LinearHead,
    rows: &mut Vec<ClassifierRow>,
) -> Result<BTreeMap<String, Vec<EpochLog>>> {
    let cfg = &config.classify;
    let mut train_logs = BTreeMap::new();
    let shipped = Variant::distill(cfg.temperature, cfg.alpha);
    for variant in variants(cfg) {
        let head = if variant.gold_only {
            gold_head
        } else {
            &tc.head
        };
        let name = variant.name();
        let (student, logs) = run.stage(&format!("train {name}"), || {
            train_variant(run, cfg, config, head, transfer, variant)
        })?;
        let logits = student_logits(&student, &tc.set)?;
        let row = score_row(&name, &tc.set, &logits, &tc.splits.test);
        if let Some((acc, f1, n)) = row.mean(|l| l != cfg.train_language) {
            tracing::info!(
                "{name}: mean non-{} accuracy {acc:.1}, macro-F1 {f1:.1} over {n} languages",
                cfg.train_language
            );
        }
        rows.push(row);
        train_logs.insert(name, logs);
        if variant == shipped {
            save_classifier(&student, &tc.head.labels, &run.dir().join("student"))?;
        }
    }
    Ok(train_logs)
}

/// The report: data, transfer set, the teacher's softness at each temperature, and the rows.
fn classify_report(
    config: &Config,
    tc: &TeacherClassifier,
    transfer: &TransferSet,
    rows: Vec<ClassifierRow>,
    train_logs: BTreeMap<String, Vec<EpochLog>>,
    seconds: BTreeMap<String, f64>,
) -> ClassifyReport {
    let cfg = &config.classify;
    let mut temperatures: Vec<f32> = cfg.ablation_temperatures.clone();
    temperatures.push(cfg.temperature);
    temperatures.sort_by(f32::total_cmp);
    temperatures.dedup();
    let k = tc.head.classes();
    let corpus_logits = &transfer.data.targets[..transfer.english * k];
    ClassifyReport {
        data: tc.set.report.clone(),
        train_language: cfg.train_language.clone(),
        corpus_languages: transfer_languages(config),
        transfer_english: transfer.english,
        transfer_examples: transfer.data.examples.len(),
        labelled_repeats: transfer.repeats,
        transfer_per_language: transfer.pairs_per_language.clone(),
        teacher_softness: temperatures
            .iter()
            .map(|&t| softness(corpus_logits, k, t))
            .collect(),
        rows,
        train_logs,
        seconds,
    }
}

/// A classifier student on disk: the student directory plus `labels.json` (class order).
pub fn save_classifier(student: &TableStudent, labels: &[String], dir: &Path) -> Result<()> {
    student.save(dir)?;
    crate::io::write_atomic(
        dir.join("labels.json"),
        &serde_json::to_vec_pretty(labels).expect("labels serialise"),
    )
}

/// A saved classifier: a student whose outputs are the logits of `labels`.
pub struct Classifier {
    pub student: TableStudent,
    pub labels: Vec<String>,
}

impl Classifier {
    pub fn load(dir: &Path) -> Result<Self> {
        let labels_path = dir.join("labels.json");
        if !labels_path.is_file() {
            return Err(Error::invalid(
                dir,
                "no labels.json: not a classifier (run `glossa classify distill`)",
            ));
        }
        let labels: Vec<String> = crate::error::read_json(&labels_path)?;
        let student = TableStudent::load(dir)?;
        if labels.len() != student.config.output_dim {
            return Err(Error::invalid(
                &labels_path,
                format!(
                    "{} labels, but the student outputs {} logits",
                    labels.len(),
                    student.config.output_dim
                ),
            ));
        }
        Ok(Classifier { student, labels })
    }

    /// The predicted label of each text.
    pub fn predict(&self, texts: &[&str]) -> Result<Vec<&str>> {
        let logits = self.student.encode(texts)?;
        Ok(logits
            .rows()
            .map(|l| self.labels[argmax(l)].as_str())
            .collect())
    }

    /// Scores per language on labelled texts (whose labels must be among the classifier's).
    pub fn evaluate(&self, texts: &[LabelledText]) -> Result<BTreeMap<String, Scores>> {
        let refs: Vec<&str> = texts.iter().map(|t| t.text.as_str()).collect();
        let predicted = self.predict(&refs)?;
        let class = |label: &str| self.labels.iter().position(|l| l == label);
        let mut by_lang: BTreeMap<&str, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
        for (t, p) in texts.iter().zip(predicted) {
            let gold = class(&t.label)
                .ok_or_else(|| Error::msg(format!("unknown label '{}'", t.label)))?;
            let entry = by_lang.entry(&t.lang).or_default();
            entry.0.push(class(p).expect("predicted labels are known"));
            entry.1.push(gold);
        }
        Ok(by_lang
            .into_iter()
            .map(|(l, (p, g))| (l.to_string(), scores(&p, &g, self.labels.len())))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::student::{SubwordConfig, WordRules};

    #[test]
    fn scores_match_hand_computed_macro_f1() {
        // gold 0 0 1 1 2, predicted 0 1 1 1 0
        let s = scores(&[0, 1, 1, 1, 0], &[0, 0, 1, 1, 2], 4);
        assert_eq!(s.n, 5);
        assert!((s.accuracy - 60.0).abs() < 1e-4);
        // F1: class 0: tp1 fp1 fn1 -> 0.5; class 1: tp2 fp1 fn0 -> 0.8; class 2: 0; class 3 absent.
        assert!(
            (s.macro_f1 - 100.0 * (0.5 + 0.8 + 0.0) / 3.0).abs() < 1e-3,
            "{s:?}"
        );
        // Class 1 was predicted for 3 of the 5 texts.
        assert_eq!(s.most_predicted, 1);
        assert!((s.most_predicted_share - 60.0).abs() < 1e-4);
        // A tie goes to the lower class, so the table is the same every run.
        assert_eq!(scores(&[2, 0], &[0, 0], 3).most_predicted, 0);
    }

    #[test]
    fn the_head_learns_separable_classes_and_round_trips() {
        let mut rng = crate::rng::Rng::new(3);
        let centres = [[1.0f32, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let mut data = Vec::new();
        let mut y = Vec::new();
        for i in 0..90 {
            let c = i % 3;
            data.extend(centres[c].iter().map(|v| v + 0.2 * rng.normal()));
            y.push(c);
        }
        let x = Embeddings::new(3, data);
        let labels: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let head = LinearHead::fit(&x, &y, labels, &HeadConfig::default());
        let predicted: Vec<usize> = x.rows().map(|r| argmax(&head.logits(r))).collect();
        assert!(scores(&predicted, &y, 3).accuracy > 95.0);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("head.safetensors");
        head.save(&path).unwrap();
        assert_eq!(LinearHead::load(&path).unwrap(), head);
        std::fs::write(&path, b"junk").unwrap();
        let err = LinearHead::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("head.safetensors") && err.contains("not a safetensors"),
            "{err}"
        );
    }

    #[test]
    fn a_student_with_the_head_as_projection_gives_the_head_logits_of_its_embedding() {
        let words = vec!["cat".to_string(), "dog".to_string()];
        let config = SubwordConfig::new(4, 4, 16, (3, 3), WordRules::new(true));
        let embedder = TableStudent::new(config, words, 1).unwrap();
        let dir = tempfile::tempdir().unwrap();
        embedder.save(dir.path()).unwrap();
        let mut rng = crate::rng::Rng::new(5);
        let head = LinearHead {
            labels: ["x", "y", "z"].map(String::from).to_vec(),
            dim: 4,
            weight: (0..12).map(|_| rng.normal()).collect(),
        };
        let cfg = ClassifyConfig {
            init_student: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let student = initial_student(&cfg, &Config::default(), &head, &[]).unwrap();
        for text in ["cat dog", "a bird"] {
            let want = head.logits(&embedder.embed(text));
            let got = student.embed(text);
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "{got:?} vs {want:?}");
            }
        }
        let wrong = LinearHead {
            dim: 5,
            weight: vec![0.0; 15],
            ..head
        };
        let err = initial_student(&cfg, &Config::default(), &wrong, &[])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("outputs 4 dimensions"), "{err}");
    }

    #[test]
    fn a_classifier_round_trips_and_refuses_a_label_count_mismatch() {
        let config = SubwordConfig::new(4, 2, 16, (3, 3), WordRules::new(true));
        let student = TableStudent::new(config, vec!["hi".into()], 1).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let labels = vec!["greetings".to_string(), "food".to_string()];
        save_classifier(&student, &labels, dir.path()).unwrap();
        let c = Classifier::load(dir.path()).unwrap();
        let predicted = c.predict(&["hi there"]).unwrap();
        assert!(labels.iter().any(|l| l == predicted[0]));
        std::fs::write(dir.path().join("labels.json"), r#"["a","b","c"]"#).unwrap();
        let err = Classifier::load(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("labels.json: 3 labels, but the student outputs 2"),
            "{err}"
        );
    }
}
