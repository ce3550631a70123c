//! Training the Transformer student: MSE to the teacher's vectors through candle's autodiff,
//! dense AdamW, linear warm-up then linear decay of the learning rate.
//!
//! The data are the subword student's ([`crate::train::Dataset`]: each English text toward its
//! teacher vector, each translation toward its English source's), with the same per-example
//! weights. Every text is tokenized once, up front. No checkpoints: a run this short (minutes
//! to an hour) is restarted rather than resumed.

use std::time::Instant;

use candle_core::Tensor;
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};

use crate::hub::ModelDir;
use crate::rng::Rng;
use crate::student::transformer::{TransformerShape, TransformerStudent};
use crate::train::{Dataset, EpochLog, Objective, OnStep};
use crate::{Error, Result};

/// How the student starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// The teacher's embeddings and the layers in `layers` (DistilBERT style).
    Teacher,
    /// Random weights of the teacher's vocabulary and tokenizer (`hidden_size` may be smaller).
    Scratch,
}

/// The `[transformer]` section: shape, initialisation and training of a Transformer student
/// (used when `[student] kind = "transformer"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransformerConfig {
    pub init: Init,
    /// Teacher layers to copy, in order (init = "teacher"); empty: every other layer, 0, 2, 4…
    pub layers: Vec<usize>,
    /// Layers of a scratch student; default half the teacher's.
    pub num_layers: Option<usize>,
    /// Hidden size of a scratch student (a projection to the teacher's width is added); default
    /// the teacher's. A teacher-initialised student has the teacher's width.
    pub hidden_size: Option<usize>,
    pub num_heads: Option<usize>,
    pub intermediate_size: Option<usize>,
    /// Texts are truncated to this many tokens (training and use).
    pub max_tokens: usize,
    /// Train on at most this many examples, a seeded random subset (0: all).
    pub max_examples: usize,
    /// Dev loss (after each epoch) on at most this many dev examples (0: all).
    pub dev_examples: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    /// Fraction of the steps spent warming the learning rate up; it then decays to zero.
    pub warmup: f64,
    pub weight_decay: f64,
    pub seed: u64,
}

impl Default for TransformerConfig {
    fn default() -> Self {
        TransformerConfig {
            init: Init::Teacher,
            layers: Vec::new(),
            num_layers: None,
            hidden_size: None,
            num_heads: None,
            intermediate_size: None,
            max_tokens: 128,
            max_examples: 0,
            dev_examples: 1000,
            epochs: 1,
            batch_size: 32,
            lr: 1e-4,
            warmup: 0.1,
            weight_decay: 0.01,
            seed: 42,
        }
    }
}

/// A fresh student for `teacher` as `cfg` describes it.
pub fn new_student(teacher: &ModelDir, cfg: &TransformerConfig) -> Result<TransformerStudent> {
    let config_path = teacher.required("config.json")?;
    let tc = crate::bert::parse_config(&crate::error::read_to_string(&config_path)?, &config_path)?;
    let mut student = match cfg.init {
        Init::Teacher => {
            if cfg.hidden_size.is_some_and(|h| h != tc.hidden_size)
                || cfg.num_heads.is_some_and(|h| h != tc.num_attention_heads)
                || cfg
                    .intermediate_size
                    .is_some_and(|i| i != tc.intermediate_size)
            {
                return Err(Error::msg(
                    "[transformer] a student initialised from the teacher has the teacher's \
                     hidden_size, num_heads and intermediate_size; use init = \"scratch\" for \
                     other sizes",
                ));
            }
            let layers = if cfg.layers.is_empty() {
                (0..tc.num_hidden_layers).step_by(2).collect()
            } else {
                cfg.layers.clone()
            };
            TransformerStudent::from_teacher(teacher, &layers, cfg.max_tokens)?
        }
        Init::Scratch => {
            let hidden = cfg.hidden_size.unwrap_or(tc.hidden_size);
            let heads = cfg.num_heads.unwrap_or(tc.num_attention_heads);
            let model_type: serde_json::Value = crate::error::read_json(&config_path)?;
            let shape = TransformerShape {
                model_type: model_type["model_type"]
                    .as_str()
                    .unwrap_or("bert")
                    .to_string(),
                vocab_size: tc.vocab_size,
                hidden_size: hidden,
                num_layers: cfg.num_layers.unwrap_or(tc.num_hidden_layers.div_ceil(2)),
                num_heads: heads,
                intermediate_size: cfg.intermediate_size.unwrap_or(4 * hidden),
                max_position_embeddings: tc.max_position_embeddings,
                type_vocab_size: tc.type_vocab_size,
                layer_norm_eps: tc.layer_norm_eps,
                pad_token_id: tc.pad_token_id,
                position_offset: tc.position_offset,
                max_tokens: cfg.max_tokens.min(tc.max_tokens()),
                output_dim: tc.hidden_size,
            };
            let mut s =
                TransformerStudent::scratch(shape, &teacher.required("tokenizer.json")?, cfg.seed)?;
            s.teacher = teacher.name.clone();
            s
        }
    };
    student.teacher = teacher.name.clone();
    Ok(student)
}

