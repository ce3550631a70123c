//! A student's embedding table: owned while training, memory-mapped from `model.safetensors`
//! once saved, so loading a model reads nothing up front and costs no second copy in memory.
//! The first mutable access turns a mapped table into an owned one (copy on write).
//!
//! A saved table may also be quantized (f16, or int8 or int4 with one f32 scale per row, as
//! written by `glossa quantize` and `glossa shrink`). Encoding reads quantized rows in place ([`Table::add_row`]); code that
//! wants the whole table as `[f32]` (training, exports) gets a dequantized copy made once.

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::OnceLock;

use crate::{Error, Result};

/// How a table's values are stored on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F32,
    F16,
    /// Symmetric int8 per row: value = scale[row] · q, scale = max|row| / 127.
    Int8,
    /// Symmetric 4-bit per row: value = scale[row] · q, q in −7..=7, scale = max|row| / 7; two
    /// values a byte, the first in the low nibble, a row starting on a byte (safetensors has no
    /// 4-bit type: stored as U8 of shape [rows, ⌈dim/2⌉]).
    Int4,
}

impl Precision {
    /// Bytes one row of `dim` values takes.
    pub fn row_bytes(self, dim: usize) -> usize {
        match self {
            Precision::F32 => 4 * dim,
            Precision::F16 => 2 * dim,
            Precision::Int8 => dim,
            Precision::Int4 => dim.div_ceil(2),
        }
    }
    /// The safetensors dtype name.
    pub fn dtype(self) -> &'static str {
        match self {
            Precision::F32 => "F32",
            Precision::F16 => "F16",
            Precision::Int8 => "I8",
            Precision::Int4 => "U8",
        }
    }
    /// Elements a row of `dim` values is stored as (the second dimension of the saved tensor):
    /// `dim`, or for int4 the ⌈dim/2⌉ bytes its values are packed into.
    pub fn stored_width(self, dim: usize) -> usize {
        match self {
            Precision::Int4 => dim.div_ceil(2),
            _ => dim,
        }
    }
    /// Whether rows carry an f32 scale each (`embeddings_scale`).
    pub fn has_row_scales(self) -> bool {
        matches!(self, Precision::Int8 | Precision::Int4)
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "f32" => Ok(Precision::F32),
            "f16" => Ok(Precision::F16),
            "int8" | "i8" => Ok(Precision::Int8),
            "int4" | "i4" => Ok(Precision::Int4),
            other => Err(format!(
                "unknown precision '{other}' (expected f32, f16, int8 or int4)"
            )),
        }
    }
}

