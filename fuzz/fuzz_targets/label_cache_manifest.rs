//! A label cache folder: the input is `manifest.json`, `keys.bin` and `vectors.f32` joined by
//! `glossa_fuzz::SEPARATOR`. The cache opens and every row reads back, or the error names a
//! file of the cache.
#![no_main]

use glossa::teacher::cache::LabelCache;
use glossa::Error;
use glossa_fuzz::seeds::{CACHE_DIM, CACHE_FINGERPRINT, CACHE_MODEL, CACHE_TEXTS};
use glossa_fuzz::{check_error, check_named, parts, scratch, seeds, write_files, write_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: write_seeds(seeds::label_cache_manifest), |data: &[u8]| {
    let files = parts(data, 3);
    let root = scratch().join("labels");
    let dir = root.join(CACHE_FINGERPRINT);
    write_files(
        &dir,
        &[
            ("manifest.json", files[0]),
            ("keys.bin", files[1]),
            ("vectors.f32", files[2]),
        ],
    );
    match LabelCache::open(&root, CACHE_MODEL, CACHE_FINGERPRINT, CACHE_DIM) {
        Ok(cache) => {
            assert!(cache.len() <= files[1].len() / 16);
            for row in 0..cache.len() {
                assert_eq!(cache.vector(row).len(), CACHE_DIM);
            }
            for text in CACHE_TEXTS {
                if let Some(row) = cache.row_of(text) {
                    assert!(row < cache.len());
                    assert_eq!(cache.get(text).unwrap().len(), CACHE_DIM);
                }
            }
        }
        Err(e) => {
            let name = dir.display().to_string();
            match e {
                // Only manifest.json is parsed as text.
                Error::Parse { .. } => check_error(&e, &name, files[0]),
                _ => check_named(&e, &name),
            }
        }
    }
});
