//! `glossa corpus …`: the parallel corpus on its own.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;
use glossa::data::testsets::TestSetIndex;
use glossa::recipes::config::Config;

#[derive(Subcommand)]
pub enum CorpusCommand {
    /// Build the cleaned, split en<TAB>xx corpus from the config's sources.
    Build {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// A dev retrieval set: held-out pairs of a built corpus, for choosing settings without
    /// touching the test sets.
    Devset(crate::convert::DevsetArgs),
}

pub fn run(command: CorpusCommand) -> Result<()> {
    match command {
        CorpusCommand::Build { config, out } => build(&config, &out),
        CorpusCommand::Devset(args) => crate::convert::devset(&args),
    }
}

fn build(config: &Path, out: &Path) -> Result<()> {
    let cfg = Config::load(config)?;
    let tests = TestSetIndex::load(&cfg.eval_dir)?;
    let (corpus, report) = glossa::recipes::sources::build_corpus_from_config(&cfg, &tests)?;
    glossa::data::corpus::write_corpus(out, &corpus, &report)?;
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
