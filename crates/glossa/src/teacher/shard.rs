//! Sharded labelling for batch schedulers (Slurm job arrays, Kubernetes Indexed Jobs): shard
//! K of N labels a deterministic slice of a corpus into a cache directory of its own, and
//! [`merge`] verifies the shards and joins them into one label cache.
//!
//! A slice is a run of whole labelling chunks of the corpus's distinct texts (first-seen order),
//! so every shard encodes exactly the chunks a single run would, and the merged cache is
//! byte-identical to a single run's.

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::teacher::cache::{text_key, LabelCache};
use crate::{Error, Result};

const FORMAT: &str = "glossa-shard/1";

/// Shard `index` (1-based) of `count`, written `K/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for ShardSpec {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("'{s}' is not a shard: write K/N with 1 ≤ K ≤ N, e.g. 3/8");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(ShardSpec { index, count })
    }
}

/// What a finished shard wrote beside its cache (`shard.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShardManifest {
    format: String,
    pub shard: usize,
    pub of: usize,
    /// Its slice of the corpus's distinct texts.
    pub start: usize,
    pub end: usize,
    pub corpus_texts: usize,
    /// xxh3 of every distinct text's key, in order: the same corpus for every shard.
    pub corpus_digest: String,
    /// xxh3 of the slice's keys, in order: the rows the shard's cache must hold.
    pub keys_digest: String,
}

/// Distinct texts in first-seen order: what a single run labels, in its order.
pub fn distinct<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    texts
        .into_iter()
        .filter(|t| seen.insert(text_key(t)))
        .collect()
}

/// Shard `spec`'s slice of `texts` distinct texts: whole `chunk`s, as even as they divide.
pub fn slice(texts: usize, spec: ShardSpec, chunk: usize) -> Range<usize> {
    let chunks = texts.div_ceil(chunk);
    let first = (spec.index - 1) * chunks / spec.count;
    let last = spec.index * chunks / spec.count;
    (first * chunk).min(texts)..(last * chunk).min(texts)
}

fn digest(keys: impl Iterator<Item = u128>) -> String {
    let bytes: Vec<u8> = keys.flat_map(u128::to_le_bytes).collect();
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes))
}

/// Records that `cache` holds shard `spec` of the corpus `all` (distinct texts): refused unless
/// it holds exactly that slice.
pub fn finish_shard(cache: &LabelCache, all: &[&str], spec: ShardSpec, chunk: usize) -> Result<()> {
    let range = slice(all.len(), spec, chunk);
    let want: Vec<u128> = all[range.clone()].iter().map(|t| text_key(t)).collect();
    if cache.keys() != want {
        return Err(Error::invalid(
            cache.dir(),
            format!(
                "holds {} rows, not exactly the {} texts of shard {}/{}: give each shard an \
                 empty cache directory of its own",
                cache.len(),
                want.len(),
                spec.index,
                spec.count
            ),
        ));
    }
    let manifest = ShardManifest {
        format: FORMAT.into(),
        shard: spec.index,
        of: spec.count,
        start: range.start,
        end: range.end,
        corpus_texts: all.len(),
        corpus_digest: digest(all.iter().map(|t| text_key(t))),
        keys_digest: digest(want.into_iter()),
    };
    let json = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
    crate::error::write_atomic(cache.dir().join("shard.json"), &json)
}

/// A shard's cache directory under `root` (`root/<fingerprint>/` with a `shard.json`).
fn shard_dir(root: &Path) -> Result<PathBuf> {
    let entries = std::fs::read_dir(root).map_err(|e| Error::io(root, e))?;
    let dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("shard.json").is_file())
        .collect();
    match dirs.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::invalid(
            root,
            "holds no finished shard (no <fingerprint>/shard.json): did its `glossa teacher \
             encode --shard` run finish?",
        )),
        _ => Err(Error::invalid(root, "holds shards of several teachers")),
    }
}

struct Shard {
    dir: PathBuf,
    manifest: ShardManifest,
    cache: LabelCache,
}

fn open_shard(root: &Path) -> Result<(Shard, String, String)> {
    let dir = shard_dir(root)?;
    let manifest: ShardManifest = crate::error::read_json(dir.join("shard.json"))?;
    let (model, fingerprint, dim) = LabelCache::identity(&dir)?;
    // Opening verifies every row against its checksum.
    let cache = LabelCache::open(dir.parent().unwrap(), &model, &fingerprint, dim)?;
    let keys = cache.keys();
    if manifest.format != FORMAT || digest(keys.iter().copied()) != manifest.keys_digest {
        return Err(Error::invalid(
            dir.join("shard.json"),
            "the cache's rows are not the ones this shard recorded (changed after it finished)",
        ));
    }
    Ok((
        Shard {
            dir,
            manifest,
            cache,
        },
        model,
        fingerprint,
    ))
}

