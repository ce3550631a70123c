//! Size as a setting (`glossa shrink`): a table student made to fit a size budget on disk by,
//! in this order, narrowing its output with a PCA fitted on the student's own vectors of given
//! texts (`--dim`), pruning the rows that carry least, and storing the table as int8 (or int4,
//! `--precision int4`: half the bytes a row).
//!
//! What a pruned row reads as:
//! - a vocabulary word that goes is an unknown word from then on: its character n-grams, which
//!   it always had, carry it (exactly what happens to a word that never was in the vocabulary);
//! - a hash bucket that goes maps to one shared row, zero when saved, so it still counts in the
//!   mean: the vector is the unpruned one with that bucket's row set to zero.
//!
//! A static (Model2Vec-style) student's rows are its tokenizer's vocabulary: it is narrowed and
//! quantized, never pruned.

use nalgebra::{DMatrix, SymmetricEigen};
use rayon::prelude::*;

use super::table::Precision;
use super::TableStudent;
use crate::{Encoder, Error, Result};

/// Bytes per table row on disk: the values and, for int8 and int4, one f32 scale.
fn row_bytes(dim: usize, precision: Precision) -> u64 {
    (precision.row_bytes(dim) + if precision.has_row_scales() { 4 } else { 0 }) as u64
}

/// Room left for `student.json`, the safetensors header and alignment (measured ~0.6 KB; the
/// budget loop below corrects any excess).
const OVERHEAD: u64 = 4096;

/// At most this many texts (an even sample of them) fit the PCA.
const PCA_TEXTS: usize = 50_000;

/// How rows are ranked for pruning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneBy {
    /// L2 norm of the row (after the PCA when there is one): rows training barely moved from
    /// their small random start go first.
    Norm,
    /// Norm × (1 + times the row is used by the given texts' features).
    Use,
}

impl std::str::FromStr for PruneBy {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "norm" => Ok(PruneBy::Norm),
            "use" => Ok(PruneBy::Use),
            other => Err(format!(
                "unknown pruning order '{other}' (expected norm or use)"
            )),
        }
    }
}

/// A PCA of a student's output vectors.
pub struct Pca {
    /// Mean output vector (length d).
    pub mean: Vec<f32>,
    /// The top k principal axes as columns of a d × k row-major matrix.
    pub axes: Vec<f32>,
    pub k: usize,
    /// Share of the variance the k axes keep.
    pub kept_variance: f32,
}

/// Fits a PCA with `k` axes on `vectors` (rows of `d`), through nalgebra's symmetric
/// eigen-decomposition of their covariance.
pub fn fit_pca(vectors: &[f32], d: usize, k: usize) -> Result<Pca> {
    let n = vectors.len() / d.max(1);
    if k == 0 || k > d || n < 2 {
        return Err(Error::msg(format!(
            "a PCA to {k} dimensions needs 0 < k <= {d} and at least 2 texts (got {n})"
        )));
    }
    let x = DMatrix::from_row_slice(n, d, vectors).map(f64::from);
    let mean = x.row_mean();
    let centred = DMatrix::from_fn(n, d, |i, j| x[(i, j)] - mean[j]);
    let covariance = centred.tr_mul(&centred) / (n - 1) as f64;
    let eigen = SymmetricEigen::new(covariance);
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
    let total: f64 = eigen.eigenvalues.iter().map(|v| v.max(0.0)).sum();
    let kept: f64 = order[..k]
        .iter()
        .map(|&i| eigen.eigenvalues[i].max(0.0))
        .sum();
    let mut axes = vec![0f32; d * k];
    for (c, &i) in order[..k].iter().enumerate() {
        for r in 0..d {
            axes[r * k + c] = eigen.eigenvectors[(r, i)] as f32;
        }
    }
    Ok(Pca {
        mean: mean.iter().map(|&v| v as f32).collect(),
        axes,
        k,
        kept_variance: if total > 0.0 {
            (kept / total) as f32
        } else {
            1.0
        },
    })
}

