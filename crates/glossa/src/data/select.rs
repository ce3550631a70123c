//! Which texts get the teacher's labels: the choice is stable (hash order, never the order files
//! were read in) so two runs on the same corpus label the same texts.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};

use crate::data::corpus::{CorpusFiles, Split};
use crate::data::dedup::KeyBuckets;
use crate::data::Pair;
use crate::Result;

/// Which pairs of a corpus on disk count: all of them, or those whose English side passes a test
/// (a precomputed teacher covers only the texts it was computed for).
pub type Keep<'a> = &'a dyn Fn(&str) -> bool;

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

/// The hash that orders pairs wherever a fixed pseudo-random order of them is needed.
fn pair_hash(p: &Pair) -> u64 {
    xxhash_rust::xxh3::xxh3_64(format!("{}\t{}", p.en, p.xx).as_bytes())
}

/// Up to `per_language` dev pairs of each language, in a fixed hash order.
pub fn dev_sample(
    dev: &BTreeMap<String, Vec<Pair>>,
    per_language: usize,
) -> BTreeMap<String, Vec<Pair>> {
    dev.iter()
        .map(|(lang, pairs)| {
            let mut pairs = pairs.clone();
            pairs.sort_by_key(pair_hash);
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

/// The key [`select_english_from`] orders English texts by: xxh3-64 first (the tie-break of
/// [`select_english`]), a second hash below it so distinct texts keep distinct keys.
fn english_key(en: &str) -> u128 {
    let first = xxhash_rust::xxh3::xxh3_64(en.as_bytes()) as u128;
    let second = xxhash_rust::xxh3::xxh3_64_with_seed(en.as_bytes(), 1) as u128;
    (first << 64) | second
}

/// [`select_english`] over a corpus on disk, in memory that grows with `max` and not with the
/// corpus: the (English, language) pairs are counted one disk bucket at a time and the best
/// `max` kept in a heap, then a second pass fetches their texts.
pub fn select_english_from(files: &CorpusFiles, max: usize, keep: Keep) -> Result<Vec<String>> {
    let mut buckets = KeyBuckets::new(files.dir())?;
    let languages = files.languages(Split::Train);
    for (i, lang) in languages.iter().enumerate() {
        files.for_each(Split::Train, lang, &mut |p| match keep(&p.en) {
            true => buckets.push(english_key(&p.en), i as u64),
            false => Ok(()),
        })?;
    }
    // The heap's top is the worst kept: fewest languages, then the largest key.
    let mut best: BinaryHeap<(Reverse<usize>, u128)> = BinaryHeap::new();
    buckets.for_each_sorted(|records| {
        for group in records.chunk_by(|a, b| a.0 == b.0) {
            let languages = 1 + group.windows(2).filter(|w| w[0].1 != w[1].1).count();
            best.push((Reverse(languages), group[0].0));
            if best.len() > max {
                best.pop();
            }
        }
        Ok(())
    })?;
    let rank: HashMap<u128, usize> = best
        .into_sorted_vec()
        .into_iter()
        .enumerate()
        .map(|(i, (_, key))| (key, i))
        .collect();
    let mut texts = vec![String::new(); rank.len()];
    for lang in languages {
        files.for_each(Split::Train, lang, &mut |p| {
            if let Some(&i) = rank.get(&english_key(&p.en)) {
                if texts[i].is_empty() {
                    texts[i] = p.en;
                }
            }
            Ok(())
        })?;
    }
    Ok(texts)
}

/// [`direct_texts`] over a corpus on disk: per language, the `per_language` translations of
/// `english` first in hash order, kept in a bounded set as the file streams by.
pub fn direct_texts_from(
    files: &CorpusFiles,
    english: &[String],
    per_language: usize,
    keep: Keep,
) -> Result<Vec<String>> {
    if per_language == 0 {
        return Ok(Vec::new());
    }
    let selected: HashSet<&str> = english.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for lang in files.languages(Split::Train) {
        let mut first: BTreeSet<(u64, String)> = BTreeSet::new();
        files.for_each(Split::Train, lang, &mut |p| {
            if selected.contains(p.en.as_str()) && keep(&p.en) {
                first.insert((xxhash_rust::xxh3::xxh3_64(p.xx.as_bytes()), p.xx));
                if first.len() > per_language {
                    first.pop_last();
                }
            }
            Ok(())
        })?;
        out.extend(first.into_iter().map(|(_, xx)| xx));
    }
    Ok(out)
}

/// [`dev_sample`] over a corpus on disk.
pub fn dev_sample_from(
    files: &CorpusFiles,
    per_language: usize,
    keep: Keep,
) -> Result<BTreeMap<String, Vec<Pair>>> {
    let mut out = BTreeMap::new();
    for lang in files.languages(Split::Dev) {
        let mut first: BTreeSet<(u64, Pair)> = BTreeSet::new();
        files.for_each(Split::Dev, lang, &mut |p| {
            if keep(&p.en) {
                first.insert((pair_hash(&p), p));
                if first.len() > per_language {
                    first.pop_last();
                }
            }
            Ok(())
        })?;
        out.insert(lang.clone(), first.into_iter().map(|(_, p)| p).collect());
    }
    Ok(out)
}

/// The training pairs whose English side is one of `english`, by language (every language of
/// the corpus, empty or not): what the teacher's labels reach, read from disk. With `cap > 0`,
/// at most `cap` of them per language, the first in a fixed hash order, in file order.
pub fn pairs_with_english(
    files: &CorpusFiles,
    english: &[String],
    cap: usize,
    keep: Keep,
) -> Result<BTreeMap<String, Vec<Pair>>> {
    let selected: HashSet<&str> = english.iter().map(String::as_str).collect();
    let mut out = BTreeMap::new();
    for lang in files.languages(Split::Train) {
        let mut pairs = Vec::new();
        files.for_each(Split::Train, lang, &mut |p| {
            if selected.contains(p.en.as_str()) && keep(&p.en) {
                pairs.push(p);
            }
            Ok(())
        })?;
        if cap > 0 && pairs.len() > cap {
            pairs = first_in_hash_order(pairs, cap);
        }
        out.insert(lang.clone(), pairs);
    }
    Ok(out)
}

/// Every training pair of every language, labelled or not (with `cap > 0`, at most `cap` per
/// language, the first in the hash order `pairs_with_english` caps by): what the ranking term
/// between the student's two sides reads.
pub fn every_pair_from(files: &CorpusFiles, cap: usize) -> Result<BTreeMap<String, Vec<Pair>>> {
    let mut all = files.read(Split::Train)?;
    for pairs in all.values_mut().filter(|p| cap > 0 && p.len() > cap) {
        *pairs = first_in_hash_order(std::mem::take(pairs), cap);
    }
    Ok(all)
}

/// The `n` pairs first in hash order, kept in their original order.
fn first_in_hash_order(pairs: Vec<Pair>, n: usize) -> Vec<Pair> {
    let mut order: Vec<(u64, usize)> = pairs.iter().map(pair_hash).zip(0..).collect();
    order.sort_unstable();
    let mut chosen: Vec<usize> = order[..n].iter().map(|&(_, i)| i).collect();
    chosen.sort_unstable();
    let mut chosen = chosen.into_iter().peekable();
    let mut out = Vec::with_capacity(n);
    for (i, p) in pairs.into_iter().enumerate() {
        if chosen.peek() == Some(&i) {
            chosen.next();
            out.push(p);
        }
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

    /// Writes `train` and `dev` as a corpus folder (files, checksums, report) and opens it.
    fn on_disk(
        dir: &std::path::Path,
        train: &BTreeMap<String, Vec<Pair>>,
        dev: &BTreeMap<String, Vec<Pair>>,
    ) -> CorpusFiles {
        let mut report = crate::data::corpus::BuildReport::default();
        let mut sums = BTreeMap::new();
        for (split, by_lang) in [("train", train), ("dev", dev)] {
            for (lang, list) in by_lang {
                let rel = format!("{split}/{lang}.tsv");
                crate::data::write_pairs(&dir.join(&rel), list).unwrap();
                let bytes = std::fs::read(dir.join(&rel)).unwrap();
                sums.insert(rel, format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes)));
                let r = report.languages.entry(lang.clone()).or_default();
                match split {
                    "train" => r.train = list.len(),
                    _ => r.dev = list.len(),
                }
            }
        }
        std::fs::write(
            dir.join("checksums.json"),
            serde_json::to_vec(&sums).unwrap(),
        )
        .unwrap();
        CorpusFiles::open(dir, &report).unwrap()
    }

    #[test]
    fn the_selection_from_disk_is_the_selection_in_memory() {
        let mut train: BTreeMap<String, Vec<Pair>> = BTreeMap::new();
        let mut dev: BTreeMap<String, Vec<Pair>> = BTreeMap::new();
        for (l, lang) in ["de", "fr", "ja"].into_iter().enumerate() {
            for i in 0..3000usize {
                // English texts shared by one, two or three languages, in a scrambled order.
                if (i * 7 + l) % 3 > l % 3 + 1 {
                    continue;
                }
                let en = format!("sentence {}", (i * 7919) % 3001);
                let pair = Pair {
                    xx: format!("{lang} {en} {}", i % 5),
                    en,
                };
                let split = if i % 10 == 0 { &mut dev } else { &mut train };
                split.entry(lang.to_string()).or_default().push(pair);
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let files = on_disk(dir.path(), &train, &dev);
        let all = |_: &str| true;
        for max in [0, 1, 100, 2500, usize::MAX] {
            let want = select_english(&train, max);
            assert_eq!(
                select_english_from(&files, max, &all).unwrap(),
                want,
                "{max}"
            );
        }
        let english = select_english(&train, 700);
        assert_eq!(
            direct_texts_from(&files, &english, 50, &all).unwrap(),
            direct_texts(&train, &english, 50)
        );
        assert_eq!(
            dev_sample_from(&files, 40, &all).unwrap(),
            dev_sample(&dev, 40)
        );
        let reached = pairs_with_english(&files, &english, 0, &all).unwrap();
        for (lang, list) in &train {
            let want: Vec<&Pair> = list.iter().filter(|p| english.contains(&p.en)).collect();
            assert_eq!(reached[lang].iter().collect::<Vec<_>>(), want, "{lang}");
        }
        // A cap keeps that many of each language, a subsequence of the uncapped list.
        let capped = pairs_with_english(&files, &english, 100, &all).unwrap();
        for (lang, list) in &capped {
            assert_eq!(list.len(), reached[lang].len().min(100), "{lang}");
            let mut rest = reached[lang].iter();
            assert!(
                list.iter().all(|p| rest.any(|q| q == p)),
                "{lang}: not in order"
            );
        }
        // Every pair, labelled or not: the whole train split, capped as the labelled ones are.
        assert_eq!(every_pair_from(&files, 0).unwrap(), train);
        let every_capped = every_pair_from(&files, 100).unwrap();
        for (lang, list) in &every_capped {
            assert_eq!(list.len(), train[lang].len().min(100), "{lang}");
            let mut rest = train[lang].iter();
            assert!(list.iter().all(|p| rest.any(|q| q == p)), "{lang}");
        }
        // A filter applies to every reader.
        let odd = |en: &str| en.ends_with(['1', '3', '5', '7', '9']);
        let kept = select_english_from(&files, usize::MAX, &odd).unwrap();
        assert!(!kept.is_empty() && kept.iter().all(|en| odd(en)));
        // Nothing of the buckets is left beside the corpus.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }
}
