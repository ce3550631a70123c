//! Soft labels on disk: the teacher's embeddings, keyed by model and text.
//!
//! One directory per teacher fingerprint holds
//! - `manifest.json`: model name, fingerprint, dimension;
//! - `vectors.f32`: rows of `dim` little-endian f32, memory-mapped for reading;
//! - `keys.bin`: one 128-bit xxh3 hash of the text per row, in row order.
//!
//! Rows are only ever appended: vectors first, then their keys, so a key on disk always has its
//! vector. After an interruption, opening the cache trims any torn tail and every finished row is
//! kept, so an encode resumes where it stopped.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Embeddings, Encoder, Error, Result};

const FORMAT: &str = "glossa-labels/1";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Manifest {
    format: String,
    model: String,
    fingerprint: String,
    dim: usize,
}

pub struct LabelCache {
    dir: PathBuf,
    dim: usize,
    index: HashMap<u128, u32>,
    vectors: File,
    keys: File,
    /// Read view of `vectors.f32`, remapped after appends.
    map: Option<memmap2::Mmap>,
    rows: usize,
}

pub fn text_key(text: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(text.as_bytes())
}

impl LabelCache {
    /// Opens (or creates) the cache for a teacher under `root/<fingerprint>/`.
    pub fn open(root: &Path, model: &str, fingerprint: &str, dim: usize) -> Result<Self> {
        let dir = root.join(fingerprint);
        if dim == 0 {
            return Err(Error::invalid(
                &dir,
                format!("the teacher '{model}' has dimension 0: nothing to cache"),
            ));
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let manifest_path = dir.join("manifest.json");
        let manifest = Manifest {
            format: FORMAT.into(),
            model: model.into(),
            fingerprint: fingerprint.into(),
            dim,
        };
        if manifest_path.is_file() {
            let found: Manifest = crate::error::read_json(&manifest_path)?;
            if found.format != FORMAT || found.fingerprint != fingerprint || found.dim != dim {
                return Err(Error::invalid(
                    &manifest_path,
                    format!(
                        "belongs to {} (dim {}, format {}), not to this teacher (dim {dim})",
                        found.fingerprint, found.dim, found.format
                    ),
                ));
            }
        } else {
            let json = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
            crate::error::write_atomic(&manifest_path, &json)?;
        }
        let open = |name: &str| -> Result<File> {
            let path = dir.join(name);
            OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))
        };
        let (vectors, keys) = (open("vectors.f32")?, open("keys.bin")?);
        let len = |f: &File, name: &str| {
            f.metadata()
                .map(|m| m.len())
                .map_err(|e| Error::io(dir.join(name), e))
        };
        let row_bytes = (dim * 4) as u64;
        let rows =
            (len(&keys, "keys.bin")? / 16).min(len(&vectors, "vectors.f32")? / row_bytes) as usize;
        // Trim a torn tail left by an interruption.
        keys.set_len(rows as u64 * 16)
            .map_err(|e| Error::io(dir.join("keys.bin"), e))?;
        vectors
            .set_len(rows as u64 * row_bytes)
            .map_err(|e| Error::io(dir.join("vectors.f32"), e))?;
        let key_bytes = crate::error::read(dir.join("keys.bin"))?;
        let index = key_bytes
            .chunks_exact(16)
            .enumerate()
            .map(|(row, k)| (u128::from_le_bytes(k.try_into().unwrap()), row as u32))
            .collect();
        let mut cache = LabelCache {
            dir,
            dim,
            index,
            vectors,
            keys,
            map: None,
            rows,
        };
        cache.remap()?;
        Ok(cache)
    }

    fn remap(&mut self) -> Result<()> {
        self.map = if self.rows == 0 {
            None
        } else {
            // SAFETY: the file is only appended to by this process, and the map is replaced after
            // every append; rows already mapped are never rewritten.
            Some(
                unsafe { memmap2::Mmap::map(&self.vectors) }
                    .map_err(|e| Error::io(self.dir.join("vectors.f32"), e))?,
            )
        };
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn contains(&self, text: &str) -> bool {
        self.index.contains_key(&text_key(text))
    }

    /// The row of a cached text.
    pub fn row_of(&self, text: &str) -> Option<usize> {
        self.index.get(&text_key(text)).map(|&r| r as usize)
    }

    /// The vector of a cached row.
    pub fn vector(&self, row: usize) -> &[f32] {
        let map = self.map.as_ref().expect("row of an empty cache");
        let bytes = &map[row * self.dim * 4..(row + 1) * self.dim * 4];
        // SAFETY: the map is page-aligned, rows are multiples of 4 bytes, and f32 has no invalid
        // bit patterns.
        let (head, floats, _) = unsafe { bytes.align_to::<f32>() };
        debug_assert!(head.is_empty());
        floats
    }

    pub fn get(&self, text: &str) -> Option<&[f32]> {
        self.row_of(text).map(|r| self.vector(r))
    }

    /// Appends vectors for texts not yet cached; texts already present are skipped.
    pub fn append(&mut self, texts: &[&str], vectors: &Embeddings) -> Result<()> {
        assert_eq!(texts.len(), vectors.len());
        assert_eq!(vectors.dim(), self.dim);
        let mut vec_bytes = Vec::with_capacity(vectors.as_slice().len() * 4);
        let mut key_bytes = Vec::with_capacity(texts.len() * 16);
        let mut added = 0;
        for (i, text) in texts.iter().enumerate() {
            let key = text_key(text);
            if self.index.contains_key(&key) {
                continue;
            }
            self.index.insert(key, (self.rows + added) as u32);
            added += 1;
            vec_bytes.extend(vectors.row(i).iter().flat_map(|x| x.to_le_bytes()));
            key_bytes.extend_from_slice(&key.to_le_bytes());
        }
        if added == 0 {
            return Ok(());
        }
        self.vectors
            .write_all(&vec_bytes)
            .map_err(|e| Error::io(self.dir.join("vectors.f32"), e))?;
        self.vectors
            .flush()
            .map_err(|e| Error::io(self.dir.join("vectors.f32"), e))?;
        self.keys
            .write_all(&key_bytes)
            .map_err(|e| Error::io(self.dir.join("keys.bin"), e))?;
        self.rows += added;
        self.remap()
    }

    /// Unique texts from `texts` that are not cached yet, in first-seen order.
    pub fn missing<'a>(&self, texts: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        let mut seen = std::collections::HashSet::new();
        texts
            .into_iter()
            .filter(|t| !self.contains(t) && seen.insert(text_key(t)))
            .collect()
    }

    /// Encodes every text not yet cached, `chunk` at a time, appending after each chunk so an
    /// interrupted run loses at most one chunk. `progress` is told how many texts each chunk held.
    pub fn fill<'a>(
        &mut self,
        encoder: &dyn Encoder,
        texts: impl IntoIterator<Item = &'a str>,
        chunk: usize,
        progress: &dyn Fn(usize, usize),
    ) -> Result<usize> {
        let missing = self.missing(texts);
        let total = missing.len();
        let mut done = 0;
        for part in missing.chunks(chunk.max(1)) {
            let vectors = encoder.encode(part)?;
            self.append(part, &vectors)?;
            done += part.len();
            progress(done, total);
        }
        Ok(total)
    }

    /// Vectors for `texts` (all must be cached), as a matrix.
    pub fn lookup(&self, texts: &[&str]) -> Result<Embeddings> {
        let mut out = Vec::with_capacity(texts.len() * self.dim);
        for text in texts {
            let v = self.get(text).ok_or_else(|| {
                Error::msg(format!(
                    "text not in the label cache {}: {text:?}",
                    self.dir.display()
                ))
            })?;
            out.extend_from_slice(v);
        }
        Ok(Embeddings::new(self.dim, out))
    }
}

