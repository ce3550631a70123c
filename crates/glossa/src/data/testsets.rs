//! The evaluation sets are test data. Training pairs whose either side appears in any of them are
//! dropped, compared on a normalised form so case and punctuation cannot smuggle one through.

use std::collections::HashSet;
use std::path::Path;

use crate::{Error, Result};

/// Normalised texts of every sentence in the test sets under an eval directory.
#[derive(Debug, Default)]
pub struct TestSetIndex {
    texts: HashSet<String>,
}

/// Lowercase, letters and digits only, single spaces: "Hello, World!" and "hello world" match.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

impl TestSetIndex {
    /// Reads Tatoeba (`tatoeba/tatoeba.*`), STS2017 (`sts2017/STS.input.*`) and STS-benchmark
    /// (`stsbenchmark/*.csv`). A missing eval directory is an error: without it the corpus could
    /// leak test sentences silently.
    pub fn load(eval_dir: &Path) -> Result<Self> {
        if !eval_dir.is_dir() {
            return Err(Error::invalid(
                eval_dir,
                "evaluation directory not found (needed to keep test sentences out of training)",
            ));
        }
        let mut index = TestSetIndex::default();
        for (sub, keep) in [
            ("tatoeba", "tatoeba."),
            ("sts2017", "STS.input."),
            ("stsbenchmark", "sts-"),
        ] {
            let dir = eval_dir.join(sub);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            files.sort();
            for file in files.iter().filter(|f| {
                f.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(keep))
            }) {
                let bytes = crate::error::read(file)?;
                let text = String::from_utf8_lossy(&bytes);
                for line in text.lines() {
                    let fields: Vec<&str> = line.split('\t').collect();
                    // STSb: genre, file, year, id, score, s1, s2 (…); STS17 input: s1, s2; Tatoeba: one.
                    let sentences = if sub == "stsbenchmark" {
                        fields.get(5..7).unwrap_or(&[])
                    } else {
                        &fields[..]
                    };
                    for s in sentences {
                        let n = normalize(s);
                        if !n.is_empty() {
                            index.texts.insert(n);
                        }
                    }
                }
            }
        }
        if index.texts.is_empty() {
            return Err(Error::invalid(
                eval_dir,
                "no test sentences found (expected tatoeba/, sts2017/, stsbenchmark/)",
            ));
        }
        Ok(index)
    }

    pub fn from_texts<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        TestSetIndex {
            texts: texts
                .into_iter()
                .map(normalize)
                .filter(|t| !t.is_empty())
                .collect(),
        }
    }

    pub fn contains(&self, text: &str) -> bool {
        self.texts.contains(&normalize(text))
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_ignore_case_and_punctuation() {
        let idx = TestSetIndex::from_texts(["Hello, World!", "Ich liebe dich."]);
        assert!(idx.contains("hello world"));
        assert!(idx.contains("ich  LIEBE dich"));
        assert!(!idx.contains("hello"));
    }
}
