//! `glossa bench`: encode throughput and peak memory per model, thread count, input kind and
//! batch size. Each case runs in its own child process (`RAYON_NUM_THREADS` set there, which
//! both rayon and candle honour), so its peak RSS is its own and thread pools start clean.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

#[derive(clap::Args)]
pub struct BenchArgs {
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
}

pub fn run(args: BenchArgs) -> Result<()> {
    if let Some(dir) = &args.write_inputs {
        return write_inputs(dir, &args.eval_dir);
    }
    if args.case {
        let (model, input) = (&args.model[0], &args.input[0]);
        let result = run_case(model, input, args.batch[0], args.seconds, &args.eval_dir)?;
        println!("{}", serde_json::to_string(&result)?);
        return Ok(());
    }
    let cases = run_all(
        &args.model,
        &args.threads,
        &args.input,
        &args.batch,
        args.seconds,
        &args.eval_dir,
    )?;
    print!("{}", table(&cases));
    println!(
        "timed: each case in its own process, >= {} s after a warm-up batch, cold (caches \
         emptied each pass), tokenization included; short = 2000 Tatoeba English lines, long = \
         500 paragraphs of >= 45 words",
        args.seconds
    );
    if let Some(path) = args.json {
        std::fs::write(&path, serde_json::to_vec_pretty(&cases)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Writes the inputs to `dir`/short.txt and `dir`/long.txt, one text a line.
fn write_inputs(dir: &Path, eval_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for kind in ["short", "long"] {
        let path = dir.join(format!("{kind}.txt"));
        let mut text = inputs(eval_dir, kind)?.join("\n");
        text.push('\n');
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Case {
    pub model: String,
    pub threads: usize,
    pub input: String,
    pub batch: usize,
    pub sentences_per_second: f64,
    pub peak_rss_mb: f64,
}

/// The two fixed inputs (`glossa::eval::speed::inputs`, which `eval` and `distill` time too).
pub fn inputs(eval_dir: &Path, kind: &str) -> Result<Vec<String>> {
    Ok(glossa::eval::speed::inputs(eval_dir, kind)?)
}

/// Peak resident memory of this process, from /proc (Linux); 0 elsewhere.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Runs one case in this process, timed as every speed figure is (`glossa::eval::speed`): a
/// warm-up batch, then batches in input order (wrapping round, each pass over the inputs with
/// the model's caches emptied) until `seconds` have passed, on `RAYON_NUM_THREADS` threads.
pub fn run_case(
    model: &str,
    input: &str,
    batch: usize,
    seconds: f64,
    eval_dir: &Path,
) -> Result<Case> {
    let encoder = glossa::interop::load_encoder(model)?;
    let texts = inputs(eval_dir, input)?;
    let method = glossa::eval::speed::Method {
        // Set by `run_all` (tokenizers read it too); all cores when run by hand.
        threads: std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        batch,
        input: input.to_string(),
        seconds,
    };
    let sentences_per_second = glossa::eval::speed::measure(&*encoder, &texts, &method)?;
    Ok(Case {
        model: model.to_string(),
        threads: method.threads,
        input: input.to_string(),
        batch,
        sentences_per_second,
        peak_rss_mb: peak_rss_mb(),
    })
}

/// Runs every case in a child process and returns the results in order.
pub fn run_all(
    models: &[String],
    threads: &[usize],
    inputs: &[String],
    batches: &[usize],
    seconds: f64,
    eval_dir: &Path,
) -> Result<Vec<Case>> {
    let exe = std::env::current_exe().context("locating the glossa binary")?;
    let mut cases = Vec::new();
    for model in models {
        for &t in threads {
            for input in inputs {
                for &batch in batches {
                    let out = Command::new(&exe)
                        .args([
                            "bench",
                            "--case",
                            "--model",
                            model,
                            "--input",
                            input,
                            "--batch",
                            &batch.to_string(),
                        ])
                        .args(["--seconds", &seconds.to_string(), "--eval-dir"])
                        .arg(eval_dir)
                        .env("RAYON_NUM_THREADS", t.to_string())
                        .output()
                        .context("running a benchmark case")?;
                    if !out.status.success() {
                        bail!(
                            "benchmark case {model} threads={t} {input} batch={batch} failed: {}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                    }
                    let case: Case = serde_json::from_slice(&out.stdout)
                        .context("reading a benchmark case's result")?;
                    eprintln!(
                        "{:<40} {t} thr {input:>5} b{batch:<4} {:>10.0} sent/s {:>7.0} MB",
                        case.model, case.sentences_per_second, case.peak_rss_mb
                    );
                    cases.push(case);
                }
            }
        }
    }
    Ok(cases)
}

pub fn table(cases: &[Case]) -> String {
    let mut out = format!(
        "{:<44} {:>7} {:>6} {:>6} {:>12} {:>9}\n",
        "model", "threads", "input", "batch", "sentences/s", "peak MB"
    );
    for c in cases {
        out.push_str(&format!(
            "{:<44} {:>7} {:>6} {:>6} {:>12.0} {:>9.0}\n",
            c.model, c.threads, c.input, c.batch, c.sentences_per_second, c.peak_rss_mb
        ));
    }
    out
}
