//! The distillation config: TOML, every field with a default, unknown keys refused (a typo must
//! not silently fall back to a default). Relative paths are relative to the working directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::user::SourceSpec;
use crate::student::{Marks, UnspacedLetters, WordRules};
use crate::train::TrainConfig;
use crate::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the run's corpus, student, report and config copy go.
    pub run_dir: PathBuf,
    /// Tatoeba / STS test sets: reported on, never trained on.
    pub eval_dir: PathBuf,
    /// Teacher soft-label cache, shared by runs (keyed by teacher fingerprint and text).
    pub cache_dir: PathBuf,
    pub teacher: TeacherConfig,
    pub corpus: CorpusConfig,
    pub student: StudentConfig,
    pub train: TrainConfig,
    /// The Transformer student (`[student] kind = "transformer"`): shape, init and training.
    pub transformer: crate::train::autodiff::TransformerConfig,
    pub eval: EvalConfig,
    /// The classification path (`glossa classify`).
    pub classify: crate::recipes::classify::ClassifyConfig,
    /// Continue training from the run's checkpoints (`--resume`); not part of the file.
    #[serde(skip)]
    pub resume: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TeacherConfig {
    /// A model directory or a Hugging Face repo id (resolved through the HF cache).
    pub model: String,
    pub batch_size: usize,
    /// Where `model` runs: `cpu`, or `cuda` / `cuda:N` (a glossa built with `--features cuda`).
    pub device: crate::teacher::TeacherDevice,
    /// Bring your own soft labels: embeddings computed elsewhere (`.npy` or `.safetensors`, one
    /// row per line of `texts`). When set, they are the teacher and `model` is not run; the
    /// run trains on the English texts the file covers.
    pub embeddings: Option<PathBuf>,
    /// The texts of `embeddings`, one per line.
    pub texts: Option<PathBuf>,
    /// Embedding servers that label instead of running `model` here (`http://host:port`;
    /// docs/scale.md). Checked against the teacher's own vectors of a probe set first.
    pub endpoints: Vec<String>,
    /// What they speak: `openai` (`POST /v1/embeddings`) or `tei` (`POST /embed`).
    pub endpoint_api: crate::teacher::remote::Api,
    /// The model name sent with each request; empty: `model`.
    pub endpoint_model: String,
    /// The environment variable holding the API key (sent as `Authorization: Bearer`).
    pub endpoint_api_key_env: Option<String>,
    /// Texts per request.
    pub endpoint_batch_size: usize,
    /// Requests in flight per endpoint.
    pub endpoint_in_flight: usize,
    /// Seconds per request before it is abandoned and retried.
    pub endpoint_timeout_s: f64,
    /// Labelling fails when no endpoint has answered for this many seconds.
    pub endpoint_give_up_s: f64,
    /// Each endpoint's vectors of the probe set must be this close (cosine) to the teacher's.
    pub endpoint_min_cosine: f32,
    /// Without the model here: the label cache (fingerprint) the endpoints stand for, checked
    /// against that cache's probe rows. Empty: one named after `endpoint_model`.
    pub endpoint_fingerprint: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorpusConfig {
    /// The languages to learn, in any spelling (`de`, `deu`, `pt-BR`; kept as the canonical
    /// code, see `data::lang::canonical`), or `"all"`: every language the sources hold.
    #[serde(
        deserialize_with = "languages_or_all",
        serialize_with = "write_languages"
    )]
    pub languages: Vec<String>,
    /// The language every pair translates from (the teacher's side of a pair). The built-in
    /// sources translate from English, so another pivot takes the user's files only.
    #[serde(deserialize_with = "one_language")]
    pub pivot: String,
    /// The user's parallel files: globs (`"opus/*.tmx.gz"`, `"data/en-*.tsv"`) or tables naming
    /// the languages (`{ path = "memory.tsv", languages = ["en", "de"] }`). TSV, Moses/OPUS
    /// (`<name>.<lang>`), TMX and JSON lines, each optionally `.gz`, `.zst` or `.xz`.
    pub parallel: Vec<SourceSpec>,
    /// The user's monolingual text, one sentence per line, learnt directly (student(x) ≈
    /// teacher(x)); the language last in the file name (`news.de.txt.zst`) or named in a table.
    pub monolingual: Vec<SourceSpec>,
    /// Folders laid out as `<locale>/LC_MESSAGES/*.mo`. Missing folders are an error.
    pub gettext_roots: Vec<PathBuf>,
    /// LibreOffice help (`<lang>/text/**.html`, aligned against `en-US/`); empty: none.
    pub help_root: Option<PathBuf>,
    /// Folders of FreeDict dictionaries (`freedict-<xxx>-eng.index` / `freedict-eng-<xxx>.index`).
    pub dictionary_dirs: Vec<PathBuf>,
    /// WordNet `data.*` folder: English usage examples and definitions, labelled by the teacher
    /// and learnt as English only (no translation); empty: none.
    pub wordnet_dir: Option<PathBuf>,
    /// At most this many of those English-only sentences.
    pub max_english_only: usize,
    /// With a multilingual teacher: this many translations per language (of the selected
    /// English texts) are also labelled by the teacher and learnt directly, student(x) ≈
    /// teacher(x), besides student(x) ≈ teacher(English). 0: pairs only.
    pub direct_per_language: usize,
    /// With `languages = "all"`: a language with fewer training pairs than this is left out
    /// of training and evaluation (named in the log and in the report's `too_few_pairs`), so
    /// a language seen in a few stray strings does not count as learnt. 0: every language found.
    pub min_pairs_per_language: usize,
    /// At most this many training pairs per language (of those whose English text has a
    /// label, first in a fixed hash order), so that the largest languages do not drown the
    /// small ones. 0: every pair.
    pub max_pairs_per_language: usize,
    /// Folder of wordfreq lists (`small_<lang>.msgpack.gz`, from PyPI `wordfreq`; fetched by
    /// `scripts/fetch-assets.sh`).
    pub wordfreq_dir: Option<PathBuf>,
    /// With a multilingual teacher: the most frequent words of each language (and English)
    /// from those lists, labelled by the teacher and learnt directly, student(word) ≈
    /// teacher(word): the everyday words software strings rarely use. 0: none.
    pub words_per_language: usize,
    /// Folder of `fortune` databases, `<lang>/<file>` (Debian `fortunes-*`, arranged by
    /// `scripts/fetch-assets.sh fortunes`).
    pub fortunes_dir: Option<PathBuf>,
    /// With a multilingual teacher: at most this many fortune entries per language (sayings,
    /// jokes, quotations written in that language), labelled by the teacher and learnt
    /// directly, student(x) ≈ teacher(x). 0: none.
    pub fortunes_per_language: usize,
    pub min_chars: usize,
    pub max_chars: usize,
    /// Per mille of English texts (and all their translations) held out for dev.
    pub dev_permille: u32,
    /// At most this many distinct English texts get teacher labels (the teacher's time is the
    /// run's main cost); those translated into the most languages are kept first.
    pub max_english: usize,
    /// Dev pairs per language scored for MSE to the teacher.
    pub dev_pairs_per_language: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StudentConfig {
    /// Which student: `subword` (fastText-style words + hashed character n-grams; the keys
    /// below and `[train]`), `static` (Model2Vec-style: a row per token of the teacher's
    /// tokenizer, initialised from the teacher's vector of each token, then trained) or
    /// `transformer` (the `[transformer]` section).
    pub kind: StudentKind,
    /// Row width; a projection to the teacher's width is added when different. For the static
    /// student this is the PCA width of its initialisation.
    pub dim: Option<usize>,
    pub buckets: usize,
    pub minn: usize,
    pub maxn: usize,
    pub lowercase: bool,
    /// Which combining marks stay inside words: `all` (every Unicode mark; an Indic virama or
    /// nukta never cuts a word) or `listed` (the rule before this key: Latin, Arabic and
    /// Devanagari marks only).
    pub marks: Marks,
    /// Fold Arabic spelling variants before cutting words: no tatweel or harakat, one alef, ى → ي,
    /// ة → ه, Arabic-Indic digits → 0–9 (`student::features::fold_arabic`).
    pub fold_arabic: bool,
    /// How runs of Thai, Lao, Khmer and Myanmar letters (written without spaces between words)
    /// are read: `chars` (unigrams and bigrams of characters, as for Chinese; the default) or
    /// `ngrams` (a run is a word, read through its character n-grams).
    pub unspaced_letters: UnspacedLetters,
    /// Subword student: word n-grams up to this length hashed into the bucket rows beside the
    /// character n-grams (fastText's `wordNgrams`; 2 adds each pair of neighbouring words).
    /// 1, the default, adds none.
    pub word_ngrams: usize,
    pub min_count: usize,
    pub max_words: usize,
    /// Learn the teacher's vectors minus their mean over the training texts, renormalised,
    /// instead of the vectors themselves. For teachers whose vectors crowd in a narrow cone
    /// (e5: unrelated sentences at cosine ≈ 0.8), this gives the student the directions that
    /// tell sentences apart at full scale. The student's space is then the centred one.
    pub center_targets: bool,
    /// Static student: the SIF coefficient a of the token weights a / (a + p(token)), p from
    /// the token counts of the training texts (Model2Vec's default a).
    pub sif_coefficient: f64,
    /// Static student: the teacher encodes the tokens the training texts use most, up to this
    /// many (one forward pass each: ~250k for an XLM-R vocabulary is hours on a small CPU);
    /// the other rows start at zero and stay there unless training reaches them.
    pub max_tokens: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Tatoeba languages (ISO 639-3): the headline set, whose mean is `tatoeba_mean`.
    pub tatoeba: Vec<String>,
    /// Also evaluate every trained language that Tatoeba has (its mean: `tatoeba_all_mean`).
    pub tatoeba_trained: bool,
    pub sts17: bool,
    pub stsb: bool,
    /// Also train a student toward random targets: the score string overlap alone gives.
    pub random_target_control: bool,
    /// Seconds to time each model's encoding (0: no speed figure).
    pub speed_seconds: f64,
    /// Threads and batch of that timing: `glossa bench`'s first case by default (see
    /// `eval::speed::Method`), so the report's figure is comparable with the benchmark's.
    pub speed_threads: usize,
    pub speed_batch: usize,
}

