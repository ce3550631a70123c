//! `glossa`: the command-line face of the library. `main` parses and dispatches; each subcommand
//! lives in its own module, parses its arguments and calls the library; nothing here knows how
//! models work.

mod bench;
mod classify;
mod config;
mod convert;
mod corpus;
mod distill;
mod embed;
mod eval;
mod export;
mod progress;
mod quantize;
mod serve;
mod shrink;
mod teacher;
mod tokenize;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "glossa",
    version,
    about = "Distil a Transformer sentence-embedding teacher into a small, fast multilingual student"
)]
struct Cli {
    /// Log lines as text or as JSON objects (one per line, for log collectors).
    #[arg(long, global = true, env = "GLOSSA_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole job: corpus → teacher labels → train the student → evaluate → save.
    Distill(distill::RunArgs),
    /// Print the config a run would use: `extends` applied, every default filled in.
    Config(config::ConfigArgs),
    /// Evaluate models (student dir, teacher dir or HF repo id) on Tatoeba and STS; several
    /// `--model` flags give one comparison table.
    Eval(eval::EvalArgs),
    /// Embed standard input, one sentence per line, as JSON lines {"embedding": [...]}.
    Embed(embed::EmbedArgs),
    /// Print each line of standard input as the student's tokens joined by spaces (lowercased
    /// when the student lowercases): the text fastText must be given to see glossa's words.
    Tokenize(tokenize::TokenizeArgs),
    /// Serve a model over HTTP: OpenAI-compatible POST /v1/embeddings, TEI's /embed and /info,
    /// GET /health, GET /metrics. Prints `listening on http://ADDR` first.
    Serve(serve::Args),
    /// Teacher operations.
    Teacher {
        #[command(subcommand)]
        command: teacher::TeacherCommand,
    },
    /// Parallel-corpus operations.
    Corpus {
        #[command(subcommand)]
        command: corpus::CorpusCommand,
    },
    /// Measure encode throughput (sentences/s, tokenization included) and peak memory for each
    /// model × threads × input (short: Tatoeba lines; long: ~45-word paragraphs) × batch size.
    Bench(bench::BenchArgs),
    /// Cross-lingual text classification: a head on the teacher, distilled into the student.
    Classify {
        #[command(subcommand)]
        command: classify::ClassifyCommand,
    },
    /// Write a copy of a student with its table stored in f16, or int8 with a scale per row
    /// (compare with `glossa eval --model ORIGINAL --model COPY`). A Transformer student takes
    /// int8 only (every matrix, a scale per row; dequantised to f32 when loaded).
    Quantize(quantize::QuantizeArgs),
    /// A copy of a student that fits a size budget: narrower (PCA), pruned rows, int8.
    Shrink(shrink::ShrinkArgs),
    /// Write a student in another tool's format.
    Export {
        #[command(subcommand)]
        command: export::ExportCommand,
    },
}

fn main() {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Logs to stderr, filtered by `GLOSSA_LOG`; colours only on a terminal.
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GLOSSA_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Distill(args) => distill::run(args),
        Command::Config(args) => config::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Embed(args) => embed::run(args),
        Command::Tokenize(args) => tokenize::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Teacher { command } => teacher::run(command),
        Command::Corpus { command } => corpus::run(command),
        Command::Bench(args) => bench::run(args),
        Command::Classify { command } => classify::run(command),
        Command::Quantize(args) => quantize::run(args),
        Command::Shrink(args) => shrink::run(args),
        Command::Export { command } => export::run(command),
    }
}
