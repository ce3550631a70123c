//! Language codes and scripts.
//!
//! The corpus uses the two-letter codes of the locales it comes from (`de`, `zh`); the Tatoeba
//! test set uses ISO 639-3 (`deu`, `cmn`). Locale variants fold into their language (`pt_BR` and
//! `pt` are both `pt`; `zh_CN` and `zh_TW` are both `zh`).

/// The language of a locale name: `pt_BR` → `pt`, `zh-CN` → `zh`, `sr@latin` → `sr`.
pub fn language_of_locale(locale: &str) -> String {
    locale
        .split(['_', '-', '@', '.'])
        .next()
        .unwrap_or(locale)
        .to_ascii_lowercase()
}

/// Individual languages that fold into their macrolanguage's code, as the corpus names it
/// (Tatoeba files Mandarin as `cmn`, Standard Arabic as `arb`, Iranian Persian as `pes`).
const FOLDED: [(&str, &str); 12] = [
    ("cmn", "zh"),
    ("arb", "ar"),
    ("pes", "fa"),
    ("zsm", "ms"),
    ("swh", "sw"),
    ("ekk", "et"),
    ("lvs", "lv"),
    ("khk", "mn"),
    ("uzn", "uz"),
    ("azj", "az"),
    ("npi", "ne"),
    ("plt", "mg"),
];

/// Codes ISO 639-1 retired but that files still carry.
const RETIRED: [(&str, &str); 4] = [("iw", "he"), ("in", "id"), ("ji", "yi"), ("jw", "jv")];

/// The one code the corpus, the report and the model card use for a language: its ISO 639-1
/// code where it has one, else its ISO 639-3 code. Accepts ISO 639-1 (`zh`), ISO 639-3 (`zho`,
/// `cmn`) and BCP-47 / locale names (`zh-Hans`, `pt-BR`, `pt_BR.UTF-8`, `sr@latin`), in any case.
pub fn canonical(code: &str) -> std::result::Result<String, String> {
    let primary = language_of_locale(code.trim());
    let unknown = || {
        format!(
            "unknown language code `{code}`: expected an ISO 639-1 (`de`), ISO 639-3 (`deu`) \
             or BCP-47 (`pt-BR`) code"
        )
    };
    if !primary.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(unknown());
    }
    let lookup = |table: &[(&str, &'static str)]| {
        table
            .iter()
            .find(|(from, _)| *from == primary)
            .map(|(_, to)| to.to_string())
    };
    if let Some(folded) = lookup(&FOLDED).or_else(|| lookup(&RETIRED)) {
        return Ok(folded);
    }
    let language = match primary.len() {
        2 => isolang::Language::from_639_1(&primary),
        3 => isolang::Language::from_639_3(&primary),
        _ => None,
    }
    .ok_or_else(unknown)?;
    Ok(language
        .to_639_1()
        .unwrap_or_else(|| language.to_639_3())
        .to_string())
}

/// ISO 639-3 code Tatoeba uses for a corpus language: the table of headline languages (where
/// Tatoeba files the individual language, `zh` → `cmn`), else the language's own 639-3 code.
pub fn tatoeba_code(lang: &str) -> Option<&'static str> {
    headline_tatoeba_code(lang).or_else(|| {
        let language = match lang.len() {
            2 => isolang::Language::from_639_1(lang),
            _ => isolang::Language::from_639_3(lang),
        };
        language.map(|l| tatoeba_individual(l.to_639_3()))
    })
}

/// Tatoeba files these macrolanguages under one individual language (Swahili as `swh`,
/// Persian as `pes`, Latvian as `lvs`, Malay as `zsm`, Norwegian as Bokmål `nob`).
fn tatoeba_individual(code: &'static str) -> &'static str {
    match code {
        "swa" => "swh",
        "fas" => "pes",
        "lav" => "lvs",
        "msa" => "zsm",
        "nor" => "nob",
        other => other,
    }
}

fn headline_tatoeba_code(lang: &str) -> Option<&'static str> {
    Some(match lang {
        "ar" => "ara",
        "de" => "deu",
        "es" => "spa",
        "fr" => "fra",
        "it" => "ita",
        "ja" => "jpn",
        "nl" => "nld",
        "pl" => "pol",
        "pt" => "por",
        "ru" => "rus",
        "tr" => "tur",
        "zh" => "cmn",
        "ko" => "kor",
        "uk" => "ukr",
        "cs" => "ces",
        "sv" => "swe",
        "fi" => "fin",
        "da" => "dan",
        "el" => "ell",
        "hu" => "hun",
        "he" => "heb",
        "hi" => "hin",
        "id" => "ind",
        "vi" => "vie",
        "th" => "tha",
        "fa" => "pes",
        "bg" => "bul",
        "ro" => "ron",
        "ca" => "cat",
        "sk" => "slk",
        _ => return None,
    })
}

