//! A run's held-out dev pairs written in Tatoeba's file layout, so `glossa eval --eval-dir DIR
//! --tatoeba deu,…` scores translation retrieval on them: the set to tune on (never tune on the
//! test sets).
//!
//! From `CORPUS/dev/<lang>.tsv` (en<TAB>xx lines, as `glossa corpus build` writes them), pairs
//! are taken in a fixed order (the sha1 of the line) and a pair whose English or translation
//! repeats, ignoring case, is passed over: retrieval needs each side distinct. The output is
//! `OUT/tatoeba/tatoeba.<iso3>-eng.<iso3>` and `….eng`, line i of one the translation of line i
//! of the other: byte for byte what the former `scripts/dev-retrieval-set.py` wrote (compared on
//! corpora of 62k and 246k real pairs, at 50, 1000 and unlimited pairs per language).

use std::collections::HashSet;
use std::path::Path;

use sha1::{Digest, Sha1};

use crate::data::lang::tatoeba_code;
use crate::{Error, Result};

/// The lines of `text` as Python's text mode reads them: `\n`, `\r\n` and a lone `\r` all end
/// a line. The line ends are dropped.
fn universal_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(['\n', '\r']) {
        lines.push(&rest[..i]);
        let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[i + skip..];
    }
    if !rest.is_empty() {
        lines.push(rest);
    }
    lines
}

/// At most `n` pairs of a dev file's text: lines with a tab, in sha1 order, each English and
/// each translation (lowercased) used once. A line with a tab but not exactly two fields is an
/// error naming `path` and the line.
pub fn pick_pairs(text: &str, path: &Path, n: usize) -> Result<Vec<(String, String)>> {
    let mut pairs: Vec<([u8; 20], &str, &str)> = Vec::new();
    for (i, line) in universal_lines(text).into_iter().enumerate() {
        if !line.contains('\t') {
            continue;
        }
        let Some((en, xx)) = line.split_once('\t').filter(|(_, xx)| !xx.contains('\t')) else {
            let found = line.split('\t').count();
            return Err(Error::parse(
                path,
                i + 1,
                format!("expected 2 tab-separated fields (en<TAB>translation), found {found}"),
            ));
        };
        pairs.push((Sha1::digest(line.as_bytes()).into(), en, xx));
    }
    // Stable, so equal lines keep their file order (the order of hex digests is that of bytes).
    pairs.sort_by_key(|p| p.0);
    let (mut seen_en, mut seen_xx) = (HashSet::new(), HashSet::new());
    let mut kept = Vec::new();
    for (_, en, xx) in pairs {
        if kept.len() == n {
            break;
        }
        let (en_key, xx_key) = (en.to_lowercase(), xx.to_lowercase());
        if seen_en.contains(&en_key) || seen_xx.contains(&xx_key) {
            continue;
        }
        seen_en.insert(en_key);
        seen_xx.insert(xx_key);
        kept.push((en.to_string(), xx.to_string()));
    }
    Ok(kept)
}

