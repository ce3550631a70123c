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
    #[command(subcommand)]
    command: Command,
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
    /// Serve a model over HTTP: OpenAI-compatible POST /v1/embeddings, GET /health, GET /metrics.
    /// Prints `listening on http://ADDR` first; stops cleanly on SIGTERM or Ctrl-C.
    Serve {
        /// Student dir, teacher dir or HF repo id, as `embed` takes.
        #[arg(long)]
        model: String,
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
        /// Inputs per encoder call, merged across concurrent requests.
        #[arg(long, default_value_t = 256)]
        max_batch: usize,
        /// Milliseconds a batch waits for requests that are already arriving.
        #[arg(long, default_value_t = 1.0)]
        batch_wait_ms: f64,
        /// Inputs per request.
        #[arg(long, default_value_t = 2048)]
        max_inputs: usize,
        /// Characters per input.
        #[arg(long, default_value_t = 8192)]
        max_input_chars: usize,
        /// Bytes per request body (default 4 MiB).
        #[arg(long, default_value_t = 4 << 20)]
        max_body_bytes: usize,
    },
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
    /// Write a student in another tool's format.
    Export {
        #[command(subcommand)]
        command: export::ExportCommand,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GLOSSA_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Distill(args) => distill::run(args),
        Command::Config(args) => config::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Embed(args) => embed::run(args),
        Command::Tokenize(args) => tokenize::run(args),
        Command::Serve {
            model,
            addr,
            max_batch,
            batch_wait_ms,
            max_inputs,
            max_input_chars,
            max_body_bytes,
        } => {
            if !(0.0..=10_000.0).contains(&batch_wait_ms) {
                anyhow::bail!("--batch-wait-ms must be between 0 and 10000, got {batch_wait_ms}");
            }
            let options = glossa::serve::Options {
                max_batch,
                max_wait: std::time::Duration::from_secs_f64(batch_wait_ms / 1000.0),
                max_inputs,
                max_input_chars,
                max_body_bytes,
            };
            let encoder = glossa::interop::load_encoder(&model)?;
            glossa::serve::run(encoder.into(), &addr, options, |bound| {
                // The first stdout line, flushed: scripts and tests read the port from it.
                println!("listening on http://{bound}");
                let _ = std::io::Write::flush(&mut std::io::stdout());
                tracing::info!("serving {model} on http://{bound}");
            })
            .map_err(Into::into)
        }
        Command::Teacher { command } => teacher::run(command),
        Command::Corpus { command } => corpus::run(command),
        Command::Bench(args) => bench::run(args),
        Command::Classify { command } => classify::run(command),
        Command::Quantize(args) => quantize::run(args),
        Command::Export { command } => export::run(command),
    }
}
