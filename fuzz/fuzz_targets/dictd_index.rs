//! dictd dictionaries: the input is a flag byte (bit 0: the body is gzip), the `.index` text, a
//! NUL, and the dictionary body. Entries or an error naming the index (and its line) or the
//! `.dict.dz`.
#![no_main]

use std::path::Path;

use glossa::data::dictd;
use glossa::error::decode_utf8;
use glossa_fuzz::{check_error, check_named, seeds, write_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: write_seeds(seeds::dictd_index), |data: &[u8]| {
    let Some((&flag, data)) = data.split_first() else {
        return;
    };
    let (index, body) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let body = if flag & 1 == 1 {
        match dictd::decompress(body, Path::new("fuzz.dict.dz")) {
            Ok(body) => body,
            Err(e) => return check_named(&e, "fuzz.dict.dz"),
        }
    } else {
        body.to_vec()
    };
    // Entries are parsed on their own too, whatever the index says.
    for text in String::from_utf8_lossy(&body).split("\n\n") {
        check_entry(dictd::parse_entry(text));
    }
    let name = "freedict-deu-eng.index";
    let path = Path::new(name);
    let index_text = match decode_utf8(index.to_vec(), path) {
        Ok(text) => text,
        Err(e) => return check_error(&e, name, index),
    };
    for field in index_text.split(['\t', '\n']) {
        if let Some(n) = dictd::decode_number(field) {
            assert!(n < 1 << 60, "{field} decodes to {n}");
        }
    }
    match dictd::parse_index(&index_text, &body, path) {
        Ok(entries) => entries.into_iter().for_each(|e| check_entry(Some(e))),
        Err(e) => check_error(&e, name, index),
    }
});

fn check_entry(entry: Option<dictd::Entry>) {
    if let Some(e) = entry {
        assert!((1..=2).contains(&e.forms.len()), "{e:?}");
        assert!((1..=3).contains(&e.translations.len()), "{e:?}");
        assert!(e.forms.iter().chain(&e.translations).all(|s| !s.is_empty()));
    }
}