/// Writes the dev retrieval set of `corpus` (a run's `corpus` folder) under `out/tatoeba`, at
/// most `per_language` pairs per language. Returns (ISO 639-3 code, pairs written) in file-name
/// order. Every language with an ISO 639 code gets its files, under the code Tatoeba files it
/// by (`lang::tatoeba_code`: `zh` → `cmn`, `lv` → `lvs`), so a run in any language can be
/// tuned on its own held-out pairs; a file named by no language code is passed over.
pub fn write_devset(
    corpus: &Path,
    out: &Path,
    per_language: usize,
) -> Result<Vec<(&'static str, usize)>> {
    if per_language == 0 {
        return Err(Error::msg("pairs per language must be at least 1"));
    }
    let dev = corpus.join("dev");
    let entries = std::fs::read_dir(&dev).map_err(|e| Error::io(&dev, e))?;
    let mut names = Vec::new();
    for entry in entries {
        let name = entry.map_err(|e| Error::io(&dev, e))?.file_name();
        let name = name
            .into_string()
            .map_err(|n| Error::invalid(dev.join(&n), "file name is not UTF-8"))?;
        names.push(name);
    }
    names.sort();
    let tatoeba = out.join("tatoeba");
    let mut written = Vec::new();
    for name in names {
        let lang = name.strip_suffix(".tsv").unwrap_or(&name);
        let Some(code) = tatoeba_code(lang) else {
            continue;
        };
        let path = dev.join(&name);
        let kept = pick_pairs(&crate::error::read_to_string(&path)?, &path, per_language)?;
        let side = |pick: fn(&(String, String)) -> &str| -> String {
            kept.iter().map(|p| format!("{}\n", pick(p))).collect()
        };
        let file = |ext: &str| tatoeba.join(format!("tatoeba.{code}-eng.{ext}"));
        crate::io::write_atomic(file(code), side(|p| &p.1).as_bytes())?;
        crate::io::write_atomic(file("eng"), side(|p| &p.0).as_bytes())?;
        written.push((code, kept.len()));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_end_as_in_python_text_mode() {
        assert_eq!(universal_lines("a\nb\r\nc\rd"), ["a", "b", "c", "d"]);
        assert_eq!(universal_lines("a\n\nb\n"), ["a", "", "b"]);
        assert!(universal_lines("").is_empty());
    }

    #[test]
    fn pairs_follow_the_hash_order_and_repeated_sides_are_passed_over() {
        let text = "One\tEins\nTwo\tZwei\nONE\tEin\nThree\tzwei\nno tab here\nFour\tVier\n";
        let path = Path::new("de.tsv");
        let all = pick_pairs(text, path, 100).unwrap();
        // 5 pairs with a tab; "ONE" repeats "One" and "zwei" repeats "Zwei" (either may come
        // first in hash order), so 3 are kept, each side distinct.
        assert_eq!(all.len(), 3, "{all:?}");
        let mut hashes: Vec<[u8; 20]> = all
            .iter()
            .map(|(en, xx)| Sha1::digest(format!("{en}\t{xx}").as_bytes()).into())
            .collect();
        let sorted = {
            let mut h = hashes.clone();
            h.sort();
            h
        };
        assert_eq!(hashes, sorted, "kept pairs are in sha1 order");
        hashes.dedup();
        assert_eq!(hashes.len(), 3);
        assert_eq!(pick_pairs(text, path, 2).unwrap(), all[..2]);
    }

    #[test]
    fn a_line_with_three_fields_is_an_error_naming_file_and_line() {
        let err = pick_pairs("a\tb\na\tb\tc\n", Path::new("x/de.tsv"), 10)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x/de.tsv") && err.contains('2') && err.contains("found 3"),
            "{err}"
        );
    }

    #[test]
    fn a_corpus_becomes_tatoeba_files_for_the_languages_tatoeba_has() {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("corpus/dev");
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::write(dev.join("de.tsv"), "Open\tÖffnen\nClose\tSchließen\n").unwrap();
        std::fs::write(dev.join("lv.tsv"), "Open\tAtvērt\n").unwrap();
        std::fs::write(dev.join("xx.tsv"), "Open\tXx\n").unwrap();
        let out = dir.path().join("out");
        let got = write_devset(&dir.path().join("corpus"), &out, 1000).unwrap();
        // Latvian, beyond the headline languages, under Tatoeba's code for it.
        assert_eq!(got, [("deu", 2), ("lvs", 1)]);
        let de = std::fs::read_to_string(out.join("tatoeba/tatoeba.deu-eng.deu")).unwrap();
        let en = std::fs::read_to_string(out.join("tatoeba/tatoeba.deu-eng.eng")).unwrap();
        let pairs: Vec<(&str, &str)> = en.lines().zip(de.lines()).collect();
        assert_eq!(pairs.len(), 2);
        assert!(pairs.contains(&("Open", "Öffnen")) && pairs.contains(&("Close", "Schließen")));
        assert!(!out
            .join("tatoeba")
            .read_dir()
            .unwrap()
            .any(|e| { e.unwrap().file_name().to_string_lossy().contains("xx") }));
        let err = write_devset(&dir.path().join("nothing"), &out, 10).unwrap_err();
        assert!(err.to_string().contains("nothing/dev"), "{err}");
    }
}
