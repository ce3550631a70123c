//! A teacher's configuration: the input is `config.json`, `modules.json`,
//! `1_Pooling/config.json` and `sentence_bert_config.json` joined by `glossa_fuzz::SEPARATOR`
//! (an empty optional file is left out), beside a tiny BERT's weights and tokenizer. Each file
//! parses or gives an error naming it; the teacher loads and encodes, or the error names a file
//! of the model.
#![no_main]

use std::path::Path;

use glossa::hub::ModelDir;
use glossa::teacher::{self, Teacher};
use glossa::{Encoder, Error};
use glossa_fuzz::seeds::{teacher_weights, TEACHER_TOKENIZER};
use glossa_fuzz::{check_error, check_named, parts, scratch, seeds, write_files, write_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: write_seeds(seeds::teacher_config), |data: &[u8]| {
    let files = parts(data, 4);
    let text = |i: usize| String::from_utf8_lossy(files[i]).into_owned();
    // Each parser on its own.
    if let Err(e) = teacher::parse_config(&text(0), Path::new("config.json")) {
        check_error(&e, "config.json", files[0]);
    }
    if let Err(e) = teacher::parse_modules(&text(1), Path::new("modules.json")) {
        check_error(&e, "modules.json", files[1]);
    }
    if let Err(e) = teacher::parse_pooling(&text(2), Path::new("pooling.json")) {
        check_error(&e, "pooling.json", files[2]);
    }
    if let Err(e) = teacher::parse_sentence_bert_config(&text(3), Path::new("sbert.json")) {
        check_error(&e, "sbert.json", files[3]);
    }

    // The whole teacher.
    let dir = scratch().join("teacher");
    let _ = std::fs::remove_dir_all(&dir);
    write_files(
        &dir,
        &[
            ("config.json", files[0]),
            ("model.safetensors", teacher_weights()),
            ("tokenizer.json", TEACHER_TOKENIZER.as_bytes()),
        ],
    );
    if !files[1].is_empty() {
        write_files(&dir, &[("modules.json", files[1])]);
    }
    if !files[2].is_empty() {
        write_files(&dir.join("1_Pooling"), &[("config.json", files[2])]);
    }
    if !files[3].is_empty() {
        write_files(&dir, &[("sentence_bert_config.json", files[3])]);
    }
    let name = dir.display().to_string();
    match Teacher::from_dir(ModelDir {
        name: name.clone(),
        dir: dir.clone(),
    }) {
        Ok(teacher) => {
            assert!(teacher.dim() > 0);
            let out = teacher
                .encode(&["hello world", "the cat !", ""])
                .unwrap_or_else(|e| panic!("a loaded teacher fails to encode: {e}"));
            assert_eq!((out.len(), out.dim()), (3, teacher.dim()));
        }
        Err(e) => {
            check_named(&e, &name);
            // A parse error points into the file it names.
            if let Error::Parse { path, .. } = &e {
                let file = path.strip_prefix(&dir).unwrap_or(path);
                let input = match file.to_str() {
                    Some("config.json") => files[0],
                    Some("modules.json") => files[1],
                    Some("1_Pooling/config.json") => files[2],
                    Some("sentence_bert_config.json") => files[3],
                    _ => panic!("a parse error in a file the input did not give: {e}"),
                };
                check_error(&e, &name, input);
            }
        }
    }
});