impl EvalConfig {
    /// How the report times each model, if it does.
    pub fn speed_method(&self) -> Option<crate::eval::speed::Method> {
        (self.speed_seconds > 0.0).then(|| crate::eval::speed::Method {
            threads: self.speed_threads,
            batch: self.speed_batch,
            seconds: self.speed_seconds,
            ..Default::default()
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            run_dir: "runs/default".into(),
            eval_dir: "../shared/eval".into(),
            cache_dir: "assets/labels".into(),
            teacher: TeacherConfig::default(),
            corpus: CorpusConfig::default(),
            student: StudentConfig::default(),
            train: TrainConfig::default(),
            transformer: Default::default(),
            eval: EvalConfig::default(),
            classify: Default::default(),
            resume: false,
        }
    }
}

impl Default for TeacherConfig {
    fn default() -> Self {
        TeacherConfig {
            model: "sentence-transformers/all-MiniLM-L6-v2".into(),
            batch_size: 32,
            device: Default::default(),
            embeddings: None,
            texts: None,
            endpoints: Vec::new(),
            endpoint_api: Default::default(),
            endpoint_model: String::new(),
            endpoint_api_key_env: None,
            endpoint_batch_size: 64,
            endpoint_in_flight: 2,
            endpoint_timeout_s: 120.0,
            endpoint_give_up_s: 300.0,
            endpoint_min_cosine: 0.9999,
            endpoint_fingerprint: None,
        }
    }
}

pub const DEFAULT_LANGUAGES: [&str; 12] = [
    "de", "fr", "es", "it", "nl", "pt", "ru", "pl", "tr", "ja", "zh", "ar",
];

impl Default for CorpusConfig {
    fn default() -> Self {
        CorpusConfig {
            languages: DEFAULT_LANGUAGES.iter().map(|s| s.to_string()).collect(),
            pivot: "en".into(),
            parallel: Vec::new(),
            monolingual: Vec::new(),
            gettext_roots: vec![
                "/usr/share/locale".into(),
                "assets/debs/usr/lib/libreoffice/program/resource".into(),
            ],
            help_root: Some("assets/debs/usr/share/libreoffice/help".into()),
            dictionary_dirs: vec!["assets/debs/usr/share/dictd".into()],
            wordnet_dir: Some("assets/debs/usr/share/wordnet".into()),
            max_english_only: 30_000,
            direct_per_language: 0,
            min_pairs_per_language: 0,
            max_pairs_per_language: 0,
            wordfreq_dir: Some("assets/wordfreq".into()),
            words_per_language: 0,
            fortunes_dir: Some("assets/fortunes".into()),
            fortunes_per_language: 0,
            min_chars: 2,
            max_chars: 300,
            dev_permille: 20,
            max_english: 80_000,
            dev_pairs_per_language: 300,
        }
    }
}

/// `languages = "all"` in the config; in [`CorpusConfig::languages`], the one-element list
/// `["all"]`.
pub const ALL_LANGUAGES: &str = "all";

impl CorpusConfig {
    /// True when the config takes every language its sources hold.
    pub fn all_languages(&self) -> bool {
        self.languages.len() == 1 && self.languages[0] == ALL_LANGUAGES
    }