static IN_MEMORY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// From now on, tables are copied into memory when loaded instead of staying mapped, so that
/// truncating or rewriting a model's file cannot crash the process (SIGBUS) or change its
/// vectors. A long-running server wants this; a one-off command keeps the free mapping.
pub fn load_into_memory(on: bool) {
    IN_MEMORY.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// The file's bytes in anonymous memory when [`load_into_memory`] is on (same page alignment,
/// so offsets keep their alignment); the mapping itself otherwise.
fn detach(map: memmap2::Mmap, path: &Path) -> Result<memmap2::Mmap> {
    if !IN_MEMORY.load(std::sync::atomic::Ordering::Relaxed) || map.is_empty() {
        return Ok(map);
    }
    let mut copy = memmap2::MmapMut::map_anon(map.len()).map_err(|e| Error::io(path, e))?;
    copy.copy_from_slice(&map);
    copy.make_read_only().map_err(|e| Error::io(path, e))
}

pub enum Table {
    Owned(Vec<f32>),
    Mapped {
        map: memmap2::Mmap,
        offset: usize,
        len: usize,
    },
    /// Mapped f16, int8 or int4 values (`len` of them), with int8's and int4's per-row scales.
    Quantized {
        map: memmap2::Mmap,
        offset: usize,
        len: usize,
        dim: usize,
        precision: Precision,
        scales: Vec<f32>,
        dequantized: OnceLock<Vec<f32>>,
    },
}

impl Table {
    /// Maps `len` little-endian f32 values starting at byte `offset` of `path`. Falls back to
    /// reading them when the data is not 4-byte aligned or the machine is big-endian.
    pub fn map(path: &Path, offset: usize, len: usize) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the map is read-only; a model file must not be rewritten while it is in use
        // (glossa itself writes models atomically, by rename, which leaves mapped files intact).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let map = detach(map, path)?;
        let end = offset.checked_add(len * 4).filter(|&end| end <= map.len());
        if end.is_none() {
            return Err(Error::invalid(
                path,
                format!(
                    "tensor data {offset}+{} bytes is past the end of the file ({} bytes)",
                    len * 4,
                    map.len()
                ),
            ));
        }
        let table = Table::Mapped { map, offset, len };
        let aligned = (table.bytes().as_ptr() as usize).is_multiple_of(std::mem::align_of::<f32>());
        if aligned && cfg!(target_endian = "little") {
            Ok(table)
        } else {
            Ok(Table::Owned(
                table
                    .bytes()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                    .collect(),
            ))
        }
    }

    /// Maps `len` quantized values of rows of `dim` starting at byte `offset` of `path`;
    /// `scales` holds one per row for int8 and int4, and nothing for f16.
    pub fn map_quantized(
        path: &Path,
        offset: usize,
        len: usize,
        dim: usize,
        precision: Precision,
        scales: Vec<f32>,
    ) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: as in `map`: read-only, and models are replaced by rename, never rewritten.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let map = detach(map, path)?;
        let rows = len.checked_div(dim).unwrap_or(0);
        let size = rows * precision.row_bytes(dim);
        if offset.checked_add(size).is_none_or(|end| end > map.len()) {
            return Err(Error::invalid(
                path,
                format!(
                    "tensor data {offset}+{size} bytes is past the end of the file ({} bytes)",
                    map.len()
                ),
            ));
        }
        let expected_scales = if precision.has_row_scales() { rows } else { 0 };
        if scales.len() != expected_scales {
            return Err(Error::invalid(
                path,
                format!(
                    "{} row scales for {rows} {precision:?} rows (expected {expected_scales})",
                    scales.len()
                ),
            ));
        }
        Ok(Table::Quantized {
            map,
            offset,
            len,
            dim,
            precision,
            scales,
            dequantized: OnceLock::new(),
        })
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Table::Owned(v) => {
                // SAFETY: any f32 slice is a valid byte slice of four times the length.
                unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, v.len() * 4) }
            }
            Table::Mapped { map, offset, len } => &map[*offset..*offset + len * 4],
            Table::Quantized {
                map,
                offset,
                len,
                dim,
                precision,
                ..
            } => {
                let rows = len.checked_div(*dim).unwrap_or(0);
                &map[*offset..*offset + rows * precision.row_bytes(*dim)]
            }
        }
    }

    pub fn is_mapped(&self) -> bool {
        matches!(self, Table::Mapped { .. } | Table::Quantized { .. })
    }

    pub fn precision(&self) -> Precision {
        match self {
            Table::Quantized { precision, .. } => *precision,
            _ => Precision::F32,
        }
    }

    /// Adds row `row` (of `dim` values) to `out`, reading quantized rows in place.
    pub fn add_row(&self, row: usize, dim: usize, out: &mut [f32]) {
        match self {
            Table::Quantized {
                precision: Precision::F16,
                ..
            } => {
                crate::kernels::add_f16(out, &self.bytes()[row * dim * 2..(row + 1) * dim * 2]);
            }
            Table::Quantized {
                precision: Precision::Int8,
                scales,
                ..
            } => {
                crate::kernels::add_i8(out, scales[row], &self.bytes()[row * dim..(row + 1) * dim]);
            }
            Table::Quantized {
                precision: Precision::Int4,
                scales,
                ..
            } => {
                let width = Precision::Int4.row_bytes(dim);
                let packed = &self.bytes()[row * width..(row + 1) * width];
                crate::kernels::add_i4(out, scales[row], packed);
            }
            _ => crate::kernels::add(out, &self[row * dim..(row + 1) * dim]),
        }
    }

    /// Adds rows `rows` to `out` in order, exactly as `add_row` one at a time (same sums, same
    /// rounding), asking the CPU to start loading each row a few rows before it is added: the
    /// rows are scattered over a table of hundreds of MB, each one a cache miss whose latency the
    /// loop would otherwise wait out row after row.
    pub fn add_rows(&self, rows: &[u32], dim: usize, out: &mut [f32]) {
        const AHEAD: usize = 4;
        let bytes = self.bytes();
        let row_bytes = self.precision().row_bytes(dim);
        for &r in rows.iter().take(AHEAD) {
            prefetch(bytes, r as usize * row_bytes, row_bytes);
        }
        for (i, &r) in rows.iter().enumerate() {
            if let Some(&next) = rows.get(i + AHEAD) {
                prefetch(bytes, next as usize * row_bytes, row_bytes);
            }
            self.add_row(r as usize, dim, out);
        }
    }

    fn dequantize(&self) -> Vec<f32> {
        let Table::Quantized { len, dim, .. } = self else {
            return self.to_vec();
        };
        let mut out = vec![0.0; *len];
        for (row, chunk) in out.chunks_mut((*dim).max(1)).enumerate() {
            self.add_row(row, *dim, chunk);
        }
        out
    }
}

