//! TMX 1.4 translation memories, read as a stream of XML events: one `<tu>` at a time, each
//! `<tuv xml:lang="…"><seg>…</seg></tuv>` a variant. A unit may hold many languages; each is
//! paired with the unit's pivot-language variant. Inline codes (`<bpt>`, `<ept>`, `<ph>`,
//! `<it>`, `<ut>`) hold the original format's markup, not text, and are left out; `<hi>` and
//! `<sub>` hold text and are kept.

use std::path::Path;

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::Reader;

use super::open::{open, Compression};
use super::{CodeCache, PairSink};
use crate::{Error, Result};

const INLINE_CODES: [&[u8]; 5] = [b"bpt", b"ept", b"ph", b"it", b"ut"];

/// The unit being read.
#[derive(Default)]
struct Unit {
    variants: Vec<(String, String)>,
    lang: Option<String>,
    text: String,
    in_seg: bool,
    /// Depth inside inline codes, whose content is markup.
    in_code: usize,
    /// Byte offset of `<tu>`, for errors about the unit.
    at: u64,
}

pub fn read(path: &Path, pivot: &str, sink: &mut PairSink) -> Result<()> {
    let mut reader = Reader::from_reader(open(path)?);
    let mut buf = Vec::new();
    let mut unit: Option<Unit> = None;
    let mut codes = CodeCache::default();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml_error(path, reader.error_position(), &e))?;
        let at = reader.buffer_position();
        let fail = |msg: String| Error::invalid(path, format!("byte offset {at}: {msg}"));
        match event {
            Event::Start(e) if e.local_name().as_ref() == b"tu" => {
                unit = Some(Unit {
                    at,
                    ..Unit::default()
                });
            }
            Event::Start(e) => {
                if let Some(unit) = unit.as_mut() {
                    start(unit, &e, &mut codes).map_err(fail)?;
                }
            }
            Event::End(e) if e.local_name().as_ref() == b"tu" => {
                if let Some(unit) = unit.take() {
                    emit(&unit, pivot, sink).map_err(|msg| {
                        Error::invalid(path, format!("byte offset {}: {msg}", unit.at))
                    })?;
                }
            }
            Event::End(e) => {
                if let Some(unit) = unit.as_mut() {
                    end(unit, e.local_name().as_ref());
                }
            }
            Event::Text(t) => push_text(&mut unit, &t.decode().map_err(|e| fail(e.to_string()))?),
            Event::CData(t) => push_text(&mut unit, &t.decode().map_err(|e| fail(e.to_string()))?),
            Event::GeneralRef(r) => push_text(&mut unit, &resolve(&r).map_err(fail)?),
            Event::Eof if unit.is_some() => {
                return Err(fail("the file ends inside a <tu>: it is truncated".into()))
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
        buf.clear();
    }
}

fn start(
    unit: &mut Unit,
    e: &BytesStart,
    codes: &mut CodeCache,
) -> std::result::Result<(), String> {
    match e.local_name().as_ref() {
        b"tuv" => unit.lang = Some(variant_language(e, codes)?),
        b"seg" => {
            unit.in_seg = true;
            unit.text.clear();
        }
        name if unit.in_seg && INLINE_CODES.contains(&name) => unit.in_code += 1,
        _ => {}
    }
    Ok(())
}

fn end(unit: &mut Unit, name: &[u8]) {
    match name {
        b"seg" => {
            unit.in_seg = false;
            if let Some(lang) = unit.lang.clone() {
                unit.variants.push((lang, std::mem::take(&mut unit.text)));
            }
        }
        name if unit.in_seg && INLINE_CODES.contains(&name) => {
            unit.in_code = unit.in_code.saturating_sub(1)
        }
        _ => {}
    }
}

fn push_text(unit: &mut Option<Unit>, text: &str) {
    if let Some(unit) = unit.as_mut().filter(|u| u.in_seg && u.in_code == 0) {
        unit.text.push_str(text);
    }
}

