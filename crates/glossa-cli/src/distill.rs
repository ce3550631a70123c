//! `glossa distill`: the whole job, corpus → teacher labels → student → evaluation → report.

use std::path::PathBuf;

use anyhow::Result;
use glossa::recipes::config::Config;
use glossa::recipes::distill::DistillReport;

use crate::progress::Bars;

/// A config-driven run that trains students (`distill`, `classify distill`).
#[derive(clap::Args)]
pub struct RunArgs {
    /// TOML config; every key has a default (see configs/).
    #[arg(long)]
    config: PathBuf,
    /// Override the config's run_dir.
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Continue interrupted trainings from their checkpoints (run_dir/checkpoints/).
    #[arg(long)]
    resume: bool,
    /// An embedding server to label with (`http://host:port`, OpenAI or TEI API as the config's
    /// teacher.endpoint_api says); repeatable; replaces the config's teacher.endpoints.
    #[arg(long = "teacher-endpoint", value_name = "URL")]
    teacher_endpoints: Vec<String>,
}

impl RunArgs {
    pub fn load(&self) -> Result<Config> {
        let mut cfg = Config::load(&self.config)?;
        if let Some(dir) = &self.run_dir {
            cfg.run_dir = dir.clone();
        }
        cfg.resume = self.resume;
        if !self.teacher_endpoints.is_empty() {
            cfg.teacher.endpoints = self.teacher_endpoints.clone();
        }
        Ok(cfg)
    }
}

pub fn run(args: RunArgs) -> Result<()> {
    let cfg = args.load()?;
    let report = glossa::recipes::distill::distill(&cfg, &Bars)?;
    println!(
        "\nCorpus (train pairs per language): {}",
        corpus_line(&report)
    );
    println!(
        "English texts labelled by the teacher: {}\n",
        report.english_texts
    );
    print!("{}", glossa::eval::render_table(&report.models));
    println!(
        "\nStudent: {}   Report: {}",
        cfg.run_dir.join("student").display(),
        cfg.run_dir.join("report.json").display()
    );
    Ok(())
}

fn corpus_line(report: &DistillReport) -> String {
    report
        .corpus
        .languages
        .iter()
        .map(|(l, r)| format!("{l} {}", r.train))
        .collect::<Vec<_>>()
        .join(", ")
}