/// Every table row carried into the PCA space: row · projection · axes − mean · axes. Mean
/// pooling is linear, so a text's new vector is its old one centred and projected (a text with
/// no rows stays the zero vector).
pub fn project_rows(student: &TableStudent, pca: &Pca) -> Vec<f32> {
    let (dim, out, k) = (student.config.dim, student.config.output_dim, pca.k);
    let shift: Vec<f32> = (0..k)
        .map(|c| (0..out).map(|r| pca.mean[r] * pca.axes[r * k + c]).sum())
        .collect();
    let mut rows = vec![0f32; student.rows() * k];
    rows.par_chunks_mut(k).enumerate().for_each_init(
        || (vec![0f32; dim], vec![0f32; out]),
        |(hidden, output), (r, row)| {
            hidden.fill(0.0);
            student.table.add_row(r, dim, hidden);
            let output: &[f32] = match &student.projection {
                None => hidden,
                Some(p) => {
                    output.fill(0.0);
                    for (i, &h) in hidden.iter().enumerate() {
                        crate::kernels::axpy(output, h, &p[i * out..(i + 1) * out]);
                    }
                    output
                }
            };
            for (i, &v) in output.iter().enumerate() {
                crate::kernels::axpy(row, v, &pca.axes[i * k..(i + 1) * k]);
            }
            row.iter_mut().zip(&shift).for_each(|(x, s)| *x -= s);
        },
    );
    rows
}

/// How often each table row is a feature of `texts`.
pub fn use_counts(student: &TableStudent, texts: &[&str]) -> Vec<u64> {
    let mut counts = vec![0u64; student.rows()];
    let mut features = Vec::new();
    for text in texts {
        features.clear();
        student.features(text, &mut features);
        for &f in &features {
            counts[f as usize] += 1;
        }
    }
    counts
}

/// One score per row of `table` (rows of `dim`): the higher, the longer it is kept.
pub fn row_scores(table: &[f32], dim: usize, counts: Option<&[u64]>) -> Vec<f32> {
    table
        .par_chunks(dim.max(1))
        .enumerate()
        .map(|(r, row)| {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            counts.map_or(norm, |c| norm * (1.0 + c[r] as f32))
        })
        .collect()
}

/// Which rows stay.
struct Keep {
    rows: Vec<bool>,
    /// True when some bucket row goes (so a bucket map and the shared row are stored).
    pruned_buckets: bool,
}

/// The rows to keep so that the table fits `room` bytes at width `dim`: all of them when they
/// fit, else the best-scored rows that fit next to the bucket map and the shared row.
fn choose_rows(
    student: &TableStudent,
    scores: &[f32],
    (dim, precision): (usize, Precision),
    room: u64,
) -> Option<Keep> {
    let words = student.words();
    let cost =
        |r: usize| row_bytes(dim, precision) + words.get(r).map_or(0, |w| w.len() as u64 + 1);
    let all: u64 = (0..student.rows()).map(cost).sum::<u64>()
        + student.bucket_rows().map_or(0, |m| 4 * m.len() as u64);
    if all <= room {
        return Some(Keep {
            rows: vec![true; student.rows()],
            pruned_buckets: false,
        });
    }
    let fixed = 4 * student.config.buckets as u64 + row_bytes(dim, precision);
    let mut left = room.checked_sub(fixed)?;
    let mut order: Vec<usize> = (0..student.rows()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut rows = vec![false; student.rows()];
    for r in order {
        let c = cost(r);
        if c > left {
            break;
        }
        left -= c;
        rows[r] = true;
    }
    Some(Keep {
        rows,
        pruned_buckets: true,
    })
}

/// The smallest directory `shrink` can write at width `dim` and `precision`: every row pruned
/// but the shared one (a static student: its whole table, which is never pruned).
pub fn smallest_size(student: &TableStudent, dim: usize, precision: Precision) -> u64 {
    if student.is_static() {
        return OVERHEAD + student.rows() as u64 * row_bytes(dim, precision);
    }
    OVERHEAD + 4 * student.config.buckets as u64 + row_bytes(dim, precision)
}

/// The student keeping the rows `keep` of `table` (rows of `dim`, the student's row order).
fn pruned(
    student: &TableStudent,
    table: &[f32],
    dim: usize,
    projection: Option<(usize, Vec<f32>)>,
    keep: &Keep,
) -> Result<TableStudent> {
    if !keep.pruned_buckets {
        let map = student.bucket_rows().map(<[u32]>::to_vec);
        let words = student.words().to_vec();
        return student.reshaped(words, (dim, table.to_vec()), projection, map);
    }
    let n_words = student.words().len();
    let kept_words: Vec<usize> = (0..n_words).filter(|&w| keep.rows[w]).collect();
    let kept_buckets: Vec<usize> = (n_words..student.rows())
        .filter(|&r| keep.rows[r])
        .collect();
    let mut new_row = vec![u32::MAX; student.rows()];
    for (i, &r) in kept_words.iter().chain(&kept_buckets).enumerate() {
        new_row[r] = i as u32;
    }
    let shared = (kept_words.len() + kept_buckets.len()) as u32;
    let map: Vec<u32> = (0..student.config.buckets)
        .map(|b| match new_row[student.table_row(n_words + b)] {
            u32::MAX => shared,
            r => r,
        })
        .collect();
    let mut values = Vec::with_capacity((shared as usize + 1) * dim);
    for &r in kept_words.iter().chain(&kept_buckets) {
        values.extend_from_slice(&table[r * dim..(r + 1) * dim]);
    }
    values.extend(std::iter::repeat_n(0.0, dim));
    let words = kept_words
        .iter()
        .map(|&w| student.words()[w].clone())
        .collect();
    student.reshaped(words, (dim, values), projection, Some(map))
}

/// What `shrink` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ShrinkSummary {
    pub bytes: u64,
    pub dim: usize,
    pub words: usize,
    pub bucket_rows: usize,
    pub kept_variance: Option<f32>,
}

