//! `glossa shrink` driven as a user drives it: a budget met, a budget refused.

use glossa::student::table_student::build_vocab;
use glossa::student::{SubwordConfig, TableStudent, WordRules};
use glossa::Encoder;

mod common;

use common::glossa;

const LINES: &[&str] = &[
    "the cat sat on the mat\tle chat était assis sur le tapis",
    "a dog runs in the park\tun chien court dans le parc",
    "open the file\touvrir le fichier",
    "save the document before closing\tenregistrer le document avant de fermer",
    "the password has not been changed\tle mot de passe n'a pas été modifié",
    "print the page\timprimer la page",
];

/// A random-weight student (width 16, 4,000 buckets) over the words of `LINES`.
fn student(dir: &std::path::Path) {
    let config = SubwordConfig::new(16, 16, 4000, (3, 5), WordRules::new(true));
    let texts: Vec<&str> = LINES.iter().flat_map(|l| l.split('\t')).collect();
    let words = build_vocab(texts, WordRules::new(true), 1, 1000);
    TableStudent::new(config, words, 5)
        .unwrap()
        .save(dir)
        .unwrap();
}

#[test]
fn shrink_fits_the_budget_or_names_the_smallest_reachable_size() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("student");
    student(&model);
    let texts = dir.path().join("dev.tsv");
    std::fs::write(&texts, LINES.join("\n")).unwrap();
    let out = dir.path().join("small");
    let run = |budget: &str, out: &std::path::Path| {
        glossa(["shrink", "--model"])
            .arg(&model)
            .args(["--max-size", budget, "--dim", "8", "--texts"])
            .arg(&texts)
            .arg("--check")
            .arg(&texts)
            .arg("--out")
            .arg(out)
    };
    let stdout = String::from_utf8(run("40kB", &out).ok().stdout).unwrap();
    assert!(
        stdout.contains("width 8") && stdout.contains("retrieval"),
        "{stdout}"
    );
    let size: u64 = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(size <= 40_000, "{size} bytes");
    let small = TableStudent::load(&out).unwrap();
    assert_eq!(small.dim(), 8);
    assert!(
        small.rows() < 4000 + small.words().len(),
        "rows were pruned"
    );
    let v = small.encode(&["the cat opens the file"]).unwrap();
    assert!(v.row(0).iter().any(|&x| x != 0.0));

    let err = run("10kB", &dir.path().join("none")).fails_with(&["smallest reachable"]);
    assert!(err.contains("MB"), "{err}");
    assert!(!dir.path().join("none").join("student.json").exists());
}
