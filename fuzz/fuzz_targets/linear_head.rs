//! A classifier head's `head.safetensors`: a head whose weight is dim × classes, or an error
//! naming the file.
#![no_main]

use std::path::Path;

use glossa::recipes::classify::LinearHead;
use glossa_fuzz::{check_named, seeds, write_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: write_seeds(seeds::linear_head), |data: &[u8]| {
    match LinearHead::parse(data, Path::new("head.safetensors")) {
        Ok(head) => {
            assert_eq!(Some(head.weight.len()), head.dim.checked_mul(head.classes()));
            if head.dim <= 1 << 16 {
                assert_eq!(head.logits(&vec![0.5; head.dim]).len(), head.classes());
            }
        }
        Err(e) => check_named(&e, "head.safetensors"),
    }
});
