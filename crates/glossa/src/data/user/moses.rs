//! Moses / OPUS plain text: `<name>.<pivot>` and `<name>.<lang>`, line-aligned (line n of one
//! file translates line n of the other). Both are read in step, so memory stays flat.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::open::{Compression, Lines};
use super::PairSink;
use crate::{Error, Result};

/// Reads a group of sides of one name; the pivot side is the group's or a sibling file
/// (`corpus.en`, `corpus.en.gz`, …) next to them. Returns the files read.
pub fn read_group(
    dir: &Path,
    name: &str,
    sides: &BTreeMap<String, PathBuf>,
    pivot: &str,
    sink: &mut PairSink,
) -> Result<Vec<PathBuf>> {
    let pivot_path = match sides.get(pivot) {
        Some(path) => path.clone(),
        None => sibling(dir, name, pivot).ok_or_else(|| {
            let side = sides.values().next().expect("a group has a side");
            Error::invalid(
                side,
                format!(
                    "no `{pivot}` side next to this Moses file (looked for {}): a Moses pair \
                     needs <name>.{pivot} beside <name>.<lang>",
                    dir.join(format!("{name}.{pivot}")).display()
                ),
            )
        })?,
    };
    let mut read = vec![pivot_path.clone()];
    for (lang, path) in sides.iter().filter(|(l, _)| *l != pivot) {
        read_pair(&pivot_path, path, lang, sink)?;
        read.push(path.clone());
    }
    Ok(read)
}

fn sibling(dir: &Path, name: &str, pivot: &str) -> Option<PathBuf> {
    let compressions = [
        Compression::None,
        Compression::Gzip,
        Compression::Zstd,
        Compression::Xz,
    ];
    compressions
        .iter()
        .map(|c| dir.join(format!("{name}.{pivot}{}", c.extension())))
        .find(|p| p.is_file())
}

/// Reads `pivot_path` and `path` in step; files of different lengths are an error naming both
/// files and both counts.
pub fn read_pair(pivot_path: &Path, path: &Path, lang: &str, sink: &mut PairSink) -> Result<()> {
    let mut pivot_lines = Lines::open(pivot_path)?;
    let mut lines = Lines::open(path)?;
    loop {
        match (pivot_lines.next_line()?, lines.next_line()?) {
            (Some(a), Some(b)) => sink(lang, a.trim(), b.trim())?,
            (None, None) => return Ok(()),
            (Some(_), None) | (None, Some(_)) => break,
        }
    }
    let (a, b) = (count_rest(&mut pivot_lines)?, count_rest(&mut lines)?);
    Err(Error::invalid(
        path,
        format!(
            "has {b} lines but {} has {a}: the two sides of a Moses pair must be line-aligned \
             (one sentence per line, line n of one translating line n of the other)",
            pivot_path.display()
        ),
    ))
}

fn count_rest(lines: &mut Lines) -> Result<usize> {
    while lines.next_line()?.is_some() {}
    Ok(lines.line())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_are_read_in_step_and_different_lengths_name_both_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.en"), "Hello\nGood night\nThanks\n").unwrap();
        std::fs::write(dir.path().join("c.de"), "Hallo\nGute Nacht\nDanke\n").unwrap();
        let mut sides = BTreeMap::new();
        sides.insert("de".to_string(), dir.path().join("c.de"));
        let mut got = Vec::new();
        let read = read_group(dir.path(), "c", &sides, "en", &mut |l, en, xx| {
            got.push(format!("{l}:{en}={xx}"));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            got,
            [
                "de:Hello=Hallo",
                "de:Good night=Gute Nacht",
                "de:Thanks=Danke"
            ]
        );
        assert_eq!(read.len(), 2, "the pivot side was found beside the other");
        std::fs::write(
            dir.path().join("c.de"),
            "Hallo\nGute Nacht\nDanke\nBitte\nJa\n",
        )
        .unwrap();
        let err = read_group(dir.path(), "c", &sides, "en", &mut |_, _, _| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("c.de: has 5 lines") && err.contains("c.en has 3"),
            "{err}"
        );
        let err = read_group(dir.path(), "c", &sides, "fr", &mut |_, _, _| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.de") && err.contains("c.fr"), "{err}");
    }
}
