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

/// Gettext catalogs for German and French, 60 sentences each, as the built-in reader finds them.
fn built_in_sources(root: &Path) {
    let things = ["window", "table", "page", "letter", "garden", "train"];
    let english: Vec<String> = (0..60)
        .map(|i| format!("Open the {} number {i}", things[i % 6]))
        .collect();
    let german: Vec<String> = (0..60)
        .map(|i| format!("Öffne das Ding {} Nummer {i}", things[i % 6]))
        .collect();
    let french: Vec<String> = (0..60)
        .map(|i| format!("Ouvre la chose {} numéro {i}", things[i % 6]))
        .collect();
    for (lang, texts) in [("de", &german), ("fr", &french)] {
        let dir = root.join("locale").join(lang).join("LC_MESSAGES");
        std::fs::create_dir_all(&dir).unwrap();
        let entries: Vec<(&str, &str)> = english
            .iter()
            .zip(texts)
            .map(|(en, xx)| (en.as_str(), xx.as_str()))
            .collect();
        std::fs::write(dir.join("app.mo"), glossa::data::mo::write(&entries)).unwrap();
    }
}

/// A small distillation of `corpus` (TOML lines of its [corpus] section) into `<dir>/<name>`.
fn distill_config(dir: &Path, name: &str, corpus: &str) -> std::path::PathBuf {
    let config = dir.join(format!("{name}.toml"));
    let text = format!(
        r#"run_dir = "{run}"
eval_dir = "{eval}"
cache_dir = "{labels}"
[corpus]
languages = ["de", "fr"]
help_root = ""
wordnet_dir = ""
dictionary_dirs = []
dev_permille = 200
{corpus}
[student]
buckets = 2000
min_count = 1
dim = 32
[train]
epochs = 2
batch_size = 8
[eval]
tatoeba = []
tatoeba_trained = false
sts17 = false
stsb = false
random_target_control = false
speed_seconds = 0.0
"#,
        run = dir.join(name).display(),
        eval = dir.join("eval").display(),
        labels = dir.join("labels").display(),
    );
    std::fs::write(&config, text).unwrap();
    config
}

#[test]
fn the_built_in_corpus_exported_in_every_format_distils_to_the_same_student() {
    let dir = tempfile::tempdir().unwrap();
    let eval = dir.path().join("eval/tatoeba");
    std::fs::create_dir_all(&eval).unwrap();
    std::fs::write(eval.join("tatoeba.deu-eng.eng"), "Open the page number 2\n").unwrap();
    built_in_sources(dir.path());
    let locale = dir.path().join("locale");
    let built_in = distill_config(
        dir.path(),
        "built-in",
        &format!("gettext_roots = [\"{}\"]", locale.display()),
    );
    glossa(["distill", "--config"]).arg(&built_in).ok();
    let weights = |name: &str| {
        std::fs::read(dir.path().join(name).join("student/model.safetensors")).unwrap()
    };
    let want = weights("built-in");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("built-in/report.json")).unwrap())
            .unwrap();
    // 60 pairs per language, less the test sentence; some of them in dev.
    let de = &report["corpus"]["languages"]["de"];
    assert_eq!(
        de["train"].as_u64().unwrap() + de["dev"].as_u64().unwrap(),
        59,
        "{de}"
    );
    assert!(de["dev"].as_u64().unwrap() > 0, "{de}");
    for (format, compress) in [
        ("moses", "none"),
        ("tmx", "none"),
        ("jsonl", "zstd"),
        ("tsv", "gzip"),
    ] {
        let out = dir.path().join(format!("export-{format}"));
        glossa([
            "corpus",
            "build",
            "--format",
            format,
            "--compress",
            compress,
            "--config",
        ])
        .arg(&built_in)
        .arg("--out")
        .arg(&out)
        .ok();
        let from_files = distill_config(
            dir.path(),
            format,
            &format!("gettext_roots = []\nparallel = [\"{}/*\"]", out.display()),
        );
        glossa(["distill", "--config"]).arg(&from_files).ok();
        assert!(
            weights(format) == want,
            "{format}: the student differs from the built-in path's"
        );
    }
}

#[test]
fn languages_with_too_few_pairs_are_left_out_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let eval = dir.path().join("eval/tatoeba");
    std::fs::create_dir_all(&eval).unwrap();
    std::fs::write(eval.join("tatoeba.deu-eng.eng"), "The house number 7\n").unwrap();
    let de: Vec<String> = (0..40)
        .map(|i| format!("The house number {i}\tDas Haus Nummer {i}"))
        .collect();
    std::fs::write(dir.path().join("en-de.tsv"), de.join("\n")).unwrap();
    std::fs::write(
        dir.path().join("en-fr.tsv"),
        "The house number 1\tLa maison numéro 1\nThe house number 2\tLa maison numéro 2\n",
    )
    .unwrap();
    let files = format!(
        "gettext_roots = []\nparallel = [\"{}/*.tsv\"]",
        dir.path().display()
    );
    let config = distill_config(dir.path(), "few", &files);
    glossa([
        "distill",
        "--languages",
        "all",
        "--min-pairs",
        "10",
        "--config",
    ])
    .arg(&config)
    .ok();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("few/report.json")).unwrap())
            .unwrap();
    let few = &report["corpus"]["too_few_pairs"];
    assert_eq!(
        few["fr"].as_u64().unwrap(),
        report["corpus"]["languages"]["fr"]["train"]
            .as_u64()
            .unwrap(),
        "{few}"
    );
    assert!(few.get("de").is_none(), "{few}");
    let examples = &report["examples"];
    assert!(examples["de"].as_u64().unwrap() > 0, "{examples}");
    assert!(examples.get("fr").is_none(), "{examples}");
}
