//! Building the parallel corpus from real human translations:
//! gettext catalogs (`<root>/<locale>/LC_MESSAGES/*.mo`, msgid English → msgstr) and LibreOffice's
//! help pages (`<help>/<lang>/text/**.html`, aligned with `<help>/en-US/…` by paragraph id).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::clean::{clean_pair, Drop, Limits};
use super::dedup::{key, DiskDedup};
use super::lang::language_of_locale;
use super::testsets::TestSetIndex;
use super::user::{self, SourceSpec};
use super::{help, mo, Pair};
use crate::{Error, Result};

/// Where the raw translations are.
#[derive(Debug, Clone)]
pub struct CorpusSources {
    /// Folders laid out as `<locale>/LC_MESSAGES/*.mo`.
    pub gettext_roots: Vec<PathBuf>,
    /// LibreOffice help root holding `en-US/` and one folder per language.
    pub help_root: Option<PathBuf>,
    /// Folders holding FreeDict dictd files (`freedict-deu-eng.index` + `.dict.dz`).
    pub dictionary_dirs: Vec<PathBuf>,
    /// The user's parallel files (TSV, Moses, TMX, JSON lines), as globs.
    pub parallel: Vec<SourceSpec>,
    /// The user's monolingual text files, as globs.
    pub monolingual: Vec<SourceSpec>,
}