/// An encoder that answers from the cache and asks the teacher only for what is missing.
pub struct CachedEncoder<'a> {
    pub encoder: &'a dyn Encoder,
    pub cache: std::sync::Mutex<&'a mut LabelCache>,
}

impl Encoder for CachedEncoder<'_> {
    fn name(&self) -> String {
        self.encoder.name()
    }
    fn dim(&self) -> usize {
        self.encoder.dim()
    }
    fn encode(&self, texts: &[&str]) -> Result<Embeddings> {
        let mut cache = self.cache.lock().expect("cache lock");
        cache.fill(self.encoder, texts.iter().copied(), 512, &|_, _| {})?;
        cache.lookup(texts)
    }
    fn size_on_disk(&self) -> Option<u64> {
        self.encoder.size_on_disk()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy encoder: a text's vector is its length and byte sum.
    struct Toy;
    impl Encoder for Toy {
        fn name(&self) -> String {
            "toy".into()
        }
        fn dim(&self) -> usize {
            2
        }
        fn encode(&self, texts: &[&str]) -> Result<Embeddings> {
            Ok(Embeddings::new(
                2,
                texts
                    .iter()
                    .flat_map(|t| [t.len() as f32, t.bytes().map(f32::from).sum()])
                    .collect(),
            ))
        }
    }

    #[test]
    fn fills_once_reopens_and_survives_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let texts = ["a", "bb", "a", "ccc"];
        {
            let mut cache = LabelCache::open(dir.path(), "toy", "toy-1", 2).unwrap();
            assert_eq!(cache.fill(&Toy, texts, 2, &|_, _| {}).unwrap(), 3);
            assert_eq!(
                cache.fill(&Toy, texts, 2, &|_, _| {}).unwrap(),
                0,
                "second fill encodes nothing"
            );
            assert_eq!(cache.get("bb").unwrap(), &[2.0, 196.0]);
        }
        // A crash between the vector write and the key write leaves extra vector bytes.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("toy-1/vectors.f32"))
            .unwrap();
        f.write_all(&[1, 2, 3, 4, 5, 6]).unwrap();
        let cache = LabelCache::open(dir.path(), "toy", "toy-1", 2).unwrap();
        assert_eq!(cache.len(), 3);
        assert_eq!(
            cache.lookup(&["ccc", "a"]).unwrap().as_slice(),
            &[3.0, 297.0, 1.0, 97.0]
        );
        assert!(cache.lookup(&["zzz"]).is_err());
    }

    #[test]
    fn a_teacher_of_dimension_zero_is_refused() {
        // Rows are dim × 4 bytes; a zero dimension divided the file lengths by zero.
        let dir = tempfile::tempdir().unwrap();
        let err = LabelCache::open(dir.path(), "toy", "toy-0", 0)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("toy-0") && err.contains("dimension 0"),
            "{err}"
        );
    }

    #[test]
    fn a_cache_of_another_dimension_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        LabelCache::open(dir.path(), "toy", "toy-1", 2).unwrap();
        let err = LabelCache::open(dir.path(), "toy", "toy-1", 3)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("manifest.json") && err.contains("dim 2"),
            "{err}"
        );
    }
}
