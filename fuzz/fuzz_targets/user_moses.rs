//! Moses/OPUS pairs: two files joined by `\n%%%%\n`. Read in step: as many pairs as lines, or an
//! error naming a file (both, when their line counts differ).
#![no_main]

use glossa::data::user::moses;
use glossa_fuzz::{parts, scratch, seeds, write_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: write_seeds(seeds::user_moses), |data: &[u8]| {
    let files = parts(data, 2);
    let (en, de) = (scratch().join("c.en"), scratch().join("c.de"));
    std::fs::write(&en, files[0]).expect("scratch file");
    std::fs::write(&de, files[1]).expect("scratch file");
    let mut pairs = 0usize;
    let result = moses::read_pair(&en, &de, "de", &mut |lang, a, b| {
        assert_eq!(lang, "de");
        assert!(!format!("{a}{b}").contains('\n'));
        pairs += 1;
        Ok(())
    });
    match result {
        Ok(()) => {
            // Lines as `Lines` counts them: an empty file has none, a last line needs no newline.
            let lines = |b: &[u8]| {
                let breaks = b.iter().filter(|&&c| c == b'\n').count();
                breaks + usize::from(!b.is_empty() && !b.ends_with(b"\n"))
            };
            assert_eq!(pairs, lines(files[1]), "one pair per line");
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("c.en") || msg.contains("c.de"), "{msg}");
            if let glossa::Error::Parse { line, .. } = e {
                let most = files.iter().map(|f| f.iter().filter(|&&b| b == b'\n').count() + 1);
                assert!((1..=most.max().unwrap_or(1)).contains(&line), "{msg}");
            }
        }
    }
});