#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Canonical codes (see [`super::lang::canonical`]); ignored when `all_languages`.
    pub languages: Vec<String>,
    /// Every language the sources hold (but the pivot).
    pub all_languages: bool,
    /// The language every pair translates from (`Pair::en` holds its text): English by default.
    pub pivot: String,
    pub limits: Limits,
    /// Pairs whose English text hashes below this (out of 1000) go to the dev split.
    pub dev_permille: u32,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct LangReport {
    pub train: usize,
    pub dev: usize,
    /// Kept pairs by source (before de-duplication across sources).
    pub kept_by_source: BTreeMap<String, usize>,
    pub dropped: BTreeMap<Drop, usize>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct MonolingualReport {
    pub train: usize,
    pub dev: usize,
    pub dropped: BTreeMap<Drop, usize>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct BuildReport {
    pub languages: BTreeMap<String, LangReport>,
    pub catalogs_read: usize,
    /// One checksum over every catalog read ([`super::provenance::digest`]): equal on two
    /// machines that read the same catalogs.
    pub catalogs_digest: String,
    /// Each catalog read, with its checksum and, for the system's, its Debian package.
    pub catalogs: Vec<super::provenance::CatalogUsed>,
    pub help_pages_read: usize,
    pub dictionaries_read: usize,
    /// The user's files read, in order.
    pub user_files_read: Vec<String>,
    /// The pivot language the pairs translate from.
    pub pivot: String,
    /// Pairs (and monolingual lines) in languages the config does not select, per language.
    pub not_selected: BTreeMap<String, usize>,
    /// Languages found (`languages = "all"`) with fewer training pairs than the run's
    /// `min_pairs_per_language`, and their count: left out of training.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub too_few_pairs: BTreeMap<String, usize>,
    /// Monolingual text per language: kept for training, held out, dropped by reason.
    pub monolingual: BTreeMap<String, MonolingualReport>,
    /// Files that could not be used, with the reason: reported, never silently lost.
    pub skipped_files: Vec<String>,
    pub unique_english_train: usize,
}

/// The corpus: per language, train and dev pairs.
#[derive(Debug, Default, Clone)]
pub struct Corpus {
    pub train: BTreeMap<String, Vec<Pair>>,
    pub dev: BTreeMap<String, Vec<Pair>>,
    /// Monolingual texts for training (every language), learnt directly.
    pub monolingual: Vec<String>,
}

/// A corpus just built: its files, the monolingual texts (all labelled, so held in memory) and
/// the report.
pub struct Built {
    pub files: CorpusFiles,
    pub monolingual: Vec<String>,
    pub report: BuildReport,
}

/// Builds the corpus into `dir`: `train/<lang>.tsv`, `dev/<lang>.tsv`, `report.json` and
/// `checksums.json` (xxh3-64 of each TSV, checked by [`CorpusFiles::open`]). Pairs stream through
/// cleaning and filtering to a spool file and are de-duplicated on disk ([`DiskDedup`]), so memory
/// does not grow with the corpus. Each file appears complete at its final path or not at all.
pub fn build_corpus_into(
    dir: &Path,
    sources: &CorpusSources,
    options: &BuildOptions,
    tests: &TestSetIndex,
) -> Result<Built> {
    let wanted = Wanted::of(options);
    let mut builder = Assembler::new(dir, options, tests)?;
    for root in &sources.gettext_roots {
        gettext_candidates(root, &wanted, &mut builder)?;
    }
    let catalogs = &mut builder.report.catalogs;
    super::provenance::add_owners(catalogs, Path::new("/var/lib/dpkg"));
    builder.report.catalogs_digest = super::provenance::digest(catalogs);
    if let Some(root) = &sources.help_root {
        help_candidates(root, &wanted, &mut builder)?;
    }
    for dir in &sources.dictionary_dirs {
        dictionary_candidates(dir, &wanted, &mut builder)?;
    }
    for spec in &sources.parallel {
        let source = spec.pattern().to_string();
        let read = user::read_parallel(spec, &options.pivot, &mut |lang, en, xx| {
            builder.offer(lang, &source, en, xx)
        })?;
        builder
            .report
            .user_files_read
            .extend(read.iter().map(|p| p.display().to_string()));
    }
    for spec in &sources.monolingual {
        let read = user::read_monolingual(spec, &mut |lang, text| {
            builder.offer_text(lang, text);
            Ok(())
        })?;
        builder
            .report
            .user_files_read
            .extend(read.iter().map(|p| p.display().to_string()));
    }
    builder.finish(sources)
}

/// [`build_corpus_into`] a temporary folder, read back into memory: for small corpora and tests.
pub fn build_corpus(
    sources: &CorpusSources,
    options: &BuildOptions,
    tests: &TestSetIndex,
) -> Result<(Corpus, BuildReport)> {
    let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let built = build_corpus_into(tmp.path(), sources, options, tests)?;
    let corpus = Corpus {
        train: built.files.read(Split::Train)?,
        dev: built.files.read(Split::Dev)?,
        monolingual: built.monolingual,
    };
    Ok((corpus, built.report))
}

/// The languages a build takes: the configured list, or with `all` every language but the pivot.
pub struct Wanted {
    all: bool,
    pivot: String,
    list: HashSet<String>,
}

impl Wanted {
    pub fn of(options: &BuildOptions) -> Self {
        Wanted {
            all: options.all_languages,
            pivot: options.pivot.clone(),
            list: options.languages.iter().cloned().collect(),
        }
    }

    pub fn contains(&self, lang: &str) -> bool {
        match self.all {
            true => lang != self.pivot && super::lang::canonical(lang).is_ok(),
            false => self.list.contains(lang),
        }
    }
}

/// Cleans and filters candidates one at a time, counting every drop, and spools the kept ones
/// to disk in arrival order; [`Assembler::finish`] drops the repeats and splits the rest.
struct Assembler<'a> {
    options: &'a BuildOptions,
    tests: &'a TestSetIndex,
    wanted: Wanted,
    report: BuildReport,
    dir: PathBuf,
    /// `lang<TAB>en<TAB>xx` lines (cleaned texts hold no tab or line break).
    spool: BufWriter<tempfile::NamedTempFile>,
    pairs: DiskDedup,
    monolingual: Vec<String>,
    /// Keys of the monolingual texts kept (they are held in memory anyway).
    seen_texts: HashSet<u128>,
}

impl<'a> Assembler<'a> {
    fn new(dir: &Path, options: &'a BuildOptions, tests: &'a TestSetIndex) -> Result<Self> {
        let mut report = BuildReport {
            pivot: options.pivot.clone(),
            ..BuildReport::default()
        };
        for lang in &options.languages {
            report.languages.entry(lang.clone()).or_default();
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        remove_leftovers(dir)?;
        let spool = tempfile::Builder::new()
            .prefix(SPOOL_PREFIX)
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir, e))?;
        Ok(Assembler {
            options,
            tests,
            wanted: Wanted::of(options),
            report,
            dir: dir.to_path_buf(),
            spool: BufWriter::with_capacity(1 << 20, spool),
            pairs: DiskDedup::new(dir)?,
            monolingual: Vec::new(),
            seen_texts: HashSet::new(),
        })
    }

    fn offer(&mut self, lang: &str, source: &str, en: &str, xx: &str) -> Result<()> {
        if !self.wanted.contains(lang) {
            *self
                .report
                .not_selected
                .entry(lang.to_string())
                .or_default() += 1;
            return Ok(());
        }
        let lang_report = self.report.languages.entry(lang.to_string()).or_default();
        let (en, xx) = match clean_pair(en, xx, lang, self.options.limits) {
            Ok(pair) => pair,
            Err(why) => {
                *lang_report.dropped.entry(why).or_default() += 1;
                return Ok(());
            }
        };
        if self.tests.contains(&en) || self.tests.contains(&xx) {
            *lang_report.dropped.entry(Drop::InTestSet).or_default() += 1;
            return Ok(());
        }
        *lang_report
            .kept_by_source
            .entry(source.to_string())
            .or_default() += 1;
        self.pairs.push(key(&[lang, &en, &xx]))?;
        writeln!(self.spool, "{lang}\t{en}\t{xx}").map_err(|e| Error::io(&self.dir, e))
    }

    /// A monolingual text: cleaned like the English-only sentences, learnt directly.
    fn offer_text(&mut self, lang: &str, text: &str) {
        if !self.wanted.contains(lang) && lang != self.options.pivot {
            *self
                .report
                .not_selected
                .entry(lang.to_string())
                .or_default() += 1;
            return;
        }
        let report = self.report.monolingual.entry(lang.to_string()).or_default();
        let text = text.replace(char::is_control, " ");
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let n = text.chars().count();
        let limits = self.options.limits;
        let dropped = if n < limits.min_chars {
            Some(Drop::TooShort)
        } else if n > limits.max_chars {
            Some(Drop::TooLong)
        } else if !text.chars().any(char::is_alphabetic) {
            Some(Drop::NoLetters)
        } else if !super::lang::has_expected_script(&text, lang) {
            Some(Drop::WrongScript)
        } else if self.tests.contains(&text) {
            Some(Drop::InTestSet)
        } else if !self.seen_texts.insert(key(&["", lang, &text])) {
            Some(Drop::Duplicate)
        } else {
            None
        };
        if let Some(why) = dropped {
            *report.dropped.entry(why).or_default() += 1;
        } else if is_dev(&text, self.options.dev_permille) {
            report.dev += 1;
        } else {
            report.train += 1;
            self.monolingual.push(text);
        }
    }

    fn finish(self, sources: &CorpusSources) -> Result<Built> {
        let Assembler {
            options,
            mut report,
            dir,
            spool,
            pairs,
            monolingual,
            ..
        } = self;
        let spool = spool
            .into_inner()
            .map_err(|e| Error::io(&dir, e.into_error()))?;
        let repeats = pairs.finish()?;
        let mut out = SplitWriters::new(&dir)?;
        let reader =
            BufReader::with_capacity(1 << 20, spool.reopen().map_err(|e| Error::io(&dir, e))?);
        for (position, line) in reader.lines().enumerate() {
            let line = line.map_err(|e| Error::io(spool.path(), e))?;
            let mut fields = line.splitn(3, '\t');
            let (Some(lang), Some(en), Some(xx)) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(Error::parse(
                    spool.path(),
                    position + 1,
                    "spool line is not lang<TAB>en<TAB>xx",
                ));
            };
            if repeats.is_repeat(position as u64) {
                let lang_report = report.languages.entry(lang.to_string()).or_default();
                *lang_report.dropped.entry(Drop::Duplicate).or_default() += 1;
                continue;
            }
            let split = match is_dev(en, options.dev_permille) {
                true => Split::Dev,
                false => Split::Train,
            };
            out.write(split, lang, en, xx)?;
        }
        for (lang, r) in report.languages.iter_mut() {
            r.train = out.count(Split::Train, lang);
            r.dev = out.count(Split::Dev, lang);
        }
        if out.is_empty() && monolingual.is_empty() {
            return Err(empty_corpus(options, sources, &report));
        }
        let files = out.commit(&mut report)?;
        Ok(Built {
            files,
            monolingual,
            report,
        })
    }
}

