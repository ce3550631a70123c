//! Monolingual text: one sentence per line, learnt directly (student(x) ≈ teacher(x)) with a
//! multilingual teacher. Blank lines are skipped.

use std::path::Path;

use super::open::Lines;
use crate::Result;

pub fn read(path: &Path, lang: &str, sink: &mut dyn FnMut(&str, &str) -> Result<()>) -> Result<()> {
    let mut lines = Lines::open(path)?;
    while let Some(line) = lines.next_line()? {
        let line = line.trim();
        if !line.is_empty() {
            sink(lang, line)?;
        }
    }
    Ok(())
}
