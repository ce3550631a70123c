//! Which items of a stream repeat an earlier one, in memory that does not grow with the stream:
//! each item's 128-bit key goes to one of [`BUCKETS`] files on disk by its top bits, and each
//! bucket is then sorted alone. What stays in memory is one bit per item (1.25 MB for 10M
//! items) and one bucket at a time (1/256 of the keys).
//!
//! Written here rather than taken from an external-sort crate: the buckets need no merge, and
//! the answer wanted is a bitmap by position, which a sorted stream would have to be re-sorted
//! into.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The name of a bucket folder starts so (a killed build's are removed by the next one).
pub const BUCKETS_PREFIX: &str = ".buckets.";

/// Files the keys are spread over; a bucket holds 24 bytes per key it received.
pub const BUCKETS: usize = 256;
const RECORD: usize = 24;

/// (key, value) records spread over [`BUCKETS`] files by the key's top byte, read back one
/// sorted bucket at a time: grouping by key in memory that does not grow with the records.
pub struct KeyBuckets {
    dir: tempfile::TempDir,
    buckets: Vec<BufWriter<File>>,
    count: u64,
}

impl KeyBuckets {
    /// Keeps its buckets in a temporary folder under `parent` (the output's own file system,
    /// which has the room for the output).
    pub fn new(parent: &Path) -> Result<Self> {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let dir = tempfile::Builder::new()
            .prefix(BUCKETS_PREFIX)
            .tempdir_in(parent)
            .map_err(|e| Error::io(parent, e))?;
        let buckets = (0..BUCKETS)
            .map(|i| {
                let path = bucket_path(dir.path(), i);
                let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
                Ok(BufWriter::with_capacity(1 << 14, file))
            })
            .collect::<Result<_>>()?;
        Ok(KeyBuckets {
            dir,
            buckets,
            count: 0,
        })
    }

    pub fn push(&mut self, key: u128, value: u64) -> Result<()> {
        let bucket = (key >> 120) as usize;
        let mut record = [0u8; RECORD];
        record[..16].copy_from_slice(&key.to_le_bytes());
        record[16..].copy_from_slice(&value.to_le_bytes());
        self.buckets[bucket]
            .write_all(&record)
            .map_err(|e| Error::io(bucket_path(self.dir.path(), bucket), e))?;
        self.count += 1;
        Ok(())
    }

    /// Records pushed so far.
    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Calls `f` with each bucket's records sorted by (key, value), one bucket at a time; every
    /// record of a key is in the same bucket. The folder is removed afterwards.
    pub fn for_each_sorted(self, mut f: impl FnMut(&[(u128, u64)]) -> Result<()>) -> Result<()> {
        let KeyBuckets { dir, buckets, .. } = self;
        for (i, bucket) in buckets.into_iter().enumerate() {
            let path = bucket_path(dir.path(), i);
            bucket
                .into_inner()
                .map_err(|e| Error::io(&path, e.into_error()))?;
            let mut records = read_bucket(&path)?;
            records.sort_unstable();
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            f(&records)?;
        }
        Ok(())
    }
}

/// Collects keys in order; [`DiskDedup::finish`] says which positions repeat an earlier key.
pub struct DiskDedup {
    buckets: KeyBuckets,
}

impl DiskDedup {
    pub fn new(parent: &Path) -> Result<Self> {
        Ok(DiskDedup {
            buckets: KeyBuckets::new(parent)?,
        })
    }

    /// Records the next item's key; returns its position.
    pub fn push(&mut self, key: u128) -> Result<u64> {
        let position = self.buckets.len();
        self.buckets.push(key, position)?;
        Ok(position)
    }

    /// The positions whose key an earlier position already had.
    pub fn finish(self) -> Result<Repeats> {
        let total = self.buckets.len();
        let mut repeats = Repeats {
            bits: vec![0; total.div_ceil(64) as usize],
            count: 0,
            total,
        };
        // Each key's first position sorts first; every later one is a repeat.
        self.buckets.for_each_sorted(|records| {
            for w in records.windows(2) {
                if w[0].0 == w[1].0 {
                    repeats.mark(w[1].1);
                }
            }
            Ok(())
        })?;
        Ok(repeats)
    }
}

fn bucket_path(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("{i:03}"))
}

fn read_bucket(path: &Path) -> Result<Vec<(u128, u64)>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len() as usize;
    let mut reader = BufReader::new(file);
    let mut keys = Vec::with_capacity(len / RECORD);
    let mut record = [0u8; RECORD];
    for _ in 0..len / RECORD {
        reader
            .read_exact(&mut record)
            .map_err(|e| Error::io(path, e))?;
        let key = u128::from_le_bytes(record[..16].try_into().expect("16 bytes"));
        let position = u64::from_le_bytes(record[16..].try_into().expect("8 bytes"));
        keys.push((key, position));
    }
    Ok(keys)
}

/// One bit per position: set where the key repeats an earlier one.
pub struct Repeats {
    bits: Vec<u64>,
    count: u64,
    total: u64,
}

impl Repeats {
    fn mark(&mut self, position: u64) {
        self.bits[(position / 64) as usize] |= 1 << (position % 64);
        self.count += 1;
    }

    pub fn is_repeat(&self, position: u64) -> bool {
        self.bits[(position / 64) as usize] & (1 << (position % 64)) != 0
    }

    /// Positions whose key was seen for the first time.
    pub fn distinct(&self) -> u64 {
        self.total - self.count
    }
}

/// The 128-bit key of a tuple of texts (each part ended by a NUL, so ("ab", "c") ≠ ("a", "bc")).
pub fn key(parts: &[&str]) -> u128 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update(&[0]);
    }
    hasher.digest128()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_copies_are_repeats_and_first_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut dedup = DiskDedup::new(dir.path()).unwrap();
        let items = ["a", "b", "a", "c", "b", "a", "d"];
        for item in items {
            dedup.push(key(&[item])).unwrap();
        }
        let repeats = dedup.finish().unwrap();
        let flags: Vec<bool> = (0..items.len() as u64)
            .map(|i| repeats.is_repeat(i))
            .collect();
        assert_eq!(
            flags,
            [false, false, true, false, true, true, false],
            "{items:?}"
        );
        assert_eq!(repeats.distinct(), 4);
        // The buckets are gone with the temporary folder.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn keys_spread_over_every_bucket_and_agree_with_a_hash_set() {
        let dir = tempfile::tempdir().unwrap();
        let mut dedup = DiskDedup::new(dir.path()).unwrap();
        let mut seen = std::collections::HashSet::new();
        let mut want = Vec::new();
        for i in 0..20_000u64 {
            let text = (i * 7919 % 13_001).to_string();
            dedup.push(key(&[&text])).unwrap();
            want.push(!seen.insert(text));
        }
        let repeats = dedup.finish().unwrap();
        let got: Vec<bool> = (0..want.len() as u64)
            .map(|i| repeats.is_repeat(i))
            .collect();
        assert_eq!(got, want);
        assert_eq!(repeats.distinct(), seen.len() as u64);
        assert_ne!(key(&["ab", "c"]), key(&["a", "bc"]));
    }
}
