//! Opening a user's file: decompressed by its extension (`.gz`, `.zst`, `.xz`) and read as
//! UTF-8 lines, each error naming the file and the line (or byte offset) where it happened.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use liblzma::bufread::XzDecoder;
use liblzma::stream::Stream;

use crate::{Error, Result};

/// How a file is compressed, told by its last extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Xz,
}

impl Compression {
    pub fn of(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("gz") => Compression::Gzip,
            Some("zst" | "zstd") => Compression::Zstd,
            Some("xz") => Compression::Xz,
            _ => Compression::None,
        }
    }

    /// The file name's extension for this compression, with its dot ("" for none).
    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
            Compression::Xz => ".xz",
        }
    }
}

/// The name of `path` without its compression extension: `talks-en-de.tsv.gz` → `talks-en-de.tsv`.
pub fn plain_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let ext = Compression::of(path).extension();
    let cut = if ext.is_empty() {
        ""
    } else {
        name.rsplit_once('.').map_or("", |(_, e)| e)
    };
    match cut.is_empty() {
        true => name.to_string(),
        false => name[..name.len() - cut.len() - 1].to_string(),
    }
}

/// A buffered reader of the decompressed bytes of `path`.
pub fn open(path: &Path) -> Result<Box<dyn BufRead>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let raw = BufReader::with_capacity(1 << 16, file);
    let reader: Box<dyn Read> = match Compression::of(path) {
        Compression::None => return Ok(Box::new(raw)),
        // Multi-member: `cat a.gz b.gz` and bgzip files are one stream.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        Compression::Zstd => Box::new(zstd_decoder(raw).map_err(|e| Error::io(path, e))?),
        Compression::Xz => Box::new(xz_decoder(raw).map_err(|e| Error::io(path, e.into()))?),
    };
    Ok(Box::new(BufReader::with_capacity(1 << 16, reader)))
}

/// Most memory a compressed file may ask for to be decompressed: zstd's own default (a window of
/// 2^27 bytes), held to for xz too, whose decoder otherwise allocates whatever dictionary a
/// header names (4 GiB for a 13-byte file). `xz -9` needs 65 MiB, `zstd --ultra -22` 128 MiB.
const DECOMPRESS_MEMORY: u64 = 128 << 20;

fn zstd_decoder<R: BufRead>(raw: R) -> std::io::Result<zstd::stream::read::Decoder<'static, R>> {
    let mut decoder = zstd::stream::read::Decoder::with_buffer(raw)?;
    decoder.window_log_max(DECOMPRESS_MEMORY.ilog2())?;
    Ok(decoder)
}

/// Multi-stream `.xz` (`cat a.xz b.xz`), and legacy `.lzma` files too.
fn xz_decoder<R: BufRead>(raw: R) -> std::result::Result<XzDecoder<R>, liblzma::stream::Error> {
    let stream = Stream::new_auto_decoder(DECOMPRESS_MEMORY, liblzma::stream::CONCATENATED)?;
    Ok(XzDecoder::new_stream(raw, stream))
}

/// Whether a decompressor refused a file for the memory it asks for.
fn needs_too_much_memory(e: &std::io::Error) -> bool {
    let xz = e
        .get_ref()
        .and_then(|e| e.downcast_ref::<liblzma::stream::Error>());
    // zstd's error carries only its message (ZSTD_error_frameParameter_windowTooLarge).
    matches!(xz, Some(liblzma::stream::Error::MemLimit))
        || e.to_string().contains("requires too much memory")
}

/// The error for a read that failed part-way: for a compressed file, almost always a truncated
/// or damaged file, else one asking for more than [`DECOMPRESS_MEMORY`].
pub fn read_error(path: &Path, line: usize, e: std::io::Error) -> Error {
    let what = match Compression::of(path) {
        Compression::None => format!("cannot read past this line: {e}"),
        _ if needs_too_much_memory(&e) => format!(
            "needs more than {} MiB of memory to decompress ({e}): decompress it first, or \
             compress it again with a smaller window (xz -9 and zstd -19 are fine)",
            DECOMPRESS_MEMORY >> 20
        ),
        c => format!(
            "cannot decompress past this line ({e}): the {} file is truncated or damaged; \
             download or compress it again",
            &c.extension()[1..]
        ),
    };
    Error::parse(path, line, what)
}

/// Longest line read: a file without line breaks (binary, or one huge JSON document) stops
/// here instead of filling memory.
pub const MAX_LINE: usize = 16 << 20;

/// UTF-8 lines of a file, numbered from 1, without their line ending.
pub struct Lines {
    reader: Box<dyn BufRead>,
    path: std::path::PathBuf,
    buf: Vec<u8>,
    line: usize,
    offset: u64,
}