/// Settings of `shrink`.
pub struct ShrinkOptions<'a> {
    pub max_bytes: u64,
    /// Output width after the PCA (None: unchanged).
    pub dim: Option<usize>,
    pub prune_by: PruneBy,
    /// How the table is stored: int8 or int4 (f16 and f32 are accepted, and rarely fit).
    pub precision: Precision,
    /// Texts the PCA and `PruneBy::Use` are fitted on (dev or training texts, never test sets).
    pub texts: &'a [&'a str],
}

/// Writes `student` shrunk to fit `options.max_bytes` into `out` (at `options.precision`), or
/// refuses with the smallest size it could reach.
pub fn shrink(
    student: &TableStudent,
    options: &ShrinkOptions,
    out: &std::path::Path,
) -> Result<ShrinkSummary> {
    let (table, dim, projection, pca) = narrowed(student, options)?;
    let smallest = smallest_size(student, dim, options.precision);
    if options.max_bytes < smallest {
        return Err(Error::msg(format!(
            "cannot fit {} in {:.2} MB: the smallest reachable at width {dim} is {:.2} MB{}",
            student.name(),
            options.max_bytes as f64 / 1e6,
            smallest as f64 / 1e6,
            if student.is_static() {
                " (a static student's rows are its tokenizer's vocabulary and are not pruned: \
                 try a smaller --dim)"
            } else {
                " (the bucket map alone; a smaller --dim lowers it no further)"
            }
        )));
    }
    let counts = (options.prune_by == PruneBy::Use).then(|| use_counts(student, options.texts));
    let scores = row_scores(&table, dim, counts.as_deref());
    let mut room = options.max_bytes - OVERHEAD;
    for _ in 0..4 {
        let keep =
            choose_rows(student, &scores, (dim, options.precision), room).ok_or_else(|| {
                Error::msg(format!("cannot fit {} in {} bytes", student.name(), room))
            })?;
        if student.is_static() && keep.pruned_buckets {
            return Err(Error::msg(format!(
                "cannot fit the static student {} in {:.2} MB without pruning its vocabulary: \
                 the smallest reachable at width {dim} is {:.2} MB",
                student.name(),
                options.max_bytes as f64 / 1e6,
                smallest as f64 / 1e6
            )));
        }
        let small = pruned(student, &table, dim, projection.clone(), &keep)?;
        small.save_as(out, options.precision)?;
        let bytes = dir_size(out);
        if bytes <= options.max_bytes {
            return Ok(ShrinkSummary {
                bytes,
                dim: small.config.output_dim,
                words: small.words().len(),
                bucket_rows: small.table_buckets(),
                kept_variance: pca.as_ref().map(|p| p.kept_variance),
            });
        }
        room = room.saturating_sub(bytes - options.max_bytes + 1024);
    }
    Err(Error::msg(format!(
        "{} did not fit {} bytes after four tries",
        student.name(),
        options.max_bytes
    )))
}

