//! `config.json`: the architecture of a BERT-family checkpoint, checked to be one this module
//! runs.

use std::path::Path;

use serde::Deserialize;

use crate::{Error, Result};

/// The feed-forward activation (`hidden_act`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum Activation {
    /// `"gelu"`: x·Φ(x) with the exact erf, as Hugging Face's BERT and PyTorch compute it.
    #[default]
    #[serde(rename = "gelu")]
    GeluErf,
}

impl Activation {
    /// The `hidden_act` values understood, for error messages.
    const NAMES: &'static str = "gelu";

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "gelu" => Some(Activation::GeluErf),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub hidden_act: Activation,
    #[serde(default)]
    pub pad_token_id: u32,
    /// The first position id of a sequence: 0 for BERT, `pad_token_id + 1` for (XLM-)RoBERTa.
    #[serde(skip)]
    pub position_offset: usize,
}

impl Config {
    /// Positions a sequence may use: the table's rows after the offset.
    pub fn max_tokens(&self) -> usize {
        self.max_position_embeddings
            .saturating_sub(self.position_offset)
    }
}

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

/// The fields read before the whole config, to name what is unsupported in words.
#[derive(Deserialize)]
struct Architecture {
    model_type: Option<String>,
    hidden_act: Option<String>,
}

/// The BERT architecture a `config.json` text describes, checked to be one this module runs;
/// `path` is only used to name the file in errors.
pub fn parse_config(text: &str, path: &Path) -> Result<Config> {
    let arch: Architecture = crate::error::parse_json(text, path)?;
    let roberta = match arch.model_type.as_deref() {
        Some("bert") => false,
        Some("xlm-roberta" | "roberta") => true,
        Some(other) => {
            return Err(Error::invalid(
                path,
                format!(
                    "unknown architecture '{other}' (model_type); supported: bert, xlm-roberta, \
                     roberta"
                ),
            ))
        }
        None => {
            return Err(Error::invalid(
                path,
                "no model_type field: cannot tell the architecture",
            ))
        }
    };
    if let Some(act) = arch.hidden_act.as_deref() {
        if Activation::from_name(act).is_none() {
            return Err(Error::invalid(
                path,
                format!(
                    "hidden_act '{act}' is not supported (supported: {}); this model needs \
                     another activation than glossa's BERT computes",
                    Activation::NAMES
                ),
            ));
        }
    }
    let mut config: Config = crate::error::parse_json(text, path)?;
    if roberta {
        // (XLM-)RoBERTa numbers positions from after the padding index.
        config.position_offset = config.pad_token_id as usize + 1;
        if config.position_offset >= config.max_position_embeddings {
            return Err(Error::invalid(
                path,
                format!(
                    "pad_token_id {} leaves no position of {} for tokens",
                    config.pad_token_id, config.max_position_embeddings
                ),
            ));
        }
    }
    check_sizes(&config, path)?;
    Ok(config)
}

fn check_sizes(config: &Config, path: &Path) -> Result<()> {
    if config.num_attention_heads == 0
        || !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
    {
        return Err(Error::invalid(
            path,
            "hidden_size is not a multiple of num_attention_heads",
        ));
    }
    // A zero here loads (zero-size tensors are valid safetensors) but cannot embed anything.
    for (field, value) in [
        ("hidden_size", config.hidden_size),
        ("vocab_size", config.vocab_size),
        ("max_position_embeddings", config.max_position_embeddings),
        ("type_vocab_size", config.type_vocab_size),
    ] {
        if value == 0 {
            return Err(Error::invalid(path, format!("{field} is 0")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{"model_type": "bert", "hidden_size": 4, "intermediate_size": 8,
        "max_position_embeddings": 16, "num_attention_heads": 2, "num_hidden_layers": 1,
        "vocab_size": 8, "hidden_act": "gelu"}"#;

    #[test]
    fn hidden_act_is_read_and_other_activations_are_refused() {
        let path = Path::new("config.json");
        let cfg = parse_config(CONFIG, path).unwrap();
        assert_eq!(cfg.hidden_act, Activation::GeluErf);
        // Absent: BERT's default.
        let bare = CONFIG.replace(r#", "hidden_act": "gelu""#, "");
        assert_eq!(
            parse_config(&bare, path).unwrap().hidden_act,
            Activation::GeluErf
        );
        // Before, any value ran as the erf GELU: a tanh-GELU or ReLU model gave wrong vectors.
        for act in ["gelu_new", "relu", "gelu_pytorch_tanh"] {
            let other = CONFIG.replace(r#""gelu""#, &format!(r#""{act}""#));
            let err = parse_config(&other, path).unwrap_err().to_string();
            assert!(
                err.starts_with("config.json:") && err.contains(&format!("hidden_act '{act}'")),
                "{err}"
            );
        }
    }

    #[test]
    fn roberta_positions_start_after_the_padding_index() {
        let path = Path::new("config.json");
        let xlmr = CONFIG.replace(r#""bert""#, r#""xlm-roberta""#);
        let cfg = parse_config(
            &xlmr.replace("\"vocab_size\"", "\"pad_token_id\": 1, \"vocab_size\""),
            path,
        )
        .unwrap();
        assert_eq!((cfg.position_offset, cfg.max_tokens()), (2, 14));
        assert_eq!(parse_config(CONFIG, path).unwrap().max_tokens(), 16);
    }
}
