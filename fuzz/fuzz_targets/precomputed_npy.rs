//! A precomputed teacher's `.npy` vectors beside a fixed texts file: they load and label the
//! texts, or the error names the `.npy` file.
#![no_main]

use glossa::teacher::precomputed::Precomputed;
use glossa::Encoder;
use glossa_fuzz::{check_named, scratch, seeds, write_files, write_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: write_seeds(seeds::precomputed_npy), |data: &[u8]| {
    let dir = scratch().join("precomputed");
    write_files(
        &dir,
        &[("texts.txt", seeds::PRECOMPUTED_TEXTS.as_bytes()), ("vectors.npy", data)],
    );
    match Precomputed::load(&dir.join("texts.txt"), &dir.join("vectors.npy")) {
        Ok(teacher) => {
            let v = teacher.encode(&["world", "hello"]).expect("both texts are covered");
            assert_eq!(v.len(), 2);
            assert!(v.as_slice().iter().all(|x| x.is_finite()));
        }
        Err(e) => check_named(&e, "vectors.npy"),
    }
});
