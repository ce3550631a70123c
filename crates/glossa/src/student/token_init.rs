//! Model2Vec-style initialisation of the static token student: every vocabulary token goes
//! through the teacher on its own, the vectors are centred and reduced by PCA to the student's
//! width, and each row is weighted by smooth inverse frequency (SIF), so that tokens every
//! sentence has ("the", ",", "▁") weigh little in a mean.
//!
//! The teacher's pass over the tokens happens in the pipeline (it goes through the label
//! cache); this module turns the token vectors into a student.

use rayon::prelude::*;
use tokenizers::Tokenizer;

use super::TableStudent;
use crate::Result;

/// The text the teacher reads for each token id: the token decoded on its own (so
/// SentencePiece's `▁Hund` reads as `Hund`), or `None` for special tokens and tokens that
/// decode to nothing. Those keep a zero row.
pub fn token_texts(tokenizer: &Tokenizer) -> Vec<Option<String>> {
    let n = tokenizer.get_vocab_size(true) as u32;
    let special: std::collections::HashSet<u32> = tokenizer
        .get_added_tokens_decoder()
        .iter()
        .filter(|(_, t)| t.special)
        .map(|(&id, _)| id)
        .collect();
    (0..n)
        .into_par_iter()
        .map(|id| {
            if special.contains(&id) {
                return None;
            }
            let text = tokenizer.decode(&[id], true).ok()?;
            let text = text.trim();
            (!text.is_empty()).then(|| text.to_string())
        })
        .collect()
}

/// How often each token id occurs in `texts` (tokenized as the student will tokenize them).
pub fn token_counts<'a>(
    tokenizer: &Tokenizer,
    texts: impl IntoParallelIterator<Item = &'a str>,
) -> Vec<u64> {
    let n = tokenizer.get_vocab_size(true);
    // Count what the student will see: no padding tokens, no truncation.
    let mut tokenizer = tokenizer.clone();
    tokenizer.with_padding(None);
    let _ = tokenizer.with_truncation(None);
    let tokenizer = &tokenizer;
    texts
        .into_par_iter()
        .fold(
            || vec![0u64; n],
            |mut counts, text| {
                if let Ok(encoding) = tokenizer.encode_fast(text, false) {
                    for &id in encoding.get_ids() {
                        if let Some(c) = counts.get_mut(id as usize) {
                            *c += 1;
                        }
                    }
                }
                counts
            },
        )
        .reduce(
            || vec![0u64; n],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        )
}

/// What [`keep_most_used`] kept.
pub struct Kept {
    /// Tokens with text that occur in the counted texts at all.
    pub used: usize,
}

/// Keeps the text of the `max` most counted tokens (ties: lower id first) and clears the rest,
/// including every token never counted.
pub fn keep_most_used(texts: &mut [Option<String>], counts: &[u64], max: usize) -> Kept {
    let mut used: Vec<usize> = (0..texts.len())
        .filter(|&i| texts[i].is_some() && counts.get(i).copied().unwrap_or(0) > 0)
        .collect();
    let n_used = used.len();
    used.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(a.cmp(&b)));
    let mut keep = vec![false; texts.len()];
    used.iter().take(max).for_each(|&i| keep[i] = true);
    texts
        .iter_mut()
        .zip(keep)
        .filter(|(_, k)| !k)
        .for_each(|(t, _)| *t = None);
    Kept { used: n_used }
}

/// SIF weights a / (a + p(token)), p estimated from `counts` (a token never seen gets 1).
pub fn sif_weights(counts: &[u64], a: f64) -> Vec<f32> {
    let total = counts.iter().sum::<u64>().max(1) as f64;
    counts
        .iter()
        .map(|&c| (a / (a + c as f64 / total)) as f32)
        .collect()
}