/// The spool's name starts so, beside the corpus it becomes.
const SPOOL_PREFIX: &str = ".spool.";

/// A build killed before it finished (kill -9, Ctrl-C) leaves its spool and buckets behind;
/// the next build into the same folder removes them.
fn remove_leftovers(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(SPOOL_PREFIX) || name.starts_with(super::dedup::BUCKETS_PREFIX) {
            let path = entry.path();
            tracing::info!("removing {} left by an unfinished build", path.display());
            let removed = match path.is_dir() {
                true => std::fs::remove_dir_all(&path),
                false => std::fs::remove_file(&path),
            };
            removed.map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

fn empty_corpus(options: &BuildOptions, sources: &CorpusSources, report: &BuildReport) -> Error {
    let languages = match options.all_languages {
        true => "all".to_string(),
        false => format!("{:?}", options.languages),
    };
    Error::msg(format!(
        "the corpus is empty: no usable pairs for languages {languages} in {:?} / {:?} / \
         {:?}{}",
        sources.gettext_roots,
        sources.help_root,
        sources
            .parallel
            .iter()
            .map(|s| s.pattern())
            .collect::<Vec<_>>(),
        match report.not_selected.is_empty() {
            true => String::new(),
            false => format!(
                " (the sources hold other languages: {:?})",
                report.not_selected
            ),
        }
    ))
}

/// Train or dev.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Split {
    Train,
    Dev,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
        }
    }

    fn file(self, lang: &str) -> String {
        format!("{}/{lang}.tsv", self.name())
    }
}