/// The table to prune: the student's own rows (and projection), or its rows carried into the
/// PCA space when `options.dim` narrows it.
#[allow(clippy::type_complexity)]
fn narrowed(
    student: &TableStudent,
    options: &ShrinkOptions,
) -> Result<(Vec<f32>, usize, Option<(usize, Vec<f32>)>, Option<Pca>)> {
    let (dim, out) = (student.config.dim, student.config.output_dim);
    let Some(k) = options.dim.filter(|&k| k != out) else {
        let projection = student.projection.clone().map(|p| (out, p));
        return Ok((student.table.to_vec(), dim, projection, None));
    };
    if k > dim.min(out) {
        return Err(Error::msg(format!(
            "--dim {k} is not narrower than the student (table width {dim}, output {out})"
        )));
    }
    // An even sample: the covariance of 50,000 vectors is as good as that of millions.
    let step = options.texts.len().div_ceil(PCA_TEXTS).max(1);
    let sample: Vec<&str> = options.texts.iter().step_by(step).copied().collect();
    let vectors = student.encode(&sample)?;
    let pca = fit_pca(vectors.as_slice(), out, k)?;
    Ok((project_rows(student, &pca), k, None, Some(pca)))
}

/// Bytes of the files in `dir` (as `hub::ModelDir::size_on_disk` counts them).
fn dir_size(dir: &std::path::Path) -> u64 {
    crate::hub::ModelDir {
        name: String::new(),
        dir: dir.to_path_buf(),
    }
    .size_on_disk()
}

