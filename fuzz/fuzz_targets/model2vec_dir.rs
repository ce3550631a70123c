//! A Model2Vec directory's `model.safetensors` beside a valid `tokenizer.json` and
//! `config.json`: it loads as a static student and embeds, or the error names the file.
#![no_main]

use glossa::interop::model2vec;
use glossa_fuzz::{check_named, scratch, seeds, write_files, write_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: write_seeds(seeds::model2vec_weights), |data: &[u8]| {
    let dir = scratch().join("model2vec");
    write_files(
        &dir,
        &[
            ("tokenizer.json", seeds::MODEL2VEC_TOKENIZER.as_bytes()),
            ("config.json", seeds::MODEL2VEC_CONFIG.as_bytes()),
            ("model.safetensors", data),
        ],
    );
    match model2vec::read(&dir) {
        Ok(student) => {
            let v = student.embed("the cat, the DOG and a zebra");
            assert_eq!(v.len(), student.config.output_dim);
        }
        Err(e) => check_named(&e, "model.safetensors"),
    }
});