/// The principal axes of `rows` (each `d` wide): their mean and the top `k` eigenvectors of
/// the covariance, as a k×d row-major matrix (one axis per row, largest variance first).
pub fn principal_axes(rows: &[&[f32]], d: usize, k: usize) -> (Vec<f32>, Vec<f32>) {
    let n = rows.len().max(1) as f64;
    let mut mean = vec![0f64; d];
    for r in rows {
        mean.iter_mut().zip(*r).for_each(|(m, &x)| *m += x as f64);
    }
    mean.iter_mut().for_each(|m| *m /= n);
    // Covariance, accumulated in f64 per thread over chunks of rows.
    let cov = rows
        .par_chunks(1024)
        .map(|chunk| {
            let mut c = vec![0f64; d * d];
            let mut x = vec![0f64; d];
            for r in chunk {
                x.iter_mut()
                    .zip(*r)
                    .zip(&mean)
                    .for_each(|((x, &v), m)| *x = v as f64 - m);
                for i in 0..d {
                    let xi = x[i];
                    let row = &mut c[i * d..(i + 1) * d];
                    for j in i..d {
                        row[j] += xi * x[j];
                    }
                }
            }
            c
        })
        .reduce(
            || vec![0f64; d * d],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let mut cov = cov;
    for i in 0..d {
        for j in 0..i {
            cov[i * d + j] = cov[j * d + i];
        }
    }
    cov.iter_mut().for_each(|c| *c /= n);
    let (values, vectors) = crate::linalg::symmetric_eigen(&cov, d);
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let mut axes = Vec::with_capacity(k * d);
    for &col in order.iter().take(k) {
        axes.extend((0..d).map(|row| vectors[row * d + col] as f32));
    }
    (mean.into_iter().map(|m| m as f32).collect(), axes)
}

/// Builds the static student from per-token teacher vectors (`None`: no vector, zero row).
///
/// Rows are the centred teacher vectors, reduced to `dim` by PCA when `dim` is narrower than
/// the teacher (then the projection back to the teacher's space starts as the PCA axes, so
/// cosines between pooled vectors are those of the reduced space), times the SIF weights.
pub fn build_static(
    tokenizer: Tokenizer,
    vectors: &[Option<&[f32]>],
    teacher_dim: usize,
    dim: usize,
    weights: &[f32],
) -> Result<TableStudent> {
    let present: Vec<&[f32]> = vectors.iter().flatten().copied().collect();
    let dim = dim.min(teacher_dim);
    let (mean, axes) = principal_axes(&present, teacher_dim, dim);
    let reduce = dim < teacher_dim;
    let mut table = vec![0f32; vectors.len() * dim];
    table
        .par_chunks_mut(dim)
        .zip(vectors.par_iter())
        .zip(weights.par_iter())
        .for_each(|((row, v), &w)| {
            let Some(v) = v else { return };
            let centred: Vec<f32> = v.iter().zip(&mean).map(|(x, m)| x - m).collect();
            if reduce {
                for (r, axis) in row.iter_mut().zip(axes.chunks_exact(teacher_dim)) {
                    *r = w * crate::encoder::dot(&centred, axis);
                }
            } else {
                row.iter_mut().zip(&centred).for_each(|(r, c)| *r = w * c);
            }
        });
    // The axes are orthonormal rows: as the dim×teacher_dim projection they map the reduced
    // space back into the teacher's isometrically.
    let projection = reduce.then_some(axes);
    TableStudent::from_tokenizer(tokenizer, dim, teacher_dim, table, projection)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A word-level tokenizer over a handful of words, built in memory.
    pub(crate) fn word_tokenizer(words: &[&str]) -> Tokenizer {
        let vocab: serde_json::Map<String, serde_json::Value> = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.to_string(), serde_json::json!(i)))
            .collect();
        let json = serde_json::json!({
            "version": "1.0",
            "truncation": null,
            "padding": {"strategy": {"Fixed": 128}, "direction": "Right", "pad_to_multiple_of": null,
                        "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"},
            "added_tokens": [
                {"id": 0, "content": "[PAD]", "single_word": false, "lstrip": false, "rstrip": false,
                 "normalized": false, "special": true},
                {"id": 1, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false,
                 "normalized": false, "special": true}
            ],
            "normalizer": {"type": "Lowercase"},
            "pre_tokenizer": {"type": "Whitespace"},
            "post_processor": null,
            "decoder": null,
            "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
        });
        Tokenizer::from_bytes(json.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn special_tokens_have_no_text_and_counts_follow_the_tokenizer() {
        let t = word_tokenizer(&["[PAD]", "[UNK]", "the", "cat", "dog"]);
        let texts = token_texts(&t);
        assert_eq!(
            texts,
            vec![
                None,
                None,
                Some("the".into()),
                Some("cat".into()),
                Some("dog".into())
            ]
        );
        let counts = token_counts(&t, vec!["The cat", "the dog", "the zebra"]);
        assert_eq!(counts, vec![0, 1, 3, 1, 1]);
        let mut kept = texts.clone();
        assert_eq!(keep_most_used(&mut kept, &counts, 2).used, 3);
        assert_eq!(
            kept,
            vec![None, None, Some("the".into()), Some("cat".into()), None]
        );
        let w = sif_weights(&counts, 0.1);
        assert!(w[2] < w[3] && w[3] == w[4] && w[0] == 1.0, "{w:?}");
    }

    #[test]
    fn principal_axes_find_the_direction_of_largest_variance() {
        // Points spread along (1, 1, 0)/√2 with a little noise on the other axes.
        let mut rng = crate::rng::Rng::new(5);
        let data: Vec<Vec<f32>> = (0..500)
            .map(|_| {
                let t = rng.normal() * 3.0;
                vec![
                    t + 0.1 * rng.normal() + 2.0,
                    t + 0.1 * rng.normal(),
                    0.3 * rng.normal(),
                ]
            })
            .collect();
        let rows: Vec<&[f32]> = data.iter().map(Vec::as_slice).collect();
        let (mean, axes) = principal_axes(&rows, 3, 2);
        assert!((mean[0] - 2.0).abs() < 0.4, "{mean:?}");
        let first = &axes[0..3];
        let along = (first[0] + first[1]).abs() / 2f32.sqrt();
        assert!(along > 0.999, "first axis {first:?}");
        let second = &axes[3..6];
        assert!(second[2].abs() > 0.99, "second axis {second:?}");
        assert!(crate::encoder::dot(first, second).abs() < 1e-5);
    }

    #[test]
    fn a_built_student_pools_weighted_centred_token_vectors() {
        let t = word_tokenizer(&["[PAD]", "[UNK]", "the", "cat", "dog"]);
        let v = [
            [0.0f32, 0.0],
            [0.0, 0.0],
            [1.0, 1.0],
            [3.0, 1.0],
            [1.0, 3.0],
        ];
        let vectors: Vec<Option<&[f32]>> = vec![None, None, Some(&v[2]), Some(&v[3]), Some(&v[4])];
        let weights = [1.0, 1.0, 0.5, 1.0, 1.0];
        let s = build_static(t, &vectors, 2, 2, &weights).unwrap();
        assert!(s.is_static());
        // Mean of the present vectors: (5/3, 5/3). "cat" row: (4/3, -2/3); "the": 0.5·(-2/3, -2/3).
        let got = s.embed("the cat");
        let want = [
            (4.0 / 3.0 - 1.0 / 3.0) / 2.0,
            (-2.0 / 3.0 - 1.0 / 3.0) / 2.0,
        ];
        assert!(
            (got[0] - want[0]).abs() < 1e-5 && (got[1] - want[1]).abs() < 1e-5,
            "{got:?}"
        );
        // Unknown words are dropped, not pooled into the [UNK] row.
        assert_eq!(s.embed("zebra"), vec![0.0, 0.0]);
        assert_eq!(s.embed("cat zebra"), s.embed("cat"));

        // Narrower than the teacher: rows are PCA coordinates and the projection maps back.
        let t = word_tokenizer(&["[PAD]", "[UNK]", "the", "cat", "dog"]);
        let s = build_static(t, &vectors, 2, 1, &[1.0; 5]).unwrap();
        assert_eq!((s.config.dim, s.config.output_dim), (1, 2));
        assert_eq!(s.embed("cat").len(), 2);
    }

    #[test]
    fn static_students_save_load_and_refuse_a_tokenizer_of_another_size() {
        let t = word_tokenizer(&["[PAD]", "[UNK]", "the", "cat", "dog"]);
        let v = [1.0f32, 2.0, 3.0, 4.0];
        let vectors: Vec<Option<&[f32]>> = vec![None, None, Some(&v[..2]), Some(&v[2..]), None];
        let s = build_static(t, &vectors, 2, 2, &[1.0; 5]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        s.save(dir.path()).unwrap();
        let back = TableStudent::load(dir.path()).unwrap();
        assert!(back.is_static());
        assert_eq!(back.embed("the cat dog"), s.embed("the cat dog"));
        for p in [super::super::Precision::F16, super::super::Precision::Int8] {
            let q = tempfile::tempdir().unwrap();
            s.save_as(q.path(), p).unwrap();
            let back = TableStudent::load(q.path()).unwrap();
            let cos = crate::encoder::cosine(&back.embed("cat"), &s.embed("cat"));
            assert!(cos > 0.999, "{p:?}: {cos}");
        }

        let other = word_tokenizer(&["[PAD]", "[UNK]", "the", "cat"]);
        other
            .save(
                dir.path().join(super::super::table_student::TOKENIZER_FILE),
                false,
            )
            .unwrap();
        let err = TableStudent::load(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("tokenizer.json") && err.contains("4 tokens") && err.contains("5 rows"),
            "{err}"
        );
        std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
        let err = TableStudent::load(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("tokenizer.json") && err.contains("missing"),
            "{err}"
        );
    }
}
