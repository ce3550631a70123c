//! English sentences from WordNet (Debian's `wordnet-base`): the usage examples and definitions
//! in each synset's gloss. They are everyday English on every topic, so the student learns the
//! teacher's view of general vocabulary, which software strings do not cover. English only:
//! they train student(en) ≈ teacher(en).
//!
//! A `data.<pos>` line ends with ` | gloss`, the gloss being definitions and quoted examples
//! separated by `; `: `| a domestic animal; "the dog barked all night"`. Licence lines start
//! with two spaces.

use std::path::Path;

use crate::{Error, Result};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Glosses {
    pub examples: Vec<String>,
    pub definitions: Vec<String>,
}

/// Splits one gloss into definitions and quoted examples.
pub fn split_gloss(gloss: &str, out: &mut Glosses) {
    for part in gloss.split("; ") {
        let part = part.trim().trim_end_matches(';').trim();
        if let Some(quoted) = part.strip_prefix('"') {
            // Some examples carry an attribution after the quote: "…" - Shakespeare
            let text = quoted.split('"').next().unwrap_or_default().trim();
            if text.len() > 3 {
                out.examples.push(text.to_string());
            }
        } else if part.len() > 3 {
            out.definitions.push(part.to_string());
        }
    }
}

/// Reads `data.noun`, `data.verb`, `data.adj` and `data.adv` under `dir`.
pub fn read_dir(dir: &Path) -> Result<Glosses> {
    let mut out = Glosses::default();
    for pos in ["noun", "verb", "adj", "adv"] {
        let path = dir.join(format!("data.{pos}"));
        let text = crate::error::read_to_string(&path)?;
        parse_data(&text, &path, &mut out)?;
    }
    Ok(out)
}

/// Adds the glosses of one `data.<pos>` file's text to `out`; `path` is only used to name the
/// file in errors.
pub fn parse_data(text: &str, path: &Path, out: &mut Glosses) -> Result<()> {
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("  ") || line.trim().is_empty() {
            continue;
        }
        let Some((_, gloss)) = line.split_once(" | ") else {
            return Err(Error::parse(
                path,
                i + 1,
                "expected a synset line ending in ' | gloss'",
            ));
        };
        split_gloss(gloss, out);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glosses_split_into_definitions_and_examples() {
        let mut g = Glosses::default();
        split_gloss(
            r#"a member of the genus Canis; occurs in many breeds; "the dog barked all night"; "a dog's life" - Anon  "#,
            &mut g,
        );
        assert_eq!(
            g.definitions,
            vec!["a member of the genus Canis", "occurs in many breeds"]
        );
        assert_eq!(g.examples, vec!["the dog barked all night", "a dog's life"]);
    }

    #[test]
    fn reads_the_four_files_and_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        for pos in ["noun", "verb", "adj", "adv"] {
            std::fs::write(
                dir.path().join(format!("data.{pos}")),
                "  1 licence text\n00001 03 n 01 dog 0 000 | a pet; \"the dog barked\"\n",
            )
            .unwrap();
        }
        let g = read_dir(dir.path()).unwrap();
        assert_eq!(g.examples.len(), 4);
        std::fs::write(dir.path().join("data.adv"), "00001 no gloss here\n").unwrap();
        let err = read_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("data.adv:1"), "{err}");
    }
}
