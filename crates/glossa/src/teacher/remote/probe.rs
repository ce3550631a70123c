//! The fixed probe set an endpoint embeds before it is trusted, and the comparison with the
//! teacher's own vectors of it.

use crate::encoder::{cosine, dot};
use crate::Embeddings;

/// Short and long, several languages and scripts, a number: texts whose vectors tell models,
/// prompts and poolings apart.
pub const PROBES: &[&str] = &[
    "glossa probe: The cat sat on the mat.",
    "glossa probe: Open the document in a new window",
    "glossa probe: Das Dokument in einem neuen Fenster öffnen",
    "glossa probe: Le fichier est introuvable",
    "glossa probe: 日本語の文章です",
    "glossa probe: Сохранить изменения перед закрытием",
    "glossa probe: The quarterly report lists 17 new offices across three continents, each \
     with its own budget, staff and plans for the coming year.",
    "glossa probe: ok",
];

/// Norms may differ this much (relative) between two runs of one model.
const NORM_TOLERANCE: f32 = 1e-3;

/// `None` when `found` matches `reference` row by row (cosine at least `min_cosine`, the same
/// length); otherwise what differs, with the lowest cosine.
pub fn mismatch(reference: &Embeddings, found: &Embeddings, min_cosine: f32) -> Option<String> {
    if reference.dim() != found.dim() {
        return Some(format!(
            "its vectors have {} dimensions, the teacher's {}",
            found.dim(),
            reference.dim()
        ));
    }
    let (worst, at) = (0..reference.len())
        .map(|i| (cosine(reference.row(i), found.row(i)), i))
        .fold((f32::INFINITY, 0), |a, b| if b.0 < a.0 { b } else { a });
    if worst < min_cosine {
        return Some(format!(
            "cosine {worst:.6} with the teacher's vector of probe {at} ({:?}), below {min_cosine}: \
             another model, revision or prompt",
            PROBES.get(at).unwrap_or(&"?")
        ));
    }
    let norm = |e: &Embeddings, i| dot(e.row(i), e.row(i)).sqrt();
    (0..reference.len())
        .map(|i| (norm(reference, i), norm(found, i), i))
        .find(|(a, b, _)| (a - b).abs() > NORM_TOLERANCE * a.max(*b))
        .map(|(a, b, i)| {
            format!(
                "the same directions (cosine {worst:.6}) but another length on probe {i} ({b:.4} \
                 against the teacher's {a:.4}): another normalisation"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_direction_or_length_is_named() {
        let a = Embeddings::new(2, vec![1.0, 0.0, 0.0, 1.0]);
        assert_eq!(mismatch(&a, &a.clone(), 0.9999), None);
        let turned = Embeddings::new(2, vec![1.0, 0.0, 0.6, 0.8]);
        let why = mismatch(&a, &turned, 0.9999).unwrap();
        assert!(
            why.contains("cosine 0.800000") && why.contains("probe 1"),
            "{why}"
        );
        let longer = Embeddings::new(2, vec![2.0, 0.0, 0.0, 2.0]);
        let why = mismatch(&a, &longer, 0.9999).unwrap();
        assert!(why.contains("normalisation"), "{why}");
        let wider = Embeddings::new(3, vec![0.0; 6]);
        assert!(mismatch(&a, &wider, 0.9).unwrap().contains("3 dimensions"));
    }
}
