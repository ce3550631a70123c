//! `lang<TAB>label<TAB>text` files: texts or an error naming the file and line. The first byte
//! chooses whether labels are checked against a known list.
#![no_main]

use std::path::Path;

use glossa::data::labelled::parse_labelled_tsv;
use glossa_fuzz::{check_error, seeds, write_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: write_seeds(seeds::labelled_tsv), |data: &[u8]| {
    let Some((&flag, data)) = data.split_first() else {
        return;
    };
    let known = ["food".to_string(), "money".to_string()];
    let known = (flag & 1 == 1).then_some(&known[..]);
    match parse_labelled_tsv(data, Path::new("fuzz.tsv"), known) {
        Ok(texts) => {
            assert!(!texts.is_empty());
            for t in &texts {
                assert!(!t.lang.is_empty() && !t.label.is_empty() && !t.text.is_empty());
                if let Some(known) = known {
                    assert!(known.contains(&t.label));
                }
            }
        }
        Err(e) => check_error(&e, "fuzz.tsv", data),
    }
});