/// Quantizes rows of `dim` f32 values: the stored bytes and, for int8 and int4, one scale per
/// row.
pub fn quantize(values: &[f32], dim: usize, precision: Precision) -> (Vec<u8>, Vec<f32>) {
    match precision {
        Precision::F32 => (
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            vec![],
        ),
        Precision::F16 => (
            values
                .iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                .collect(),
            vec![],
        ),
        Precision::Int8 => {
            let mut bytes = Vec::with_capacity(values.len());
            let mut scales = Vec::with_capacity(values.len() / dim.max(1));
            for row in values.chunks(dim.max(1)) {
                let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
                scales.push(scale);
                bytes.extend(
                    row.iter()
                        .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8 as u8),
                );
            }
            (bytes, scales)
        }
        Precision::Int4 => {
            let dim = dim.max(1);
            let mut bytes = Vec::with_capacity(values.len().div_ceil(2));
            let mut scales = Vec::with_capacity(values.len() / dim);
            for row in values.chunks(dim) {
                let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                let scale = if max > 0.0 { max / 7.0 } else { 1.0 };
                scales.push(scale);
                let q = |v: f32| (v / scale).round().clamp(-7.0, 7.0) as i8 as u8 & 0x0f;
                bytes.extend(
                    row.chunks(2)
                        .map(|p| q(p[0]) | p.get(1).map_or(0, |&v| q(v) << 4)),
                );
            }
            (bytes, scales)
        }
    }
}

impl Deref for Table {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match self {
            Table::Owned(v) => v,
            Table::Mapped { map, offset, len } => {
                let bytes = &map[*offset..*offset + len * 4];
                // SAFETY: `map` checked alignment and little-endianness; f32 has no invalid bits.
                unsafe { std::slice::from_raw_parts(bytes.as_ptr() as *const f32, *len) }
            }
            Table::Quantized { dequantized, .. } => dequantized.get_or_init(|| self.dequantize()),
        }
    }
}

impl DerefMut for Table {
    fn deref_mut(&mut self) -> &mut [f32] {
        if !matches!(self, Table::Owned(_)) {
            *self = Table::Owned(self.to_vec());
        }
        match self {
            Table::Owned(v) => v,
            _ => unreachable!("converted above"),
        }
    }
}

impl From<Vec<f32>> for Table {
    fn from(v: Vec<f32>) -> Self {
        Table::Owned(v)
    }
}

/// Hints the CPU to bring `bytes[start..start + len]` into cache; does nothing out of bounds or
/// off x86-64 (a hint never changes a result).
#[inline]
fn prefetch(bytes: &[u8], start: usize, len: usize) {
    #[cfg(target_arch = "x86_64")]
    if start.checked_add(len).is_some_and(|end| end <= bytes.len()) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        for at in (start..start + len).step_by(64) {
            // SAFETY: prefetching an in-bounds address has no effect on memory or state.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(bytes.as_ptr().add(at) as *const i8) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, start, len);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_tables_read_in_place_and_copy_on_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.bin");
        let values = [1.5f32, -2.0, 3.25];
        let mut bytes = vec![0u8; 8];
        bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        std::fs::write(&path, &bytes).unwrap();
        let mut t = Table::map(&path, 8, 3).unwrap();
        assert!(t.is_mapped());
        assert_eq!(&t[..], &values);
        t[1] = 7.0;
        assert!(!t.is_mapped());
        assert_eq!(&t[..], &[1.5, 7.0, 3.25]);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "the file is untouched"
        );
        // Unaligned data is read, not mapped.
        let t = Table::map(&path, 2, 2).unwrap();
        assert!(!t.is_mapped());
        assert!(Table::map(&path, 8, 4).is_err(), "past the end");
    }

    #[test]
    fn quantized_rows_read_in_place_within_their_precision() {
        let dim = 5;
        let mut rng = crate::rng::Rng::new(1);
        let values: Vec<f32> = (0..3 * dim).map(|_| rng.normal() * 0.1).collect();
        // int4's step is max|row|/7: about 0.04 for rows of normals × 0.1 in 5 values.
        for (precision, tolerance) in [
            (Precision::F16, 1e-4),
            (Precision::Int8, 2e-3),
            (Precision::Int4, 0.03),
        ] {
            let (bytes, scales) = quantize(&values, dim, precision);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("q.bin");
            let mut file = vec![0u8; 3];
            file.extend(&bytes);
            std::fs::write(&path, &file).unwrap();
            let mut t =
                Table::map_quantized(&path, 3, values.len(), dim, precision, scales.clone())
                    .unwrap();
            assert_eq!(t.precision(), precision);
            for row in 0..3 {
                let mut out = vec![1.0; dim];
                t.add_row(row, dim, &mut out);
                for d in 0..dim {
                    let want = 1.0 + values[row * dim + d];
                    assert!((out[d] - want).abs() < tolerance, "{precision:?} {out:?}");
                }
            }
            // The [f32] view agrees with the in-place reads, and writing dequantizes.
            assert!((t[dim + 2] - values[dim + 2]).abs() < tolerance);
            t[0] = 9.0;
            assert_eq!(t.precision(), Precision::F32);
            assert_eq!(t[0], 9.0);
            assert!(
                Table::map_quantized(&path, 3, values.len(), dim, precision, vec![1.0; 7]).is_err(),
                "wrong scale count"
            );
        }
    }
}
