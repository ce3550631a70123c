//! The CLI's writers under interruption and misuse: killed at random points, an output path
//! holds either its old content or the complete new one, and no temporary file is left after
//! Ctrl-C; outputs that are inputs, directories or devices are refused before anything is
//! written.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use glossa::student::table_student::build_vocab;
use glossa::student::{SubwordConfig, TableStudent, WordRules};

/// A student with a vocabulary large enough that exporting it takes a while (tens of ms).
fn student(dir: &Path, seed: u64) {
    let config = SubwordConfig::new(16, 32, 20_000, (2, 4), WordRules::new(true));
    let text: Vec<String> = (0..30_000)
        .map(|i| format!("word{i} other{}", i % 977))
        .collect();
    let words = build_vocab(
        text.iter().map(String::as_str),
        WordRules::new(true),
        1,
        100_000,
    );
    TableStudent::new(config, words, seed)
        .unwrap()
        .save(dir)
        .unwrap();
}

fn glossa(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_glossa"));
    command
        .args(args)
        .env("GLOSSA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// A `.vec` file is complete when its header's row count matches its rows.
fn complete_vec(text: &str) -> bool {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return false;
    };
    let rows: usize = header.split(' ').next().unwrap().parse().unwrap();
    text.ends_with('\n') && lines.count() == rows
}

fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn an_export_killed_at_random_points_leaves_the_old_file_or_the_complete_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("student");
    student(&model, 7);
    let out = dir.path().join("words.vec");
    std::fs::write(&out, "old\n").unwrap();
    let (model, out_s) = (model.to_str().unwrap(), out.to_str().unwrap());
    // A fixed sequence of delays spread over the run (deterministic, no wall-clock assertion).
    for step in 0..12u64 {
        let mut child = glossa(&["export", "vec", "--model", model, "--out", out_s])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis((step * 37) % 400));
        let signal = if step % 2 == 0 { "KILL" } else { "INT" };
        let _ = Command::new("kill")
            .args(["-s", signal, &child.id().to_string()])
            .status();
        let _ = child.wait();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            text == "old\n" || complete_vec(&text),
            "step {step}: a partial file"
        );
        if signal == "INT" {
            assert_eq!(temporaries(dir.path()), Vec::<String>::new(), "step {step}");
        }
        // A SIGKILL cannot be cleaned up after: its temporary (a hidden .tmp) is removed here.
        for t in temporaries(dir.path()) {
            std::fs::remove_file(dir.path().join(t)).unwrap();
        }
    }
    // And an uninterrupted run writes the whole file.
    let status = glossa(&["export", "vec", "--model", model, "--out", out_s])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(complete_vec(&std::fs::read_to_string(&out).unwrap()));
}

#[test]
fn quantize_in_place_is_refused_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("student");
    student(&model, 7);
    std::fs::write(model.join("labels.json"), r#"["a","b"]"#).unwrap();
    let before: Vec<(String, Vec<u8>)> = ["model.safetensors", "student.json", "labels.json"]
        .iter()
        .map(|f| (f.to_string(), std::fs::read(model.join(f)).unwrap()))
        .collect();
    let m = model.to_str().unwrap();
    for out in [m.to_string(), format!("{m}/."), format!("{m}/../student")] {
        let run = glossa(&[
            "quantize",
            "--model",
            m,
            "--precision",
            "int8",
            "--out",
            &out,
        ])
        .output()
        .unwrap();
        assert!(!run.status.success(), "--out {out} was accepted");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(stderr.contains("is the input"), "{stderr}");
        for (file, bytes) in &before {
            assert_eq!(
                &std::fs::read(model.join(file)).unwrap(),
                bytes,
                "{file} changed"
            );
        }
    }
    // To another directory it works, labels included.
    let out = dir.path().join("q");
    let run = glossa(&[
        "quantize",
        "--model",
        m,
        "--precision",
        "int8",
        "--out",
        out.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        std::fs::read(out.join("labels.json")).unwrap(),
        br#"["a","b"]"#
    );
}

#[test]
fn exports_to_a_directory_or_a_device_are_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("student");
    student(&model, 7);
    let m = model.to_str().unwrap();
    let existing = dir.path().join("existing");
    std::fs::create_dir(&existing).unwrap();
    for (args, want) in [
        (
            vec![
                "export",
                "fasttext",
                "--model",
                m,
                "--out",
                existing.to_str().unwrap(),
            ],
            "is a directory",
        ),
        (
            vec!["export", "vec", "--model", m, "--out", "/dev/null"],
            "not a regular file",
        ),
    ] {
        let run = glossa(&args).output().unwrap();
        assert!(!run.status.success());
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(stderr.contains(want), "{stderr}");
        assert_eq!(temporaries(dir.path()), Vec::<String>::new());
        assert_eq!(temporaries(&existing), Vec::<String>::new());
    }
}

#[test]
fn an_io_error_shows_the_os_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let run = glossa(&[
        "export",
        "vec",
        "--model",
        missing.to_str().unwrap(),
        "--out",
        "x.vec",
    ])
    .output()
    .unwrap();
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    let os = "No such file or directory";
    assert!(stderr.matches(os).count() <= 1, "{stderr}");
}
