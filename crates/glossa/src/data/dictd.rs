//! Bilingual dictionaries in dictd format (FreeDict, as Debian's `dict-freedict-*` ship them):
//! word-level human translations of everyday vocabulary, which a bag-of-subwords student needs
//! most and software strings lack.
//!
//! `<name>.index` lines are `headword<TAB>offset<TAB>length`, numbers in dictd's base64;
//! `<name>.dict.dz` is gzip (dictzip) holding the entries. An entry's first line gives the
//! headword forms (each may be followed by `/pronunciation/` and `<grammar>`); the following lines
//! give numbered translations, plus notes, synonyms and cross-references, which are skipped.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

use crate::{Error, Result};

/// Headword forms and translations of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub forms: Vec<String>,
    pub translations: Vec<String>,
}

fn b64_digit(c: u8) -> Option<u64> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u64)
}

/// dictd's base64 number: most significant digit first.
pub fn decode_number(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 10 {
        return None;
    }
    s.bytes()
        .try_fold(0u64, |acc, c| Some(acc * 64 + b64_digit(c)?))
}

/// Reads a dictionary from its `.index` path (the `.dict.dz` or `.dict` beside it).
pub fn read(index_path: &Path) -> Result<Vec<Entry>> {
    let index = crate::error::read_to_string(index_path)?;
    let stem = index_path.with_extension("");
    let (dz, plain) = (stem.with_extension("dict.dz"), stem.with_extension("dict"));
    let body = if dz.is_file() {
        decompress(&crate::error::read(&dz)?, &dz)?
    } else {
        crate::error::read(&plain)?
    };
    parse_index(&index, &body, index_path)
}

/// The body of a `.dict.dz` file (gzip or dictzip); `path` is only used to name it in errors.
pub fn decompress(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| Error::invalid(path, format!("not a gzip/dictzip file: {e}")))?;
    Ok(out)
}

