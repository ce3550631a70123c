//! Word frequency lists from the `wordfreq` package (PyPI `wordfreq`, data CC BY-SA 4.0):
//! the most used words of 40+ languages, gathered from subtitles, web text, Wikipedia, books
//! and social media, so they include the everyday words that software strings rarely use.
//!
//! A list is `<size>_<lang>.msgpack.gz`: gzip over MessagePack, in wordfreq's "cB" layout — an
//! array whose first element is a header map `{"format": "cB", "version": 1}` and whose element
//! `i` (for i ≥ 1) is the array of words whose frequency rounds to −(i − 1) centibels. Reading
//! the bins in order gives the words most frequent first. Only the MessagePack types that
//! layout uses (arrays, maps, strings, small integers) are accepted; anything else is an error
//! naming the byte offset.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The list of `lang` in `dir`: `small_<lang>.msgpack.gz`, or `large_<lang>` when only that
/// one is there (the large lists hold more rare words, in the same order at the top).
pub fn list_path(dir: &Path, lang: &str) -> Option<PathBuf> {
    ["small", "large"]
        .iter()
        .map(|size| dir.join(format!("{size}_{lang}.msgpack.gz")))
        .find(|p| p.is_file())
}

/// Reads a list: its words, most frequent first.
pub fn read_list(path: &Path) -> Result<Vec<String>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    // The shipped lists inflate to under 2 MB (small) and 10 MB (large); a file that inflates
    // past this is not one of them.
    const MAX_INFLATED: u64 = 256 << 20;
    flate2::read::GzDecoder::new(file)
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::invalid(path, format!("not a gzip file: {e}")))?;
    if bytes.len() as u64 > MAX_INFLATED {
        return Err(Error::invalid(
            path,
            format!("inflates to more than {MAX_INFLATED} bytes: not a word list"),
        ));
    }
    parse_list(&bytes).map_err(|msg| Error::invalid(path, msg))
}

/// Parses the inflated MessagePack of a list.
pub fn parse_list(bytes: &[u8]) -> std::result::Result<Vec<String>, String> {
    let mut r = Reader { bytes, at: 0 };
    let bins = r.array_len()?;
    if bins == 0 {
        return Err("an empty array at offset 0: expected a header and frequency bins".into());
    }
    check_header(&mut r)?;
    let mut words = Vec::new();
    for _ in 1..bins {
        for _ in 0..r.array_len()? {
            words.push(r.string()?.to_string());
        }
    }
    if r.at != bytes.len() {
        return Err(format!(
            "{} bytes after the last bin at offset {}",
            bytes.len() - r.at,
            r.at
        ));
    }
    Ok(words)
}

fn check_header(r: &mut Reader) -> std::result::Result<(), String> {
    let at = r.at;
    let mut format = None;
    for _ in 0..r.map_len()? {
        let key = r.string()?;
        match key {
            "format" => format = Some(r.string()?.to_string()),
            "version" => {
                r.small_int()?;
            }
            other => return Err(format!("unknown header key {other:?} at offset {at}")),
        }
    }
    match format.as_deref() {
        Some("cB") => Ok(()),
        Some(f) => Err(format!(
            "format {f:?}: only wordfreq's \"cB\" lists are read"
        )),
        None => Err(format!("the header at offset {at} names no format")),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                format!(
                    "needs {n} bytes at offset {}, the data ends at {}",
                    self.at,
                    self.bytes.len()
                )
            })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn byte(&mut self) -> std::result::Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn be(&mut self, n: usize) -> std::result::Result<usize, String> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize))
    }
    fn unexpected(&self, marker: u8, want: &str) -> String {
        format!(
            "byte 0x{marker:02x} at offset {}: expected {want}",
            self.at - 1
        )
    }
    fn array_len(&mut self) -> std::result::Result<usize, String> {
        match self.byte()? {
            m @ 0x90..=0x9f => Ok((m & 0x0f) as usize),
            0xdc => self.be(2),
            0xdd => self.be(4),
            m => Err(self.unexpected(m, "an array")),
        }
    }
    fn map_len(&mut self) -> std::result::Result<usize, String> {
        match self.byte()? {
            m @ 0x80..=0x8f => Ok((m & 0x0f) as usize),
            0xde => self.be(2),
            m => Err(self.unexpected(m, "a map")),
        }
    }
    fn small_int(&mut self) -> std::result::Result<u8, String> {
        match self.byte()? {
            m @ 0x00..=0x7f => Ok(m),
            m => Err(self.unexpected(m, "a small integer")),
        }
    }
    fn string(&mut self) -> std::result::Result<&'a str, String> {
        let start = self.at;
        let len = match self.byte()? {
            m @ 0xa0..=0xbf => (m & 0x1f) as usize,
            0xd9 => self.be(1)?,
            0xda => self.be(2)?,
            0xdb => self.be(4)?,
            m => return Err(self.unexpected(m, "a string")),
        };
        std::str::from_utf8(self.take(len)?)
            .map_err(|_| format!("the string at offset {start} is not UTF-8"))
    }
}

