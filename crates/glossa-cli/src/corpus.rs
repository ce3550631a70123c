//! `glossa corpus …`: the parallel corpus on its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;
use glossa::data::testsets::TestSetIndex;
use glossa::data::user::open::Compression;
use glossa::data::user::write::{write_corpus_as, Format};
use glossa::recipes::config::Config;

#[derive(Subcommand)]
pub enum CorpusCommand {
    /// Build the cleaned, split corpus from the config's sources: by default the en<TAB>xx
    /// train/ and dev/ files glossa reads; with --format, files any glossa run (or another
    /// tool) can take as `--parallel` input.
    Build {
        /// TOML config; without it, the defaults (the built-in sources).
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        /// Write train and dev pairs together as tsv (`en-<lang>.tsv`), moses
        /// (`corpus.<lang>-en.en` + `.<lang>`), tmx (`corpus.tmx`) or jsonl (`corpus.jsonl`).
        #[arg(long, value_enum)]
        format: Option<ExportFormat>,
        /// Compress the --format files.
        #[arg(long, value_enum, default_value = "none", requires = "format")]
        compress: ExportCompression,
        /// Evaluation sets whose sentences are kept out (default: $GLOSSA_EVAL_DIR, then the
        /// config's eval_dir).
        #[arg(long)]
        eval_dir: Option<PathBuf>,
    },
    /// A dev retrieval set: held-out pairs of a built corpus, for choosing settings without
    /// touching the test sets.
    Devset(crate::convert::DevsetArgs),
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Tsv,
    Moses,
    Tmx,
    Jsonl,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ExportCompression {
    None,
    Gzip,
    Zstd,
    Xz,
}

pub fn run(command: CorpusCommand) -> Result<()> {
    match command {
        CorpusCommand::Build {
            config,
            out,
            format,
            compress,
            eval_dir,
        } => build(
            config.as_deref(),
            &out,
            format,
            compress,
            eval_dir.as_deref(),
        ),
        CorpusCommand::Devset(args) => crate::convert::devset(&args),
    }
}

fn build(
    config: Option<&Path>,
    out: &Path,
    format: Option<ExportFormat>,
    compress: ExportCompression,
    eval_dir: Option<&Path>,
) -> Result<()> {
    let mut cfg = match config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    cfg.eval_dir = crate::distill::eval_dir(eval_dir, &cfg.eval_dir);
    let tests = TestSetIndex::load(&cfg.eval_dir)?;
    let report = match format {
        // The run's own layout streams to disk in flat memory.
        None => glossa::recipes::sources::build_corpus_files(&cfg, &tests, out)?.report,
        Some(format) => {
            let (corpus, report) =
                glossa::recipes::sources::build_corpus_from_config(&cfg, &tests)?;
            let mut pairs = corpus.train.clone();
            for (lang, dev) in &corpus.dev {
                pairs
                    .entry(lang.clone())
                    .or_default()
                    .extend(dev.iter().cloned());
            }
            let written = export(out, format, compress, &report.pivot, &pairs)?;
            for path in written {
                println!("wrote {}", path.display());
            }
            report
        }
    };
    println!("{:<6} {:>8} {:>6}", "lang", "train", "dev");
    for (lang, r) in &report.languages {
        println!("{lang:<6} {:>8} {:>6}", r.train, r.dev);
    }
    println!(
        "distinct English texts (train): {}",
        report.unique_english_train
    );
    for s in &report.skipped_files {
        eprintln!("skipped: {s}");
    }
    Ok(())
}

fn export(
    out: &Path,
    format: ExportFormat,
    compress: ExportCompression,
    pivot: &str,
    pairs: &BTreeMap<String, Vec<glossa::data::Pair>>,
) -> Result<Vec<PathBuf>> {
    let format = match format {
        ExportFormat::Tsv => Format::Tsv,
        ExportFormat::Moses => Format::Moses,
        ExportFormat::Tmx => Format::Tmx,
        ExportFormat::Jsonl => Format::Jsonl,
    };
    let compression = match compress {
        ExportCompression::None => Compression::None,
        ExportCompression::Gzip => Compression::Gzip,
        ExportCompression::Zstd => Compression::Zstd,
        ExportCompression::Xz => Compression::Xz,
    };
    Ok(write_corpus_as(out, format, compression, pivot, pairs)?)
}
