//! Building the parallel corpus from real human translations:
//! gettext catalogs (`<root>/<locale>/LC_MESSAGES/*.mo`, msgid English → msgstr) and LibreOffice's
//! help pages (`<help>/<lang>/text/**.html`, aligned with `<help>/en-US/…` by paragraph id).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::clean::{clean_pair, Drop, Limits};
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
    pub help_pages_read: usize,
    pub dictionaries_read: usize,
    /// The user's files read, in order.
    pub user_files_read: Vec<String>,
    /// The pivot language the pairs translate from.
    pub pivot: String,
    /// Pairs (and monolingual lines) in languages the config does not select, per language.
    pub not_selected: BTreeMap<String, usize>,
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

struct Candidate {
    lang: String,
    source: String,
    en: String,
    xx: String,
}

pub fn build_corpus(
    sources: &CorpusSources,
    options: &BuildOptions,
    tests: &TestSetIndex,
) -> Result<(Corpus, BuildReport)> {
    let wanted = Wanted::of(options);
    let mut builder = Assembler::new(options, tests);
    let mut candidates = Vec::new();
    let report = &mut builder.report;
    for root in &sources.gettext_roots {
        gettext_candidates(root, &wanted, &mut candidates, report)?;
    }
    if let Some(root) = &sources.help_root {
        help_candidates(root, &wanted, &mut candidates, report)?;
    }
    for dir in &sources.dictionary_dirs {
        dictionary_candidates(dir, &wanted, &mut candidates, report)?;
    }
    for c in candidates {
        builder.offer(&c.lang, &c.source, &c.en, &c.xx);
    }
    for spec in &sources.parallel {
        let source = spec.pattern().to_string();
        let read = user::read_parallel(spec, &options.pivot, &mut |lang, en, xx| {
            builder.offer(lang, &source, en, xx);
            Ok(())
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

/// Cleans, filters, de-duplicates and splits candidates one at a time, counting every drop.
/// Duplicates are found by a 128-bit hash, so memory grows by 16 bytes per distinct pair, not
/// by the pair's text.
struct Assembler<'a> {
    options: &'a BuildOptions,
    tests: &'a TestSetIndex,
    wanted: Wanted,
    corpus: Corpus,
    report: BuildReport,
    seen: HashSet<u128>,
}

fn key(parts: &[&str]) -> u128 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update(&[0]);
    }
    hasher.digest128()
}

impl<'a> Assembler<'a> {
    fn new(options: &'a BuildOptions, tests: &'a TestSetIndex) -> Self {
        let mut report = BuildReport {
            pivot: options.pivot.clone(),
            ..BuildReport::default()
        };
        for lang in &options.languages {
            report.languages.entry(lang.clone()).or_default();
        }
        Assembler {
            options,
            tests,
            wanted: Wanted::of(options),
            corpus: Corpus::default(),
            report,
            seen: HashSet::new(),
        }
    }

    fn offer(&mut self, lang: &str, source: &str, en: &str, xx: &str) {
        if !self.wanted.contains(lang) {
            *self
                .report
                .not_selected
                .entry(lang.to_string())
                .or_default() += 1;
            return;
        }
        let lang_report = self.report.languages.entry(lang.to_string()).or_default();
        let (en, xx) = match clean_pair(en, xx, lang, self.options.limits) {
            Ok(pair) => pair,
            Err(why) => {
                *lang_report.dropped.entry(why).or_default() += 1;
                return;
            }
        };
        if self.tests.contains(&en) || self.tests.contains(&xx) {
            *lang_report.dropped.entry(Drop::InTestSet).or_default() += 1;
            return;
        }
        *lang_report
            .kept_by_source
            .entry(source.to_string())
            .or_default() += 1;
        if !self.seen.insert(key(&[lang, &en, &xx])) {
            *lang_report.dropped.entry(Drop::Duplicate).or_default() += 1;
            return;
        }
        let split = if is_dev(&en, self.options.dev_permille) {
            &mut self.corpus.dev
        } else {
            &mut self.corpus.train
        };
        split
            .entry(lang.to_string())
            .or_default()
            .push(Pair { en, xx });
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
        } else if !self.seen.insert(key(&["", lang, &text])) {
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
            self.corpus.monolingual.push(text);
        }
    }

    fn finish(self, sources: &CorpusSources) -> Result<(Corpus, BuildReport)> {
        let Assembler {
            options,
            corpus,
            mut report,
            ..
        } = self;
        for (lang, r) in report.languages.iter_mut() {
            r.train = corpus.train.get(lang).map_or(0, Vec::len);
            r.dev = corpus.dev.get(lang).map_or(0, Vec::len);
        }
        let english: HashSet<&str> = corpus
            .train
            .values()
            .flatten()
            .map(|p| p.en.as_str())
            .collect();
        report.unique_english_train = english.len();
        if corpus.train.values().all(Vec::is_empty) && corpus.monolingual.is_empty() {
            let languages = match options.all_languages {
                true => "all".to_string(),
                false => format!("{:?}", options.languages),
            };
            return Err(Error::msg(format!(
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
            )));
        }
        Ok((corpus, report))
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

fn gettext_candidates(
    root: &Path,
    wanted: &Wanted,
    out: &mut Vec<Candidate>,
    report: &mut BuildReport,
) -> Result<()> {
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
            let entries = match crate::error::read(&file).and_then(|bytes| mo::parse(&bytes, &file))
            {
                Ok(entries) => entries,
                Err(e) => {
                    report.skipped_files.push(e.to_string());
                    continue;
                }
            };
            report.catalogs_read += 1;
            out.extend(entries.into_iter().map(|e| Candidate {
                lang: lang.clone(),
                source: source.clone(),
                en: e.msgid,
                xx: e.msgstr,
            }));
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

fn help_candidates(
    root: &Path,
    wanted: &Wanted,
    out: &mut Vec<Candidate>,
    report: &mut BuildReport,
) -> Result<()> {
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
    report.help_pages_read += pages.len();
    let source = root.display().to_string();
    for lang_dir in sorted_dir(root)? {
        let Some(name) = lang_dir.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let lang = language_of_locale(name);
        if name == "en-US" || !wanted.contains(&lang) || !lang_dir.join("text").is_dir() {
            continue;
        }
        let found: Vec<Vec<Candidate>> = relative
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
                    .map(|id| Candidate {
                        lang: lang.clone(),
                        source: source.clone(),
                        en: en_paragraphs[id].clone(),
                        xx: translated[id].clone(),
                    })
                    .collect()
            })
            .collect();
        report.help_pages_read += found.iter().filter(|f| !f.is_empty()).count();
        out.extend(found.into_iter().flatten());
    }
    Ok(())
}

fn dictionary_candidates(
    dir: &Path,
    wanted: &Wanted,
    out: &mut Vec<Candidate>,
    report: &mut BuildReport,
) -> Result<()> {
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
                report.skipped_files.push(e.to_string());
                continue;
            }
        };
        report.dictionaries_read += 1;
        let source = path.display().to_string();
        for entry in entries {
            for form in &entry.forms {
                for translation in &entry.translations {
                    let (en, xx) = if *english_headwords {
                        (form, translation)
                    } else {
                        (translation, form)
                    };
                    out.push(Candidate {
                        lang: lang.clone(),
                        source: source.clone(),
                        en: en.clone(),
                        xx: xx.clone(),
                    });
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

fn file_checksum(path: &Path) -> Result<String> {
    Ok(format!(
        "{:016x}",
        xxhash_rust::xxh3::xxh3_64(&crate::error::read(path)?)
    ))
}

/// Writes `train/<lang>.tsv`, `dev/<lang>.tsv`, `report.json`, and `checksums.json` (xxh3-64 of
/// each TSV, checked by [`read_split`]) under `dir`.
pub fn write_corpus(dir: &Path, corpus: &Corpus, report: &BuildReport) -> Result<()> {
    let mut sums = BTreeMap::new();
    for (split, by_lang) in [("train", &corpus.train), ("dev", &corpus.dev)] {
        for (lang, pairs) in by_lang {
            let rel = format!("{split}/{lang}.tsv");
            super::write_pairs(&dir.join(&rel), pairs)?;
            sums.insert(rel.clone(), file_checksum(&dir.join(&rel))?);
        }
    }
    let json = serde_json::to_vec_pretty(report).expect("report serialises");
    crate::io::write_atomic(dir.join("report.json"), &json)?;
    let json = serde_json::to_vec_pretty(&sums).expect("checksums serialise");
    crate::io::write_atomic(dir.join(CHECKSUMS), &json)
}

/// Reads `<dir>/<split>/<lang>.tsv` for each language; a missing language file is an error, and
/// so is a file whose checksum differs from `checksums.json` (when the corpus has one).
pub fn read_split(
    dir: &Path,
    split: &str,
    languages: &[String],
) -> Result<BTreeMap<String, Vec<Pair>>> {
    let sums_path = dir.join(CHECKSUMS);
    let sums: BTreeMap<String, String> = if sums_path.is_file() {
        crate::error::read_json(&sums_path)?
    } else {
        BTreeMap::new()
    };
    languages
        .iter()
        .map(|lang| {
            let rel = format!("{split}/{lang}.tsv");
            let path = dir.join(&rel);
            if let Some(want) = sums.get(&rel) {
                let got = file_checksum(&path)?;
                if &got != want {
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
            Ok((lang.clone(), super::read_pairs(&path)?))
        })
        .collect()
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
        assert_eq!(report.unique_english_train, 2);

        let out = dir.path().join("corpus");
        write_corpus(&out, &corpus, &report).unwrap();
        let back = read_split(&out, "train", &["de".into()]).unwrap();
        assert_eq!(back["de"], corpus.train["de"]);
        // A truncated file is refused by name.
        let de = out.join("train/de.tsv");
        let text = std::fs::read(&de).unwrap();
        std::fs::write(&de, &text[..text.len() - 3]).unwrap();
        let err = read_split(&out, "train", &["de".into()])
            .unwrap_err()
            .to_string();
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
