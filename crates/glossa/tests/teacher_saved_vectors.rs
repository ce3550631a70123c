//! The teacher's vectors against vectors saved from the engine it replaced (the fast engine of
//! `teacher/fast.rs`, before the BERT moved into `glossa::bert`), on three tiny BERTs built here
//! (BERT and XLM-R positions, `bert.` prefix, mean / CLS / max pooling, with and without
//! normalisation) and on the two real teachers the test command fetches.
//!
//! The file was written by the old engine at commit fdc66f2 (on an AVX-512 machine); it is a
//! snapshot of that engine, not something to regenerate from the current one.
//!
//! Bit for bit where the saved vectors were written on a machine of the same instruction set
//! (`kernels::level()`): gemm picks its microkernel at run time (AVX-512 or AVX2), and the two
//! round differently. On another level the vectors must still agree to 1e-5.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use glossa::hub::ModelDir;
use glossa::Encoder;

const SAVED: &str = "tests/data/teacher-saved-vectors.json";

const TINY_TEXTS: [&str; 5] = [
    "t3 t5 t7",
    "t2",
    "",
    "t9 t9 t28 t4 t11 t6 t1 t8 t13",
    "t20 t3",
];

const REAL_TEXTS: [&str; 3] = [
    "A man is playing a guitar on the stage.",
    "Die Katze schläft auf dem Sofa, während draußen der Regen fällt und niemand nach Hause kommt.",
    "",
];

/// The vectors of every case: name → one vector per text.
fn current_vectors() -> BTreeMap<String, Vec<Vec<f32>>> {
    let mut out = BTreeMap::new();
    let tiny = [
        ("tiny-bert-mean", "bert", "", "mean_tokens", true),
        (
            "tiny-xlmr-cls",
            "xlm-roberta",
            "roberta.",
            "cls_token",
            false,
        ),
        ("tiny-bert-max", "bert", "bert.", "max_tokens", true),
    ];
    for (name, model_type, prefix, pooling, normalize) in tiny {
        let dir = tempfile::tempdir().unwrap();
        common::tiny_bert::write(dir.path(), model_type, prefix, pooling, normalize);
        let teacher = glossa::teacher::Teacher::from_dir(ModelDir {
            name: name.into(),
            dir: dir.path().to_path_buf(),
        })
        .unwrap();
        out.insert(name.to_string(), rows(&teacher, &TINY_TEXTS));
    }
    out.insert(
        "all-MiniLM-L6-v2".into(),
        rows(&common::teacher(), &REAL_TEXTS),
    );
    let e5 = glossa::teacher::Teacher::load("intfloat/multilingual-e5-small")
        .unwrap_or_else(|e| panic!("{e}\n(the test command runs scripts/convert-e5.sh first)"));
    out.insert("multilingual-e5-small".into(), rows(&e5, &REAL_TEXTS));
    out
}

fn rows(teacher: &glossa::teacher::Teacher, texts: &[&str]) -> Vec<Vec<f32>> {
    let got = teacher.encode(texts).unwrap();
    (0..got.len()).map(|i| got.row(i).to_vec()).collect()
}

#[test]
fn the_teacher_reproduces_the_saved_vectors() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SAVED);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let same_level = saved["level"] == format!("{:?}", glossa::kernels::level());
    let current = current_vectors();
    assert_eq!(
        current.len(),
        saved["vectors"].as_object().unwrap().len(),
        "every saved case is run"
    );
    for (name, got) in &current {
        // Saved as bit patterns, so no decimal rounding stands between them and the floats.
        let want: Vec<Vec<u32>> = serde_json::from_value(saved["vectors"][name].clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let want: Vec<Vec<f32>> = want
            .iter()
            .map(|v| v.iter().map(|&b| f32::from_bits(b)).collect())
            .collect();
        assert_eq!(want.len(), got.len(), "{name}");
        for (i, (w, g)) in want.iter().zip(got).enumerate() {
            assert_eq!(w.len(), g.len(), "{name} text {i}");
            if same_level {
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(w), bits(g), "{name} text {i}: not bit-identical");
            } else {
                let diff = w
                    .iter()
                    .zip(g)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(diff < 1e-5, "{name} text {i}: max abs difference {diff}");
            }
        }
    }
}
