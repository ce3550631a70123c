//! Cleaning of software-localisation strings into natural sentences.
//!
//! UI catalogs are full of things that are not language: placeholders (`%s`, `{0}`, `$1`),
//! keyboard accelerators (`_Open`, `&File`, `~Save`, `ファイル(_F)`), markup, and strings left
//! untranslated. A pair is kept only when both sides survive.

use serde::{Deserialize, Serialize};

/// Why a pair was dropped; counted per language in the corpus report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Drop {
    Placeholder,
    Untranslated,
    TooShort,
    TooLong,
    NoLetters,
    WrongScript,
    Duplicate,
    InTestSet,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Minimum characters on the English side (after cleaning).
    pub min_chars: usize,
    /// Maximum characters on either side: long help paragraphs cost teacher time and get truncated.
    pub max_chars: usize,
}

/// True when the string carries a formatting placeholder of any common convention.
pub fn has_placeholder(s: &str) -> bool {
    let b = s.as_bytes();
    for i in 0..b.len() {
        let next = b.get(i + 1).copied().unwrap_or(0);
        match b[i] {
            // printf (%s %d %1$s %.2f %(name)s %ld), Qt/LibreOffice (%1 %FILENAME)
            b'%' if next.is_ascii_alphanumeric()
                || matches!(next, b'(' | b'.' | b'-' | b'+' | b'*' | b'#') =>
            {
                return true
            }
            // $1 $VAR $(ARG) ${x}
            b'$' if next.is_ascii_alphanumeric() || next == b'(' || next == b'{' => return true,
            // {0} {name} {{x}}
            b'{' if s[i + 1..].find('}').is_some_and(|end| end < 32) => return true,
            b'\\' if matches!(next, b'n' | b't' | b'"') => return true,
            _ => {}
        }
    }
    // LibreOffice's named placeholders: #1, $(ARG1), <PRODUCTNAME>-style markers were handled above
    s.contains("#1") || s.contains("#2")
}

