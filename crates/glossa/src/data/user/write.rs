//! Writing a corpus in the formats the user readers take, so the built-in corpus can be
//! exported, shared and read back: per language `<pivot>-<lang>.tsv`, Moses pairs
//! `corpus.<lang>-<pivot>.<pivot>` + `corpus.<lang>-<pivot>.<lang>`, one `corpus.tmx`, or one
//! `corpus.jsonl`, each optionally compressed. Files appear at their final names only once
//! complete.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::open::Compression;
use crate::data::Pair;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Tsv,
    Moses,
    Tmx,
    Jsonl,
}
/// A file being written under a temporary name, through its compression.
enum Encoder {
    Plain(BufWriter<File>),
    Gzip(flate2::write::GzEncoder<BufWriter<File>>),
    Zstd(zstd::Encoder<'static, BufWriter<File>>),
    Xz(liblzma::write::XzEncoder<BufWriter<File>>),
}

impl Write for Encoder {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Encoder::Plain(w) => w.write(buf),
            Encoder::Gzip(w) => w.write(buf),
            Encoder::Zstd(w) => w.write(buf),
            Encoder::Xz(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Encoder::Plain(w) => w.flush(),
            Encoder::Gzip(w) => w.flush(),
            Encoder::Zstd(w) => w.flush(),
            Encoder::Xz(w) => w.flush(),
        }
    }
}

impl Encoder {
    fn finish(self) -> std::io::Result<BufWriter<File>> {
        match self {
            Encoder::Plain(w) => Ok(w),
            Encoder::Gzip(w) => w.finish(),
            Encoder::Zstd(w) => w.finish(),
            Encoder::Xz(w) => w.finish(),
        }
    }
}

/// Writes `path` (with `compression`'s extension added) through `fill`, then renames it into
/// place; returns the final path.
fn write_file(
    path: &Path,
    compression: Compression,
    fill: impl FnOnce(&mut Encoder) -> Result<()>,
) -> Result<PathBuf> {
    let path = PathBuf::from(format!("{}{}", path.display(), compression.extension()));
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    let io = |e| Error::io(&tmp, e);
    let file = BufWriter::new(File::create(&tmp).map_err(io)?);
    let mut encoder = match compression {
        Compression::None => Encoder::Plain(file),
        Compression::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(file, Default::default())),
        Compression::Zstd => Encoder::Zstd(zstd::Encoder::new(file, 3).map_err(io)?),
        Compression::Xz => Encoder::Xz(liblzma::write::XzEncoder::new(file, 6)),
    };
    let result = fill(&mut encoder).and_then(|()| {
        let mut file = encoder.finish().map_err(io)?;
        file.flush().map_err(io)?;
        file.get_ref().sync_all().map_err(io)
    });
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    Ok(path)
}

/// A text that a line-based format cannot hold as one field.
fn check_field(text: &str, lang: &str) -> Result<()> {
    if text.contains(['\t', '\n', '\r']) || text.chars().any(|c| c.is_control()) {
        return Err(Error::msg(format!(
            "a {lang} text holds a tab, line break or control character and cannot be written \
             as one field: {text:?}"
        )));
    }
    Ok(())
}

/// Writes `pairs` (by language, each pair pivot → translation) into `dir` as `format`.
/// Returns the files written.
pub fn write_corpus_as(
    dir: &Path,
    format: Format,
    compression: Compression,
    pivot: &str,
    pairs: &BTreeMap<String, Vec<Pair>>,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| Error::io(&path, e)
    };
    let mut written = Vec::new();
    match format {
        Format::Tsv => {
            for (lang, list) in pairs {
                let path = dir.join(format!("{pivot}-{lang}.tsv"));
                written.push(write_file(&path, compression, |w| {
                    for p in list {
                        check_field(&p.en, pivot)?;
                        check_field(&p.xx, lang)?;
                        writeln!(w, "{}\t{}", p.en, p.xx).map_err(io(&path))?;
                    }
                    Ok(())
                })?);
            }
        }
        Format::Moses => {
            for (lang, list) in pairs {
                let name = format!("corpus.{lang}-{pivot}");
                for (side, is_pivot) in [(pivot, true), (lang.as_str(), false)] {
                    let path = dir.join(format!("{name}.{side}"));
                    written.push(write_file(&path, compression, |w| {
                        for p in list {
                            let text = if is_pivot { &p.en } else { &p.xx };
                            check_field(text, side)?;
                            writeln!(w, "{text}").map_err(io(&path))?;
                        }
                        Ok(())
                    })?);
                }
            }
        }
        Format::Jsonl => {
            let path = dir.join("corpus.jsonl");
            written.push(write_file(&path, compression, |w| {
                for (lang, p) in pairs
                    .iter()
                    .flat_map(|(l, list)| list.iter().map(move |p| (l, p)))
                {
                    let mut object = serde_json::Map::new();
                    object.insert(pivot.to_string(), p.en.clone().into());
                    object.insert(lang.clone(), p.xx.clone().into());
                    serde_json::to_writer(&mut *w, &object)
                        .map_err(|e| Error::io(&path, e.into()))?;
                    w.write_all(b"\n").map_err(io(&path))?;
                }
                Ok(())
            })?);
        }
        Format::Tmx => {
            let path = dir.join("corpus.tmx");
            written.push(write_file(&path, compression, |w| {
                write_tmx(w, pivot, pairs).map_err(io(&path))
            })?);
        }
    }
    Ok(written)
}

fn write_tmx(
    w: &mut impl Write,
    pivot: &str,
    pairs: &BTreeMap<String, Vec<Pair>>,
) -> std::io::Result<()> {
    let escape = |t: &str| quick_xml::escape::escape(t.to_string()).into_owned();
    writeln!(w, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        w,
        r#"<tmx version="1.4"><header creationtool="glossa" creationtoolversion="{}" segtype="sentence" o-tmf="glossa" adminlang="en" srclang="{pivot}" datatype="plaintext"/>"#,
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(w, "<body>")?;
    for (lang, list) in pairs {
        for p in list {
            let bad = [&p.en, &p.xx].into_iter().find(|t| {
                t.chars()
                    .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
            });
            if let Some(text) = bad {
                return Err(std::io::Error::other(format!(
                    "a control character cannot be written in XML: {text:?}"
                )));
            }
            writeln!(
                w,
                r#"<tu><tuv xml:lang="{pivot}"><seg>{}</seg></tuv><tuv xml:lang="{lang}"><seg>{}</seg></tuv></tu>"#,
                escape(&p.en),
                escape(&p.xx)
            )?;
        }
    }
    writeln!(w, "</body></tmx>")
}
