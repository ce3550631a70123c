//! The texts a run learns from, as its config names them: the parallel corpus, the English-only
//! sentences, the frequent words and the fortune entries, with the test sentences kept out.

use std::collections::BTreeMap;
use std::path::Path;

use crate::data::clean::Limits;
use crate::data::corpus::{
    build_corpus, build_corpus_into, BuildOptions, BuildReport, Built, Corpus, CorpusFiles,
    CorpusSources,
};
use crate::data::testsets::TestSetIndex;
use crate::recipes::config::Config;
use crate::recipes::run::Run;
use crate::teacher::precomputed::Precomputed;
use crate::{Error, Result};

/// Everything a distillation reads before the teacher runs.
pub struct Sources {
    /// The parallel corpus, in the run directory, read a language at a time.
    pub corpus: CorpusFiles,
    pub corpus_report: BuildReport,
    /// English sentences without translations (WordNet): train, dev.
    pub english_only: Vec<String>,
    pub english_only_dev: Vec<String>,
    pub words: Vec<String>,
    pub fortunes: Vec<String>,
    /// The user's monolingual text (every language), learnt directly.
    pub monolingual: Vec<String>,
}

impl Sources {
    /// Reads every source of `config`; the parallel corpus is built into the run directory.
    pub fn gather(config: &Config, tests: &TestSetIndex, run: &Run) -> Result<Self> {
        // A missing word-list or fortune folder is refused before the corpus is read.
        check_asset_dirs(config)?;
        let dir = run.dir().join("corpus");
        let built = run.stage("corpus", || build_corpus_files(config, tests, &dir))?;
        let (mut corpus, monolingual, mut corpus_report) =
            (built.files, built.monolingual, built.report);
        corpus_report.too_few_pairs = too_few_pairs(config, &corpus_report);
        corpus.leave_out(&corpus_report.too_few_pairs);
        // With `languages = "all"`, the words and fortunes follow the languages found.
        let config = &with_languages_found(config, &corpus_report);
        let words = frequent_words(config, tests)?;
        let fortunes = fortune_texts(config, tests)?;
        for (lang, r) in &corpus_report.languages {
            tracing::info!("corpus {lang}: {} train, {} dev pairs", r.train, r.dev);
        }
        if corpus_report.catalogs_read > 0 {
            tracing::info!(
                "{} gettext catalogs read, digest {} (listed with checksums and packages in \
                 corpus/report.json)",
                corpus_report.catalogs_read,
                corpus_report.catalogs_digest
            );
        }
        for skipped in &corpus_report.skipped_files {
            tracing::warn!("skipped {skipped}");
        }
        let (english_only, english_only_dev) = english_only_from_config(config, tests)?;
        Ok(Sources {
            corpus,
            corpus_report,
            english_only,
            english_only_dev,
            words,
            fortunes,
            monolingual,
        })
    }

    /// Keeps only the texts that embeddings computed elsewhere cover (the pairs are filtered as
    /// they are read, by the selection's `keep`).
    pub fn keep_covered(&mut self, teacher: &Precomputed) {
        for texts in [
            &mut self.english_only,
            &mut self.english_only_dev,
            &mut self.words,
            &mut self.fortunes,
            &mut self.monolingual,
        ] {
            texts.retain(|t| teacher.covers(t));
        }
    }
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

/// Builds the config's parallel corpus in memory; `tests` are the sentences kept out of it.
pub fn build_corpus_from_config(
    config: &Config,
    tests: &TestSetIndex,
) -> Result<(Corpus, BuildReport)> {
    let (sources, options) = corpus_inputs(config)?;
    build_corpus(&sources, &options, tests)
}

/// Builds the config's parallel corpus into `dir` (see [`build_corpus_into`]).
pub fn build_corpus_files(config: &Config, tests: &TestSetIndex, dir: &Path) -> Result<Built> {
    let (sources, options) = corpus_inputs(config)?;
    build_corpus_into(dir, &sources, &options, tests)
}

fn corpus_inputs(config: &Config) -> Result<(CorpusSources, BuildOptions)> {
    let sources = CorpusSources {
        gettext_roots: config.corpus.gettext_roots.clone(),
        help_root: config
            .corpus
            .help_root
            .clone()
            .filter(|p| !p.as_os_str().is_empty()),
        dictionary_dirs: config.corpus.dictionary_dirs.clone(),
        parallel: config.corpus.parallel.clone(),
        monolingual: config.corpus.monolingual.clone(),
    };
    let pivot = config.corpus.pivot.clone();
    if pivot != "en" && config.corpus.has_builtin_sources() {
        return Err(Error::msg(format!(
            "corpus.pivot = \"{pivot}\" applies to your own files only: the built-in sources \
             translate from English. Set gettext_roots = [], help_root = \"\" and \
             dictionary_dirs = [] in [corpus], or keep the pivot \"en\""
        )));
    }
    let all_languages = config.corpus.all_languages();
    let options = BuildOptions {
        languages: match all_languages {
            true => Vec::new(),
            false => config.corpus.languages.clone(),
        },
        all_languages,
        pivot,
        limits: limits_of(config),
        dev_permille: config.corpus.dev_permille,
    };
    Ok((sources, options))
}

/// With `languages = "all"`, the languages found with fewer than `min_pairs_per_language`
/// training pairs (but some), and their counts.
fn too_few_pairs(config: &Config, report: &BuildReport) -> BTreeMap<String, usize> {
    let min = config.corpus.min_pairs_per_language;
    if !config.corpus.all_languages() || min == 0 {
        return BTreeMap::new();
    }
    let few: BTreeMap<String, usize> = report
        .languages
        .iter()
        .filter(|(_, r)| r.train > 0 && r.train < min)
        .map(|(l, r)| (l.clone(), r.train))
        .collect();
    if !few.is_empty() {
        tracing::info!(
            "{} languages have fewer than {min} training pairs and are left out \
             (corpus.min_pairs_per_language): {}",
            few.len(),
            few.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    few
}

/// `config` with `languages = "all"` replaced by the languages the corpus holds pairs for
/// (those with too few left out).
fn with_languages_found(config: &Config, report: &BuildReport) -> Config {
    let mut config = config.clone();
    if config.corpus.all_languages() {
        let found = report
            .languages
            .iter()
            .filter(|(l, r)| r.train > 0 && !report.too_few_pairs.contains_key(*l))
            .map(|(l, _)| l.clone());
        config.corpus.languages = found.collect();
        tracing::info!(
            "languages = \"all\": {}",
            config.corpus.languages.join(", ")
        );
    }
    config
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

/// Refuses, before any work, a per-language setting whose asset folder is unset or missing.
fn check_asset_dirs(config: &Config) -> Result<()> {
    let c = &config.corpus;
    if c.words_per_language > 0 {
        asset_dir(
            c.wordfreq_dir.as_deref(),
            ("words_per_language", "wordfreq_dir"),
            ("the wordfreq lists", "words"),
        )?;
    }
    if c.fortunes_per_language > 0 {
        asset_dir(
            c.fortunes_dir.as_deref(),
            ("fortunes_per_language", "fortunes_dir"),
            ("the fortune databases", "fortunes"),
        )?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

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