/// Names a shard given twice from the manifests alone, before its cache is opened a second time
/// (the cache's lock would refuse that, less helpfully).
fn refuse_shards_given_twice(shard_roots: &[PathBuf]) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for root in shard_roots {
        let path = shard_dir(root)?.join("shard.json");
        let m: ShardManifest = crate::error::read_json(&path)?;
        if !seen.insert(m.shard) {
            return Err(Error::invalid(
                path,
                format!("shard {}/{} is given twice", m.shard, m.of),
            ));
        }
    }
    Ok(())
}

/// Verifies shard caches (checksums, one teacher, one corpus, every shard once, no overlap or
/// gap) and appends their rows, in shard order, to the label cache under `out_root`. Returns
/// the merged cache.
pub fn merge(shard_roots: &[PathBuf], out_root: &Path) -> Result<LabelCache> {
    refuse_shards_given_twice(shard_roots)?;
    let mut shards = Vec::new();
    let mut teacher: Option<(String, String)> = None;
    for root in shard_roots {
        let (shard, model, fingerprint) = open_shard(root)?;
        match &teacher {
            Some((m, f)) if (m, f) != (&model, &fingerprint) => {
                return Err(Error::invalid(
                    &shard.dir,
                    format!("labelled by {model} ({fingerprint}), the other shards by {m} ({f})"),
                ))
            }
            _ => teacher = Some((model, fingerprint)),
        }
        shards.push(shard);
    }
    let Some((model, fingerprint)) = teacher else {
        return Err(Error::msg("no shard caches given to merge"));
    };
    shards.sort_by_key(|s| s.manifest.shard);
    check_tiling(&shards)?;
    let dim = shards[0].cache.dim();
    let mut out = LabelCache::open(out_root, &model, &fingerprint, dim)?;
    for shard in &shards {
        let keys = shard.cache.keys();
        let data: Vec<f32> = (0..keys.len())
            .flat_map(|r| shard.cache.vector(r).iter().copied())
            .collect();
        if !keys.is_empty() {
            out.append_keyed(&keys, &crate::Embeddings::new(dim, data))?;
        }
    }
    Ok(out)
}

/// Every shard of one corpus once, their slices end to end, no text in two of them.
fn check_tiling(shards: &[Shard]) -> Result<()> {
    let first = &shards[0].manifest;
    let mut next_start = 0;
    let mut seen = HashSet::new();
    for (i, shard) in shards.iter().enumerate() {
        let m = &shard.manifest;
        let here = shard.dir.join("shard.json");
        if m.of != first.of || m.corpus_digest != first.corpus_digest {
            return Err(Error::invalid(
                here,
                format!(
                    "shard {}/{} of another corpus or split than shard {}/{}",
                    m.shard, m.of, first.shard, first.of
                ),
            ));
        }
        if m.shard != i + 1 {
            let what = if m.shard < i + 1 {
                "given twice"
            } else {
                "missing"
            };
            let which = if m.shard < i + 1 { m.shard } else { i + 1 };
            return Err(Error::invalid(
                here,
                format!("shard {which}/{} is {what}", m.of),
            ));
        }
        if m.start != next_start {
            return Err(Error::invalid(
                here,
                format!(
                    "starts at text {}, not {next_start}: a gap or an overlap",
                    m.start
                ),
            ));
        }
        if shard.cache.keys().iter().any(|k| !seen.insert(*k)) {
            return Err(Error::invalid(here, "holds a text another shard holds"));
        }
        next_start = m.end;
    }
    if shards.len() != first.of || next_start != first.corpus_texts {
        return Err(Error::msg(format!(
            "{} of {} shards given, covering {next_start} of {} texts: shard {}/{} is missing",
            shards.len(),
            first.of,
            first.corpus_texts,
            shards.len() + 1,
            first.of
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_whole_chunks_end_to_end() {
        let spec = |index, count| ShardSpec { index, count };
        assert_eq!(slice(700, spec(1, 2), 256), 0..256);
        assert_eq!(slice(700, spec(2, 2), 256), 256..700);
        let covered: Vec<usize> = (1..=5).flat_map(|k| slice(1000, spec(k, 5), 100)).collect();
        assert_eq!(covered, (0..1000).collect::<Vec<_>>());
        // More shards than chunks: some are empty, none overlaps.
        assert_eq!(slice(10, spec(1, 3), 256), 0..0);
        assert_eq!(slice(10, spec(3, 3), 256), 0..10);
        assert_eq!("3/8".parse::<ShardSpec>(), Ok(spec(3, 8)));
        for bad in ["0/2", "3/2", "1", "a/b"] {
            assert!(
                bad.parse::<ShardSpec>().unwrap_err().contains("K/N"),
                "{bad}"
            );
        }
    }
}
