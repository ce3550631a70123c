//! Training checkpoints: everything a run needs to continue exactly where it stopped — weights,
//! optimizer moments, the epoch's example order, the RNG and the position in the epoch.
//!
//! A checkpoint is one safetensors file (inspectable with any safetensors tool) whose metadata
//! holds the scalar state as JSON. It is streamed to a temporary file, synced, then renamed over
//! the previous checkpoint: a crash at any moment leaves either the old or the new one, whole.
//! A checksum of the tensor bytes in the metadata catches a file damaged afterwards.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

const FORMAT: &str = "glossa-checkpoint/1";

/// A tensor to write: a name and its values.
pub enum TensorRef<'a> {
    F32(&'a str, &'a [f32]),
    U32(&'a str, &'a [u32]),
}

impl TensorRef<'_> {
    fn name(&self) -> &str {
        match self {
            TensorRef::F32(n, _) | TensorRef::U32(n, _) => n,
        }
    }
    fn len(&self) -> usize {
        match self {
            TensorRef::F32(_, v) => v.len(),
            TensorRef::U32(_, v) => v.len(),
        }
    }
    fn dtype(&self) -> &'static str {
        match self {
            TensorRef::F32(..) => "F32",
            TensorRef::U32(..) => "U32",
        }
    }
    /// Little-endian bytes, in chunks (no copy of the whole tensor).
    fn write_to(
        &self,
        out: &mut impl Write,
        mut hash: Option<&mut xxhash_rust::xxh3::Xxh3>,
    ) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(1 << 16);
        macro_rules! emit {
            ($values:expr) => {
                for chunk in $values.chunks(1 << 14) {
                    buf.clear();
                    buf.extend(chunk.iter().flat_map(|v| v.to_le_bytes()));
                    if let Some(h) = hash.as_deref_mut() {
                        h.update(&buf);
                    }
                    out.write_all(&buf)?;
                }
            };
        }
        match self {
            TensorRef::F32(_, v) => emit!(v),
            TensorRef::U32(_, v) => emit!(v),
        }
        Ok(())
    }
}

/// Writes `tensors` and `state` (serialised to JSON in the metadata) to `path` atomically.
pub fn write<S: Serialize>(path: &Path, tensors: &[TensorRef], state: &S) -> Result<()> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    let mut hash = xxhash_rust::xxh3::Xxh3::new();
    for t in tensors {
        let end = offset + t.len() * 4;
        header.insert(
            t.name().to_string(),
            serde_json::json!({"dtype": t.dtype(), "shape": [t.len()], "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    // The header precedes the data, so the checksum of the data is computed first, in a pass
    // over memory (cheap next to the disk write).
    for t in tensors {
        t.write_to(&mut std::io::sink(), Some(&mut hash))
            .map_err(|e| Error::io(path, e))?;
    }
    let metadata = serde_json::json!({
        "format": FORMAT,
        "checksum": format!("{:016x}", hash.digest()),
        "state": serde_json::to_string(state).expect("state serialises"),
    });
    header.insert("__metadata__".into(), metadata);
    let mut header = serde_json::to_vec(&header).expect("header serialises");
    // Pad so the data starts 8-byte aligned, as safetensors writers do.
    while !(8 + header.len()).is_multiple_of(8) {
        header.push(b' ');
    }

    let mut out = crate::io::AtomicFile::create(path, &[])?;
    let io = |e| Error::io(path, e);
    out.write_all(&(header.len() as u64).to_le_bytes())
        .map_err(io)?;
    out.write_all(&header).map_err(io)?;
    for t in tensors {
        t.write_to(&mut out, None).map_err(io)?;
    }
    out.commit()
}

/// A checkpoint read back: its tensors by name and its state.
pub struct Loaded<S> {
    map: memmap2::Mmap,
    data_start: usize,
    tensors: BTreeMap<String, (String, usize, usize)>,
    pub state: S,
    path: PathBuf,
}

/// Reads a checkpoint, verifying its format and checksum.
pub fn read<S: for<'de> Deserialize<'de>>(path: &Path) -> Result<Loaded<S>> {
    let bad = |msg: String| Error::invalid(path, format!("not a usable checkpoint: {msg}"));
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: read-only map of a file only this run writes, and only by rename.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    if map.len() < 8 {
        return Err(bad(format!("{} bytes", map.len())));
    }
    let header_len = u64::from_le_bytes(map[..8].try_into().unwrap()) as usize;
    if header_len > map.len() - 8 {
        return Err(bad(format!(
            "header of {header_len} bytes in a file of {}",
            map.len()
        )));
    }
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&map[8..8 + header_len]).map_err(|e| bad(e.to_string()))?;
    let meta = header
        .get("__metadata__")
        .ok_or_else(|| bad("no metadata".into()))?;
    if meta["format"] != FORMAT {
        return Err(bad(format!("format {} is not {FORMAT}", meta["format"])));
    }
    let data_start = 8 + header_len;
    let mut tensors = BTreeMap::new();
    let mut hash = xxhash_rust::xxh3::Xxh3::new();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (name, t) in &header {
        if name == "__metadata__" {
            continue;
        }
        let offsets: Vec<usize> = t["data_offsets"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_u64().map(|v| v as usize))
                    .collect()
            })
            .unwrap_or_default();
        let [start, end] = offsets[..] else {
            return Err(bad(format!("tensor '{name}' has no data offsets")));
        };
        if start > end || data_start + end > map.len() {
            return Err(bad(format!(
                "tensor '{name}' ends past the end of the file (truncated?)"
            )));
        }
        let dtype = t["dtype"].as_str().unwrap_or("?").to_string();
        tensors.insert(name.clone(), (dtype, start, end));
        spans.push((start, end));
    }
    // The checksum is over the tensors in file order.
    spans.sort();
    for (start, end) in spans {
        hash.update(&map[data_start + start..data_start + end]);
    }
    let want = meta["checksum"].as_str().unwrap_or("");
    let got = format!("{:016x}", hash.digest());
    if want != got {
        return Err(bad(format!(
            "checksum {got} does not match the recorded {want}: the file is damaged"
        )));
    }
    let state: S = serde_json::from_str(meta["state"].as_str().unwrap_or(""))
        .map_err(|e| bad(format!("state: {e}")))?;
    Ok(Loaded {
        map,
        data_start,
        tensors,
        state,
        path: path.to_path_buf(),
    })
}

