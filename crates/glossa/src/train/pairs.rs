//! Training examples from parallel pairs, and the transformations of the teacher's targets.

use std::collections::{BTreeMap, HashMap};

use crate::data::Pair;
use crate::rng::Rng;
use crate::train::{Dataset, Example};
use crate::Embeddings;

/// Training texts, targets and examples: each English text toward its own teacher vector, and
/// each translation toward the teacher vector of its English source (Reimers & Gurevych 2020);
/// and the parallel pairs the ranking term between the student's two sides reads, labelled or
/// not.
#[derive(Clone)]
pub struct TrainingData {
    pub texts: Vec<String>,
    pub targets: Vec<f32>,
    pub dim: usize,
    pub examples: Vec<Example>,
    pub per_language: BTreeMap<String, usize>,
    /// (English, translation) text ids of the pairs for the pair ranking term.
    pub pairs: Vec<(u32, u32)>,
}

impl TrainingData {
    pub fn assemble(
        english: &[String],
        english_targets: Vec<f32>,
        dim: usize,
        pairs: &BTreeMap<String, Vec<Pair>>,
        ranking: &BTreeMap<String, Vec<Pair>>,
    ) -> Self {
        let mut index: HashMap<String, u32> = HashMap::new();
        let mut texts: Vec<String> = Vec::new();
        let mut id_of = |text: &str, texts: &mut Vec<String>| -> u32 {
            *index.entry(text.to_string()).or_insert_with(|| {
                texts.push(text.to_string());
                texts.len() as u32 - 1
            })
        };
        let mut examples = Vec::new();
        let mut target_of: HashMap<&str, u32> = HashMap::new();
        for (i, en) in english.iter().enumerate() {
            target_of.insert(en.as_str(), i as u32);
            examples.push(Example {
                text: id_of(en, &mut texts),
                target: i as u32,
                weight: 1.0,
            });
        }
        let mut per_language = BTreeMap::from([("en".to_string(), english.len())]);
        for (lang, list) in pairs {
            let mut n = 0;
            for p in list {
                if let Some(&target) = target_of.get(p.en.as_str()) {
                    examples.push(Example {
                        text: id_of(&p.xx, &mut texts),
                        target,
                        weight: 1.0,
                    });
                    n += 1;
                }
            }
            per_language.insert(lang.clone(), n);
        }
        // Reimers & Gurevych train both terms for every pair: student(en) ≈ teacher(en) and
        // student(xx) ≈ teacher(en). Each English text is listed once, so it is weighted to give
        // the English term the same total weight as the translations.
        let translations = examples.len() - english.len();
        let english_weight = (translations as f32 / english.len().max(1) as f32).max(1.0);
        examples[..english.len()]
            .iter_mut()
            .for_each(|e| e.weight = english_weight);
        let ranking_pairs = ranking
            .values()
            .flatten()
            .map(|p| (id_of(&p.en, &mut texts), id_of(&p.xx, &mut texts)))
            .collect();
        TrainingData {
            texts,
            targets: english_targets,
            dim,
            examples,
            per_language,
            pairs: ranking_pairs,
        }
    }

    pub fn dataset(&self) -> Dataset<'_> {
        Dataset {
            texts: &self.texts,
            targets: &self.targets,
            dim: self.dim,
            examples: self.examples.clone(),
            objective: crate::train::Objective::Mse,
            pairs: &self.pairs,
        }
    }
}

/// The mean of the rows.
pub fn mean_row(x: &Embeddings) -> Vec<f32> {
    let mut mean = vec![0.0f32; x.dim()];
    for row in x.rows() {
        crate::kernels::add(&mut mean, row);
    }
    let inv = 1.0 / x.len().max(1) as f32;
    mean.iter_mut().for_each(|m| *m *= inv);
    mean
}

/// Subtracts `mean` from every row and renormalises it.
pub fn center_rows(x: &mut Embeddings, mean: &[f32]) {
    for i in 0..x.len() {
        let row = x.row_mut(i);
        crate::kernels::axpy(row, -1.0, mean);
        crate::encoder::normalize(row);
    }
}

/// Random unit vectors: the targets of the control, which shows what string overlap alone gives.
pub fn random_unit_targets(rows: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut v: Vec<f32> = (0..rows * dim).map(|_| rng.normal()).collect();
    v.chunks_mut(dim).for_each(crate::encoder::normalize);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translations_target_their_english_source() {
        let train = BTreeMap::from([(
            "de".to_string(),
            vec![
                Pair {
                    en: "Open".into(),
                    xx: "Öffnen".into(),
                },
                Pair {
                    en: "Skipped".into(),
                    xx: "Übersprungen".into(),
                },
            ],
        )]);
        let english = vec!["Open".to_string()];
        let data = TrainingData::assemble(&english, vec![1.0, 0.0], 2, &train, &BTreeMap::new());
        assert_eq!(data.texts, vec!["Open", "Öffnen"]);
        assert!(data.pairs.is_empty());
        assert_eq!(
            data.examples,
            vec![
                Example {
                    text: 0,
                    target: 0,
                    weight: 1.0
                },
                Example {
                    text: 1,
                    target: 0,
                    weight: 1.0
                }
            ]
        );
        assert_eq!(data.per_language["de"], 1);
    }

    #[test]
    fn every_ranking_pair_is_read_labelled_or_not_with_the_examples_text_ids() {
        let pair = |en: &str, xx: &str| Pair {
            en: en.into(),
            xx: xx.into(),
        };
        let train = BTreeMap::from([("de".to_string(), vec![pair("Open", "Öffnen")])]);
        let ranking = BTreeMap::from([
            (
                "de".to_string(),
                vec![pair("Open", "Öffnen"), pair("Skipped", "Übersprungen")],
            ),
            ("fr".to_string(), vec![pair("Open", "Ouvrir")]),
        ]);
        let english = vec!["Open".to_string()];
        let data = TrainingData::assemble(&english, vec![1.0, 0.0], 2, &train, &ranking);
        assert_eq!(
            data.texts,
            vec!["Open", "Öffnen", "Skipped", "Übersprungen", "Ouvrir"]
        );
        assert_eq!(data.pairs, vec![(0, 1), (2, 3), (0, 4)]);
        // The examples are those of the labelled pairs alone.
        assert_eq!(data.examples.len(), 2);
        assert_eq!(data.dataset().pairs, &data.pairs[..]);
    }
}