/// One `<split>/<lang>.tsv` being written, with its running checksum.
struct SplitFile {
    file: crate::io::AtomicFile,
    hasher: xxhash_rust::xxh3::Xxh3,
    pairs: usize,
}

/// The corpus files of a build, opened as their first pair arrives.
struct SplitWriters {
    dir: PathBuf,
    files: BTreeMap<(Split, String), SplitFile>,
    /// The distinct English texts of the train split, found on disk too.
    english: DiskDedup,
}

impl SplitWriters {
    fn new(dir: &Path) -> Result<Self> {
        Ok(SplitWriters {
            dir: dir.to_path_buf(),
            files: BTreeMap::new(),
            english: DiskDedup::new(dir)?,
        })
    }

    fn write(&mut self, split: Split, lang: &str, en: &str, xx: &str) -> Result<()> {
        let out = match self.files.entry((split, lang.to_string())) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let path = self.dir.join(split.file(lang));
                e.insert(SplitFile {
                    file: crate::io::AtomicFile::create_buffered(&path, &[], 1 << 16)?,
                    hasher: xxhash_rust::xxh3::Xxh3::new(),
                    pairs: 0,
                })
            }
        };
        for part in [en.as_bytes(), b"\t", xx.as_bytes(), b"\n"] {
            out.file.write_all(part).map_err(|e| out.file.error(e))?;
            out.hasher.update(part);
        }
        out.pairs += 1;
        if split == Split::Train {
            self.english.push(key(&[en]))?;
        }
        Ok(())
    }

    fn count(&self, split: Split, lang: &str) -> usize {
        self.files
            .get(&(split, lang.to_string()))
            .map_or(0, |f| f.pairs)
    }

    fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Moves every file to its final path, counts the distinct English texts of train into
    /// `report`, then writes `checksums.json` and `report.json`.
    fn commit(self, report: &mut BuildReport) -> Result<CorpusFiles> {
        let mut sums = BTreeMap::new();
        let (mut train, mut dev) = (Vec::new(), Vec::new());
        for ((split, lang), out) in self.files {
            sums.insert(split.file(&lang), format!("{:016x}", out.hasher.digest()));
            out.file.commit()?;
            match split {
                Split::Train => train.push(lang),
                Split::Dev => dev.push(lang),
            }
        }
        report.unique_english_train = self.english.finish()?.distinct() as usize;
        let json = serde_json::to_vec_pretty(report).expect("report serialises");
        crate::io::write_atomic(self.dir.join("report.json"), &json)?;
        let json = serde_json::to_vec_pretty(&sums).expect("checksums serialise");
        crate::io::write_atomic(self.dir.join(CHECKSUMS), &json)?;
        Ok(CorpusFiles {
            dir: self.dir,
            train,
            dev,
        })
    }
}

