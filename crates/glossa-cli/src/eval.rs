//! `glossa eval`: quality (Tatoeba, STS), speed and size of one or more models in one table.

use std::path::PathBuf;

use anyhow::{Context, Result};

#[derive(clap::Args)]
pub struct EvalArgs {
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
    /// STS-benchmark dev: the English similarity set to choose settings on (the test split is
    /// read once, at the end).
    #[arg(long)]
    stsb_dev: bool,
    #[arg(long, default_value = "../shared/eval")]
    eval_dir: PathBuf,
    /// Also write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also write the report as an HTML page here (with the size–quality curve when several
    /// models are compared).
    #[arg(long)]
    html: Option<PathBuf>,
    /// Seconds spent timing encode speed (0: skip). The timing is `glossa bench`'s (same
    /// code, same `short` input when the eval folder has it, cold, after a warm-up batch).
    #[arg(long, default_value_t = 3.0)]
    speed_seconds: f64,
    /// Threads of the speed timing (`glossa bench --threads`' first default).
    #[arg(long, default_value_t = 1)]
    speed_threads: usize,
    /// Batch of the speed timing (`glossa bench --batch`' first default).
    #[arg(long, default_value_t = 32)]
    speed_batch: usize,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let EvalArgs {
        model,
        mut tatoeba,
        mut sts17,
        mut stsb,
        stsb_dev,
        eval_dir,
        json,
        html,
        speed_seconds,
        speed_threads,
        speed_batch,
    } = args;
    if tatoeba.is_empty() && !sts17 && !stsb && !stsb_dev {
        tatoeba = glossa::recipes::config::EvalConfig::default().tatoeba;
        (sts17, stsb) = (true, true);
    }
    let mut suite = glossa::eval::Suite::load(&eval_dir, &tatoeba, sts17, stsb)?;
    if stsb_dev {
        suite.sts.push(glossa::eval::load_stsb(&eval_dir, "dev")?);
    }
    let options = glossa::eval::Options {
        speed: (speed_seconds > 0.0).then(|| glossa::eval::speed::Method {
            threads: speed_threads,
            batch: speed_batch,
            seconds: speed_seconds,
            ..Default::default()
        }),
    };
    let mut reports = Vec::new();
    for spec in &model {
        // One model in memory at a time.
        let encoder = glossa::interop::load_encoder(spec)?;
        reports.push(glossa::eval::evaluate(
            spec,
            encoder.as_ref(),
            &suite,
            &options,
            &|m| tracing::info!("evaluating {m}"),
        )?);
    }
    print!("{}", glossa::eval::render_table(&reports));
    if let Some(curve) = glossa::eval::render_size_curve(&reports) {
        print!("\n{curve}");
    }
    if let Some(path) = html {
        let page = glossa::eval::report::html("glossa eval", &reports, &[], &[]);
        std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = json {
        let value = match &reports[..] {
            [one] => serde_json::to_vec_pretty(one)?,
            many => serde_json::to_vec_pretty(many)?,
        };
        std::fs::write(&path, value).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
