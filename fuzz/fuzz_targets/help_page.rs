//! LibreOffice help pages: any text gives paragraphs (id, text), never a panic; texts are
//! non-empty and trimmed, ids stop at their closing quote.
#![no_main]

use glossa::data::help;
use glossa_fuzz::{seeds, write_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: write_seeds(seeds::help_page), |data: &[u8]| {
    let html = String::from_utf8_lossy(data);
    for (id, text) in help::paragraphs(&html) {
        assert!(!id.contains('"'), "{id:?}");
        assert!(!text.is_empty() && text.trim() == text, "{text:?}");
    }
    let _ = help::clean_inline(&html);
    let decoded = help::decode_entities(&html);
    if !html.contains('&') {
        assert_eq!(decoded, html);
    }
});