/// The split is decided by the English text alone, so one English sentence is never in both
/// train and dev through different languages.
pub fn is_dev(en: &str, dev_permille: u32) -> bool {
    (xxhash_rust::xxh3::xxh3_64(en.as_bytes()) % 1000) < dev_permille as u64
}

fn sorted_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    paths.sort();
    Ok(paths)
}

fn gettext_candidates(root: &Path, wanted: &Wanted, builder: &mut Assembler) -> Result<()> {
    if !root.is_dir() {
        return Err(Error::invalid(root, "gettext root not found (expected <locale>/LC_MESSAGES/*.mo below it; run scripts/fetch-assets.sh corpus)"));
    }
    let source = root.display().to_string();
    for locale_dir in sorted_dir(root)? {
        let Some(locale) = locale_dir.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let lang = language_of_locale(locale);
        let messages = locale_dir.join("LC_MESSAGES");
        if !wanted.contains(&lang) || !messages.is_dir() {
            continue;
        }
        for file in sorted_dir(&messages)?
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "mo"))
        {
            let parsed =
                crate::error::read(&file).and_then(|bytes| Ok((mo::parse(&bytes, &file)?, bytes)));
            let (entries, bytes) = match parsed {
                Ok(read) => read,
                Err(e) => {
                    builder.report.skipped_files.push(e.to_string());
                    continue;
                }
            };
            builder.report.catalogs_read += 1;
            let used = super::provenance::CatalogUsed::new(&file, &bytes);
            builder.report.catalogs.push(used);
            for e in entries {
                builder.offer(&lang, &source, &e.msgid, &e.msgstr)?;
            }
        }
    }
    Ok(())
}

fn html_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for path in sorted_dir(dir)? {
        if path.is_dir() {
            html_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "html") {
            out.push(path);
        }
    }
    Ok(())
}

/// Paragraphs whose id occurs once on the page (repeated ids cannot be aligned safely).
fn unique_paragraphs(html: &str) -> HashMap<String, String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let paragraphs = help::paragraphs(html);
    for (id, _) in &paragraphs {
        *counts.entry(id.clone()).or_default() += 1;
    }
    paragraphs
        .into_iter()
        .filter(|(id, _)| counts[id] == 1)
        .collect()
}

