//! The user's TSV files: pairs of clean fields in the named languages, or an error naming the
//! file and a line it has.
#![no_main]

use glossa::data::user::tsv;
use glossa_fuzz::{check_error, scratch, seeds, write_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: write_seeds(seeds::user_tsv), |data: &[u8]| {
    let path = scratch().join("talks-en-de.tsv");
    std::fs::write(&path, data).expect("scratch file");
    let languages = ["en".to_string(), "de".to_string()];
    let mut pairs = 0usize;
    let result = tsv::read(&path, &languages, "en", &mut |lang, en, xx| {
        assert_eq!(lang, "de");
        assert!(!format!("{en}{xx}").contains(['\t', '\n']));
        pairs += 1;
        Ok(())
    });
    match result {
        Ok(()) => assert!(pairs <= data.len()),
        Err(e) => check_error(&e, "talks-en-de.tsv", data),
    }
});
