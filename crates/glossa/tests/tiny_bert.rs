//! Loading and pooling of the teacher on a tiny committed BERT (tests/data/tiny-bert, made once
//! by scripts/make-tiny-bert.sh): random weights (2 layers, 8 wide), a word-level tokenizer, and
//! reference vectors from an independent float64 numpy forward pass. Stands alone: no download,
//! no shared files. The pooling variants are copies of the fixture with another Pooling config.

use std::path::{Path, PathBuf};

use glossa::teacher::Teacher;
use glossa::Encoder;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny-bert")
}

struct Reference {
    text: String,
    ids: Vec<u32>,
    mean: Vec<f32>,
    cls: Vec<f32>,
    max: Vec<f32>,
    mean_normalized: Vec<f32>,
}

fn references() -> Vec<Reference> {
    let text = std::fs::read_to_string(fixture().join("reference.jsonl")).unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            Reference {
                text: v["text"].as_str().unwrap().to_string(),
                ids: (v["ids"].as_array().unwrap().iter())
                    .map(|x| x.as_u64().unwrap() as u32)
                    .collect(),
                mean: floats(&v["mean"]),
                cls: floats(&v["cls"]),
                max: floats(&v["max"]),
                mean_normalized: floats(&v["mean_normalized"]),
            }
        })
        .collect()
}

/// A copy of the fixture pooling with `mode` ("cls", "mean" or "max"), with or without the
/// Normalize module.
fn variant(mode: &str, normalize: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "sentence_bert_config.json",
    ] {
        std::fs::copy(fixture().join(file), dir.path().join(file)).unwrap();
    }
    let mut modules = vec![
        serde_json::json!({"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}),
        serde_json::json!({"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}),
    ];
    if normalize {
        modules.push(serde_json::json!({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}));
    }
    std::fs::write(
        dir.path().join("modules.json"),
        serde_json::to_string(&modules).unwrap(),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("1_Pooling")).unwrap();
    let pooling = serde_json::json!({
        "word_embedding_dimension": 8,
        "pooling_mode_cls_token": mode == "cls",
        "pooling_mode_mean_tokens": mode == "mean",
        "pooling_mode_max_tokens": mode == "max",
    });
    std::fs::write(
        dir.path().join("1_Pooling/config.json"),
        pooling.to_string(),
    )
    .unwrap();
    dir
}

/// The teacher at `dir` gives `want(reference)` for every text, in one batch and one at a time.
fn check(dir: &Path, want: fn(&Reference) -> &[f32], what: &str) {
    let teacher = Teacher::load(dir.to_str().unwrap()).unwrap();
    let refs = references();
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    let batch = teacher.encode(&texts).unwrap();
    let mut worst = 0f32;
    for (i, r) in refs.iter().enumerate() {
        let alone = teacher.encode(&texts[i..=i]).unwrap();
        for got in [batch.row(i), alone.row(0)] {
            assert_eq!(got.len(), 8);
            for (a, b) in got.iter().zip(want(r)) {
                worst = worst.max((a - b).abs());
            }
        }
    }
    println!("{what}: largest difference {worst:e}");
    assert!(worst < 1e-5, "{what}: {worst} from the numpy reference");
}

#[test]
fn the_fixture_tokenizer_gives_the_reference_ids_and_max_seq_length_truncates() {
    let teacher = Teacher::load(fixture().to_str().unwrap()).unwrap();
    assert_eq!((teacher.dim(), teacher.max_tokens()), (8, 12));
    let mut tokenizer = tokenizers::Tokenizer::from_file(teacher.tokenizer_path()).unwrap();
    tokenizer
        .with_truncation(Some(tokenizers::TruncationParams {
            max_length: teacher.max_tokens(),
            ..Default::default()
        }))
        .unwrap();
    let refs = references();
    for r in &refs {
        let ids = tokenizer
            .encode(r.text.as_str(), true)
            .unwrap()
            .get_ids()
            .to_vec();
        assert_eq!(ids, r.ids, "{:?}", r.text);
    }
    assert!(
        refs.iter().any(|r| r.ids.len() == 12),
        "one text is truncated"
    );
    assert!(refs.iter().any(|r| r.ids.len() == 2), "one text is empty");
}

#[test]
fn mean_pooling_then_normalisation_as_the_fixture_declares() {
    check(&fixture(), |r| &r.mean_normalized, "mean, normalised");
}

#[test]
fn mean_cls_and_max_pooling_without_normalisation() {
    check(variant("mean", false).path(), |r| &r.mean, "mean");
    check(variant("cls", false).path(), |r| &r.cls, "cls");
    check(variant("max", false).path(), |r| &r.max, "max");
}

#[test]
fn loading_errors_name_the_file_at_fault() {
    let dir = variant("mean", true);
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let err = Teacher::load(dir.path().to_str().unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("tokenizer.json"), "{err}");

    let dir = variant("mean", true);
    let config = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    let wider = config.replace("\"hidden_size\": 8", "\"hidden_size\": 16");
    assert_ne!(config, wider);
    std::fs::write(dir.path().join("config.json"), wider).unwrap();
    let err = Teacher::load(dir.path().to_str().unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("model.safetensors"), "{err}");
}