fn help_candidates(root: &Path, wanted: &Wanted, builder: &mut Assembler) -> Result<()> {
    let english_root = root.join("en-US");
    if !english_root.is_dir() {
        return Err(Error::invalid(
            root,
            "help root has no en-US/ folder to align against (run scripts/fetch-assets.sh corpus)",
        ));
    }
    let mut pages = Vec::new();
    html_files(&english_root, &mut pages)?;
    let relative: Vec<PathBuf> = pages
        .iter()
        .map(|p| p.strip_prefix(&english_root).unwrap().to_path_buf())
        .collect();
    let english: Vec<HashMap<String, String>> = pages
        .par_iter()
        .map(|p| crate::error::read(p).map(|b| unique_paragraphs(&String::from_utf8_lossy(&b))))
        .collect::<Result<_>>()?;
    builder.report.help_pages_read += pages.len();
    let source = root.display().to_string();
    for lang_dir in sorted_dir(root)? {
        let Some(name) = lang_dir.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let lang = language_of_locale(name);
        if name == "en-US" || !wanted.contains(&lang) || !lang_dir.join("text").is_dir() {
            continue;
        }
        let found: Vec<Vec<(String, String)>> = relative
            .par_iter()
            .zip(&english)
            .map(|(rel, en_paragraphs)| {
                let Ok(bytes) = std::fs::read(lang_dir.join(rel)) else {
                    return Vec::new();
                };
                let Ok(html) = String::from_utf8(bytes) else {
                    return Vec::new();
                };
                let translated = unique_paragraphs(&html);
                let mut ids: Vec<&String> = en_paragraphs
                    .keys()
                    .filter(|id| translated.contains_key(*id))
                    .collect();
                ids.sort();
                ids.into_iter()
                    .map(|id| (en_paragraphs[id].clone(), translated[id].clone()))
                    .collect()
            })
            .collect();
        builder.report.help_pages_read += found.iter().filter(|f| !f.is_empty()).count();
        for (en, xx) in found.into_iter().flatten() {
            builder.offer(&lang, &source, &en, &xx)?;
        }
    }
    Ok(())
}

fn dictionary_candidates(dir: &Path, wanted: &Wanted, builder: &mut Assembler) -> Result<()> {
    if !dir.is_dir() {
        return Err(Error::invalid(dir, "dictionary folder not found (expected freedict-*.index files; run scripts/fetch-assets.sh corpus)"));
    }
    let files: Vec<(PathBuf, String, bool)> = sorted_dir(dir)?
        .into_iter()
        .filter_map(|p| {
            let (lang, english_headwords) = super::dictd::languages_of(p.file_name()?.to_str()?)?;
            wanted
                .contains(lang.as_str())
                .then_some((p, lang, english_headwords))
        })
        .collect();
    let read: Vec<Result<Vec<super::dictd::Entry>>> = files
        .par_iter()
        .map(|(p, _, _)| super::dictd::read(p))
        .collect();
    for ((path, lang, english_headwords), entries) in files.iter().zip(read) {
        let entries = match entries {
            Ok(e) => e,
            Err(e) => {
                builder.report.skipped_files.push(e.to_string());
                continue;
            }
        };
        builder.report.dictionaries_read += 1;
        let source = path.display().to_string();
        for entry in entries {
            for form in &entry.forms {
                for translation in &entry.translations {
                    let (en, xx) = if *english_headwords {
                        (form, translation)
                    } else {
                        (translation, form)
                    };
                    builder.offer(lang, &source, en, xx)?;
                }
            }
        }
    }
    Ok(())
}

/// English-only sentences (WordNet usage examples first, then definitions), cleaned, with test
/// sentences removed, split like the pairs; at most `max` for training.
pub fn english_sentences(
    wordnet_dir: &Path,
    tests: &TestSetIndex,
    limits: Limits,
    dev_permille: u32,
    max: usize,
) -> Result<(Vec<String>, Vec<String>)> {
    let glosses = super::wordnet::read_dir(wordnet_dir)?;
    let mut seen = HashSet::new();
    let (mut train, mut dev) = (Vec::new(), Vec::new());
    for text in glosses.examples.iter().chain(&glosses.definitions) {
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let n = text.chars().count();
        if n < limits.min_chars.max(8)
            || n > limits.max_chars
            || tests.contains(&text)
            || !seen.insert(text.clone())
        {
            continue;
        }
        if is_dev(&text, dev_permille) {
            dev.push(text);
        } else if train.len() < max {
            train.push(text);
        }
    }
    Ok((train, dev))
}

const CHECKSUMS: &str = "checksums.json";