/// A size such as `64MB`, `1.5GB`, `500kB`, `32MiB` or a plain byte count (MB = 10^6 bytes, as
/// the reports print sizes).
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown size unit '{other}' in '{s}' (e.g. 64MB, 500kB, 1GiB)"
            ))
        }
    };
    let n: f64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 64MB)"))?;
    Ok((n * scale) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::student::table_student::build_vocab;
    use crate::student::{SubwordConfig, WordRules};

    fn lines() -> Vec<String> {
        crate::student::features::tests::multilingual_lines(20)
    }

    /// A saved-and-loaded student of width 12 over `lines`, with `buckets` hash rows.
    fn student(dir: &std::path::Path, buckets: usize) -> TableStudent {
        let config = SubwordConfig::new(12, 12, buckets, (3, 5), WordRules::new(true));
        let lines = lines();
        let words = build_vocab(
            lines.iter().map(String::as_str),
            WordRules::new(true),
            2,
            500,
        );
        TableStudent::new(config, words, 7)
            .unwrap()
            .save(dir)
            .unwrap();
        TableStudent::load(dir).unwrap()
    }

    #[test]
    fn pca_keeps_the_requested_width_and_orthonormal_axes() {
        let mut rng = crate::rng::Rng::new(3);
        // Variance mostly along the first two of six coordinates.
        let vectors: Vec<f32> = (0..400 * 6)
            .map(|i| rng.normal() * if i % 6 < 2 { 5.0 } else { 0.1 })
            .collect();
        let pca = fit_pca(&vectors, 6, 2).unwrap();
        assert_eq!((pca.k, pca.axes.len(), pca.mean.len()), (2, 12, 6));
        assert!(pca.kept_variance > 0.99, "{}", pca.kept_variance);
        for a in 0..2 {
            for b in 0..2 {
                let dot: f32 = (0..6)
                    .map(|r| pca.axes[r * 2 + a] * pca.axes[r * 2 + b])
                    .sum();
                let want = if a == b { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-4, "axes {a},{b}: {dot}");
            }
        }
        assert!(fit_pca(&vectors, 6, 7).is_err(), "k above d");
    }

    #[test]
    fn narrowed_student_outputs_the_centred_projection_of_the_old_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let s = student(dir.path(), 300);
        let lines = lines();
        let texts: Vec<&str> = lines.iter().map(String::as_str).collect();
        let pca = fit_pca(s.encode(&texts).unwrap().as_slice(), 12, 4).unwrap();
        let rows = project_rows(&s, &pca);
        let small = s
            .reshaped(s.words().to_vec(), (4, rows), None, None)
            .unwrap();
        assert_eq!(small.dim(), 4);
        for text in &texts[..20] {
            let mut features = Vec::new();
            s.features(text, &mut features);
            if features.is_empty() {
                assert_eq!(
                    small.embed(text),
                    vec![0.0; 4],
                    "no rows: still the zero vector"
                );
                continue;
            }
            let old = s.embed(text);
            let want: Vec<f32> = (0..4)
                .map(|c| {
                    (0..12)
                        .map(|r| (old[r] - pca.mean[r]) * pca.axes[r * 4 + c])
                        .sum()
                })
                .collect();
            for (a, b) in small.embed(text).iter().zip(&want) {
                assert!((a - b).abs() < 1e-4, "{text:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn pruned_students_fit_the_budget_and_keep_every_lookup_valid() {
        let dir = tempfile::tempdir().unwrap();
        let s = student(dir.path(), 2000);
        let lines = lines();
        let texts: Vec<&str> = lines.iter().map(String::as_str).collect();
        let full = tempfile::tempdir().unwrap();
        let options = |max_bytes| ShrinkOptions {
            max_bytes,
            dim: None,
            prune_by: PruneBy::Use,
            precision: Precision::Int8,
            texts: &texts,
        };
        let unpruned = shrink(&s, &options(u64::MAX), full.path()).unwrap();
        assert_eq!(
            unpruned.bucket_rows, 2000,
            "a budget that fits prunes nothing"
        );
        let budget = unpruned.bytes * 6 / 10;
        let out = tempfile::tempdir().unwrap();
        let summary = shrink(&s, &options(budget), out.path()).unwrap();
        assert!(summary.bytes <= budget && summary.bytes == dir_size(out.path()));
        let small = TableStudent::load(out.path()).unwrap();
        assert!(small.rows() < s.rows() && small.bucket_rows().is_some());
        let map = small.bucket_rows().unwrap();
        assert_eq!(map.len(), 2000);
        assert!(map.iter().all(|&r| (r as usize) < small.rows()));
        // The shared row of pruned buckets is zero, and every feature is a row of the table.
        let shared = *map.iter().max().unwrap() as usize;
        let mut row = vec![0f32; 12];
        small.table.add_row(shared, 12, &mut row);
        assert!(row.iter().all(|&v| v == 0.0));
        for text in &texts {
            let mut features = Vec::new();
            small.features(text, &mut features);
            assert!(features.iter().all(|&f| (f as usize) < small.rows()));
            let v = small.embed(text);
            assert!(v.iter().all(|x| x.is_finite()));
        }
        // Most of the vectors survive: cosine to the unpruned student's stays high on average.
        let mean_cos: f32 = texts
            .iter()
            .map(|t| crate::encoder::cosine(&small.embed(t), &s.embed(t)))
            .sum::<f32>()
            / texts.len() as f32;
        assert!(mean_cos > 0.5, "mean cosine {mean_cos}");
        // Shrinking a shrunk student again keeps its lookups valid too.
        let again = tempfile::tempdir().unwrap();
        let twice = shrink(&small, &options(budget * 8 / 10), again.path()).unwrap();
        assert!(twice.bytes <= budget * 8 / 10);
        let twice = TableStudent::load(again.path()).unwrap();
        assert!(twice.embed(texts[0]).iter().all(|x| x.is_finite()));
    }

    #[test]
    fn a_pruned_student_exports_to_fasttext_with_its_own_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let s = student(dir.path(), 2000);
        let lines = lines();
        let texts: Vec<&str> = lines.iter().map(String::as_str).collect();
        let out = tempfile::tempdir().unwrap();
        let options = ShrinkOptions {
            max_bytes: 25_000,
            dim: None,
            prune_by: PruneBy::Use,
            precision: Precision::Int8,
            texts: &texts,
        };
        shrink(&s, &options, out.path()).unwrap();
        let small = TableStudent::load(out.path()).unwrap();
        assert!(small.bucket_rows().is_some());
        let bin = out.path().join("m.bin");
        crate::interop::fasttext::write_bin(&small, &bin).unwrap();
        let m = crate::interop::fasttext::read_bin(&bin).unwrap();
        for text in [
            "the cat sat on the mat",
            "ÉTÉ naïve",
            "Qu'est-ce que c'est ?",
        ] {
            let line = crate::interop::fasttext::FasttextText::new(&small).line(text);
            let cos = crate::encoder::cosine(&m.sentence_vector(&line), &small.embed(text));
            assert!(cos > 1.0 - 1e-4, "{text}: cosine {cos}");
        }
    }

    #[test]
    fn an_inconsistent_pruned_student_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let s = student(dir.path(), 2000);
        let out = tempfile::tempdir().unwrap();
        let options = ShrinkOptions {
            max_bytes: 25_000,
            dim: None,
            prune_by: PruneBy::Norm,
            precision: Precision::Int8,
            texts: &[],
        };
        shrink(&s, &options, out.path()).unwrap();
        let json_path = out.path().join("student.json");
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
        assert_eq!(json["format"], "glossa-subword/2");
        let edit = |f: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
            let mut j = json.as_object().unwrap().clone();
            j.remove("checksum");
            f(&mut j);
            std::fs::write(&json_path, serde_json::to_vec(&j).unwrap()).unwrap();
            TableStudent::load(out.path()).err().unwrap().to_string()
        };
        let err = edit(&|j| {
            j.remove("table_buckets");
        });
        assert!(
            err.contains("student.json") && err.contains("table_buckets"),
            "{err}"
        );
        let err = edit(&|j| {
            let n = j["table_buckets"].as_u64().unwrap();
            j.insert("table_buckets".into(), (n - 1).into());
        });
        assert!(
            err.contains("model.safetensors") && err.contains("shape"),
            "{err}"
        );
    }

    #[test]
    fn impossible_budgets_are_refused_with_the_smallest_reachable_size() {
        let dir = tempfile::tempdir().unwrap();
        let s = student(dir.path(), 2000);
        let out = tempfile::tempdir().unwrap();
        let smallest = smallest_size(&s, 12, Precision::Int8);
        let err = shrink(
            &s,
            &ShrinkOptions {
                max_bytes: smallest - 1,
                dim: None,
                prune_by: PruneBy::Norm,
                precision: Precision::Int8,
                texts: &[],
            },
            out.path(),
        )
        .unwrap_err()
        .to_string();
        let mb = format!("{:.2} MB", smallest as f64 / 1e6);
        assert!(
            err.contains("smallest reachable") && err.contains(&mb),
            "{err}"
        );
        assert!(!out.path().join("student.json").exists());
    }

    #[test]
    fn int4_keeps_more_rows_than_int8_in_the_same_budget() {
        let dir = tempfile::tempdir().unwrap();
        let s = student(dir.path(), 300);
        let texts = lines();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let budget = smallest_size(&s, 12, Precision::Int8) + 6_000;
        let shrunk = |precision| {
            let out = tempfile::tempdir().unwrap();
            let options = ShrinkOptions {
                max_bytes: budget,
                dim: None,
                prune_by: PruneBy::Use,
                precision,
                texts: &refs,
            };
            let summary = shrink(&s, &options, out.path()).unwrap();
            assert!(summary.bytes <= budget, "{precision:?}");
            let back = TableStudent::load(out.path()).unwrap();
            assert_eq!(back.table.precision(), precision);
            summary.words + summary.bucket_rows
        };
        let (int8, int4) = (shrunk(Precision::Int8), shrunk(Precision::Int4));
        assert!(int4 > int8, "int4 kept {int4} rows, int8 {int8}");
    }

    #[test]
    fn sizes_parse_with_their_units() {
        assert_eq!(parse_size("64MB"), Ok(64_000_000));
        assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_size("32MiB"), Ok(32 << 20));
        assert_eq!(parse_size("500kB"), Ok(500_000));
        assert_eq!(parse_size("1234"), Ok(1234));
        assert!(parse_size("64 parsecs")
            .unwrap_err()
            .contains("unknown size unit"));
        assert!(parse_size("MB").is_err());
    }
}
