//! A fastText-style subword student on every Tatoeba line: its features are exactly those of
//! the original algorithm (re-implemented here from the public pieces: a String per token,
//! `char_ngrams`, `fasttext_hash`), and `encode` (allocation-free, word sums cached) gives the
//! vectors of `embed` (the plain path) up to float rounding. The student is built here, with the
//! default config's text processing and a vocabulary counted on the same lines, and saved and
//! loaded so `encode` runs on a read-only table as a shipped student does; its weights are random,
//! which both paths share. The Tatoeba files are required (../shared/eval, or GLOSSA_EVAL_DIR).

use std::path::{Path, PathBuf};

use glossa::student::features::{char_ngrams, fasttext_hash, TokenKind};
use glossa::student::table_student::{build_vocab, SubwordConfig};
use glossa::student::TableStudent;
use glossa::student::{Marks, WordRules};
use glossa::Encoder;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `features::tokenize` as it was before the allocation-free rewrite.
fn tokenize_original(text: &str, lowercase: bool) -> Vec<(String, TokenKind)> {
    let unspaced = glossa::data::lang::is_unspaced_script;
    let is_mark = |c: char| matches!(c, '\u{0300}'..='\u{036F}' | '\u{0610}'..='\u{061A}' | '\u{064B}'..='\u{065F}' | '\u{0900}'..='\u{0903}' | '\u{093A}'..='\u{094F}' | '\u{200C}' | '\u{200D}');
    let mut out = Vec::new();
    let mut word = String::new();
    let mut run: Vec<char> = Vec::new();
    let flush_run = |run: &mut Vec<char>, out: &mut Vec<(String, TokenKind)>| {
        for c in run.iter() {
            out.push((c.to_string(), TokenKind::Chars));
        }
        for pair in run.windows(2) {
            out.push((pair.iter().collect(), TokenKind::Chars));
        }
        run.clear();
    };
    for c in text.chars() {
        if unspaced(c) {
            if !word.is_empty() {
                out.push((std::mem::take(&mut word), TokenKind::Word));
            }
            run.push(c);
        } else if c.is_alphanumeric() || is_mark(c) {
            flush_run(&mut run, &mut out);
            if lowercase {
                word.extend(c.to_lowercase());
            } else {
                word.push(c);
            }
        } else {
            if !word.is_empty() {
                out.push((std::mem::take(&mut word), TokenKind::Word));
            }
            flush_run(&mut run, &mut out);
        }
    }
    if !word.is_empty() {
        out.push((word, TokenKind::Word));
    }
    flush_run(&mut run, &mut out);
    out
}

fn features_original(s: &TableStudent, text: &str) -> Vec<u32> {
    let bucket = |b: &[u8]| (s.words().len() + fasttext_hash(b) as usize % s.config.buckets) as u32;
    let mut out = Vec::new();
    for (token, kind) in tokenize_original(text, s.config.lowercase) {
        let word = s.word_id(&token);
        let bracketed = format!("<{token}>");
        match kind {
            TokenKind::Word => {
                out.extend(word);
                char_ngrams(&bracketed, s.config.minn, s.config.maxn, |g| {
                    out.push(bucket(g.as_bytes()))
                });
            }
            TokenKind::Chars => out.push(word.unwrap_or_else(|| bucket(bracketed.as_bytes()))),
        }
    }
    out
}

/// Every line of the Tatoeba files; their absence is a failure, not a skip.
fn tatoeba_lines() -> Vec<String> {
    let eval = std::env::var_os("GLOSSA_EVAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/eval"));
    let dir = eval.join("tatoeba");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\n(the evaluation sets are required: set GLOSSA_EVAL_DIR)",
            dir.display()
        )
    });
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    let mut lines = Vec::new();
    for f in files
        .iter()
        .filter(|f| f.to_string_lossy().contains("tatoeba."))
    {
        lines.extend(
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(str::to_owned),
        );
    }
    lines
}

/// A subword student shaped like the default one (configs/default.toml's text processing, a
/// smaller table), saved and loaded back. Its marks are the listed ones, the rule the original
/// algorithm above knows (`features`' own tests check every rule against a reference).
fn student(lines: &[String], dir: &Path) -> TableStudent {
    let config = SubwordConfig::new(
        64,
        64,
        20_000,
        (3, 6),
        WordRules {
            marks: Marks::Listed,
            ..WordRules::new(true)
        },
    );
    let words = build_vocab(
        lines.iter().map(String::as_str),
        config.word_rules(),
        2,
        100_000,
    );
    assert!(words.len() > 10_000, "{} words", words.len());
    TableStudent::new(config, words, 42)
        .unwrap()
        .save(dir)
        .unwrap();
    TableStudent::load(dir).unwrap()
}

#[test]
fn subword_student_features_and_vectors_equal_the_original_path_on_every_tatoeba_line() {
    let lines = tatoeba_lines();
    let dir = tempfile::tempdir().unwrap();
    let student = student(&lines, dir.path());
    assert!(lines.len() > 100_000, "{} lines", lines.len());
    for line in &lines {
        let mut got = Vec::new();
        student.features(line, &mut got);
        assert_eq!(got, features_original(&student, line), "{line:?}");
    }
    // A sample of the vectors (embed is the slow plain path): both the cold and the warm cache.
    let sample: Vec<&str> = lines.iter().step_by(20).map(String::as_str).collect();
    for pass in 0..2 {
        let got = student.encode(&sample).unwrap();
        let mut worst = 0f32;
        for (i, text) in sample.iter().enumerate() {
            let want = student.embed(text);
            let scale = want.iter().fold(1e-3f32, |m, x| m.max(x.abs()));
            for (a, b) in got.row(i).iter().zip(&want) {
                worst = worst.max((a - b).abs() / scale);
            }
        }
        println!(
            "pass {pass}: {} texts, largest difference {worst:e} of the largest value",
            sample.len()
        );
        assert!(worst <= 1e-5, "pass {pass}: {worst}");
    }
}
