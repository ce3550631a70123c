//! `glossa embed`: stream lines in, JSON lines out, in order, one per input line.

use std::io::{BufRead, Write};

use anyhow::{bail, Result};
use glossa::Encoder;

#[derive(clap::Args)]
pub struct EmbedArgs {
    #[arg(long)]
    model: String,
    /// Pin the hub revision (branch, tag or commit) of a repo id given as --model.
    #[arg(long)]
    revision: Option<String>,
    /// Sentences per batch.
    #[arg(long, default_value_t = 256)]
    batch: usize,
}

/// Embeds standard input into standard output.
pub fn run(args: EmbedArgs) -> Result<()> {
    let model = glossa::hub::download::pin_revision(&args.model, args.revision.as_deref())?;
    let encoder = glossa::interop::load_encoder(&model)?;
    embed(
        encoder.as_ref(),
        std::io::stdin().lock(),
        std::io::stdout().lock(),
        args.batch,
    )
}

pub fn embed(
    encoder: &dyn Encoder,
    mut input: impl BufRead,
    mut output: impl Write,
    batch: usize,
) -> Result<()> {
    let mut lines: Vec<String> = Vec::with_capacity(batch);
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let n = input.read_until(b'\n', &mut buf)?;
        if n > 0 {
            line_no += 1;
            let Ok(text) = std::str::from_utf8(&buf) else {
                bail!("stdin:{line_no}: invalid UTF-8 (input must be UTF-8 text, one sentence per line)");
            };
            let text = text.strip_suffix('\n').unwrap_or(text);
            lines.push(text.strip_suffix('\r').unwrap_or(text).to_string());
        }
        if lines.len() >= batch.max(1) || (n == 0 && !lines.is_empty()) {
            write_batch(encoder, &lines, &mut output)?;
            lines.clear();
        }
        if n == 0 {
            break;
        }
    }
    output.flush()?;
    Ok(())
}

fn write_batch(encoder: &dyn Encoder, lines: &[String], output: &mut impl Write) -> Result<()> {
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let vectors = encoder.encode(&refs)?;
    for v in vectors.rows() {
        output.write_all(b"{\"embedding\":")?;
        serde_json::to_writer(&mut *output, v)?;
        output.write_all(b"}\n")?;
    }
    Ok(())
}
