//! A student's `student.json`, beside a valid `vocab.txt` and `model.safetensors`: the student
//! loads and embeds, or the error names student.json (with the line, for malformed JSON).
#![no_main]

use glossa::student::TableStudent;
use glossa_fuzz::{check_error, scratch, seeds, write_files, write_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: write_seeds(seeds::student_json), |data: &[u8]| {
    let fixed = seeds::student_files();
    let dir = scratch().join("student");
    write_files(
        &dir,
        &[
            ("student.json", data),
            ("vocab.txt", &fixed.vocab),
            ("model.safetensors", &fixed.weights),
        ],
    );
    match TableStudent::load(&dir) {
        Ok(student) => {
            let v = student.embed("The cat sat on the mat, 日本語!");
            assert_eq!(v.len(), student.config.output_dim);
        }
        Err(e) => check_error(&e, "student.json", data),
    }
});
