//! `en<TAB>xx` files: one pair per line, UTF-8, no header.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use super::Pair;
use crate::{Error, Result};

/// Reads a pair file. Every malformed line is an error naming the file and line.
pub fn read_pairs(path: &Path) -> Result<Vec<Pair>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    pairs_from(BufReader::new(file), path)
}

/// Parses a pair file's bytes; `path` is only used to name the file in errors.
pub fn parse_pairs(bytes: &[u8], path: &Path) -> Result<Vec<Pair>> {
    pairs_from(bytes, path)
}

fn pairs_from(reader: impl BufRead, path: &Path) -> Result<Vec<Pair>> {
    let mut pairs = Vec::new();
    visit_pairs(reader, path, &mut |pair| {
        pairs.push(pair);
        Ok(())
    })?;
    Ok(pairs)
}

/// Streams a pair file through `visit`, one pair at a time, with the errors of [`read_pairs`].
pub fn for_each_pair(path: &Path, visit: &mut dyn FnMut(Pair) -> Result<()>) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    visit_pairs(BufReader::with_capacity(1 << 16, file), path, visit)
}

fn visit_pairs(
    mut reader: impl BufRead,
    path: &Path,
    visit: &mut dyn FnMut(Pair) -> Result<()>,
) -> Result<()> {
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let line =
            std::str::from_utf8(&buf).map_err(|_| Error::parse(path, line_no, "invalid UTF-8"))?;
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut fields = line.split('\t');
        let (en, xx) = match (fields.next(), fields.next(), fields.next()) {
            (Some(en), Some(xx), None) => (en.trim(), xx.trim()),
            _ => {
                let found = line.split('\t').count();
                return Err(Error::parse(
                    path,
                    line_no,
                    format!("expected 2 tab-separated fields (en<TAB>translation), found {found}"),
                ));
            }
        };
        if en.is_empty() || xx.is_empty() {
            return Err(Error::parse(
                path,
                line_no,
                "empty field: both the English text and its translation are required",
            ));
        }
        visit(Pair {
            en: en.to_string(),
            xx: xx.to_string(),
        })?;
    }
    if line_no == 0 {
        return Err(Error::invalid(
            path,
            "the corpus is empty: no pairs to learn from",
        ));
    }
    Ok(())
}

/// Writes a pair file atomically. Tabs and line breaks inside a text become spaces.
pub fn write_pairs(path: &Path, pairs: &[Pair]) -> Result<()> {
    let mut out = Vec::new();
    let flat = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    for p in pairs {
        writeln!(out, "{}\t{}", flat(&p.en), flat(&p.xx)).expect("writing to memory");
    }
    crate::io::write_atomic(path, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("de.tsv");
        let pairs = vec![Pair {
            en: "Open the file".into(),
            xx: "Datei\töffnen".into(),
        }];
        write_pairs(&path, &pairs).unwrap();
        assert_eq!(read_pairs(&path).unwrap()[0].xx, "Datei öffnen");

        let cases: [(&[u8], &str); 5] = [
            (
                b"a\tb\nonly one field\n",
                "de.tsv:2: expected 2 tab-separated fields",
            ),
            (
                b"a\tb\tc\n",
                "de.tsv:1: expected 2 tab-separated fields (en<TAB>translation), found 3",
            ),
            (b"a\tb\n\t\n", "de.tsv:2: empty field"),
            (b"a\tb\nok\t\xff\xfe\n", "de.tsv:2: invalid UTF-8"),
            (b"", "de.tsv: the corpus is empty"),
        ];
        for (bytes, want) in cases {
            std::fs::write(&path, bytes).unwrap();
            let err = read_pairs(&path).unwrap_err().to_string();
            assert!(err.contains(want), "want {want:?} in {err:?}");
        }
        let missing = read_pairs(&dir.path().join("nope.tsv"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("nope.tsv"), "{missing}");
    }
}