/// The script a language's text must contain at least one letter of, for languages whose text
/// is never written in Latin letters alone. `None`: any letters do.
fn expected_script(lang: &str) -> Option<fn(char) -> bool> {
    Some(match lang {
        "ja" => |c| is_kana(c) || is_han(c),
        "zh" => is_han,
        "ko" => is_hangul,
        "ar" | "fa" | "ur" => {
            |c| ('\u{0600}'..='\u{06FF}').contains(&c) || ('\u{0750}'..='\u{077F}').contains(&c)
        }
        "ru" | "uk" | "bg" | "sr" => |c| ('\u{0400}'..='\u{04FF}').contains(&c),
        "el" => |c| ('\u{0370}'..='\u{03FF}').contains(&c),
        "he" => |c| ('\u{0590}'..='\u{05FF}').contains(&c),
        "hi" | "mr" => |c| ('\u{0900}'..='\u{097F}').contains(&c),
        "bn" => |c| ('\u{0980}'..='\u{09FF}').contains(&c),
        "or" => |c| ('\u{0B00}'..='\u{0B7F}').contains(&c),
        "ta" => |c| ('\u{0B80}'..='\u{0BFF}').contains(&c),
        "te" => |c| ('\u{0C00}'..='\u{0C7F}').contains(&c),
        "th" => is_unspaced_letter,
        _ => return None,
    })
}

pub fn has_expected_script(text: &str, lang: &str) -> bool {
    expected_script(lang).is_none_or(|is| text.chars().any(is))
}

pub fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{2FA1F}')
}

pub fn is_kana(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30FF}' | '\u{31F0}'..='\u{31FF}' | '\u{FF66}'..='\u{FF9F}')
}

pub fn is_hangul(c: char) -> bool {
    matches!(c, '\u{AC00}'..='\u{D7AF}' | '\u{1100}'..='\u{11FF}' | '\u{3130}'..='\u{318F}')
}

/// The letters (and signs) of the unspaced scripts that spell sounds, not morphemes: Thai,
/// Lao, Khmer and Myanmar. (Thai text is expected to hold one of them.)
pub fn is_unspaced_letter(c: char) -> bool {
    matches!(c, '\u{0E00}'..='\u{0E7F}' | '\u{0E80}'..='\u{0EFF}' | '\u{1780}'..='\u{17FF}' | '\u{1000}'..='\u{109F}')
}

/// Scripts written without spaces between words (Chinese, Japanese, Thai, Lao, Khmer, Burmese):
/// whitespace splitting would make a whole sentence one "word".
pub fn is_unspaced_script(c: char) -> bool {
    is_han(c) || is_kana(c) || is_unspaced_letter(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_fold_into_languages() {
        assert_eq!(language_of_locale("pt_BR"), "pt");
        assert_eq!(language_of_locale("zh-CN"), "zh");
        assert_eq!(language_of_locale("sr@latin"), "sr");
        assert_eq!(language_of_locale("de"), "de");
        assert_eq!(tatoeba_code("zh"), Some("cmn"));
        assert_eq!(tatoeba_code("sw"), Some("swh"));
        assert_eq!(tatoeba_code("fa"), Some("pes"));
        assert_eq!(tatoeba_code("nb"), Some("nob"));
        assert_eq!(tatoeba_code("ast"), Some("ast"));
    }

    #[test]
    fn every_spelling_of_a_language_has_one_code() {
        for code in ["zh", "zho", "cmn", "zh-Hans", "zh_TW", "ZH"] {
            assert_eq!(canonical(code).unwrap(), "zh", "{code}");
        }
        for (code, want) in [
            ("pt-BR", "pt"),
            ("deu", "de"),
            ("iw", "he"),
            ("en-US", "en"),
        ] {
            assert_eq!(canonical(code).as_deref(), Ok(want), "{code}");
        }
        // Languages without a two-letter code keep their three-letter one.
        assert_eq!(canonical("ast").unwrap(), "ast");
        assert_eq!(canonical("yue").unwrap(), "yue");
        for bad in ["xx", "english", "", "d3"] {
            let err = canonical(bad).unwrap_err();
            assert!(
                err.contains(&format!("`{bad}`")) && err.contains("ISO 639"),
                "{err}"
            );
        }
    }

    #[test]
    fn scripts_are_checked_where_they_must_be() {
        assert!(has_expected_script("Файл", "ru"));
        assert!(!has_expected_script("File", "ru"));
        assert!(has_expected_script("ファイル", "ja"));
        assert!(has_expected_script("ফাইল", "bn") && !has_expected_script("file", "bn"));
        assert!(has_expected_script("கோப்பு", "ta") && has_expected_script("فائل", "ur"));
        assert!(has_expected_script("Datei", "de"));
        assert!(is_unspaced_script('日') && !is_unspaced_script('a'));
    }
}
