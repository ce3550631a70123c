//! Compressed user files: a flag byte (0 gzip, 1 zstd, 2 xz) and the file. Any damage is an
//! error naming the file, never a panic or a hang; the decompressed text is read as lines.
#![no_main]

use glossa::data::user::open::Lines;
use glossa_fuzz::{check_named, scratch, seeds, write_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: write_seeds(seeds::user_compressed), |data: &[u8]| {
    let Some((&flag, file)) = data.split_first() else {
        return;
    };
    let name = ["fuzz.txt.gz", "fuzz.txt.zst", "fuzz.txt.xz"][usize::from(flag % 3)];
    let path = scratch().join(name);
    std::fs::write(&path, file).expect("scratch file");
    let result = Lines::open(&path).and_then(|mut lines| {
        // A bomb stops at a bound, not at the machine's memory.
        let mut bytes = 0usize;
        while let Some(line) = lines.next_line()? {
            bytes += line.len() + 1;
            if bytes > 64 << 20 {
                break;
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        check_named(&e, name);
    }
});
