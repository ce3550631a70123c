//! `glossa export …`: a student in another tool's format.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;
use glossa::student::TableStudent;

#[derive(Subcommand)]
pub enum ExportCommand {
    /// A static token student as a Model2Vec directory (Python `model2vec`, `model2vec-rs`,
    /// sentence-transformers' StaticEmbedding).
    Model2vec {
        #[arg(long)]
        model: PathBuf,
        /// Directory to write (created).
        #[arg(long)]
        out: PathBuf,
        /// Rows stored as int8 (the row scales as Model2Vec's per-token `weights`, which model2vec
        /// reads from 0.7.0 on: older versions need f16 or f32), f16 or f32.
        #[arg(long, default_value = "int8")]
        precision: glossa::student::Precision,
    },
    /// fastText/word2vec text vectors of the student's vocabulary.
    Vec {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// A supervised fastText model (.bin) whose get_sentence_vector is the student's vector for
    /// text given as `glossa tokenize` prints it (docs/interop.md).
    Fasttext {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Also write the vocabulary's word vectors as a .vec text file here.
        #[arg(long)]
        vec: Option<PathBuf>,
    },
}

pub fn run(command: ExportCommand) -> Result<()> {
    match command {
        ExportCommand::Fasttext { model, out, vec } => fasttext(&model, &out, vec.as_deref()),
        ExportCommand::Model2vec {
            model,
            out,
            precision,
        } => model2vec(&model, &out, precision),
        ExportCommand::Vec { model, out } => {
            let student = TableStudent::load(&model)?;
            glossa::interop::write_vec(&student, &out)?;
            println!(
                "wrote {} word vectors to {}",
                student.words().len(),
                out.display()
            );
            Ok(())
        }
    }
}

fn fasttext(model: &Path, out: &Path, vec: Option<&Path>) -> Result<()> {
    let student = TableStudent::load(model)?;
    let summary = glossa::interop::fasttext::write_bin(&student, out)?;
    for w in &summary.warnings {
        tracing::warn!("{w}");
    }
    println!(
        "wrote {} ({} words + {} buckets, dim {}; {} CJK word rows adjusted)",
        out.display(),
        summary.words,
        summary.buckets,
        summary.dim,
        summary.adjusted_words
    );
    if let Some(vec) = vec {
        glossa::interop::write_vec(&student, vec)?;
        println!("wrote {} word vectors to {}", summary.words, vec.display());
    }
    Ok(())
}

fn model2vec(model: &Path, out: &Path, precision: glossa::student::Precision) -> Result<()> {
    let student = TableStudent::load(model)?;
    glossa::interop::model2vec::write_as(&student, out, precision)?;
    println!(
        "wrote a Model2Vec model of {} tokens × {} ({precision:?}) to {}",
        student.rows(),
        student.config.output_dim,
        out.display()
    );
    Ok(())
}