    /// Reads the user's files only: no gettext catalogs, help pages, dictionaries or WordNet
    /// (so a run needs nothing that `scripts/fetch-assets.sh` fetches).
    pub fn without_builtin_sources(&mut self) {
        self.gettext_roots.clear();
        self.help_root = None;
        self.dictionary_dirs.clear();
        self.wordnet_dir = None;
    }

    /// True when a built-in source (English-only by nature) is configured.
    pub fn has_builtin_sources(&self) -> bool {
        let set = |p: &Option<PathBuf>| p.as_ref().is_some_and(|p| !p.as_os_str().is_empty());
        !self.gettext_roots.is_empty() || set(&self.help_root) || !self.dictionary_dirs.is_empty()
    }
}

/// `"all"`, or a comma-separated list of codes in any spelling (`de,pt-BR,zho`), as canonical
/// codes; an error names a code it cannot place.
pub fn parse_languages(text: &str) -> std::result::Result<Vec<String>, String> {
    if text.trim() == ALL_LANGUAGES {
        return Ok(vec![ALL_LANGUAGES.to_string()]);
    }
    let codes = text.split(',').map(str::trim).filter(|c| !c.is_empty());
    let list: Vec<String> = codes
        .map(crate::data::lang::canonical)
        .collect::<std::result::Result<_, _>>()?;
    if list.is_empty() {
        return Err("no languages given: name them (de,fr) or say all".into());
    }
    let mut unique = Vec::new();
    for code in list {
        if !unique.contains(&code) {
            unique.push(code);
        }
    }
    Ok(unique)
}

fn languages_or_all<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum AllOrList {
        One(String),
        List(Vec<String>),
    }
    let text = match AllOrList::deserialize(d)? {
        AllOrList::One(s) if s == ALL_LANGUAGES => s,
        AllOrList::One(s) => {
            return Err(serde::de::Error::custom(format!(
                "languages must be \"all\" or a list such as [\"de\", \"fr\"], got \"{s}\""
            )))
        }
        AllOrList::List(list) => list.join(","),
    };
    parse_languages(&text).map_err(serde::de::Error::custom)
}

