//! `glossa distill` and `glossa corpus build` on the user's own files, with flags and no config:
//! bad input stops the run before the teacher is loaded; a corpus exports and reads back.

use std::path::Path;

mod common;

use common::glossa;

/// A teacher that does not exist: a run that reaches the teacher fails naming it, so a failure
/// that names something else happened before any teacher time.
const NO_TEACHER: &str = "/nonexistent/teacher";

#[test]
fn distill_flags_refuse_bad_input_before_the_teacher() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let glob = dir.path().join("none-*.tsv");
    let err = glossa(["distill", "--teacher", NO_TEACHER, "--eval-dir"])
        .arg(dir.path().join("no-eval"))
        .arg("--parallel")
        .arg(&glob)
        .arg("--out")
        .arg(&run)
        .fails_with(&["none-*.tsv", "matches no file"]);
    assert!(!err.contains("/nonexistent/teacher"), "{err}");
    let err = glossa([
        "distill",
        "--languages",
        "de,klingon",
        "--teacher",
        NO_TEACHER,
    ])
    .arg("--out")
    .arg(&run)
    .fails_with(&["--languages", "unknown language code `klingon`"]);
    assert!(!err.contains("/nonexistent/teacher"), "{err}");
    let moses = dir.path().join("c");
    std::fs::write(moses.with_extension("en"), "Hello\nGood night\n").unwrap();
    std::fs::write(moses.with_extension("de"), "Hallo\n").unwrap();
    glossa([
        "distill",
        "--teacher",
        NO_TEACHER,
        "--languages",
        "all",
        "--eval-dir",
    ])
    .arg(dir.path().join("no-eval"))
    .arg("--parallel")
    .arg(dir.path().join("c.*"))
    .arg("--out")
    .arg(&run)
    .fails_with(&["c.de: has 1 lines", "c.en has 2"]);
}

fn write_config(dir: &Path, parallel: &str) -> std::path::PathBuf {
    let config = dir.join("user.toml");
    let text = format!(
        "[corpus]\ngettext_roots = []\nhelp_root = \"\"\ndictionary_dirs = []\nlanguages = \"all\"\nparallel = [\"{parallel}\"]\n"
    );
    std::fs::write(&config, text).unwrap();
    config
}

#[test]
fn corpus_build_exports_a_format_that_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let eval = dir.path().join("eval");
    std::fs::create_dir_all(eval.join("tatoeba")).unwrap();
    std::fs::write(
        eval.join("tatoeba/tatoeba.deu-eng.eng"),
        "Sentence number 7\n",
    )
    .unwrap();
    let tsv = dir.path().join("talks-en-de.tsv");
    let lines: Vec<String> = (0..50)
        .map(|i| format!("Sentence number {i}\tSatz Nummer {i}"))
        .collect();
    std::fs::write(&tsv, lines.join("\n")).unwrap();
    let config = write_config(dir.path(), &tsv.display().to_string());
    let out = dir.path().join("export");
    glossa([
        "corpus",
        "build",
        "--format",
        "tmx",
        "--compress",
        "zstd",
        "--config",
    ])
    .arg(&config)
    .arg("--eval-dir")
    .arg(&eval)
    .arg("--out")
    .arg(&out)
    .ok();
    let tmx = out.join("corpus.tmx.zst");
    let text =
        String::from_utf8(zstd::decode_all(std::fs::File::open(&tmx).unwrap()).unwrap()).unwrap();
    // 50 pairs, less the one whose English side is a test sentence.
    assert_eq!(text.matches("<tu>").count(), 49, "{text}");
    // Read back as the user's files: the same 49 pairs, split the same way.
    let again = write_config(dir.path(), &format!("{}/*", out.display()));
    let tsv_out = dir.path().join("tsv");
    let printed = glossa(["corpus", "build", "--config"])
        .arg(&again)
        .arg("--eval-dir")
        .arg(&eval)
        .arg("--out")
        .arg(&tsv_out)
        .ok();
    let table = String::from_utf8_lossy(&printed.stdout).into_owned();
    let de: Vec<usize> = table
        .lines()
        .find(|l| l.starts_with("de "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .map(|n| n.parse().unwrap())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(de.iter().sum::<usize>(), 49, "{table}");
}