/// Removes accelerator markers and markup, collapses whitespace. Returns the cleaned text.
pub fn strip_ui_markup(s: &str) -> String {
    let without_tags = super::help::decode_entities(&strip_tags(s));
    let mut out = String::with_capacity(without_tags.len());
    let chars: Vec<char> = without_tags.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        // CJK-style accelerators: "ファイル(_F)", "文件(&F)", "(~S)"
        if c == '(' && matches!(next, Some('_' | '&' | '~')) && chars.get(i + 3) == Some(&')') {
            i += 4;
            continue;
        }
        // "_Open", "&File", "~Save": the marker goes, the letter stays. "A & B" keeps its '&'.
        if matches!(c, '_' | '&' | '~') && next.is_some_and(|n| n.is_alphanumeric()) {
            let prev_is_word = i > 0 && chars[i - 1].is_alphanumeric();
            if c != '_' || !prev_is_word {
                i += 1;
                continue;
            }
        }
        // Control characters (a terminal bell in a shell's message) are not text: they would
        // also make the pair unwritable as TSV, TMX or JSON.
        out.push(if c.is_control() { ' ' } else { c });
        i += 1;
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn strip_tags(s: &str) -> String {
    if !s.contains('<') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let after = &rest[lt + 1..];
        // Only drop things that look like tags: "<b>", "</a>", "<a href=…>", "<br/>".
        let looks_like_tag = after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/');
        match after.find('>') {
            Some(gt) if looks_like_tag && !after[..gt].contains('<') => {
                out.push(' ');
                rest = &after[gt + 1..];
            }
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Cleans both sides of a candidate pair and decides whether it is usable.
pub fn clean_pair(
    en: &str,
    xx: &str,
    lang: &str,
    limits: Limits,
) -> Result<(String, String), Drop> {
    if has_placeholder(en) || has_placeholder(xx) {
        return Err(Drop::Placeholder);
    }
    let (en, xx) = (strip_ui_markup(en), strip_ui_markup(xx));
    if xx.is_empty() || en == xx {
        return Err(Drop::Untranslated);
    }
    if !en.chars().any(char::is_alphabetic) || !xx.chars().any(char::is_alphabetic) {
        return Err(Drop::NoLetters);
    }
    if en.chars().count() < limits.min_chars {
        return Err(Drop::TooShort);
    }
    if en.chars().count() > limits.max_chars || xx.chars().count() > limits.max_chars {
        return Err(Drop::TooLong);
    }
    if !super::lang::has_expected_script(&xx, lang) {
        return Err(Drop::WrongScript);
    }
    Ok((en, xx))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        min_chars: 5,
        max_chars: 400,
    };

    #[test]
    fn control_characters_become_spaces() {
        let (en, xx) = clean_pair(
            "\u{7}timed out waiting for input:\u{1b} auto-logout",
            "\u{7}Zeitüberschreitung bei Eingabe: automatisch abgemeldet",
            "de",
            LIMITS,
        )
        .unwrap();
        assert_eq!(en, "timed out waiting for input: auto-logout");
        assert!(!xx.chars().any(char::is_control), "{xx:?}");
    }

    #[test]
    fn placeholders_of_every_convention_are_caught() {
        for s in [
            "Copy %s to %s",
            "%1 of %2",
            "Delete {0}?",
            "Size: %.2f",
            "%(name)s",
            "Run $(ARG1)",
            "Line\\n",
            "$HOME",
        ] {
            assert!(has_placeholder(s), "{s}");
        }
        for s in [
            "100 % sure",
            "Save as…",
            "Cost in $ now",
            "Drag & drop",
            "{ alone",
        ] {
            assert!(!has_placeholder(s), "{s}");
        }
    }

    #[test]
    fn accelerators_and_markup_go_words_stay() {
        assert_eq!(strip_ui_markup("_Open File"), "Open File");
        assert_eq!(strip_ui_markup("&File"), "File");
        assert_eq!(strip_ui_markup("~Save As..."), "Save As...");
        assert_eq!(strip_ui_markup("ファイルを開く(_F)"), "ファイルを開く");
        assert_eq!(strip_ui_markup("打开(&O)"), "打开");
        assert_eq!(strip_ui_markup("Drag & Drop"), "Drag & Drop");
        assert_eq!(strip_ui_markup("snake_case name"), "snake_case name");
        assert_eq!(
            strip_ui_markup("<b>Bold</b> and <a href=\"x\">link</a>"),
            "Bold and link"
        );
        assert_eq!(strip_ui_markup("a < b and c > d"), "a < b and c > d");
        assert_eq!(strip_ui_markup("Tom &amp; Jerry"), "Tom & Jerry");
    }

    #[test]
    fn pairs_are_dropped_for_the_right_reason() {
        assert_eq!(
            clean_pair("Open the file", "Datei öffnen", "de", LIMITS),
            Ok(("Open the file".into(), "Datei öffnen".into()))
        );
        assert_eq!(
            clean_pair("Open %s", "%s öffnen", "de", LIMITS),
            Err(Drop::Placeholder)
        );
        assert_eq!(
            clean_pair("Open file", "", "de", LIMITS),
            Err(Drop::Untranslated)
        );
        assert_eq!(
            clean_pair("Open file", "Open file", "de", LIMITS),
            Err(Drop::Untranslated)
        );
        assert_eq!(clean_pair("OK", "Gut", "de", LIMITS), Err(Drop::TooShort));
        assert_eq!(
            clean_pair("12345", "12.345", "de", LIMITS),
            Err(Drop::NoLetters)
        );
        assert_eq!(
            clean_pair("Open file", "Open file now", "ja", LIMITS),
            Err(Drop::WrongScript)
        );
        assert_eq!(
            clean_pair("Open file", "ファイルを開く", "ja", LIMITS),
            Ok(("Open file".into(), "ファイルを開く".into()))
        );
    }
}
