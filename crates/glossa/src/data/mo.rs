//! Reader for GNU gettext `.mo` catalogs.
//!
//! Hand-written rather than taken from a crate: the `gettext` crate answers look-ups but does not
//! list entries, and the format is small (a header and two tables of (length, offset) pairs,
//! documented in the gettext manual, "The Format of GNU MO Files"). Every read is bounds-checked,
//! so a truncated or hostile file gives an error naming it, never a panic.

use std::path::Path;

use crate::{Error, Result};

const MAGIC: u32 = 0x9504_12de;

/// One translated message. `context` is gettext's msgctxt; plural forms keep the singular only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoEntry {
    pub context: Option<String>,
    pub msgid: String,
    pub msgstr: String,
}

/// Parses a `.mo` file's bytes. `path` is only used to name the file in errors.
/// Entries whose msgid is empty (the catalog header) are left out.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Vec<MoEntry>> {
    let mo = MoFile::open(bytes, path)?;
    mo.check_charset()?;
    let mut entries = Vec::with_capacity(mo.count);
    for i in 0..mo.count {
        if let Some(entry) = mo.entry(i)? {
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// A `.mo` file's bytes, its byte order, and where its two string tables are.
struct MoFile<'a> {
    bytes: &'a [u8],
    path: &'a Path,
    little: bool,
    count: usize,
    originals: usize,
    translations: usize,
}

impl<'a> MoFile<'a> {
    /// Reads and checks the header.
    fn open(bytes: &'a [u8], path: &'a Path) -> Result<Self> {
        let bad = |msg: String| Error::invalid(path, format!("not a valid .mo catalog: {msg}"));
        if bytes.len() < 20 {
            return Err(bad(format!(
                "{} bytes is shorter than the 20-byte header",
                bytes.len()
            )));
        }
        let little = u32::from_le_bytes(bytes[0..4].try_into().unwrap()) == MAGIC;
        let big = u32::from_be_bytes(bytes[0..4].try_into().unwrap()) == MAGIC;
        if !little && !big {
            return Err(bad("wrong magic number".into()));
        }
        let mut mo = MoFile {
            bytes,
            path,
            little,
            count: 0,
            originals: 0,
            translations: 0,
        };
        let revision = mo.word(4)?;
        if revision >> 16 > 1 {
            return Err(bad(format!(
                "unsupported major revision {}",
                revision >> 16
            )));
        }
        mo.count = mo.word(8)? as usize;
        mo.originals = mo.word(12)? as usize;
        mo.translations = mo.word(16)? as usize;
        // Each table entry is 8 bytes; refuse counts the file cannot hold before allocating.
        if mo.count > bytes.len() / 8 {
            return Err(bad(format!(
                "{} entries cannot fit in {} bytes",
                mo.count,
                bytes.len()
            )));
        }
        Ok(mo)
    }

    fn bad(&self, msg: String) -> Error {
        Error::invalid(self.path, format!("not a valid .mo catalog: {msg}"))
    }

    /// The 32-bit word at byte `at`, in the file's byte order.
    fn word(&self, at: usize) -> Result<u32> {
        let b = self
            .bytes
            .get(at..at + 4)
            .ok_or_else(|| self.bad(format!("offset {at} is past the end")))?;
        let b: [u8; 4] = b.try_into().unwrap();
        Ok(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    /// String `i` of the string table at `table`.
    fn string(&self, table: usize, i: usize) -> Result<&'a [u8]> {
        let len = self.word(table + 8 * i)? as usize;
        let off = self.word(table + 8 * i + 4)? as usize;
        let end = off
            .checked_add(len)
            .ok_or_else(|| self.bad("string length overflows".into()))?;
        self.bytes
            .get(off..end)
            .ok_or_else(|| self.bad(format!("string {i} at offset {off}+{len} is past the end")))
    }

    /// Refuses a catalog whose header names a charset other than UTF-8 (or ASCII).
    fn check_charset(&self) -> Result<()> {
        let header = (0..self.count)
            .find_map(|i| {
                self.string(self.originals, i)
                    .ok()
                    .filter(|s| s.is_empty())
                    .map(|_| i)
            })
            .map(|i| self.string(self.translations, i))
            .transpose()?;
        if let Some(charset) = header.and_then(charset_of) {
            let cs = charset.to_ascii_lowercase();
            if cs != "utf-8" && cs != "utf8" && cs != "ascii" && cs != "us-ascii" {
                return Err(Error::invalid(
                    self.path,
                    format!("unsupported charset '{charset}' (only UTF-8 is read)"),
                ));
            }
        }
        Ok(())
    }

    /// Entry `i`, or None for the header (empty msgid).
    fn entry(&self, i: usize) -> Result<Option<MoEntry>> {
        let original = self.string(self.originals, i)?;
        if original.is_empty() {
            return Ok(None);
        }
        let translated = self.string(self.translations, i)?;
        let text = |b: &[u8], what: &str| -> Result<String> {
            std::str::from_utf8(b).map(str::to_owned).map_err(|_| {
                Error::invalid(self.path, format!("entry {i}: {what} is not valid UTF-8"))
            })
        };
        // msgid is "context\x04singular\0plural"; msgstr holds the forms separated by NUL.
        let singular = original.split(|&b| b == 0).next().unwrap_or_default();
        let (context, msgid) = match singular.iter().position(|&b| b == 4) {
            Some(p) => (
                Some(text(&singular[..p], "msgctxt")?),
                text(&singular[p + 1..], "msgid")?,
            ),
            None => (None, text(singular, "msgid")?),
        };
        let msgstr = text(
            translated.split(|&b| b == 0).next().unwrap_or_default(),
            "msgstr",
        )?;
        Ok(Some(MoEntry {
            context,
            msgid,
            msgstr,
        }))
    }
}

fn charset_of(header: &[u8]) -> Option<String> {
    let header = std::str::from_utf8(header).ok()?;
    let line = header
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("content-type:"))?;
    let at = line.to_ascii_lowercase().find("charset=")?;
    Some(line[at + "charset=".len()..].trim().to_string())
}

/// Writes a little-endian `.mo` catalog; used by tests to make fixtures.
pub fn write(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut sorted: Vec<(&str, &str)> = entries.to_vec();
    sorted.sort();
    let n = sorted.len();
    let originals = 28;
    let translations = originals + 8 * n;
    let mut strings_at = translations + 8 * n;
    let mut header = Vec::new();
    for v in [
        MAGIC,
        0,
        n as u32,
        originals as u32,
        translations as u32,
        0,
        0,
    ] {
        header.extend_from_slice(&v.to_le_bytes());
    }
    let mut tables = (Vec::new(), Vec::new());
    let mut blob = Vec::new();
    for side in 0..2 {
        for (id, s) in &sorted {
            let text = if side == 0 { id } else { s };
            let table = if side == 0 {
                &mut tables.0
            } else {
                &mut tables.1
            };
            table.extend_from_slice(&(text.len() as u32).to_le_bytes());
            table.extend_from_slice(&(strings_at as u32).to_le_bytes());
            blob.extend_from_slice(text.as_bytes());
            blob.push(0);
            strings_at += text.len() + 1;
        }
    }
    [header, tables.0, tables.1, blob].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("test.mo")
    }

    #[test]
    fn round_trips_entries_contexts_and_plurals() {
        let bytes = write(&[
            ("", "Content-Type: text/plain; charset=UTF-8\n"),
            ("Open file", "Datei öffnen"),
            ("menu\u{4}Quit", "Beenden"),
            ("%d file\0%d files", "%d Datei\0%d Dateien"),
        ]);
        let entries = parse(&bytes, p()).unwrap();
        assert_eq!(entries.len(), 3);
        assert!(entries.contains(&MoEntry {
            context: None,
            msgid: "Open file".into(),
            msgstr: "Datei öffnen".into()
        }));
        assert!(entries.contains(&MoEntry {
            context: Some("menu".into()),
            msgid: "Quit".into(),
            msgstr: "Beenden".into()
        }));
        assert!(entries.contains(&MoEntry {
            context: None,
            msgid: "%d file".into(),
            msgstr: "%d Datei".into()
        }));
    }

    #[test]
    fn big_endian_catalogs_are_read() {
        let le = write(&[("Hello", "Hallo")]);
        let mut be = Vec::new();
        for chunk in le[..28 + 16].chunks(4) {
            be.extend(chunk.iter().rev());
        }
        be.extend_from_slice(&le[28 + 16..]);
        assert_eq!(parse(&be, p()).unwrap()[0].msgstr, "Hallo");
    }

    #[test]
    fn truncated_and_garbage_files_are_errors_naming_the_file() {
        let bytes = write(&[("Hello", "Hallo"), ("World", "Welt")]);
        for cut in [0, 3, 19, 30, bytes.len() - 3] {
            let err = parse(&bytes[..cut], p()).unwrap_err().to_string();
            assert!(
                err.starts_with("test.mo: not a valid .mo catalog"),
                "{cut}: {err}"
            );
        }
        assert!(parse(b"this is not a catalog at all", p()).is_err());
    }

    #[test]
    fn invalid_utf8_and_foreign_charsets_are_reported() {
        let mut bytes = write(&[("Hello", "Hallo")]);
        let at = bytes.len() - 2;
        bytes[at] = 0xff;
        let err = parse(&bytes, p()).unwrap_err().to_string();
        assert!(err.contains("entry 0: msgstr is not valid UTF-8"), "{err}");
        let latin1 = write(&[
            ("", "Content-Type: text/plain; charset=ISO-8859-1\n"),
            ("a", "b"),
        ]);
        assert!(parse(&latin1, p())
            .unwrap_err()
            .to_string()
            .contains("unsupported charset 'ISO-8859-1'"));
    }
}