/// The entries an `.index` text points to in the (decompressed) dictionary `body`;
/// `index_path` is only used to name the index in errors.
pub fn parse_index(index: &str, body: &[u8], index_path: &Path) -> Result<Vec<Entry>> {
    let mut seen = HashSet::new();
    let mut entries = Vec::new();
    for (i, line) in index.lines().enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [headword, offset, length] = fields[..] else {
            return Err(Error::parse(
                index_path,
                i + 1,
                format!(
                    "expected headword<TAB>offset<TAB>length, found {} fields",
                    fields.len()
                ),
            ));
        };
        let (Some(offset), Some(length)) = (decode_number(offset), decode_number(length)) else {
            return Err(Error::parse(
                index_path,
                i + 1,
                "offset and length must be dictd base64 numbers",
            ));
        };
        let (start, end) = (offset as usize, offset as usize + length as usize);
        if end > body.len() {
            return Err(Error::parse(
                index_path,
                i + 1,
                format!(
                    "entry {start}..{end} is past the end of the dictionary ({} bytes)",
                    body.len()
                ),
            ));
        }
        // Several headwords may share an entry; the dictionary's own metadata starts with "00-".
        if headword.starts_with("00-") || headword.starts_with("00database") || !seen.insert(start)
        {
            continue;
        }
        let Ok(text) = std::str::from_utf8(&body[start..end]) else {
            continue;
        };
        if let Some(entry) = parse_entry(text) {
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// Removes every `open…close` span (pronunciations, grammar, cross-references).
fn strip_spans(s: &str, open: char, close: char) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    for c in s.chars() {
        if c == open && (open != close || depth == 0) {
            depth += 1;
        } else if c == close && depth > 0 {
            depth -= 1;
        } else if depth == 0 {
            out.push(c);
        }
    }
    out
}

/// Drops grammar, domain labels and cross-references: `<n>`, `[techn.]`, `{Hunde}`, `(fam.)`.
fn strip_annotations(line: &str) -> String {
    let mut s = line.to_string();
    for (open, close) in [('[', ']'), ('<', '>'), ('{', '}'), ('(', ')')] {
        s = strip_spans(&s, open, close);
    }
    s
}

fn clean_gloss(s: &str) -> String {
    let mut s = s.trim();
    // "1. dog", "2. hound"
    if let Some((num, rest)) = s.split_once(". ") {
        if !num.is_empty() && num.chars().all(|c| c.is_ascii_digit()) {
            s = rest;
        }
    }
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_matches(|c: char| c == ';' || c == ',' || c == ':')
        .trim()
        .to_string()
}

/// Parses one entry's text; `None` when it has no usable form or translation.
pub fn parse_entry(text: &str) -> Option<Entry> {
    let mut lines = text.lines();
    let first = lines.next()?;
    let forms: Vec<String> = strip_annotations(&strip_spans(first, '/', '/'))
        .split(", ")
        .map(clean_gloss)
        .filter(|f| !f.is_empty())
        .take(2)
        .collect();
    let mut translations = Vec::new();
    for line in lines {
        let t = line.trim();
        if t.is_empty()
            || t.starts_with('(')
            || [
                "Note:",
                "Synonyms:",
                "Synonym:",
                "see:",
                "Antonyms:",
                "Antonym:",
                "See also:",
            ]
            .iter()
            .any(|p| t.starts_with(p))
        {
            continue;
        }
        for gloss in strip_annotations(t).split([',', ';']).map(clean_gloss) {
            if !gloss.is_empty() && !translations.contains(&gloss) {
                translations.push(gloss);
            }
        }
    }
    translations.truncate(3);
    (!forms.is_empty() && !translations.is_empty()).then_some(Entry {
        forms,
        translations,
    })
}

/// The corpus language of a FreeDict file name such as `freedict-deu-eng.index`, and whether
/// English is the headword side: `Some(("de", false))`.
pub fn languages_of(file_name: &str) -> Option<(String, bool)> {
    let stem = file_name
        .strip_prefix("freedict-")?
        .strip_suffix(".index")?;
    let (src, tgt) = stem.split_once('-')?;
    let (other, english_headwords) = match (src, tgt) {
        ("eng", other) => (other, true),
        (other, "eng") => (other, false),
        _ => return None,
    };
    let lang = match other {
        "ara" => "ar",
        "deu" => "de",
        "fra" => "fr",
        "spa" => "es",
        "ita" => "it",
        "nld" => "nl",
        "por" => "pt",
        "pol" => "pl",
        "tur" => "tr",
        "rus" => "ru",
        "jpn" => "ja",
        "swe" => "sv",
        "fin" => "fi",
        "ces" => "cs",
        "dan" => "da",
        "ell" => "el",
        "hun" => "hu",
        _ => return None,
    };
    Some((lang.to_string(), english_headwords))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_dictd_base64() {
        assert_eq!(decode_number("B0"), Some(64 + 52));
        assert_eq!(decode_number("A"), Some(0));
        assert_eq!(decode_number("GHAt"), Some(((6 * 64 + 7) * 64) * 64 + 45));
        assert_eq!(decode_number("!"), None);
        assert_eq!(decode_number(""), None);
    }

    #[test]
    fn entries_keep_forms_and_translations_only() {
        let e = parse_entry(
            "Hund /hʊnt/ <masc, n>\n1. dog\n2. hound <n>\n   Synonyms: {Köter}\n\n see: {Hunde}\n",
        )
        .unwrap();
        assert_eq!(
            e,
            Entry {
                forms: vec!["Hund".into()],
                translations: vec!["dog".into(), "hound".into()]
            }
        );
        let e = parse_entry("ゲップ /ɡˈe̞ppɯᵝ/, げっぷ /ɡˈe̞ppɯᵝ/\n(noun (common) (futsuumeishi))\nbelch, burp, eructation\n").unwrap();
        assert_eq!(e.forms, vec!["ゲップ", "げっぷ"]);
        assert_eq!(e.translations, vec!["belch", "burp", "eructation"]);
        let e =
            parse_entry("Rohr /roːɐ/\n [techn.] blow-off pipe <n>\n         Note: metallurgy\n")
                .unwrap();
        assert_eq!(e.translations, vec!["blow-off pipe"]);
        assert!(parse_entry("lonely /x/\n").is_none());
    }

    #[test]
    fn reads_index_and_gzip_body_and_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let body = "00-database-info\nA test\nHund /hʊnt/\ndog\nKatze /ˈkat͡sə/\ncat\n";
        let (h, k) = (body.find("Hund").unwrap(), body.find("Katze").unwrap());
        let enc = |n: usize| {
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let (mut n, mut s) = (n, Vec::new());
            loop {
                s.push(alphabet[n % 64]);
                n /= 64;
                if n == 0 {
                    break;
                }
            }
            s.reverse();
            String::from_utf8(s).unwrap()
        };
        let index = format!(
            "00-database-info\tA\t{}\nHund\t{}\t{}\nKatze\t{}\t{}\n",
            enc(h),
            enc(h),
            enc(k - h),
            enc(k),
            enc(body.len() - k)
        );
        std::fs::write(dir.path().join("freedict-deu-eng.index"), &index).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, body.as_bytes()).unwrap();
        std::fs::write(
            dir.path().join("freedict-deu-eng.dict.dz"),
            gz.finish().unwrap(),
        )
        .unwrap();
        let entries = read(&dir.path().join("freedict-deu-eng.index")).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[1],
            Entry {
                forms: vec!["Katze".into()],
                translations: vec!["cat".into()]
            }
        );
        assert_eq!(
            languages_of("freedict-deu-eng.index"),
            Some(("de".into(), false))
        );
        assert_eq!(
            languages_of("freedict-eng-rus.index"),
            Some(("ru".into(), true))
        );

        std::fs::write(dir.path().join("freedict-deu-eng.index"), "Hund\tB\n").unwrap();
        let err = read(&dir.path().join("freedict-deu-eng.index"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("freedict-deu-eng.index:1"), "{err}");
        std::fs::write(
            dir.path().join("freedict-deu-eng.index"),
            "Hund\tB\tzzzzz\n",
        )
        .unwrap();
        let err = read(&dir.path().join("freedict-deu-eng.index"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("past the end"), "{err}");
    }
}
