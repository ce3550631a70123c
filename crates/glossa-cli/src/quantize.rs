//! `glossa quantize`: a copy of a student with its weights in f16, int8 or int4 (int4: table
//! students only).

use std::path::PathBuf;

use anyhow::Result;

#[derive(clap::Args)]
pub struct QuantizeArgs {
    #[arg(long)]
    model: PathBuf,
    /// f16, int8 or int4 (f32 writes a plain copy; int4 is for table students).
    #[arg(long)]
    precision: glossa::student::Precision,
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: QuantizeArgs) -> Result<()> {
    let QuantizeArgs {
        model,
        precision,
        out,
    } = args;
    glossa::student::quantize(&model, &out, precision)?;
    let size =
        |d: &std::path::Path| std::fs::metadata(d.join("model.safetensors")).map_or(0, |m| m.len());
    println!(
        "{} → {} ({precision:?}): model.safetensors {:.1} MB → {:.1} MB",
        model.display(),
        out.display(),
        size(&model) as f64 / 1e6,
        size(&out) as f64 / 1e6
    );
    Ok(())
}
