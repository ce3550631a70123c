//! Tab-separated parallel text. The columns' languages come from the entry
//! (`languages = ["en", "de", "fr"]`: one per column) or from the file name (`en-de.tsv`,
//! `talks-en-de.tsv.gz`). With two languages and more columns, every column after the first is
//! another translation into the second language: sentence-transformers' parallel-sentences
//! layout, one English column facing one or more translations.

use std::path::Path;

use super::open::{plain_name, Lines};
use super::PairSink;
use crate::data::lang::canonical;
use crate::{Error, Result};

/// Split-name suffixes that may follow the languages (`Europarl-en-de-train.tsv.gz`).
const SPLIT_SUFFIXES: [&str; 3] = ["train", "dev", "test"];

/// The two languages at the end of a TSV file's name, one of them the pivot.
pub fn languages_in_name(path: &Path, pivot: &str) -> Result<Vec<String>> {
    let name = plain_name(path);
    let name = name.strip_suffix(".tsv").unwrap_or(&name);
    let mut tokens: Vec<&str> = name.split(['-', '.']).collect();
    while tokens
        .last()
        .is_some_and(|t| SPLIT_SUFFIXES.contains(&t.to_ascii_lowercase().as_str()))
    {
        tokens.pop();
    }
    let found = match tokens[..] {
        [.., a, b] => canonical(a).ok().zip(canonical(b).ok()),
        _ => None,
    };
    match found {
        Some((a, b)) if a != b && (a == pivot || b == pivot) => Ok(vec![a, b]),
        _ => Err(Error::invalid(
            path,
            format!(
                "cannot tell the languages from the file name (expected it to end with two \
                 codes, one of them `{pivot}`, as in en-de.tsv or talks-en-de.tsv.gz): name \
                 them, `{{ path = \"...\", languages = [\"{pivot}\", \"de\"] }}`"
            ),
        )),
    }
}

/// The language of each column of a line with `columns` fields.
fn column_languages(languages: &[String], columns: usize) -> Option<Vec<&str>> {
    match (languages.len(), columns) {
        (n, c) if n == c => Some(languages.iter().map(String::as_str).collect()),
        (2, c) if c > 2 => {
            let mut out = vec![languages[0].as_str()];
            out.extend(std::iter::repeat_n(languages[1].as_str(), c - 1));
            Some(out)
        }
        _ => None,
    }
}

pub fn read(path: &Path, languages: &[String], pivot: &str, sink: &mut PairSink) -> Result<()> {
    let Some(pivot_column) = languages.iter().position(|l| l == pivot) else {
        return Err(Error::invalid(
            path,
            format!("the columns' languages {languages:?} do not include the pivot `{pivot}`"),
        ));
    };
    let mut lines = Lines::open(path)?;
    loop {
        let at = lines.line() + 1;
        let Some(line) = lines.next_line()? else {
            return Ok(());
        };
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let Some(langs) = column_languages(languages, fields.len()) else {
            let msg = format!(
                "expected {} tab-separated columns ({}), found {}",
                languages.len(),
                languages.join(", "),
                fields.len()
            );
            return Err(Error::parse(path, at, msg));
        };
        let pivot_text = fields[pivot_column].trim();
        for (i, (lang, text)) in langs.iter().zip(&fields).enumerate() {
            if i != pivot_column && *lang != pivot {
                sink(lang, pivot_text, text.trim())?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(path: &Path, languages: &[String]) -> Result<Vec<(String, String, String)>> {
        let mut out = Vec::new();
        read(path, languages, "en", &mut |l, en, xx| {
            out.push((l.to_string(), en.to_string(), xx.to_string()));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn languages_come_from_the_name() {
        let langs = |n: &str| languages_in_name(Path::new(n), "en");
        assert_eq!(langs("en-de.tsv").unwrap(), ["en", "de"]);
        assert_eq!(langs("talks-en-de.tsv.gz").unwrap(), ["en", "de"]);
        assert_eq!(langs("Europarl-de-en-train.tsv.zst").unwrap(), ["de", "en"]);
        assert_eq!(langs("TED2020-en-pt_BR.tsv").unwrap(), ["en", "pt"]);
        assert!(
            langs("en-zh-Hans.tsv").is_err(),
            "a region or script after a dash is ambiguous"
        );
        let err = langs("memory.tsv").unwrap_err().to_string();
        assert!(
            err.contains("memory.tsv") && err.contains("languages = "),
            "{err}"
        );
        assert!(langs("de-fr.tsv").is_err(), "no pivot");
    }

    #[test]
    fn one_english_column_faces_several_translations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("talks-en-de.tsv");
        std::fs::write(
            &path,
            "Hello there\tHallo\tGrüß dich\n\nGood night\tGute Nacht\n",
        )
        .unwrap();
        let pairs = collect(&path, &["en".into(), "de".into()]).unwrap();
        let de: Vec<&str> = pairs.iter().map(|p| p.2.as_str()).collect();
        assert_eq!(de, ["Hallo", "Grüß dich", "Gute Nacht"]);
        assert!(pairs.iter().all(|p| p.0 == "de"));
        // Named columns: each its own language, the pivot anywhere.
        std::fs::write(&path, "Hallo\tHello\tBonjour\n").unwrap();
        let pairs = collect(&path, &["de".into(), "en".into(), "fr".into()]).unwrap();
        assert_eq!(pairs[0], ("de".into(), "Hello".into(), "Hallo".into()));
        assert_eq!(pairs[1], ("fr".into(), "Hello".into(), "Bonjour".into()));
        std::fs::write(&path, "a\tb\tc\nd\te\n").unwrap();
        let err = collect(&path, &["de".into(), "en".into(), "fr".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("talks-en-de.tsv:2:") && err.contains("found 2"),
            "{err}"
        );
    }
}