fn write_languages<S: serde::Serializer>(
    list: &[String],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match list {
        [all] if all == ALL_LANGUAGES => s.serialize_str(ALL_LANGUAGES),
        _ => list.serialize(s),
    }
}

fn one_language<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    let code = String::deserialize(d)?;
    crate::data::lang::canonical(&code).map_err(serde::de::Error::custom)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StudentKind {
    #[default]
    Subword,
    Static,
    Transformer,
}

impl StudentConfig {
    /// How a new subword student of this config cuts text into words.
    pub fn word_rules(&self) -> WordRules {
        WordRules {
            lowercase: self.lowercase,
            marks: self.marks,
            fold_arabic: self.fold_arabic,
            unspaced_letters: self.unspaced_letters,
        }
    }
}

impl Default for StudentConfig {
    fn default() -> Self {
        StudentConfig {
            kind: StudentKind::Subword,
            dim: None,
            buckets: 200_000,
            minn: 3,
            maxn: 6,
            lowercase: true,
            marks: Marks::All,
            fold_arabic: false,
            unspaced_letters: UnspacedLetters::Chars,
            word_ngrams: 1,
            min_count: 2,
            max_words: 100_000,
            center_targets: false,
            sif_coefficient: 1e-4,
            max_tokens: 50_000,
        }
    }
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            tatoeba: [
                "deu", "fra", "spa", "ita", "nld", "por", "rus", "pol", "tur", "jpn", "cmn", "ara",
            ]
            .map(String::from)
            .to_vec(),
            tatoeba_trained: true,
            sts17: true,
            stsb: true,
            random_target_control: true,
            speed_seconds: 3.0,
            speed_threads: 1,
            speed_batch: 32,
        }
    }
}