impl<S> Loaded<S> {
    fn bytes(&self, name: &str, dtype: &str, len: usize) -> Result<&[u8]> {
        let (found, start, end) = self.tensors.get(name).ok_or_else(|| {
            Error::invalid(&self.path, format!("checkpoint has no tensor '{name}'"))
        })?;
        if found != dtype || end - start != len * 4 {
            return Err(Error::invalid(
                &self.path,
                format!(
                    "checkpoint tensor '{name}' is {found} of {} bytes, expected {dtype} of {}",
                    end - start,
                    len * 4
                ),
            ));
        }
        Ok(&self.map[self.data_start + start..self.data_start + end])
    }

    pub fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Copies tensor `name` into `out`, which must have its length.
    pub fn read_f32(&self, name: &str, out: &mut [f32]) -> Result<()> {
        let bytes = self.bytes(name, "F32", out.len())?;
        for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *o = f32::from_le_bytes(b.try_into().unwrap());
        }
        Ok(())
    }

    pub fn read_u32(&self, name: &str, out: &mut [u32]) -> Result<()> {
        let bytes = self.bytes(name, "U32", out.len())?;
        for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *o = u32::from_le_bytes(b.try_into().unwrap());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct State {
        step: u64,
        note: String,
    }

    #[test]
    fn round_trip_and_damage_is_detected_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.ckpt");
        let a: Vec<f32> = (0..1000).map(|i| i as f32 * 0.5).collect();
        let b: Vec<u32> = (0..7).collect();
        let state = State {
            step: 12,
            note: "x".into(),
        };
        write(
            &path,
            &[TensorRef::F32("a", &a), TensorRef::U32("b", &b)],
            &state,
        )
        .unwrap();
        assert!(
            !path.with_extension("ckpt.tmp").exists(),
            "no temp file left"
        );
        let loaded = read::<State>(&path).unwrap();
        assert_eq!(loaded.state, state);
        let mut a2 = vec![0.0; 1000];
        loaded.read_f32("a", &mut a2).unwrap();
        assert_eq!(a2, a);
        let mut b2 = vec![0; 7];
        loaded.read_u32("b", &mut b2).unwrap();
        assert_eq!(b2, b);
        let err = loaded
            .read_f32("a", &mut [0.0; 3])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("'a'") && err.contains("expected F32"), "{err}");

        // One flipped byte in the data: refused, naming the file.
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 30] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = read::<State>(&path).err().unwrap().to_string();
        assert!(err.contains("run.ckpt") && err.contains("damaged"), "{err}");
        // Truncated: refused.
        std::fs::write(&path, &bytes[..n - 100]).unwrap();
        let err = read::<State>(&path).err().unwrap().to_string();
        assert!(err.contains("truncated"), "{err}");
        std::fs::write(&path, b"abc").unwrap();
        assert!(read::<State>(&path).is_err());
    }
}
