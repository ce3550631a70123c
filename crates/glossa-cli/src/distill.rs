//! `glossa distill`: the whole job, corpus → teacher labels → student → evaluation → report.

use std::path::PathBuf;

use anyhow::Result;
use glossa::recipes::config::{parse_languages, Config};
use glossa::recipes::distill::DistillReport;

use crate::progress::Bars;

/// A run that trains students (`distill`, `classify distill`): a TOML config, flags, or both
/// (a flag overrides the file's key).
#[derive(clap::Args)]
pub struct RunArgs {
    /// TOML config; every key has a default (see configs/). Without it, the defaults.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Your parallel files, a glob per flag (quote it): TSV (`en-de.tsv`), Moses/OPUS
    /// (`corpus.en` + `corpus.de`), TMX or JSON lines, optionally .gz/.zst/.xz. Replaces the
    /// config's `[corpus] parallel`; without --config, the built-in sources are not read.
    #[arg(long, value_name = "GLOB")]
    parallel: Vec<String>,
    /// Your monolingual text, one sentence per line, language last in the file name
    /// (`news.de.txt.zst`); a glob per flag. Replaces `[corpus] monolingual`.
    #[arg(long, value_name = "GLOB")]
    monolingual: Vec<String>,
    /// `all` (every language the sources hold) or codes in any spelling: `de,fr,pt-BR,zho`.
    #[arg(long, value_name = "LIST")]
    languages: Option<String>,
    /// With `--languages all`: leave out languages with fewer training pairs than this.
    /// Replaces `[corpus] min_pairs_per_language`.
    #[arg(long, value_name = "N")]
    min_pairs: Option<usize>,
    /// Teacher: a model directory or Hugging Face repo id.
    #[arg(long)]
    teacher: Option<String>,
    /// Pin the hub revision (branch, tag or commit) of the teacher's repo id.
    #[arg(long)]
    revision: Option<String>,
    /// Where the teacher runs: cpu, cuda or cuda:N (a glossa built with `--features cuda`);
    /// overrides the config's teacher.device.
    #[arg(long = "teacher-device", value_name = "DEVICE")]
    teacher_device: Option<glossa::teacher::TeacherDevice>,
    /// Where the run goes (the student is OUT/student); overrides the config's run_dir.
    #[arg(long, visible_alias = "run-dir", value_name = "OUT")]
    out: Option<PathBuf>,
    /// Evaluation sets (tatoeba/, sts2017/, stsbenchmark/). Default: $GLOSSA_EVAL_DIR, then
    /// the config's eval_dir (../shared/eval). Without them the run trains, saves and says
    /// what it skipped.
    #[arg(long)]
    eval_dir: Option<PathBuf>,
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
        let mut cfg = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        let user_files = !self.parallel.is_empty() || !self.monolingual.is_empty();
        if self.config.is_none() && user_files {
            cfg.corpus.without_builtin_sources();
        }
        if !self.parallel.is_empty() {
            cfg.corpus.parallel = self.parallel.iter().map(|g| g.as_str().into()).collect();
        }
        if !self.monolingual.is_empty() {
            cfg.corpus.monolingual = self.monolingual.iter().map(|g| g.as_str().into()).collect();
        }
        if let Some(list) = &self.languages {
            cfg.corpus.languages =
                parse_languages(list).map_err(|e| anyhow::anyhow!("--languages: {e}"))?;
        }
        if let Some(min) = self.min_pairs {
            cfg.corpus.min_pairs_per_language = min;
        }
        if let Some(teacher) = &self.teacher {
            cfg.teacher.model = teacher.clone();
        }
        cfg.teacher.model =
            glossa::hub::download::pin_revision(&cfg.teacher.model, self.revision.as_deref())?;
        if let Some(device) = self.teacher_device {
            cfg.teacher.device = device;
        }
        if let Some(dir) = &self.out {
            cfg.run_dir = dir.clone();
        }
        cfg.eval_dir = eval_dir(self.eval_dir.as_deref(), &cfg.eval_dir);
        cfg.resume = self.resume;
        if !self.teacher_endpoints.is_empty() {
            cfg.teacher.endpoints = self.teacher_endpoints.clone();
        }
        Ok(cfg)
    }
}

/// The evaluation sets: `--eval-dir`, then `$GLOSSA_EVAL_DIR`, then the config's.
pub fn eval_dir(flag: Option<&std::path::Path>, configured: &std::path::Path) -> PathBuf {
    let env = std::env::var_os("GLOSSA_EVAL_DIR").filter(|v| !v.is_empty());
    flag.map(PathBuf::from)
        .or_else(|| env.map(PathBuf::from))
        .unwrap_or_else(|| configured.to_path_buf())
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
    for skipped in &report.skipped_evaluations {
        println!("\n{skipped}");
    }
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
