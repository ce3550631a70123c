//! `glossa shrink`: a copy of a student that fits a size budget on disk (docs/students.md,
//! "Size as a setting").

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use glossa::student::shrink::{parse_size, PruneBy, ShrinkOptions};
use glossa::student::{Precision, TableStudent};
use glossa::Encoder;

#[derive(clap::Args)]
pub struct ShrinkArgs {
    #[arg(long)]
    model: PathBuf,
    /// Budget for the whole directory on disk: 64MB, 1.5GB, 32MiB (MB = 10^6 bytes).
    #[arg(long, value_parser = parse_size)]
    max_size: u64,
    /// Output width after a PCA of the student's vectors of --texts (default: unchanged).
    #[arg(long)]
    dim: Option<usize>,
    /// Texts, one per line, columns split on tabs (a corpus' dev TSVs): the PCA and
    /// `--prune-by use` are fitted on them. Never a test set.
    #[arg(long, num_args = 1..)]
    texts: Vec<PathBuf>,
    /// Rows that go first: `norm` (smallest rows) or `use` (norm × how often --texts use them).
    #[arg(long, default_value = "use")]
    prune_by: PruneBy,
    /// How the table is stored: int8 (a byte a value) or int4 (two values a byte, so about
    /// twice the rows or width in the same budget, each value on 15 levels instead of 255).
    #[arg(long, default_value = "int8")]
    precision: Precision,
    /// Two-column TSVs (translation pairs, e.g. a corpus' dev split) on which to compare
    /// retrieval before and after; held apart from --texts so the check is not fitted on.
    #[arg(long, num_args = 1..)]
    check: Vec<PathBuf>,
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: ShrinkArgs) -> Result<()> {
    let student = TableStudent::load(&args.model)?;
    let (texts, _) = read_texts(&args.texts)?;
    let (_, pairs) = read_texts(&args.check)?;
    if texts.is_empty() && (args.dim.is_some() || args.prune_by == PruneBy::Use) {
        bail!(
            "--dim and --prune-by use are fitted on texts: pass --texts (e.g. a corpus' dev TSVs)"
        );
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let options = ShrinkOptions {
        max_bytes: args.max_size,
        dim: args.dim,
        prune_by: args.prune_by,
        precision: args.precision,
        texts: &refs,
    };
    let summary = glossa::student::shrink::shrink(&student, &options, &args.out)?;
    println!(
        "{} → {}: {:.1} MB (budget {:.1} MB), width {}, {} words + {} bucket rows, {:?}{}",
        args.model.display(),
        args.out.display(),
        summary.bytes as f64 / 1e6,
        args.max_size as f64 / 1e6,
        summary.dim,
        summary.words,
        summary.bucket_rows,
        args.precision,
        summary
            .kept_variance
            .map(|v| format!(", PCA keeps {:.1}% of the variance", v * 100.0))
            .unwrap_or_default()
    );
    if !pairs.is_empty() {
        let small = TableStudent::load(&args.out)?;
        println!(
            "retrieval within each --check file, first {PAIRS_PER_FILE} pairs (mean of both \
             directions and files): {:.1}% → {:.1}%",
            retrieval(&student, &pairs)?,
            retrieval(&small, &pairs)?
        );
    }
    Ok(())
}

/// At most this many pairs per file in the retrieval check (all-pairs similarity is quadratic).
const PAIRS_PER_FILE: usize = 1000;

/// A file's (first column, second column) pairs.
type Pairs = Vec<(String, String)>;

/// Every column of every line, and the first pairs of each two-column file (for the check).
fn read_texts(files: &[PathBuf]) -> Result<(Vec<String>, Vec<Pairs>)> {
    let (mut texts, mut pairs) = (Vec::new(), Vec::new());
    for file in files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading texts from {}", file.display()))?;
        let mut own = Vec::new();
        for line in text.lines() {
            let columns: Vec<&str> = line.split('\t').filter(|c| !c.is_empty()).collect();
            if let [a, b] = columns[..] {
                if own.len() < PAIRS_PER_FILE {
                    own.push((a.to_string(), b.to_string()));
                }
            }
            texts.extend(columns.into_iter().map(str::to_string));
        }
        if own.len() > 1 {
            pairs.push(own);
        }
    }
    Ok((texts, pairs))
}

/// Retrieval accuracy (%) between the two columns of each file's pairs, averaged over files.
fn retrieval(model: &dyn Encoder, files: &[Pairs]) -> Result<f32> {
    let mut sum = 0.0;
    for pairs in files {
        let a: Vec<&str> = pairs.iter().map(|p| p.0.as_str()).collect();
        let b: Vec<&str> = pairs.iter().map(|p| p.1.as_str()).collect();
        let (ea, eb) = (model.encode(&a)?, model.encode(&b)?);
        sum += glossa::eval::retrieval(&ea, &eb).mean;
    }
    Ok(sum / files.len() as f32)
}
