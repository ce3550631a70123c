//! JSON lines: one object per line mapping language codes to texts,
//! `{"en": "Hello", "de": "Hallo", "pt-BR": "Olá"}`; every language is paired with the pivot.

use std::path::Path;

use super::open::Lines;
use super::{CodeCache, PairSink};
use crate::{Error, Result};

pub fn read(path: &Path, pivot: &str, sink: &mut PairSink) -> Result<()> {
    let mut lines = Lines::open(path)?;
    let mut codes = CodeCache::default();
    let mut record: Vec<(String, String)> = Vec::new();
    loop {
        let at = lines.line() + 1;
        let Some(line) = lines.next_line()? else {
            return Ok(());
        };
        if line.trim().is_empty() {
            continue;
        }
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line)
            .map_err(|e| {
                let msg = format!(
                    "not a JSON object of language → text ({e}), e.g. {{\"{pivot}\": \"…\", \"de\": \"…\"}}"
                );
                Error::parse(path, at, msg)
            })?;
        record.clear();
        for (key, value) in object {
            let code = codes.get(&key).map_err(|e| Error::parse(path, at, e))?;
            let serde_json::Value::String(text) = value else {
                return Err(Error::parse(path, at, format!("`{key}` is not a string")));
            };
            record.push((code.to_string(), text));
        }
        let Some(pivot_text) = record
            .iter()
            .find(|(l, _)| l == pivot)
            .map(|(_, t)| t.as_str())
        else {
            return Err(Error::parse(
                path,
                at,
                format!("no `{pivot}` text to pair the others with"),
            ));
        };
        for (lang, text) in record.iter().filter(|(l, _)| l != pivot) {
            sink(lang, pivot_text.trim(), text.trim())?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_pairs_with_the_pivot_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.jsonl");
        std::fs::write(
            &path,
            "{\"en\": \"Hello\", \"de\": \"Hallo\", \"pt-BR\": \"Olá\"}\n\n",
        )
        .unwrap();
        let mut got = Vec::new();
        read(&path, "en", &mut |l, en, xx| {
            got.push(format!("{l}:{en}={xx}"));
            Ok(())
        })
        .unwrap();
        assert_eq!(got, ["de:Hello=Hallo", "pt:Hello=Olá"]);
        for (text, want) in [
            (
                "{\"en\": \"a\"}\n{\"en\": \"b\", \"de\": \n",
                "p.jsonl:2: not a JSON object",
            ),
            ("{\"de\": \"Hallo\"}\n", "p.jsonl:1: no `en` text"),
            (
                "{\"en\": \"a\", \"xx\": \"b\"}\n",
                "p.jsonl:1: unknown language code `xx`",
            ),
            (
                "{\"en\": \"a\", \"de\": 3}\n",
                "p.jsonl:1: `de` is not a string",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = read(&path, "en", &mut |_, _, _| Ok(()))
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{err}");
        }
    }
}
