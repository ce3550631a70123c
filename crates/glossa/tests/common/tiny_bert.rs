//! A tiny BERT teacher directory for the integration tests that need a model without a
//! download.

use std::collections::BTreeMap;
use std::path::Path;

/// A tiny BERT with odd sizes (hidden 20, 4 heads, FFN 33, 2 layers), seeded random weights
/// under `prefix`, a word-level tokenizer of `t0`…`t28`, and the given pooling.
pub fn write(dir: &Path, model_type: &str, prefix: &str, pooling: &str, normalize: bool) {
    let (v, h, i, p, t) = (29, 20, 33, 42, 2);
    let shapes = glossa::bert::tensor_shapes(v, p, t, h, i, 2);
    let mut rng = glossa::rng::Rng::new(17);
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = shapes
        .into_iter()
        .map(|(name, dims)| {
            let n: usize = dims.iter().product();
            let bytes = (0..n)
                .flat_map(|_| (rng.normal() * 0.4).to_le_bytes())
                .collect();
            (format!("{prefix}{name}"), dims, bytes)
        })
        .collect();
    let views = data.iter().map(|(name, dims, bytes)| {
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, dims.clone(), bytes)
                .unwrap();
        (name.clone(), view)
    });
    std::fs::write(
        dir.join("model.safetensors"),
        safetensors::serialize(views, None).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("config.json"),
        format!(
            r#"{{"model_type": "{model_type}", "hidden_size": {h}, "intermediate_size": {i},
            "max_position_embeddings": {p}, "num_attention_heads": 4, "num_hidden_layers": 2,
            "type_vocab_size": {t}, "vocab_size": {v}, "pad_token_id": 1, "hidden_act": "gelu"}}"#
        ),
    )
    .unwrap();
    let vocab: BTreeMap<String, usize> = (0..v).map(|k| (format!("t{k}"), k)).collect();
    let tokenizer = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null, "model": {"type": "WordLevel", "unk_token": "t1", "vocab": vocab}
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    let mut modules = vec![serde_json::json!(
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}
    )];
    if normalize {
        modules.push(serde_json::json!(
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
        ));
    }
    std::fs::write(
        dir.join("modules.json"),
        serde_json::Value::from(modules).to_string(),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
    std::fs::write(
        dir.join("1_Pooling/config.json"),
        format!(r#"{{"pooling_mode_{pooling}": true}}"#),
    )
    .unwrap();
}