fn learning_rate(cfg: &TransformerConfig, step: usize, total: usize) -> f64 {
    let warm = ((cfg.warmup * total as f64) as usize).max(1);
    if step < warm {
        cfg.lr * (step + 1) as f64 / warm as f64
    } else {
        cfg.lr * (total - step) as f64 / (total - warm).max(1) as f64
    }
}

/// Token ids of the texts of `examples` (indexed by text; other texts get none): a short run
/// on a subset must not tokenize the whole corpus.
fn tokenize_used(
    student: &TransformerStudent,
    data: &Dataset,
    examples: &[u32],
) -> Result<Vec<Vec<u32>>> {
    let mut used: Vec<u32> = examples
        .iter()
        .map(|&i| data.examples[i as usize].text)
        .collect();
    used.sort_unstable();
    used.dedup();
    let mut out = vec![Vec::new(); data.texts.len()];
    for chunk in used.chunks(4096) {
        let refs: Vec<&str> = chunk
            .iter()
            .map(|&t| data.texts[t as usize].as_str())
            .collect();
        for (&t, ids) in chunk.iter().zip(student.token_ids(&refs)?) {
            out[t as usize] = ids;
        }
    }
    Ok(out)
}

/// The weighted MSE of a batch of examples, as a graph to differentiate.
fn batch_loss(
    student: &TransformerStudent,
    data: &Dataset,
    ids: &[Vec<u32>],
    batch: &[u32],
) -> Result<(Tensor, f32)> {
    let examples: Vec<_> = batch.iter().map(|&i| data.examples[i as usize]).collect();
    let seqs: Vec<&[u32]> = examples
        .iter()
        .map(|e| ids[e.text as usize].as_slice())
        .collect();
    let (tok, mask) = student.batch_tensors(&seqs)?;
    let out = student.forward(&tok, &mask)?;
    let dim = data.dim;
    let mut targets = Vec::with_capacity(examples.len() * dim);
    for e in &examples {
        targets.extend_from_slice(&data.targets[e.target as usize * dim..][..dim]);
    }
    let targets = Tensor::from_vec(targets, (examples.len(), dim), out.device())?;
    let weights: Vec<f32> = examples.iter().map(|e| e.weight).collect();
    let total: f32 = weights.iter().sum::<f32>().max(f32::MIN_POSITIVE);
    let weights = Tensor::from_vec(weights, examples.len(), out.device())?;
    // Both sides as unit vectors: the student's output is normalised when used (as the
    // teacher's is), so its length is not worth learning; a raw mean-pooled BERT vector has a
    // length of several units, and matching it to a unit target spent the first hundreds of
    // steps on shrinking it. On unit vectors this MSE is (2 − 2·cosine) / dim.
    let unit = |x: Tensor| -> candle_core::Result<Tensor> {
        let norm = (x.sqr()?.sum_keepdim(1)? + 1e-12)?.sqrt()?;
        x.broadcast_div(&norm)
    };
    let per_example = (unit(out)? - unit(targets)?)?.sqr()?.mean(1)?;
    let loss = ((per_example * weights)?.sum_all()? / total as f64)?;
    let value = loss.to_scalar::<f32>()?;
    Ok((loss, value))
}

