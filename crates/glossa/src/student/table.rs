//! A student's embedding table: owned while training, memory-mapped from `model.safetensors`
//! once saved, so loading a model reads nothing up front and costs no second copy in memory.
//! The first mutable access turns a mapped table into an owned one (copy on write).

use std::ops::{Deref, DerefMut};
use std::path::Path;

use crate::{Error, Result};

pub enum Table {
    Owned(Vec<f32>),
    Mapped {
        map: memmap2::Mmap,
        offset: usize,
        len: usize,
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
        let aligned = table.bytes().as_ptr() as usize % std::mem::align_of::<f32>() == 0;
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

    fn bytes(&self) -> &[u8] {
        match self {
            Table::Owned(v) => {
                // SAFETY: any f32 slice is a valid byte slice of four times the length.
                unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, v.len() * 4) }
            }
            Table::Mapped { map, offset, len } => &map[*offset..*offset + len * 4],
        }
    }

    pub fn is_mapped(&self) -> bool {
        matches!(self, Table::Mapped { .. })
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
        }
    }
}

impl DerefMut for Table {
    fn deref_mut(&mut self) -> &mut [f32] {
        if let Table::Mapped { .. } = self {
            *self = Table::Owned(self.to_vec());
        }
        match self {
            Table::Owned(v) => v,
            Table::Mapped { .. } => unreachable!("converted above"),
        }
    }
}

impl From<Vec<f32>> for Table {
    fn from(v: Vec<f32>) -> Self {
        Table::Owned(v)
    }
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
}
