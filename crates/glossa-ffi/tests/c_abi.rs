//! The C ABI from C: `tests/c/embed.c` is compiled with the machine's gcc against
//! `include/glossa.h` and `libglossa_ffi`, run on a small student, and its vectors compared
//! with the Rust encoder's.

use std::path::{Path, PathBuf};
use std::process::Command;

use glossa::student::table_student::build_vocab;
use glossa::student::{SubwordConfig, TableStudent, WordRules};

const TEXTS: [&str; 8] = [
    "The cat sleeps on the sofa.",
    "Die Katze schläft auf dem Sofa.",
    "Le chat dort sur le canapé.",
    "猫はソファで寝ています。",
    "القط ينام على الأريكة.",
    "Кошка спит на диване.",
    "",
    "a",
];

/// A small fastText-style student with a projection (width 8 → 16), saved to `dir`.
fn small_student(dir: &Path) {
    let config = SubwordConfig::new(8, 16, 500, (3, 5), WordRules::new(true));
    let vocab = build_vocab(TEXTS, WordRules::new(true), 1, 100);
    TableStudent::new(config, vocab, 7)
        .unwrap()
        .save(dir)
        .unwrap();
}

/// The folder holding `libglossa_ffi.so`: cargo builds the cdylib next to this test's
/// binary (`target/<profile>/deps`) and copies it one level up.
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap().to_path_buf();
    let name = format!(
        "{}glossa_ffi{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let up = deps.parent().unwrap().to_path_buf();
    [deps, up]
        .into_iter()
        .find(|d| d.join(&name).is_file())
        .unwrap_or_else(|| panic!("{name} not found next to {}", exe.display()))
}

fn compile_c_program(out: &Path) {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = library_dir();
    let status = Command::new("gcc")
        .args([
            "-std=c99",
            "-D_POSIX_C_SOURCE=200809L",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-I",
        ])
        .arg(crate_dir.join("include"))
        .arg(crate_dir.join("tests/c/embed.c"))
        .arg("-L")
        .arg(&lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(["-lglossa_ffi", "-o"])
        .arg(out)
        .status()
        .expect("running gcc (install it: apt-get install gcc)");
    assert!(status.success(), "gcc failed to compile tests/c/embed.c");
}

#[test]
fn a_c_program_gets_the_rust_encoders_vectors() {
    let tmp = tempfile::tempdir().unwrap();
    let student_dir = tmp.path().join("student");
    small_student(&student_dir);
    let lines = tmp.path().join("lines.txt");
    std::fs::write(&lines, TEXTS.join("\n") + "\n").unwrap();
    let exe = tmp.path().join("embed");
    compile_c_program(&exe);

    let run = Command::new(&exe)
        .arg(&student_dir)
        .arg(&lines)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "the C program failed: {stderr}");
    let from_c: Vec<Vec<f32>> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split(' ').map(|x| x.parse().unwrap()).collect())
        .collect();

    let rust = glossa::interop::load_encoder(student_dir.to_str().unwrap()).unwrap();
    let expected = rust.encode(&TEXTS).unwrap();
    assert_eq!(from_c.len(), TEXTS.len());
    for (i, (c, r)) in from_c.iter().zip(expected.rows()).enumerate() {
        assert_eq!(c.len(), 16, "row {i} width");
        let worst = c
            .iter()
            .zip(r)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            worst <= 1e-6,
            "text {i} ({:?}): C and Rust differ by {worst}",
            TEXTS[i]
        );
    }
    assert!(
        expected.row(0).iter().any(|&x| x != 0.0),
        "a real sentence has a non-zero vector"
    );
}

#[test]
fn a_c_program_gets_an_error_message_for_a_missing_model() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = tmp.path().join("embed");
    compile_c_program(&exe);
    let lines = tmp.path().join("lines.txt");
    std::fs::write(&lines, "x\n").unwrap();
    let run = Command::new(&exe)
        .arg("./no-such-student")
        .arg(&lines)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("FAIL glossa_load") && stderr.contains("no-such-student"),
        "{stderr}"
    );
}