impl Config {
    /// Reads a config file; `extends = "base.toml"` (relative to this file) starts from another
    /// config, so an experiment states only what differs.
    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::error::read_to_string(path)?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let Some(base) = extends_of(text, path)? else {
            return from_toml_text(text, path);
        };
        // The file alone is checked first, so a typo is reported at its own line.
        from_toml_text(&without_extends_line(text), path)?;
        let mut chain = vec![path.to_path_buf()];
        let mut table = load_table(&base, &mut chain)?;
        merge(&mut table, parse_table(text, path)?);
        table.remove("extends");
        table.try_into().map_err(|e: toml::de::Error| {
            let chain: Vec<String> = chain.iter().map(|p| p.display().to_string()).collect();
            Error::invalid(
                path,
                format!(
                    "{} (in the config merged from {})",
                    e.message(),
                    chain.join(" ← ")
                ),
            )
        })
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }
}

fn from_toml_text(text: &str, path: &Path) -> Result<Config> {
    toml::from_str(text).map_err(|e| toml_error(text, path, e))
}

fn parse_table(text: &str, path: &Path) -> Result<toml::Table> {
    text.parse::<toml::Table>()
        .map_err(|e| toml_error(text, path, e))
}

fn toml_error(text: &str, path: &Path, e: toml::de::Error) -> Error {
    let line = e.span().map_or(0, |s| {
        text[..s.start.min(text.len())].matches('\n').count() + 1
    });
    Error::parse(path, line, e.message().to_string())
}

/// The file named by the top-level `extends` key, relative to `path`'s directory.
fn extends_of(text: &str, path: &Path) -> Result<Option<PathBuf>> {
    let table = parse_table(text, path)?;
    match table.get("extends") {
        None => Ok(None),
        Some(toml::Value::String(name)) => {
            let dir = path.parent().unwrap_or(Path::new(""));
            Ok(Some(dir.join(name)))
        }
        Some(other) => Err(Error::invalid(
            path,
            format!("extends must be a file name in quotes, got {other}"),
        )),
    }
}

/// `text` with its `extends = …` line blanked, so line numbers stay those of the file.
fn without_extends_line(text: &str) -> String {
    let mut in_table = false;
    let lines = text.lines().map(|line| {
        let trimmed = line.trim_start();
        in_table |= trimmed.starts_with('[');
        let key = trimmed.split('=').next().unwrap_or("").trim();
        if !in_table && key == "extends" {
            ""
        } else {
            line
        }
    });
    lines.collect::<Vec<_>>().join("\n")
}

/// The merged table of `path` and every config it extends, base first.
fn load_table(path: &Path, chain: &mut Vec<PathBuf>) -> Result<toml::Table> {
    let id = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let seen = chain
        .iter()
        .any(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()) == id);
    chain.push(path.to_path_buf());
    if seen {
        let names: Vec<String> = chain.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::invalid(
            path,
            format!("configs extend each other in a loop: {}", names.join(" → ")),
        ));
    }
    let text = crate::error::read_to_string(path)?;
    let own = parse_table(&text, path)?;
    match extends_of(&text, path)? {
        None => Ok(own),
        Some(base) => {
            let mut table = load_table(&base, chain)?;
            merge(&mut table, own);
            Ok(table)
        }
    }
}