/// xxh3-64 of a file's bytes, read in blocks.
fn file_checksum(path: &Path) -> Result<String> {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    crate::io::for_each_block(path, &mut |block| hasher.update(block))?;
    Ok(format!("{:016x}", hasher.digest()))
}

/// A corpus as [`build_corpus_into`] wrote it, read one language file at a time.
pub struct CorpusFiles {
    dir: PathBuf,
    train: Vec<String>,
    dev: Vec<String>,
}

impl CorpusFiles {
    /// The corpus at `dir` with the languages `report` gives pairs to. Every file is checked
    /// against `checksums.json` first: a missing, truncated or edited file is refused by name.
    pub fn open(dir: &Path, report: &BuildReport) -> Result<Self> {
        let with = |count: fn(&LangReport) -> usize| -> Vec<String> {
            let languages = report.languages.iter();
            languages
                .filter(|(_, r)| count(r) > 0)
                .map(|(l, _)| l.clone())
                .collect()
        };
        let files = CorpusFiles {
            dir: dir.to_path_buf(),
            train: with(|r| r.train),
            dev: with(|r| r.dev),
        };
        let sums_path = dir.join(CHECKSUMS);
        let sums: BTreeMap<String, String> = crate::error::read_json(&sums_path)?;
        for split in [Split::Train, Split::Dev] {
            for lang in files.languages(split) {
                let rel = split.file(lang);
                let path = dir.join(&rel);
                let got = file_checksum(&path)?;
                let want = sums.get(&rel).map_or("none", String::as_str);
                if got != want {
                    return Err(Error::invalid(
                        &path,
                        format!(
                            "checksum {got} does not match {want} in {}: the file was truncated, \
                             damaged or edited after the corpus was built",
                            sums_path.display()
                        ),
                    ));
                }
            }
        }
        Ok(files)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The languages with pairs in `split`.
    pub fn languages(&self, split: Split) -> &[String] {
        match split {
            Split::Train => &self.train,
            Split::Dev => &self.dev,
        }
    }

    /// Leaves out the languages `drop` names, from both splits.
    pub fn leave_out(&mut self, drop: &BTreeMap<String, usize>) {
        self.train.retain(|l| !drop.contains_key(l));
        self.dev.retain(|l| !drop.contains_key(l));
    }

    /// Streams the pairs of one language's file through `visit`.
    pub fn for_each(
        &self,
        split: Split,
        lang: &str,
        visit: &mut dyn FnMut(Pair) -> Result<()>,
    ) -> Result<()> {
        super::tsv::for_each_pair(&self.dir.join(split.file(lang)), visit)
    }

    /// Every pair of `split`, by language, in memory.
    pub fn read(&self, split: Split) -> Result<BTreeMap<String, Vec<Pair>>> {
        let mut out = BTreeMap::new();
        for lang in self.languages(split) {
            let mut pairs = Vec::new();
            self.for_each(split, lang, &mut |p| {
                pairs.push(p);
                Ok(())
            })?;
            out.insert(lang.clone(), pairs);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(root: &Path) {
        let de = root.join("gettext/de/LC_MESSAGES");
        std::fs::create_dir_all(&de).unwrap();
        std::fs::write(
            de.join("app.mo"),
            mo::write(&[
                ("", "Content-Type: text/plain; charset=UTF-8\n"),
                ("Open the document", "Das Dokument öffnen"),
                ("Copy %s", "%s kopieren"),
                ("OK", "OK"),
                ("I love you.", "Ich liebe dich."),
            ]),
        )
        .unwrap();
        std::fs::write(de.join("broken.mo"), b"garbage").unwrap();
        let ja = root.join("gettext/ja_JP/LC_MESSAGES");
        std::fs::create_dir_all(&ja).unwrap();
        std::fs::write(
            ja.join("app.mo"),
            mo::write(&[("Open the document", "文書を開く(_O)")]),
        )
        .unwrap();
        for (lang, text) in [
            ("en-US", "Choose a frame style."),
            ("de", "Wählen Sie einen Rahmenstil."),
            ("ja", "枠のスタイルを選択します。"),
        ] {
            let dir = root.join("help").join(lang).join("text/shared");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("page.html"),
                format!("<p id=\"par_1\" class=\"x\">{text}</p>"),
            )
            .unwrap();
        }
    }

    #[test]
    fn builds_cleans_splits_and_reports() {
        let dir = tempfile::tempdir().unwrap();
        fixture(dir.path());
        let sources = CorpusSources {
            gettext_roots: vec![dir.path().join("gettext")],
            help_root: Some(dir.path().join("help")),
            dictionary_dirs: vec![],
            parallel: vec![],
            monolingual: vec![],
        };
        let options = BuildOptions {
            languages: vec!["de".into(), "ja".into()],
            all_languages: false,
            pivot: "en".into(),
            limits: Limits {
                min_chars: 5,
                max_chars: 400,
            },
            dev_permille: 0,
        };
        let tests = TestSetIndex::from_texts(["i love you"]);
        let (corpus, report) = build_corpus(&sources, &options, &tests).unwrap();
        let de: Vec<&str> = corpus.train["de"].iter().map(|p| p.xx.as_str()).collect();
        assert_eq!(
            de,
            vec!["Das Dokument öffnen", "Wählen Sie einen Rahmenstil."]
        );
        let ja: Vec<&str> = corpus.train["ja"].iter().map(|p| p.xx.as_str()).collect();
        assert_eq!(ja, vec!["文書を開く", "枠のスタイルを選択します。"]);
        let dropped = &report.languages["de"].dropped;
        assert_eq!(dropped[&Drop::Placeholder], 1);
        assert_eq!(dropped[&Drop::InTestSet], 1);
        assert_eq!(dropped[&Drop::Untranslated], 1);
        assert_eq!(report.skipped_files.len(), 1);
        assert!(report.skipped_files[0].contains("broken.mo"));
        // The catalogs read are listed with their checksums (the broken one is not read).
        let read: Vec<&str> = report.catalogs.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(read.len(), 2, "{read:?}");
        assert!(read.iter().all(|p| p.ends_with("app.mo")), "{read:?}");
        assert_eq!(report.catalogs_digest.len(), 16);
        assert_eq!(report.unique_english_train, 2);

        let out = dir.path().join("corpus");
        // What a killed build leaves behind is removed by the next one.
        std::fs::create_dir_all(out.join(".buckets.x1")).unwrap();
        std::fs::write(out.join(".spool.x2"), "de\tleft\tover\n").unwrap();
        build_corpus_into(&out, &sources, &options, &tests).unwrap();
        let back = CorpusFiles::open(&out, &report).unwrap();
        assert_eq!(back.read(Split::Train).unwrap()["de"], corpus.train["de"]);
        // Nothing but the corpus is left in its folder (no spool, no buckets).
        let mut names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["checksums.json", "report.json", "train"]);
        // A truncated file is refused by name.
        let de = out.join("train/de.tsv");
        let text = std::fs::read(&de).unwrap();
        std::fs::write(&de, &text[..text.len() - 3]).unwrap();
        let err = CorpusFiles::open(&out, &report).err().unwrap().to_string();
        assert!(err.contains("de.tsv") && err.contains("checksum"), "{err}");
    }

    #[test]
    fn an_empty_corpus_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fixture(dir.path());
        let sources = CorpusSources {
            gettext_roots: vec![dir.path().join("gettext")],
            help_root: None,
            dictionary_dirs: vec![],
            parallel: vec![],
            monolingual: vec![],
        };
        let options = BuildOptions {
            languages: vec!["fr".into()],
            all_languages: false,
            pivot: "en".into(),
            limits: Limits {
                min_chars: 5,
                max_chars: 400,
            },
            dev_permille: 0,
        };
        let err = build_corpus(&sources, &options, &TestSetIndex::default()).unwrap_err();
        assert!(err.to_string().contains("the corpus is empty"), "{err}");
    }
}