/// Mean (unweighted) MSE over `data`'s examples, without a graph.
fn mean_loss(student: &TransformerStudent, data: &Dataset, batch_size: usize) -> Result<f32> {
    let order: Vec<u32> = (0..data.examples.len() as u32).collect();
    let ids = tokenize_used(student, data, &order)?;
    let mut sum = 0.0f64;
    for chunk in order.chunks(batch_size.max(1)) {
        let unweighted = Dataset {
            pairs: &[],
            texts: data.texts,
            targets: data.targets,
            dim: data.dim,
            examples: chunk
                .iter()
                .map(|&i| crate::train::Example {
                    weight: 1.0,
                    ..data.examples[i as usize]
                })
                .collect(),
            objective: data.objective,
        };
        let local: Vec<u32> = (0..chunk.len() as u32).collect();
        sum += batch_loss(student, &unweighted, &ids, &local)?.1 as f64 * chunk.len() as f64;
    }
    Ok((sum / data.examples.len().max(1) as f64) as f32)
}

/// At most `cfg.dev_examples` of `dev`'s examples, spread evenly over them (so every
/// language of a dev set listed language by language keeps its share).
fn dev_subset<'a>(dev: &Dataset<'a>, cfg: &TransformerConfig) -> Dataset<'a> {
    let n = dev.examples.len();
    let keep = if cfg.dev_examples == 0 {
        n
    } else {
        cfg.dev_examples.min(n)
    };
    Dataset {
        pairs: &[],
        texts: dev.texts,
        targets: dev.targets,
        dim: dev.dim,
        examples: (0..keep)
            .map(|i| dev.examples[i * n / keep.max(1)])
            .collect(),
        objective: dev.objective,
    }
}

