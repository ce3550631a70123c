//! Soft labels on disk: the teacher's embeddings, keyed by model and text.
//!
//! One directory per teacher fingerprint holds
//! - `manifest.json`: model name, fingerprint, dimension;
//! - `vectors.f32`: rows of `dim` little-endian f32, memory-mapped for reading;
//! - `keys.bin`: one 128-bit xxh3 hash of the text per row, in row order;
//! - `sums.bin`: one 64-bit xxh3 checksum of each row's vector bytes.
//!
//! Rows are only ever appended: vectors first, then their checksums, then their keys, so a key
//! on disk always has its vector. After an interruption, opening the cache trims any torn tail
//! (with a warning) and every finished row is kept, so an encode resumes where it stopped. Every
//! row is checked against its checksum on open: a damaged file is reported by name, never used.

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
    sums: File,
    /// Read view of `vectors.f32`, remapped after appends.
    map: Option<memmap2::Mmap>,
    rows: usize,
    /// `lock`, held exclusively while the cache is open: two processes appending at once would
    /// interleave their rows (each row's checksum still matches, but keys and vectors no longer
    /// line up), so a second run on the same cache waits for the first.
    _lock: CacheLock,
}

pub fn text_key(text: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(text.as_bytes())
}

/// The cache directories this process holds open: a second open of one of them here would wait
/// on its own lock forever, so it is an error instead.
static OPEN_HERE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// An exclusive lock on a cache directory, released when dropped.
struct CacheLock {
    _file: File,
    dir: PathBuf,
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        let mut open = OPEN_HERE.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|d| d != &self.dir);
    }
}

/// Takes the cache directory's lock, waiting (with a warning naming it) while another process
/// holds it.
fn lock_exclusively(dir: &Path) -> Result<CacheLock> {
    let id = std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
    {
        let mut open = OPEN_HERE.lock().unwrap_or_else(|e| e.into_inner());
        if open.contains(&id) {
            return Err(Error::invalid(
                dir,
                "this label cache is already open in this process (was it given twice?)",
            ));
        }
        open.push(id.clone());
    }
    let path = dir.join("lock");
    let opened = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path);
    let file = match opened {
        Ok(file) => file,
        Err(e) => {
            let mut open = OPEN_HERE.lock().unwrap_or_else(|e| e.into_inner());
            open.retain(|d| d != &id);
            return Err(Error::io(&path, e));
        }
    };
    // From here on the guard gives the entry back, whatever happens.
    let guard = CacheLock {
        _file: file,
        dir: id,
    };
    match guard._file.try_lock() {
        Ok(()) => return Ok(guard),
        Err(std::fs::TryLockError::WouldBlock) => tracing::warn!(
            "{}: another process is using this label cache; waiting for it to finish \
             (or give this run another cache_dir)",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
    }
    guard._file.lock().map_err(|e| Error::io(&path, e))?;
    Ok(guard)
}

