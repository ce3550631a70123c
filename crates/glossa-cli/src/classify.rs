//! `glossa classify …`: the classification path's commands.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Subcommand;
use glossa::recipes::classify::{self, Classifier, ClassifierRow, ClassifyReport};
use glossa::recipes::config::Config;

use crate::distill::RunArgs;
use crate::progress::Bars;

#[derive(Subcommand)]
pub enum ClassifyCommand {
    /// Train the classifier head on the teacher's embeddings of the train language's labelled
    /// texts; score it on every language.
    TrainTeacher {
        /// TOML config with a [classify] section (see configs/classify.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Teacher head → soft labels → student classifiers (hard labels and the KD grid) → table.
    Distill(Box<RunArgs>),
    /// Score a saved classifier on a language<TAB>label<TAB>text file.
    Eval {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        data: PathBuf,
    },
    /// Print the predicted label of each line of standard input.
    Predict {
        #[arg(long)]
        model: PathBuf,
    },
}

pub fn run(command: ClassifyCommand) -> Result<()> {
    match command {
        ClassifyCommand::TrainTeacher { config } => train_teacher(&Config::load(&config)?),
        ClassifyCommand::Distill(args) => distill(&args.load()?),
        ClassifyCommand::Eval { model, data } => eval(&model, &data),
        ClassifyCommand::Predict { model } => {
            predict(&model, std::io::stdin().lock(), std::io::stdout().lock())
        }
    }
}

/// `classify train-teacher`: the English head on the teacher, scored zero-shot and in-language.
pub fn train_teacher(config: &Config) -> Result<()> {
    let tc = classify::train_teacher(config, &Bars)?;
    let report = ClassifyReport {
        data: tc.set.report.clone(),
        train_language: config.classify.train_language.clone(),
        corpus_languages: config.corpus.languages.clone(),
        rows: classify::teacher_rows(&tc, &config.classify),
        ..Default::default()
    };
    println!("labels: {}", tc.head.labels.join(", "));
    print!("{}", classify::render(&report));
    println!(
        "head: {}",
        config
            .run_dir
            .join("teacher-head/head.safetensors")
            .display()
    );
    Ok(())
}

/// `classify distill`: teacher head, the students of the ablation, the table.
pub fn distill(config: &Config) -> Result<()> {
    let report = classify::distill(config, &Bars)?;
    println!("\nlabels: {}", report.data.labels.join(", "));
    println!(
        "transfer set: {} English texts, {} examples; English labelled texts repeated {}×",
        report.transfer_english, report.transfer_examples, report.labelled_repeats
    );
    let per_language: Vec<String> = report
        .transfer_per_language
        .iter()
        .map(|(l, n)| format!("{l} {n}"))
        .collect();
    println!(
        "transfer examples per language: {}",
        per_language.join(", ")
    );
    for s in &report.teacher_softness {
        println!(
            "teacher soft labels at T={}: mean top probability {:.3}, mean entropy {:.3} nats",
            s.temperature, s.top_probability, s.entropy
        );
    }
    println!();
    print!("{}", classify::render(&report));
    println!(
        "\nStudent: {}   Report: {}",
        config.run_dir.join("student").display(),
        config.run_dir.join("classify.json").display()
    );
    Ok(())
}

/// `classify eval`: a saved classifier on a `lang<TAB>label<TAB>text` file.
pub fn eval(model: &Path, data: &Path) -> Result<()> {
    let classifier = Classifier::load(model)?;
    let texts = glossa::data::labelled::read_labelled_tsv(data, Some(&classifier.labels))?;
    let row = ClassifierRow {
        name: model.display().to_string(),
        by_language: classifier.evaluate(&texts)?,
    };
    println!(
        "{:<10} {:>6} {:>9} {:>9}",
        "language", "texts", "accuracy", "macro-F1"
    );
    for (lang, s) in &row.by_language {
        println!(
            "{lang:<10} {:>6} {:>9.1} {:>9.1}",
            s.n, s.accuracy, s.macro_f1
        );
    }
    Ok(())
}

/// `classify predict`: one label per input line, in order.
pub fn predict(model: &Path, input: impl BufRead, mut output: impl Write) -> Result<()> {
    let classifier = Classifier::load(model)?;
    let mut lines = Vec::new();
    for (i, line) in input.split(b'\n').enumerate() {
        let bytes = line?;
        let Ok(text) = String::from_utf8(bytes) else {
            bail!(
                "stdin:{}: invalid UTF-8 (input must be UTF-8 text, one sentence per line)",
                i + 1
            );
        };
        lines.push(text.trim_end_matches('\r').to_string());
    }
    for chunk in lines.chunks(1024) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for label in classifier.predict(&refs)? {
            writeln!(output, "{label}")?;
        }
    }
    output.flush()?;
    Ok(())
}
