//! Chatterbot corpus YAML: utterances with their lines, or an error naming the file (and the
//! line where there is one).
#![no_main]

use std::path::Path;

use glossa::data::labelled::parse_chatterbot;
use glossa::error::decode_utf8;
use glossa_fuzz::{check_error, seeds, write_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: write_seeds(seeds::chatterbot_yaml), |data: &[u8]| {
    let path = Path::new("fuzz.yml");
    let result = decode_utf8(data.to_vec(), path).and_then(|text| parse_chatterbot(&text, path));
    match result {
        Ok(utterances) => {
            assert!(!utterances.is_empty());
            let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
            for (text, line) in &utterances {
                assert!(!text.is_empty() && text.trim() == text);
                assert!((1..=lines).contains(line), "line {line} of {lines}");
            }
        }
        Err(e) => check_error(&e, "fuzz.yml", data),
    }
});