/// Checks that the cache directory `dir` belongs to this teacher, or marks it as its own.
fn check_or_write_manifest(dir: &Path, model: &str, fingerprint: &str, dim: usize) -> Result<()> {
    let manifest_path = dir.join("manifest.json");
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
        return Ok(());
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        model: model.into(),
        fingerprint: fingerprint.into(),
        dim,
    };
    let json = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
    crate::io::write_atomic(&manifest_path, &json)
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
        let lock = lock_exclusively(&dir)?;
        check_or_write_manifest(&dir, model, fingerprint, dim)?;
        let open = |name: &str| -> Result<File> {
            let path = dir.join(name);
            OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))
        };
        // A cache written before checksums existed gets them now, from its rows as they are.
        let upgrade = !dir.join("sums.bin").exists() && dir.join("keys.bin").exists();
        let (vectors, keys, sums) = (open("vectors.f32")?, open("keys.bin")?, open("sums.bin")?);
        let len = |f: &File, name: &str| {
            f.metadata()
                .map(|m| m.len())
                .map_err(|e| Error::io(dir.join(name), e))
        };
        let row_bytes = (dim * 4) as u64;
        let (key_rows, vector_rows) = (
            len(&keys, "keys.bin")? / 16,
            len(&vectors, "vectors.f32")? / row_bytes,
        );
        let sum_rows = if upgrade {
            key_rows.min(vector_rows)
        } else {
            len(&sums, "sums.bin")? / 8
        };
        let rows = key_rows.min(vector_rows).min(sum_rows) as usize;
        if key_rows.max(vector_rows).max(sum_rows) > rows as u64
            || len(&vectors, "vectors.f32")? % row_bytes != 0
        {
            tracing::warn!(
                "{}: keys.bin holds {key_rows} rows, vectors.f32 {vector_rows}, sums.bin \
                 {sum_rows}: keeping the {rows} complete rows (an interrupted write, or a \
                 truncated file); the rest will be labelled again",
                dir.display()
            );
        }
        // Trim a torn tail left by an interruption.
        keys.set_len(rows as u64 * 16)
            .map_err(|e| Error::io(dir.join("keys.bin"), e))?;
        vectors
            .set_len(rows as u64 * row_bytes)
            .map_err(|e| Error::io(dir.join("vectors.f32"), e))?;
        if !upgrade {
            sums.set_len(rows as u64 * 8)
                .map_err(|e| Error::io(dir.join("sums.bin"), e))?;
        }
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
            sums,
            map: None,
            rows,
            _lock: lock,
        };
        cache.remap()?;
        cache.check_rows(upgrade)?;
        Ok(cache)
    }

    /// Checks every row against its checksum, or, for a cache written before checksums
    /// existed (`upgrade`), writes them from the rows as they are.
    fn check_rows(&mut self, upgrade: bool) -> Result<()> {
        if !upgrade {
            return self.verify();
        }
        let rows = self.rows;
        let bytes: Vec<u8> = (0..rows)
            .flat_map(|r| self.row_checksum(r).to_le_bytes())
            .collect();
        self.write_sums(&bytes)?;
        tracing::info!("{}: checksums written for {rows} rows", self.dir.display());
        Ok(())
    }

    fn row_checksum(&self, row: usize) -> u64 {
        let v = self.vector(row);
        // SAFETY: f32 slice viewed as bytes (the file's little-endian layout on this machine).
        let bytes = unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, v.len() * 4) };
        xxhash_rust::xxh3::xxh3_64(bytes)
    }

    /// Checks every row against `sums.bin`.
    fn verify(&self) -> Result<()> {
        use rayon::prelude::*;
        let path = self.dir.join("sums.bin");
        let sums = crate::error::read(&path)?;
        let bad = (0..self.rows).into_par_iter().find_first(|&r| {
            let want = u64::from_le_bytes(sums[r * 8..r * 8 + 8].try_into().unwrap());
            self.row_checksum(r) != want
        });
        match bad {
            None => Ok(()),
            Some(row) => Err(Error::invalid(
                self.dir.join("vectors.f32"),
                format!(
                    "row {row} does not match its checksum in sums.bin: the cache is damaged \
                     (delete {} and the teacher will label again)",
                    self.dir.display()
                ),
            )),
        }
    }

    fn write_sums(&mut self, bytes: &[u8]) -> Result<()> {
        let path = self.dir.join("sums.bin");
        self.sums
            .write_all(bytes)
            .and_then(|_| self.sums.flush())
            .map_err(|e| Error::io(path, e))
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

    /// The model name and fingerprint a cache directory's manifest records.
    pub fn identity(dir: &Path) -> Result<(String, String, usize)> {
        let found: Manifest = crate::error::read_json(dir.join("manifest.json"))?;
        Ok((found.model, found.fingerprint, found.dim))
    }

    /// The text key of every row, in row order.
    pub fn keys(&self) -> Vec<u128> {
        let mut keys = vec![0; self.rows];
        for (&key, &row) in &self.index {
            keys[row as usize] = key;
        }
        keys
    }

    /// Appends vectors for texts not yet cached; texts already present are skipped.
    pub fn append(&mut self, texts: &[&str], vectors: &Embeddings) -> Result<()> {
        let keys: Vec<u128> = texts.iter().map(|t| text_key(t)).collect();
        self.append_keyed(&keys, vectors)
    }

    /// [`LabelCache::append`] by text key (as another cache holds them).
    pub fn append_keyed(&mut self, keys: &[u128], vectors: &Embeddings) -> Result<()> {
        assert_eq!(keys.len(), vectors.len());
        assert_eq!(vectors.dim(), self.dim);
        let mut vec_bytes = Vec::with_capacity(vectors.as_slice().len() * 4);
        let mut key_bytes = Vec::with_capacity(keys.len() * 16);
        let mut added = 0;
        for (i, &key) in keys.iter().enumerate() {
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
        let sums: Vec<u8> = vec_bytes
            .chunks_exact(self.dim * 4)
            .flat_map(|row| xxhash_rust::xxh3::xxh3_64(row).to_le_bytes())
            .collect();
        self.write_sums(&sums)?;
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

    #[test]
    fn a_cache_open_twice_in_one_process_is_refused_not_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let first = LabelCache::open(dir.path(), "m", "fp", 2).unwrap();
        let err = LabelCache::open(dir.path(), "m", "fp", 2)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("already open in this process"), "{err}");
        drop(first);
        assert_eq!(LabelCache::open(dir.path(), "m", "fp", 2).unwrap().len(), 0);
    }

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
    fn a_damaged_row_is_refused_by_name_and_old_caches_get_checksums() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut cache = LabelCache::open(dir.path(), "toy", "toy-1", 2).unwrap();
            cache.fill(&Toy, ["a", "bb", "ccc"], 2, &|_, _| {}).unwrap();
        }
        let vectors = dir.path().join("toy-1/vectors.f32");
        let good = std::fs::read(&vectors).unwrap();
        let mut bad = good.clone();
        bad[9] ^= 0x40; // row 1
        std::fs::write(&vectors, &bad).unwrap();
        let err = LabelCache::open(dir.path(), "toy", "toy-1", 2)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("vectors.f32") && err.contains("row 1") && err.contains("damaged"),
            "{err}"
        );
        // A cache from before checksums: they are computed on open, then checked.
        std::fs::write(&vectors, &good).unwrap();
        std::fs::remove_file(dir.path().join("toy-1/sums.bin")).unwrap();
        let cache = LabelCache::open(dir.path(), "toy", "toy-1", 2).unwrap();
        assert_eq!(cache.get("bb").unwrap(), &[2.0, 196.0]);
        drop(cache);
        assert_eq!(
            std::fs::metadata(dir.path().join("toy-1/sums.bin"))
                .unwrap()
                .len(),
            24
        );
        LabelCache::open(dir.path(), "toy", "toy-1", 2).unwrap();
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
}
