//! Monolingual everyday text from `fortune` databases (Debian `fortunes-de`, `-es`, `-it`,
//! `-pl`, `-ru`, `-br`): sayings, jokes and quotations written in each language, the
//! conversational register that software strings lack. With a multilingual teacher each text is
//! labelled by the teacher and learnt directly, student(x) ≈ teacher(x).
//!
//! A database is a plain-text file whose entries are separated by lines holding only `%`
//! (`strfile`'s `.dat` index beside it is not needed). The folder given to glossa holds one
//! sub-folder per language, `<dir>/<lang>/<file>`, as `scripts/fetch-assets.sh fortunes`
//! arranges them.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The database files of `<dir>/<lang>/`, sorted, without `strfile` indexes (`.dat`) and
/// `.u8` aliases (links to a file already listed). A missing language folder gives none.
pub fn database_files(dir: &Path, lang: &str) -> Result<Vec<PathBuf>> {
    let lang_dir = dir.join(lang);
    if !lang_dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&lang_dir).map_err(|e| Error::io(&lang_dir, e))? {
        let path = entry.map_err(|e| Error::io(&lang_dir, e))?.path();
        let skip = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("dat" | "u8")
        );
        if !skip && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The entries of one database, each reduced to one line of running text (see
/// [`entry_text`]); entries that give no text are left out.
pub fn parse_database(text: &str) -> Vec<String> {
    let mut entries = Vec::new();
    let mut lines: Vec<&str> = Vec::new();
    for line in text.lines().chain(std::iter::once("%")) {
        if line.trim_end() == "%" {
            if let Some(entry) = entry_text(&lines) {
                entries.push(entry);
            }
            lines.clear();
        } else {
            lines.push(line);
        }
    }
    entries
}

/// An entry's lines as one line: an attribution line (`-- Author`, `— Author`) and the lines
/// after it are dropped, the rest are joined with single spaces. `None` when nothing is left or
/// when the entry holds terminal escapes or tab-aligned tables (formatted text, not prose).
pub fn entry_text(lines: &[&str]) -> Option<String> {
    let mut out = String::new();
    for line in lines {
        let line = line.trim_end_matches('\r');
        if line.contains('\u{1b}') || line.contains('\t') || line.contains("│") {
            return None;
        }
        let trimmed = line.trim();
        if is_attribution(trimmed) {
            break;
        }
        for word in trimmed.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    (!out.is_empty()).then_some(out)
}

fn is_attribution(line: &str) -> bool {
    line.starts_with("--") || line.starts_with('—') || line.starts_with("– ")
}

/// Reads a database file. A file that is not UTF-8 (some packages ship Latin-1 or binary
/// leftovers) is an error naming it, for the caller to report and skip.
pub fn read_database(path: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::invalid(
            path,
            format!(
                "not UTF-8 at byte {}: expected a fortune database in UTF-8",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    Ok(parse_database(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_split_on_percent_lines_and_joined() {
        let db = "Wer zuletzt lacht,\nlacht am besten.\n%\nEin Satz.\n  -- Jemand\n  2001\n%\n\n%\nLetzter";
        assert_eq!(
            parse_database(db),
            vec![
                "Wer zuletzt lacht, lacht am besten.",
                "Ein Satz.",
                "Letzter"
            ]
        );
    }

    #[test]
    fn formatted_entries_are_left_out() {
        let db = "\u{1b}[37;1mTitel\u{1b}[m\n%\na\tb\n%\n│x│\n%\nGut.\n";
        assert_eq!(parse_database(db), vec!["Gut."]);
    }

    #[test]
    fn crlf_and_dash_attributions() {
        assert_eq!(
            parse_database("Сказано.\r\n— Автор\r\n%\r\nЕщё.\r\n"),
            vec!["Сказано.", "Ещё."]
        );
    }

    #[test]
    fn files_skip_indexes_and_a_missing_language_gives_none() {
        let dir = tempfile::tempdir().unwrap();
        let de = dir.path().join("de");
        std::fs::create_dir(&de).unwrap();
        for name in ["zitate", "zitate.dat", "zitate.u8", "sprueche"] {
            std::fs::write(de.join(name), "x\n%\n").unwrap();
        }
        let names: Vec<String> = database_files(dir.path(), "de")
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["sprueche", "zitate"]);
        assert!(database_files(dir.path(), "ja").unwrap().is_empty());
    }

    #[test]
    fn a_latin1_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alt");
        std::fs::write(&path, b"Gr\xfc\xdfe\n%\n").unwrap();
        let msg = read_database(&path).unwrap_err().to_string();
        assert!(
            msg.contains("alt") && msg.contains("not UTF-8 at byte 2"),
            "{msg}"
        );
    }
}