/// The canonical language of a `<tuv>`: `xml:lang` (TMX 1.4) or `lang` (TMX 1.1).
fn variant_language(e: &BytesStart, codes: &mut CodeCache) -> std::result::Result<String, String> {
    for attr in e.attributes() {
        let attr = attr.map_err(|e| e.to_string())?;
        if matches!(attr.key.as_ref(), b"xml:lang" | b"lang") {
            let value = attr.unescape_value().map_err(|e| e.to_string())?;
            return codes.get(&value).map(str::to_string);
        }
    }
    Err("a <tuv> without xml:lang: every variant must name its language".into())
}

fn resolve(r: &BytesRef) -> std::result::Result<String, String> {
    if let Some(c) = r.resolve_char_ref().map_err(|e| e.to_string())? {
        return Ok(c.to_string());
    }
    let name = r.decode().map_err(|e| e.to_string())?;
    quick_xml::escape::resolve_predefined_entity(&name)
        .map(str::to_string)
        .ok_or_else(|| format!("unknown entity &{name};"))
}

fn emit(unit: &Unit, pivot: &str, sink: &mut PairSink) -> std::result::Result<(), String> {
    let Some((_, pivot_text)) = unit.variants.iter().find(|(l, _)| l == pivot) else {
        let langs: Vec<&str> = unit.variants.iter().map(|(l, _)| l.as_str()).collect();
        return Err(format!(
            "this <tu> has no `{pivot}` variant to pair the others with (it has {})",
            langs.join(", ")
        ));
    };
    for (lang, text) in unit.variants.iter().filter(|(l, _)| l != pivot) {
        sink(lang, pivot_text.trim(), text.trim()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn xml_error(path: &Path, at: u64, e: &quick_xml::Error) -> Error {
    let hint = match (e, Compression::of(path)) {
        (quick_xml::Error::Io(_), c) if c != Compression::None => {
            ": the compressed file is truncated or damaged"
        }
        (e, _) if e.to_string().contains("end of input") => ": the file ends early, truncated",
        _ => "",
    };
    Error::invalid(path, format!("byte offset {at}: malformed TMX: {e}{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMORY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<tmx version="1.4"><header srclang="en"/><body>
<tu><tuv xml:lang="en-US"><seg>Open the <bpt i="1">&lt;b&gt;</bpt>file<ept i="1">&lt;/b&gt;</ept> &amp; save</seg></tuv>
<tuv xml:lang="de-DE"><seg>Datei öffnen &#38; speichern</seg></tuv>
<tuv xml:lang="fr"><seg><![CDATA[Ouvrir & enregistrer]]></seg></tuv></tu>
</body></tmx>"#;

    fn pairs(path: &Path) -> Result<Vec<String>> {
        let mut got = Vec::new();
        read(path, "en", &mut |l, en, xx| {
            got.push(format!("{l}:{en}={xx}"));
            Ok(())
        })?;
        Ok(got)
    }

    #[test]
    fn every_variant_pairs_with_the_pivot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.tmx");
        std::fs::write(&path, MEMORY).unwrap();
        assert_eq!(
            pairs(&path).unwrap(),
            [
                "de:Open the file & save=Datei öffnen & speichern",
                "fr:Open the file & save=Ouvrir & enregistrer"
            ]
        );
    }

    #[test]
    fn bad_units_and_bad_xml_are_named_with_an_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.tmx");
        let no_pivot = MEMORY.replace("en-US", "es");
        let truncated = &MEMORY[..MEMORY.len() - 40];
        let unknown = MEMORY.replace("de-DE", "qq");
        let mismatched = MEMORY.replace("</seg></tuv></tu>", "</tuv></seg></tu>");
        for (text, want) in [
            (no_pivot.as_str(), "no `en` variant"),
            (truncated, "truncated"),
            (unknown.as_str(), "unknown language code `qq`"),
            (mismatched.as_str(), "malformed TMX"),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = pairs(&path).unwrap_err().to_string();
            assert!(
                err.contains("m.tmx: byte offset") && err.contains(want),
                "{err}"
            );
        }
    }
}
