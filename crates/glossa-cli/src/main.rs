//! `glossa`: the command-line face of the library. Each subcommand parses its arguments and calls
//! one library function; nothing here knows how models work.

mod bench;
mod classify;
mod embed;
mod serve;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use glossa::config::Config;
use glossa::Encoder;

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
    Distill(RunArgs),
    /// Evaluate models (student dir, teacher dir or HF repo id) on Tatoeba and STS; several
    /// `--model` flags give one comparison table.
    Eval {
        #[arg(long, required = true)]
        model: Vec<String>,
        /// Tatoeba languages, ISO 639-3, comma-separated (e.g. deu,fra,jpn).
        #[arg(long, value_delimiter = ',')]
        tatoeba: Vec<String>,
        /// The five STS2017 tracks.
        #[arg(long)]
        sts17: bool,
        /// STS-benchmark test.
        #[arg(long)]
        stsb: bool,
        #[arg(long, default_value = "../shared/eval")]
        eval_dir: PathBuf,
        /// Also write the report as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Seconds spent timing encode speed (0: skip).
        #[arg(long, default_value_t = 3.0)]
        speed_seconds: f64,
    },
    /// Embed standard input, one sentence per line, as JSON lines {"embedding": [...]}.
    Embed {
        #[arg(long)]
        model: String,
        /// Sentences per batch.
        #[arg(long, default_value_t = 256)]
        batch: usize,
    },
    /// Print each line of standard input as the student's tokens joined by spaces (lowercased
    /// when the student lowercases): the text fastText must be given to see glossa's words.
    Tokenize {
        #[arg(long)]
        model: PathBuf,
        /// Give unknown CJK bigrams as the stand-in characters a model from `export fasttext`
        /// needs to compute the student's vector (docs/interop.md).
        #[arg(long)]
        fasttext: bool,
    },
    Serve(serve::Args),
    /// Teacher operations.
    Teacher {
        #[command(subcommand)]
        command: TeacherCommand,
    },
    /// Parallel-corpus operations.
    Corpus {
        #[command(subcommand)]
        command: CorpusCommand,
    },
    /// Measure encode throughput (sentences/s, tokenization included) and peak memory for each
    /// model × threads × input (short: Tatoeba lines; long: ~45-word paragraphs) × batch size.
    Bench {
        /// Models to measure (student dir, teacher dir or HF repo id); repeat the flag.
        #[arg(long, required_unless_present = "write_inputs")]
        model: Vec<String>,
        #[arg(long, value_delimiter = ',', default_value = "1,2")]
        threads: Vec<usize>,
        #[arg(long, value_delimiter = ',', default_value = "short,long")]
        input: Vec<String>,
        #[arg(long, value_delimiter = ',', default_value = "32,128")]
        batch: Vec<usize>,
        /// Seconds timed per case, after a warm-up batch.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        #[arg(long, default_value = "../shared/eval")]
        eval_dir: PathBuf,
        /// Also write the results as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Internal: run a single case in this process and print it as JSON.
        #[arg(long, hide = true)]
        case: bool,
        /// Write the inputs, one text a line, to DIR/short.txt and DIR/long.txt and stop (so
        /// other engines can be timed on the same texts: scripts/bench-reference.sh).
        #[arg(long, value_name = "DIR")]
        write_inputs: Option<PathBuf>,
    },
    /// Cross-lingual text classification: a head on the teacher, distilled into the student.
    Classify {
        #[command(subcommand)]
        command: ClassifyCommand,
    },
    /// Write a copy of a student with its table stored in f16, or int8 with a scale per row
    /// (compare with `glossa eval --model ORIGINAL --model COPY`). A Transformer student takes
    /// int8 only (every matrix, a scale per row; dequantised to f32 when loaded).
    Quantize {
        #[arg(long)]
        model: PathBuf,
        /// f16 or int8 (f32 writes a plain copy).
        #[arg(long)]
        precision: glossa::student::Precision,
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a student in another tool's format.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
}

/// A config-driven run that trains students.
#[derive(clap::Args)]
struct RunArgs {
    /// TOML config; every key has a default (see configs/).
    #[arg(long)]
    config: PathBuf,
    /// Override the config's run_dir.
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Continue interrupted trainings from their checkpoints (run_dir/checkpoints/).
    #[arg(long)]
    resume: bool,
}