impl Lines {
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Lines {
            reader: open(path)?,
            path: path.to_path_buf(),
            buf: Vec::new(),
            line: 0,
            offset: 0,
        })
    }

    /// The number of the line last returned (the number of lines read so far).
    pub fn line(&self) -> usize {
        self.line
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next line, or `None` at the end of the file.
    pub fn next_line(&mut self) -> Result<Option<&str>> {
        self.buf.clear();
        let n = Read::by_ref(&mut self.reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| read_error(&self.path, self.line + 1, e))?;
        if n == 0 {
            return Ok(None);
        }
        if n > MAX_LINE {
            let msg = format!(
                "a line longer than {} MiB: is this a text file?",
                MAX_LINE >> 20
            );
            return Err(Error::parse(&self.path, self.line + 1, msg));
        }
        self.line += 1;
        let start = self.offset;
        self.offset += n as u64;
        let mut bytes = &self.buf[..];
        if self.line == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let text = std::str::from_utf8(bytes).map_err(|e| self.encoding_error(bytes, start, e))?;
        if text.contains('\0') {
            return Err(Error::parse(&self.path, self.line, utf16_hint(start)));
        }
        Ok(Some(text))
    }

    fn encoding_error(&self, bytes: &[u8], start: u64, e: std::str::Utf8Error) -> Error {
        let at = start + e.valid_up_to() as u64;
        let utf16 =
            self.line == 1 && (bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF"));
        let msg = if utf16 {
            utf16_hint(0)
        } else {
            format!(
                "not UTF-8 (byte offset {at}): convert the file first, e.g. \
                 `iconv -f latin1 -t utf-8`"
            )
        };
        Error::parse(&self.path, self.line, msg)
    }
}

fn utf16_hint(at: u64) -> String {
    format!(
        "looks like UTF-16 (byte offset {at}), not UTF-8: convert the file first, e.g. \
         `iconv -f utf-16 -t utf-8`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines_of(path: &Path) -> Result<Vec<String>> {
        let mut lines = Lines::open(path)?;
        let mut out = Vec::new();
        while let Some(line) = lines.next_line()? {
            out.push(line.to_string());
        }
        Ok(out)
    }

    #[test]
    fn every_compression_reads_back_and_a_truncated_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let text = "eins\r\nzwei\ndrei\n".repeat(2000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(text.as_bytes()).unwrap();
        let files = [
            ("a.txt", text.as_bytes().to_vec()),
            ("a.txt.gz", gz.finish().unwrap()),
            ("a.txt.zst", zstd::encode_all(text.as_bytes(), 3).unwrap()),
            ("a.txt.xz", xz.finish().unwrap()),
        ];
        for (name, bytes) in &files {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let lines = lines_of(&path).unwrap();
            assert_eq!(lines.len(), 6000, "{name}");
            assert_eq!(lines[..3], ["eins", "zwei", "drei"], "{name}");
            assert_eq!(plain_name(&path), "a.txt");
            if *name == "a.txt" {
                continue;
            }
            std::fs::write(&path, &bytes[..bytes.len() * 2 / 3]).unwrap();
            let err = lines_of(&path).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains("truncated"), "{err}");
        }
    }

    #[test]
    fn a_file_that_asks_for_too_much_memory_to_decompress_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        // Found by fuzzing (user_compressed): a legacy .lzma header asking for a 4 GiB
        // dictionary (ff ff ff ff) of a text of unknown size, which liblzma allocated as asked.
        let lzma = [&[0x37][..], &[0xff; 12]].concat();
        // A zstd frame asking for a 2 GiB window (descriptor 0xA8: 2^(10 + 21)), then an empty
        // last block.
        let zstd = [0x28, 0xB5, 0x2F, 0xFD, 0x00, 0xA8, 0x01, 0x00, 0x00];
        for (name, bytes) in [("big.txt.xz", &lzma[..]), ("big.txt.zst", &zstd[..])] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let err = lines_of(&path).unwrap_err().to_string();
            let limit = format!("needs more than {} MiB", DECOMPRESS_MEMORY >> 20);
            assert!(
                err.contains(&format!("{name}:1:")) && err.contains(&limit),
                "{err}"
            );
        }
    }

    #[test]
    fn other_encodings_are_refused_with_the_byte_offset() {
        let dir = tempfile::tempdir().unwrap();
        let latin1 = dir.path().join("latin1.txt");
        std::fs::write(&latin1, b"fine\nGr\xfc\xdfe\n").unwrap();
        let err = lines_of(&latin1).unwrap_err().to_string();
        assert!(
            err.contains("latin1.txt:2:") && err.contains("byte offset 7"),
            "{err}"
        );
        let utf16 = dir.path().join("utf16.txt");
        std::fs::write(&utf16, b"\xFF\xFEh\0i\0\n\0").unwrap();
        let err = lines_of(&utf16).unwrap_err().to_string();
        assert!(
            err.contains("utf16.txt:1:") && err.contains("UTF-16"),
            "{err}"
        );
        // A UTF-8 byte-order mark is not part of the first line.
        let bom = dir.path().join("bom.txt");
        std::fs::write(&bom, b"\xEF\xBB\xBFhallo\n").unwrap();
        assert_eq!(lines_of(&bom).unwrap(), ["hallo"]);
    }
}
