//! The static students' piece cache (student/pieces.rs) must give exactly the ids of
//! `Tokenizer::encode_fast(text, false)` on real text: every Tatoeba file (112 languages and
//! their English sides), read twice (the first pass fills the cache, the second reads it), with
//! both tokenizers the static students use: XLM-R's SentencePiece Unigram (multilingual-e5-small's)
//! and MiniLM's BERT WordPiece, read from the teachers the test command fetches (the static
//! students save those same files). Both the tokenizers and the Tatoeba files are required: a
//! missing one fails the test, naming what to run.

use std::path::{Path, PathBuf};

use glossa::student::pieces::{encode_ids, PieceCache};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

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
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("tatoeba."))
        })
        .collect();
    files.sort();
    let mut lines = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        lines.extend(text.lines().map(str::to_owned));
    }
    lines
}

/// The `tokenizer.json` of a teacher in the Hugging Face cache (what `scripts/test.sh` fetches).
fn teacher_tokenizer(repo: &str) -> PathBuf {
    glossa::hub::resolve(repo)
        .map(|m| m.file("tokenizer.json"))
        .unwrap_or_else(|e| {
            panic!("{e}\n(the test command runs scripts/fetch-assets.sh teacher and scripts/convert-e5.sh)")
        })
}

fn check(path: &Path, lines: &[String]) {
    let mut tokenizer = tokenizers::Tokenizer::from_file(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let tokenizer_file = path.display();
    // As TableStudent::load sets it.
    tokenizer.with_padding(None);
    tokenizer.with_truncation(None).unwrap();
    let cache = PieceCache::new(&tokenizer).expect("the cache serves this tokenizer");
    let vocab = tokenizer.get_vocab(true);
    let unknown = vocab.get("<unk>").or(vocab.get("[UNK]")).copied();
    assert!(unknown.is_some(), "{tokenizer_file}: no unknown token");
    let wants: Vec<Vec<u32>> = lines
        .iter()
        .map(|line| {
            let mut want = Vec::new();
            encode_ids(&tokenizer, unknown, line, &mut want);
            want
        })
        .collect();
    let mut served = 0;
    for pass in 0..2 {
        for (line, want) in lines.iter().zip(&wants) {
            let mut got = Vec::new();
            if cache.ids(&tokenizer, unknown, line, &mut got) {
                served += 1;
            } else {
                assert!(got.is_empty());
                encode_ids(&tokenizer, unknown, line, &mut got);
            }
            assert_eq!(&got, want, "{tokenizer_file}, pass {pass}: {line:?}");
        }
    }
    println!(
        "{tokenizer_file}: {} lines, {:.1}% served from pieces",
        lines.len(),
        100.0 * served as f64 / (2 * lines.len()) as f64
    );
    assert!(served > 0, "the cache served no text at all");
}

#[test]
fn piece_cache_gives_the_tokenizers_ids_on_every_tatoeba_line() {
    let lines = tatoeba_lines();
    assert!(lines.len() > 100_000);
    check(&teacher_tokenizer("intfloat/multilingual-e5-small"), &lines);
    check(
        &teacher_tokenizer("sentence-transformers/all-MiniLM-L6-v2"),
        &lines,
    );
}
