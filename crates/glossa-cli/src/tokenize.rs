//! `glossa tokenize`: the student's tokens of each input line, as fastText must be given them.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};

#[derive(clap::Args)]
pub struct TokenizeArgs {
    #[arg(long)]
    model: PathBuf,
    /// Give unknown CJK bigrams as the stand-in characters a model from `export fasttext`
    /// needs to compute the student's vector (docs/interop.md).
    #[arg(long)]
    fasttext: bool,
}

pub fn run(args: TokenizeArgs) -> Result<()> {
    let student = glossa::student::TableStudent::load(&args.model)?;
    let ft = args
        .fasttext
        .then(|| glossa::interop::fasttext::FasttextText::new(&student));
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading standard input")?;
        let tokens = match &ft {
            Some(ft) => ft.line(&line),
            None => glossa::student::features::tokens_line(&line, student.config.word_rules()),
        };
        writeln!(out, "{tokens}").context("writing standard output")?;
    }
    out.flush().context("writing standard output")
}