/// Whether a listed word is worth a teacher label: it has a letter (the lists also rank
/// numbers such as `00` and `2019`).
pub fn is_useful(word: &str) -> bool {
    word.chars().any(char::is_alphabetic)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MessagePack of `[{"format": fmt, "version": 1}, bins...]`.
    fn list_bytes(format: &str, bins: &[&[&str]]) -> Vec<u8> {
        fn str_(out: &mut Vec<u8>, s: &str) {
            assert!(s.len() < 32);
            out.push(0xa0 | s.len() as u8);
            out.extend_from_slice(s.as_bytes());
        }
        let mut out = vec![0x90 | (bins.len() + 1) as u8, 0x82];
        str_(&mut out, "format");
        str_(&mut out, format);
        str_(&mut out, "version");
        out.push(1);
        for bin in bins {
            out.push(0xdc);
            out.extend_from_slice(&(bin.len() as u16).to_be_bytes());
            for w in *bin {
                str_(&mut out, w);
            }
        }
        out
    }

    #[test]
    fn bins_read_in_order_give_the_most_frequent_first() {
        let bytes = list_bytes("cB", &[&["the", "of"], &[], &["dog", "00"]]);
        assert_eq!(parse_list(&bytes).unwrap(), ["the", "of", "dog", "00"]);
        let useful: Vec<_> = parse_list(&bytes)
            .unwrap()
            .into_iter()
            .filter(|w| is_useful(w))
            .collect();
        assert_eq!(useful, ["the", "of", "dog"]);
    }

    #[test]
    fn damaged_lists_are_refused_with_the_offset() {
        let good = list_bytes("cB", &[&["the", "of"]]);
        for cut in [1, 5, good.len() - 1] {
            let err = parse_list(&good[..cut]).unwrap_err();
            assert!(err.contains("the data ends at"), "{cut}: {err}");
        }
        let err = parse_list(&list_bytes("xy", &[&["a"]])).unwrap_err();
        assert!(err.contains("only wordfreq's \"cB\""), "{err}");
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(parse_list(&trailing).unwrap_err().contains("1 bytes after"));
        let mut not_string = good.clone();
        let last = not_string.len() - 3;
        not_string[last] = 0xc0; // nil where a word's string begins
        let err = parse_list(&not_string).unwrap_err();
        assert!(err.contains("expected a string"), "{err}");
        assert!(parse_list(&[0xc3])
            .unwrap_err()
            .contains("expected an array"));
    }

    #[test]
    fn gzip_files_are_read_and_named_in_errors() {
        let dir = std::env::temp_dir().join(format!("glossa-wordfreq-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("small_de.msgpack.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &list_bytes("cB", &[&["und", "der"]])).unwrap();
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        assert_eq!(list_path(&dir, "de"), Some(path.clone()));
        assert_eq!(list_path(&dir, "fr"), None);
        assert_eq!(read_list(&path).unwrap(), ["und", "der"]);
        std::fs::write(&path, b"plain").unwrap();
        let err = read_list(&path).unwrap_err().to_string();
        assert!(
            err.contains("small_de.msgpack.gz") && err.contains("gzip"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