/// Overlays `top` on `base`: tables merge key by key, any other value (arrays too) replaces.
fn merge(base: &mut toml::Table, top: toml::Table) {
    for (key, value) in top {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t)) => merge(b, t),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_gaps_and_typos_are_refused_with_a_line() {
        let cfg = Config::parse(
            "run_dir = \"x\"\n[train]\nepochs = 2\n",
            Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(cfg.train.epochs, 2);
        assert_eq!(cfg.train.batch_size, TrainConfig::default().batch_size);
        assert_eq!(cfg.corpus.languages.len(), 12);
        let err = Config::parse("[train]\nepochs = 2\nepoch = 3\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("c.toml:3:") && err.contains("epoch"),
            "{err}"
        );
        let err = Config::parse("[train]\nepochs = \"two\"\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml:2:"), "{err}");
        let round = Config::parse(&cfg.to_toml(), Path::new("c.toml")).unwrap();
        assert_eq!(round.train, cfg.train);
        let t = Config::parse(
            "[student]\nkind = \"transformer\"\n[transformer]\nlayers = [0, 3]\n",
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(t.student.kind, StudentKind::Transformer);
        assert_eq!(t.transformer.layers, vec![0, 3]);
        assert_eq!(
            Config::parse(&t.to_toml(), Path::new("t.toml"))
                .unwrap()
                .transformer,
            t.transformer
        );
        let err = Config::parse("[student]\nkind = \"lstm\"\n", Path::new("k.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("k.toml:2:") && err.contains("lstm"),
            "{err}"
        );
    }

    #[test]
    fn a_config_extends_another_and_states_only_what_differs() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.toml");
        std::fs::write(
            &base,
            "run_dir = \"runs/base\"\n[train]\nepochs = 4\nlr = 0.5\n[corpus]\nlanguages = [\"de\", \"fr\"]\n",
        )
        .unwrap();
        let child = dir.path().join("child.toml");
        std::fs::write(
            &child,
            "extends = \"base.toml\"\nrun_dir = \"runs/child\"\n[train]\nepochs = 8\n[corpus]\nlanguages = [\"ja\"]\n",
        )
        .unwrap();
        let cfg = Config::load(&child).unwrap();
        assert_eq!(cfg.run_dir, PathBuf::from("runs/child"));
        assert_eq!(cfg.train.epochs, 8);
        assert_eq!(cfg.train.lr, 0.5, "kept from the base");
        assert_eq!(
            cfg.corpus.languages,
            vec!["ja"],
            "arrays replace, never append"
        );
        // A typo in the child is reported at its own line.
        std::fs::write(&child, "extends = \"base.toml\"\n[train]\nepoch = 8\n").unwrap();
        let err = Config::load(&child).unwrap_err().to_string();
        assert!(
            err.contains("child.toml:3:") && err.contains("epoch"),
            "{err}"
        );
        // A loop is named, not followed forever.
        std::fs::write(&base, "extends = \"child.toml\"\n").unwrap();
        std::fs::write(&child, "extends = \"base.toml\"\n").unwrap();
        let err = Config::load(&child).unwrap_err().to_string();
        assert!(err.contains("loop"), "{err}");
        // A missing base is named.
        std::fs::write(&child, "extends = \"gone.toml\"\n").unwrap();
        let err = Config::load(&child).unwrap_err().to_string();
        assert!(err.contains("gone.toml"), "{err}");
    }

    #[test]
    fn the_teacher_device_is_read_and_a_wrong_one_named() {
        let cfg = Config::parse("[teacher]\ndevice = \"cuda:1\"\n", Path::new("t.toml")).unwrap();
        assert_eq!(cfg.teacher.device, crate::teacher::TeacherDevice::Cuda(1));
        assert_eq!(
            Config::default().teacher.device,
            crate::teacher::TeacherDevice::Cpu
        );
        let err = Config::parse("[teacher]\ndevice = \"cuda-1\"\n", Path::new("t.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t.toml") && err.contains("expected cpu, cuda or cuda:N"),
            "{err}"
        );
    }

    #[test]
    fn corpus_keys_take_user_files_and_any_spelling_of_a_language() {
        let cfg = Config::parse(
            "[corpus]\nlanguages = \"all\"\npivot = \"eng\"\nparallel = [\"opus/*.tmx.gz\", { path = \"m.tsv\", languages = [\"en\", \"pt-BR\"] }]\nmonolingual = [\"news/*.txt.zst\"]\n",
            Path::new("u.toml"),
        )
        .unwrap();
        assert!(cfg.corpus.all_languages());
        assert_eq!(cfg.corpus.pivot, "en");
        assert_eq!(cfg.corpus.parallel[0], SourceSpec::from("opus/*.tmx.gz"));
        assert_eq!(cfg.corpus.parallel[1].languages().unwrap(), ["en", "pt"]);
        assert_eq!(cfg.corpus.monolingual.len(), 1);
        let round = Config::parse(&cfg.to_toml(), Path::new("u.toml")).unwrap();
        assert!(round.corpus.all_languages());
        assert_eq!(round.corpus.parallel, cfg.corpus.parallel);
        let cfg = Config::parse(
            "[corpus]\nlanguages = [\"zh-Hans\", \"deu\", \"cmn\"]\n",
            Path::new("l.toml"),
        )
        .unwrap();
        assert_eq!(cfg.corpus.languages, ["zh", "de"]);
        let err = Config::parse(
            "[corpus]\nlanguages = [\"de\", \"klingon\"]\n",
            Path::new("l.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("l.toml:2:") && err.contains("`klingon`"),
            "{err}"
        );
        let err = Config::parse("[corpus]\nlanguages = \"some\"\n", Path::new("l.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"all\" or a list"), "{err}");
        assert_eq!(parse_languages("de, fr,de").unwrap(), ["de", "fr"]);
        assert!(parse_languages("de,xx").unwrap_err().contains("`xx`"));
    }

    #[test]
    fn every_shipped_config_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
        }
        assert!(n >= 10, "only {n} configs in {}", dir.display());
    }
}
