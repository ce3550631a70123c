//! TMX memories: pairs in canonical language codes, never the pivot paired with itself, or an
//! error naming the file.
#![no_main]

use glossa::data::lang::canonical;
use glossa::data::user::tmx;
use glossa_fuzz::{check_named, scratch, seeds, write_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: write_seeds(seeds::user_tmx), |data: &[u8]| {
    let path = scratch().join("fuzz.tmx");
    std::fs::write(&path, data).expect("scratch file");
    let result = tmx::read(&path, "en", &mut |lang, _, _| {
        assert_ne!(lang, "en");
        assert_eq!(canonical(lang).as_deref(), Ok(lang));
        Ok(())
    });
    if let Err(e) = result {
        check_named(&e, "fuzz.tmx");
    }
});
