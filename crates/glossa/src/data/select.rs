//! Which texts get the teacher's labels: the choice is stable (hash order, never the order files
//! were read in) so two runs on the same corpus label the same texts.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::data::Pair;

/// English texts to label: those translated into the most languages first, ties broken by a
/// hash so the choice is stable and unbiased, at most `max`.
pub fn select_english(train: &BTreeMap<String, Vec<Pair>>, max: usize) -> Vec<String> {
    let mut langs_of: HashMap<&str, usize> = HashMap::new();
    for pairs in train.values() {
        let mut seen = HashSet::new();
        for p in pairs {
            if seen.insert(p.en.as_str()) {
                *langs_of.entry(p.en.as_str()).or_default() += 1;
            }
        }
    }
    let mut english: Vec<(&str, usize)> = langs_of.into_iter().collect();
    english.sort_by_key(|&(en, n)| {
        (
            std::cmp::Reverse(n),
            xxhash_rust::xxh3::xxh3_64(en.as_bytes()),
            en,
        )
    });
    english.truncate(max);
    english.into_iter().map(|(en, _)| en.to_string()).collect()
}

/// `english` followed by the texts of `only` that it does not hold yet.
pub fn with_english_only(mut english: Vec<String>, only: &[String]) -> Vec<String> {
    let have: HashSet<String> = english.iter().cloned().collect();
    english.extend(only.iter().filter(|t| !have.contains(*t)).cloned());
    english
}

/// Up to `per_language` dev pairs of each language, in a fixed hash order.
pub fn dev_sample(
    dev: &BTreeMap<String, Vec<Pair>>,
    per_language: usize,
) -> BTreeMap<String, Vec<Pair>> {
    dev.iter()
        .map(|(lang, pairs)| {
            let mut pairs = pairs.clone();
            pairs.sort_by_key(|p| {
                xxhash_rust::xxh3::xxh3_64(format!("{}\t{}", p.en, p.xx).as_bytes())
            });
            pairs.truncate(per_language);
            (lang.clone(), pairs)
        })
        .collect()
}

/// Up to `per_language` translations per language of the texts in `english`, in a fixed
/// pseudo-random order: texts the teacher labels itself (student(x) ≈ teacher(x)).
pub fn direct_texts(
    train: &BTreeMap<String, Vec<Pair>>,
    english: &[String],
    per_language: usize,
) -> Vec<String> {
    if per_language == 0 {
        return Vec::new();
    }
    let selected: HashSet<&str> = english.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for pairs in train.values() {
        let mut xx: Vec<&str> = pairs
            .iter()
            .filter(|p| selected.contains(p.en.as_str()))
            .map(|p| p.xx.as_str())
            .collect();
        xx.sort_by_key(|t| (xxhash_rust::xxh3::xxh3_64(t.as_bytes()), *t));
        xx.dedup();
        out.extend(xx.into_iter().take(per_language).map(str::to_string));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<Pair> {
        list.iter()
            .map(|(en, xx)| Pair {
                en: en.to_string(),
                xx: xx.to_string(),
            })
            .collect()
    }

    #[test]
    fn english_in_more_languages_is_selected_first() {
        let train = BTreeMap::from([
            (
                "de".to_string(),
                pairs(&[("Open", "Öffnen"), ("Close", "Schließen")]),
            ),
            ("fr".to_string(), pairs(&[("Open", "Ouvrir")])),
        ]);
        assert_eq!(select_english(&train, 1), vec!["Open"]);
        assert_eq!(select_english(&train, 10).len(), 2);
    }
}
