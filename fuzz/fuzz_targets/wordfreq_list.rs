//! A wordfreq list's inflated MessagePack: it parses to words, or the error says where and what
//! was expected.
#![no_main]

use glossa::data::wordfreq::parse_list;
use glossa_fuzz::{seeds, write_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: write_seeds(seeds::wordfreq_list), |data: &[u8]| {
    match parse_list(data) {
        // Every word is a string read from the input, so they cannot hold more than it.
        Ok(words) => assert!(words.iter().map(String::len).sum::<usize>() <= data.len()),
        Err(msg) => assert!(msg.contains("offset") || msg.contains("format"), "{msg}"),
    }
});
