//! A student's `model.safetensors`, beside a valid `student.json` and `vocab.txt`: the student
//! loads and embeds, or the error names model.safetensors.
#![no_main]

use glossa::student::TableStudent;
use glossa_fuzz::{check_named, scratch, seeds, write_files, write_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: write_seeds(seeds::student_safetensors), |data: &[u8]| {
    let fixed = seeds::student_files();
    let dir = scratch().join("student");
    write_files(
        &dir,
        &[
            ("student.json", &fixed.json),
            ("vocab.txt", &fixed.vocab),
            ("model.safetensors", data),
        ],
    );
    match TableStudent::load(&dir) {
        Ok(student) => {
            let v = student.embed("The cat sat on the mat, 日本語!");
            assert_eq!(v.len(), student.config.output_dim);
        }
        Err(e) => check_named(&e, "model.safetensors"),
    }
});
