//! WordNet `data.<pos>` files: glosses or an error naming the file and line.
#![no_main]

use std::path::Path;

use glossa::data::wordnet::{parse_data, Glosses};
use glossa::error::decode_utf8;
use glossa_fuzz::{check_error, seeds, write_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: write_seeds(seeds::wordnet_data), |data: &[u8]| {
    let path = Path::new("data.noun");
    let mut glosses = Glosses::default();
    match decode_utf8(data.to_vec(), path).and_then(|t| parse_data(&t, path, &mut glosses)) {
        Ok(()) => {
            for s in glosses.examples.iter().chain(&glosses.definitions) {
                assert!(s.len() > 3, "{s:?}");
            }
        }
        Err(e) => check_error(&e, "data.noun", data),
    }
});
