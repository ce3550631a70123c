//! The user's own corpora: parallel files (TSV, Moses/OPUS, TMX, JSON lines) and monolingual
//! text, each read as a stream (memory does not grow with the file) and through gzip, zstd or
//! xz by extension. Readers hand each record to a sink and keep nothing; the corpus builder
//! cleans, de-duplicates and splits them like every other source.

pub mod jsonl;
pub mod moses;
pub mod open;
pub mod text;
pub mod tmx;
pub mod tsv;
pub mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::lang::canonical;
use crate::{Error, Result};

/// One entry of `[corpus] parallel` / `monolingual`: a glob, or a table naming the languages
/// when the file names do not (`{ path = "memory.tsv", languages = ["en", "de"] }`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SourceSpec {
    Glob(String),
    Table(SourceTable),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceTable {
    pub path: String,
    /// The languages of the columns (TSV) or of the text (monolingual), in order.
    #[serde(default)]
    pub languages: Vec<String>,
}

impl SourceSpec {
    pub fn pattern(&self) -> &str {
        match self {
            SourceSpec::Glob(p) => p,
            SourceSpec::Table(t) => &t.path,
        }
    }

    /// The languages the entry names, each in its canonical code.
    pub fn languages(&self) -> Result<Vec<String>> {
        let SourceSpec::Table(table) = self else {
            return Ok(Vec::new());
        };
        let place =
            |code: &String| canonical(code).map_err(|e| Error::msg(format!("{}: {e}", table.path)));
        table.languages.iter().map(place).collect()
    }
}

impl From<&str> for SourceSpec {
    fn from(pattern: &str) -> Self {
        SourceSpec::Glob(pattern.to_string())
    }
}

/// Receives one pair: (language, pivot-language text, translation). Readers stop at its error.
pub type PairSink<'a> = dyn FnMut(&str, &str, &str) -> Result<()> + 'a;

/// The files a glob matches, sorted; a glob matching nothing is an error naming it.
pub fn expand(pattern: &str) -> Result<Vec<PathBuf>> {
    let paths = glob::glob(pattern)
        .map_err(|e| Error::msg(format!("`{pattern}` is not a valid glob: {e}")))?;
    let mut files = Vec::new();
    for path in paths {
        let path = path.map_err(|e| {
            let at = e.path().to_owned();
            Error::io(at, e.into())
        })?;
        if path.is_file() {
            files.push(path);
        }
    }
    if files.is_empty() {
        let cwd = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        return Err(Error::msg(format!(
            "`{pattern}` matches no file (relative to {cwd}); check the path, and quote the \
             pattern so the shell does not expand it"
        )));
    }
    files.sort();
    Ok(files)
}

/// What a parallel file holds, told by its extension (after any compression extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    Tsv,
    Tmx,
    Jsonl,
    /// One side of a Moses/OPUS pair: `<name>.<lang>`.
    Moses {
        name: String,
        lang: String,
    },
}

/// Extensions that some ISO 639-3 code happens to spell (`csv` is a Chin language) but that
/// name a file format, never a Moses side.
const NOT_LANGUAGES: [&str; 16] = [
    "csv", "txt", "xml", "json", "xlf", "xliff", "html", "htm", "md", "pdf", "doc", "po", "mo",
    "yaml", "yml", "log",
];

pub fn format_of(path: &Path) -> Result<Format> {
    let name = open::plain_name(path);
    let (stem, ext) = name.rsplit_once('.').unwrap_or((&name, ""));
    Ok(match ext.to_ascii_lowercase().as_str() {
        "tsv" => Format::Tsv,
        "tmx" => Format::Tmx,
        "jsonl" | "ndjson" => Format::Jsonl,
        other => match canonical(other) {
            Ok(lang) if !stem.is_empty() && !NOT_LANGUAGES.contains(&other) => Format::Moses {
                name: stem.to_string(),
                lang,
            },
            _ => {
                return Err(Error::invalid(
                    path,
                    "cannot tell the format from the name: expected .tsv, .tmx, .jsonl or a \
                     Moses/OPUS pair named <name>.<lang> (e.g. corpus.en + corpus.de), each \
                     optionally .gz, .zst or .xz; monolingual text goes under `monolingual`",
                ))
            }
        },
    })
}

/// Reads every file of a parallel entry, handing `sink` each pair with the pivot language.
/// Returns the files read.
pub fn read_parallel(spec: &SourceSpec, pivot: &str, sink: &mut PairSink) -> Result<Vec<PathBuf>> {
    let named = spec.languages()?;
    let files = expand(spec.pattern())?;
    let mut moses: BTreeMap<(PathBuf, String), BTreeMap<String, PathBuf>> = BTreeMap::new();
    let mut read = Vec::new();
    for path in &files {
        match format_of(path)? {
            Format::Tsv => {
                let languages = match named.is_empty() {
                    true => tsv::languages_in_name(path, pivot)?,
                    false => named.clone(),
                };
                tsv::read(path, &languages, pivot, sink)?;
            }
            Format::Tmx => tmx::read(path, pivot, sink)?,
            Format::Jsonl => jsonl::read(path, pivot, sink)?,
            Format::Moses { name, lang } => {
                let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
                moses
                    .entry((dir, name))
                    .or_default()
                    .insert(lang, path.clone());
                continue;
            }
        }
        read.push(path.clone());
    }
    for ((dir, name), sides) in moses {
        read.extend(moses::read_group(&dir, &name, &sides, pivot, sink)?);
    }
    Ok(read)
}

/// The language a monolingual file's name ends with (`news.de.txt`, `news-de.txt.zst`, `de`).
pub fn language_in_name(path: &Path) -> Option<String> {
    let name = open::plain_name(path);
    let name = name.strip_suffix(".txt").unwrap_or(&name);
    let last = name.rsplit(['-', '_', '.']).next()?;
    canonical(last).ok()
}

/// Reads every file of a monolingual entry, handing `sink` (language, text) for each line.
pub fn read_monolingual(
    spec: &SourceSpec,
    sink: &mut dyn FnMut(&str, &str) -> Result<()>,
) -> Result<Vec<PathBuf>> {
    let named = spec.languages()?;
    if named.len() > 1 {
        return Err(Error::msg(format!(
            "{}: a monolingual entry has one language, got {named:?}",
            spec.pattern()
        )));
    }
    let files = expand(spec.pattern())?;
    for path in &files {
        let lang = match named.first() {
            Some(lang) => lang.clone(),
            None => language_in_name(path).ok_or_else(|| {
                Error::invalid(
                    path,
                    "cannot tell the language from the file name (expected it last, as in \
                     news.de.txt or news-de.txt.zst): name it, \
                     `{ path = \"...\", languages = [\"de\"] }`",
                )
            })?,
        };
        text::read(path, &lang, sink)?;
    }
    Ok(files)
}

/// Canonical codes of a record's language keys, cached: a file names few languages.
#[derive(Default)]
pub struct CodeCache {
    codes: std::collections::HashMap<String, String>,
}

impl CodeCache {
    /// The canonical code of `code`; an error message when it cannot be placed.
    pub fn get(&mut self, code: &str) -> std::result::Result<&str, String> {
        if !self.codes.contains_key(code) {
            let canon = canonical(code)?;
            self.codes.insert(code.to_string(), canon);
        }
        Ok(&self.codes[code])
    }
}