impl RunArgs {
    fn load(&self) -> Result<Config> {
        let mut cfg = Config::load(&self.config)?;
        if let Some(dir) = &self.run_dir {
            cfg.run_dir = dir.clone();
        }
        cfg.resume = self.resume;
        Ok(cfg)
    }
}

#[derive(Subcommand)]
enum TeacherCommand {
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
}

#[derive(Subcommand)]
enum CorpusCommand {
    /// Build the cleaned, split en<TAB>xx corpus from the config's sources.
    Build {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum ClassifyCommand {
    /// Train the classifier head on the teacher's embeddings of the train language's labelled
    /// texts; score it on every language.
    TrainTeacher {
        /// TOML config with a [classify] section (see configs/classify.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Teacher head → soft labels → student classifiers (hard labels and the KD grid) → table.
    Distill(RunArgs),
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

#[derive(Subcommand)]
enum ExportCommand {
    /// A static token student as a Model2Vec directory (Python `model2vec`, `model2vec-rs`,
    /// sentence-transformers' StaticEmbedding).
    Model2vec {
        #[arg(long)]
        model: PathBuf,
        /// Directory to write (created).
        #[arg(long)]
        out: PathBuf,
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
        Command::Distill(args) => {
            let cfg = args.load()?;
            let report = glossa::pipeline::distill(&cfg)?;
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
        }
        Command::Eval {
            model,
            mut tatoeba,
            mut sts17,
            mut stsb,
            eval_dir,
            json,
            speed_seconds,
        } => {
            if tatoeba.is_empty() && !sts17 && !stsb {
                tatoeba = glossa::config::EvalConfig::default().tatoeba;
                (sts17, stsb) = (true, true);
            }
            let suite = glossa::eval::Suite::load(&eval_dir, &tatoeba, sts17, stsb)?;
            let options = glossa::eval::Options {
                measure_speed: speed_seconds > 0.0,
                speed_seconds,
            };
            let mut reports = Vec::new();
            for spec in &model {
                // One model in memory at a time.
                let encoder = glossa::pipeline::load_encoder(spec)?;
                reports.push(glossa::eval::evaluate(
                    spec,
                    encoder.as_ref(),
                    &suite,
                    &options,
                    &|m| tracing::info!("evaluating {m}"),
                )?);
            }
            print!("{}", glossa::eval::render_table(&reports));
            if let Some(path) = json {
                let value = match &reports[..] {
                    [one] => serde_json::to_vec_pretty(one)?,
                    many => serde_json::to_vec_pretty(many)?,
                };
                std::fs::write(&path, value)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        Command::Embed { model, batch } => {
            let encoder = glossa::pipeline::load_encoder(&model)?;
            embed::run(
                encoder.as_ref(),
                std::io::stdin().lock(),
                std::io::stdout().lock(),
                batch,
            )?;
        }
        Command::Serve(args) => serve::run(args)?,
        Command::Teacher {
            command:
                TeacherCommand::Encode {
                    model,
                    input,
                    cache,
                    batch_size,
                },
        } => {
            let mut teacher = glossa::teacher::Teacher::load(&model)?;
            teacher.batch_size = batch_size;
            let texts = read_texts(&input)?;
            let mut labels = glossa::cache::LabelCache::open(
                &cache,
                &teacher.name(),
                teacher.fingerprint(),
                teacher.dim(),
            )?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let new = glossa::pipeline::label(&teacher, &mut labels, &refs, "teacher encode")?;
            println!(
                "{new} texts encoded, {} in the cache at {}",
                labels.len(),
                labels.dir().display()
            );
        }
        Command::Corpus {
            command: CorpusCommand::Build { config, out },
        } => {
            let cfg = Config::load(&config)?;
            let (corpus, report) = glossa::pipeline::build_corpus_from_config(
                &cfg,
                &glossa::data::testsets::TestSetIndex::load(&cfg.eval_dir)?,
            )?;
            glossa::data::corpus::write_corpus(&out, &corpus, &report)?;
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
        }
        Command::Bench {
            model,
            threads,
            input,
            batch,
            seconds,
            eval_dir,
            json,
            case,
            write_inputs,
        } => {
            if let Some(dir) = write_inputs {
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                for kind in ["short", "long"] {
                    let path = dir.join(format!("{kind}.txt"));
                    let mut text = bench::inputs(&eval_dir, kind)?.join("\n");
                    text.push('\n');
                    std::fs::write(&path, text)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
                return Ok(());
            }
            if case {
                let result = bench::run_case(&model[0], &input[0], batch[0], seconds, &eval_dir)?;
                println!("{}", serde_json::to_string(&result)?);
                return Ok(());
            }
            let cases = bench::run_all(&model, &threads, &input, &batch, seconds, &eval_dir)?;
            print!("{}", bench::table(&cases));
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_vec_pretty(&cases)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        Command::Classify { command } => match command {
            ClassifyCommand::TrainTeacher { config } => {
                classify::train_teacher(&Config::load(&config)?)?
            }
            ClassifyCommand::Distill(args) => classify::distill(&args.load()?)?,
            ClassifyCommand::Eval { model, data } => classify::eval(&model, &data)?,
            ClassifyCommand::Predict { model } => {
                classify::predict(&model, std::io::stdin().lock(), std::io::stdout().lock())?
            }
        },
        Command::Quantize {
            model,
            precision,
            out,
        } => {
            if glossa::student::student_format(&model)? == glossa::student::transformer::FORMAT {
                glossa::student::TransformerStudent::load(&model)?.save_as(&out, precision)?;
            } else {
                glossa::student::SubwordStudent::load(&model)?.save_as(&out, precision)?;
            }
            // A classifier's labels travel with it.
            let labels = model.join("labels.json");
            if labels.is_file() {
                glossa::io::write_atomic(out.join("labels.json"), &glossa::error::read(&labels)?)?;
            }
            let size = |d: &std::path::Path| {
                std::fs::metadata(d.join("model.safetensors")).map_or(0, |m| m.len())
            };
            println!(
                "{} → {} ({precision:?}): model.safetensors {:.1} MB → {:.1} MB",
                model.display(),
                out.display(),
                size(&model) as f64 / 1e6,
                size(&out) as f64 / 1e6
            );
        }
        Command::Tokenize { model, fasttext } => {
            use std::io::{BufRead, Write};
            let student = glossa::student::SubwordStudent::load(&model)?;
            let ft = fasttext.then(|| glossa::export::fasttext::FasttextText::new(&student));
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for line in std::io::stdin().lock().lines() {
                let line = line.context("reading standard input")?;
                let tokens = match &ft {
                    Some(ft) => ft.line(&line),
                    None => glossa::student::features::tokens_line(&line, student.config.lowercase),
                };
                writeln!(out, "{tokens}").context("writing standard output")?;
            }
            out.flush().context("writing standard output")?;
        }
        Command::Export {
            command: ExportCommand::Fasttext { model, out, vec },
        } => {
            let student = glossa::student::SubwordStudent::load(&model)?;
            let summary = glossa::export::fasttext::write_bin(&student, &out)?;
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
                glossa::export::write_vec(&student, &vec)?;
                println!("wrote {} word vectors to {}", summary.words, vec.display());
            }
        }
        Command::Export {
            command: ExportCommand::Model2vec { model, out },
        } => {
            let student = glossa::student::SubwordStudent::load(&model)?;
            glossa::student::model2vec::write(&student, &out)?;
            println!(
                "wrote a Model2Vec model of {} tokens × {} to {}",
                student.rows(),
                student.config.output_dim,
                out.display()
            );
        }
        Command::Export {
            command: ExportCommand::Vec { model, out },
        } => {
            let student = glossa::student::SubwordStudent::load(&model)?;
            glossa::export::write_vec(&student, &out)?;
            println!(
                "wrote {} word vectors to {}",
                student.words().len(),
                out.display()
            );
        }
    }
    Ok(())
}

fn corpus_line(report: &glossa::pipeline::DistillReport) -> String {
    report
        .corpus
        .languages
        .iter()
        .map(|(l, r)| format!("{l} {}", r.train))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Lines of a text file, or the English side of an en<TAB>xx pair file (`.tsv`).
fn read_texts(path: &std::path::Path) -> Result<Vec<String>> {
    if path.extension().is_some_and(|e| e == "tsv") {
        return Ok(glossa::data::read_pairs(path)?
            .into_iter()
            .map(|p| p.en)
            .collect());
    }
    let text = glossa::error::read_to_string(path)?;
    Ok(text.lines().map(str::to_owned).collect())
}