/// Trains `student` toward `data`'s targets; reports (step, total, running mean loss) after
/// each batch. The student is frozen (plain tensors again) when this returns.
pub fn train(
    student: &mut TransformerStudent,
    data: &Dataset,
    dev: Option<&Dataset>,
    cfg: &TransformerConfig,
    on_step: OnStep,
) -> Result<Vec<EpochLog>> {
    if data.objective != Objective::Mse {
        return Err(Error::msg(
            "the Transformer student trains on the MSE objective only",
        ));
    }
    if data.dim != student.shape.output_dim {
        return Err(Error::msg(format!(
            "targets have dimension {}, the student outputs {}",
            data.dim, student.shape.output_dim
        )));
    }
    let mut rng = Rng::new(cfg.seed);
    let mut chosen: Vec<u32> = (0..data.examples.len() as u32).collect();
    if cfg.max_examples > 0 && chosen.len() > cfg.max_examples {
        rng.shuffle(&mut chosen);
        chosen.truncate(cfg.max_examples);
    }
    if chosen.is_empty() {
        return Err(Error::msg("no training examples"));
    }
    let started = Instant::now();
    let ids = tokenize_used(student, data, &chosen)?;
    tracing::debug!(
        "tokenized the texts of {} examples in {:.1}s",
        chosen.len(),
        started.elapsed().as_secs_f64()
    );
    let vars = student.make_trainable()?;
    let params: usize = vars.iter().map(|(_, v)| v.elem_count()).sum();
    tracing::info!(
        "transformer student: {} layers, hidden {}, {params} trainable parameters ({}), {} examples × {} epochs",
        student.shape.num_layers,
        student.shape.hidden_size,
        student.init,
        chosen.len(),
        cfg.epochs
    );
    let mut opt = AdamW::new(
        vars.iter().map(|(_, v)| v.clone()).collect(),
        ParamsAdamW {
            lr: cfg.lr,
            weight_decay: cfg.weight_decay,
            ..Default::default()
        },
    )?;
    let batch = cfg.batch_size.max(1);
    if let Some(d) = dev {
        // The starting point, so a log shows what training bought.
        let before = mean_loss(student, &dev_subset(d, cfg), batch)?;
        tracing::info!("dev mse×1000 before training: {:.3}", before * 1000.0);
    }
    let steps_per_epoch = chosen.len().div_ceil(batch);
    let total = steps_per_epoch * cfg.epochs;
    let mut logs = Vec::new();
    let result = (|| -> Result<()> {
        for epoch in 0..cfg.epochs {
            let started = Instant::now();
            rng.shuffle(&mut chosen);
            // Within windows of 50 batches, texts of similar length go together: a batch is
            // padded to its longest text, and a random batch wastes most of its positions.
            for window in chosen.chunks_mut(batch * 50) {
                window.sort_by_key(|&e| ids[data.examples[e as usize].text as usize].len());
            }
            let mut loss_sum = 0.0f64;
            for (i, chunk) in chosen.chunks(batch).enumerate() {
                let step = epoch * steps_per_epoch + i;
                opt.set_learning_rate(learning_rate(cfg, step, total));
                let (loss, value) = batch_loss(student, data, &ids, chunk)?;
                if !value.is_finite() {
                    return Err(Error::msg(format!(
                        "loss became {value} at epoch {} step {}: lower the learning rate",
                        epoch + 1,
                        step + 1
                    )));
                }
                opt.backward_step(&loss)?;
                loss_sum += value as f64 * chunk.len() as f64;
                on_step(
                    step + 1,
                    total,
                    (loss_sum / (i * batch + chunk.len()) as f64) as f32,
                );
            }
            let seconds = started.elapsed().as_secs_f64();
            student.freeze();
            let dev_loss = dev
                .map(|d| mean_loss(student, &dev_subset(d, cfg), batch))
                .transpose()?;
            // Back to variables: the freeze above only kept the dev pass from recording a graph.
            for (name, var) in &vars {
                student.set_weight(name, var.as_tensor().clone());
            }
            let log = EpochLog {
                epoch: epoch + 1,
                train_loss: (loss_sum / chosen.len() as f64) as f32,
                dev_loss,
                examples_per_second: chosen.len() as f64 / seconds,
                seconds,
            };
            tracing::info!(epoch = log.epoch, train_loss = log.train_loss, dev_loss = ?log.dev_loss, examples_per_second = log.examples_per_second as u64, "epoch done");
            logs.push(log);
        }
        Ok(())
    })();
    student.freeze();
    result.map(|_| logs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::Example;

    /// A few steps on a tiny teacher's own vectors: the loss falls.
    #[test]
    fn training_lowers_the_loss() {
        let dir = tempfile::tempdir().unwrap();
        let md = crate::student::transformer::tests_support::tiny_teacher(dir.path(), 2);
        let teacher = crate::teacher::Teacher::from_dir(md.clone()).unwrap();
        let texts: Vec<String> = ["hello world", "a b", "c d hello", "world a d", "b b c"]
            .map(String::from)
            .to_vec();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut targets = crate::Encoder::encode(&teacher, &refs).unwrap();
        targets.normalize();
        let data = Dataset {
            pairs: &[],
            texts: &texts,
            targets: targets.as_slice(),
            dim: 8,
            examples: (0..5)
                .map(|i| Example {
                    text: i,
                    target: i,
                    weight: 1.0,
                })
                .collect(),
            objective: Objective::Mse,
        };
        let cfg = TransformerConfig {
            layers: vec![1],
            max_tokens: 16,
            epochs: 30,
            batch_size: 5,
            lr: 3e-3,
            warmup: 0.0,
            ..Default::default()
        };
        let mut student = new_student(&md, &cfg).unwrap();
        let before = mean_loss(&student, &data, 5).unwrap();
        let logs = train(&mut student, &data, Some(&data), &cfg, &mut |_, _, _| {}).unwrap();
        let after = logs.last().unwrap().dev_loss.unwrap();
        assert!(after < before * 0.5, "dev loss {before} → {after}");
        assert!((mean_loss(&student, &data, 5).unwrap() - after).abs() < 1e-6);
    }
}
