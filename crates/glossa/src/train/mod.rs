//! Training the subword student: MSE to the teacher's vectors, sparse lazy Adam.
//!
//! A sentence touches ~100 of the table's hundreds of thousands of rows, so a dense optimizer
//! would spend nearly all its time on rows with no gradient. Lazy Adam (as PyTorch's SparseAdam)
//! updates the moments of touched rows only.
//!
//! Reproducible for a seed, whatever the thread count: per-example gradients are computed in
//! parallel but collected in order; rows are then split across threads by `row % shards`, and each
//! shard sums its rows' gradients in example order, so every row sees the same float additions.

pub mod autodiff;
pub mod checkpoint;
pub mod loss;
pub mod pairs;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::rng::Rng;
use crate::student::TableStudent;
use crate::train::checkpoint::TensorRef;
use crate::train::loss::mse_with_grad;
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub epochs: usize,
    /// Examples (sentence, target) per update.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f32,
    /// Fraction of all steps spent warming the learning rate up linearly; it then decays
    /// linearly to zero.
    pub warmup: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub seed: u64,
    /// Write a checkpoint every this many steps, besides each epoch's end (0: epoch ends only).
    pub checkpoint_every: usize,
    /// Weight of a translation-ranking term added to the MSE (embedding distillation only):
    /// InfoNCE of the student's vector against its own target and the batch's other targets
    /// ([`crate::train::loss::info_nce`]). 0: MSE alone, the reference recipe.
    pub contrastive_weight: f32,
    /// Temperature τ of that term's softmax over cosines, and of the pair ranking term's.
    pub contrastive_temperature: f32,
    /// Weight of a translation-ranking term over the dataset's parallel pairs, the student's
    /// vector of one side against the student's of the other, with the batch's other pairs as
    /// negatives ([`crate::train::loss::pair_ranking`]). It needs no teacher label, so every
    /// pair teaches, labelled or not, while the MSE keeps the student in the teacher's space.
    /// 0: off.
    pub pair_ranking_weight: f32,
    /// Pairs per step for that term, drawn in an order of their own (reshuffled at each pass).
    pub pair_ranking_batch_size: usize,
    /// What of the teacher's vector the MSE fits (embedding distillation with a table student).
    #[serde(skip_serializing_if = "Fit::is_vector")]
    pub fit: Fit,
    /// Weight of a term matching the cosine similarities among each batch's texts to the
    /// teacher's ([`crate::train::loss::similarity_matching`]). 0: off.
    #[serde(skip_serializing_if = "is_zero")]
    pub similarity_weight: f32,
}

fn is_zero(x: &f32) -> bool {
    *x == 0.0
}

/// What of the target vector the embedding objective asks the student to match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// The whole vector, length and direction: plain MSE (Reimers & Gurevych).
    #[default]
    Vector,
    /// The direction alone: the MSE after the student's vector is scaled to the target's
    /// length. Cosine similarity, which retrieval and STS read, sees only directions; a mean of
    /// word rows that must also hit each sentence's length spends its rows on that, and the row
    /// lengths are then free to weight the words.
    Direction,
}

impl Fit {
    fn is_vector(&self) -> bool {
        *self == Fit::Vector
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 4,
            batch_size: 256,
            lr: 0.01,
            warmup: 0.05,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            seed: 42,
            checkpoint_every: 2000,
            contrastive_weight: 0.0,
            contrastive_temperature: 0.05,
            pair_ranking_weight: 0.0,
            pair_ranking_batch_size: 256,
            fit: Fit::Vector,
            similarity_weight: 0.0,
        }
    }
}

/// One training example: a text, the row of its target vector, and its weight in the loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Example {
    pub text: u32,
    pub target: u32,
    pub weight: f32,
}

/// What the student's output is trained to match.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective<'a> {
    /// Mean squared error to the target vector: embedding distillation.
    Mse,
    /// The MSE to the target vector t after the output y is scaled to t's length, |t|²·2(1 −
    /// cos(y, t)) / dim: embedding distillation of the direction alone ([`Fit::Direction`]).
    DirectionMse,
    /// Hinton distillation for a classifier: the target rows are the teacher's logits, and
    /// `labels[row]` is that row's hard label. The loss is α · T²·KL(softmax(t/T) ‖ softmax(s/T))
    /// + (1 − α) · cross-entropy(s, label) (see [`crate::train::loss::distillation`]).
    Distill {
        temperature: f32,
        alpha: f32,
        labels: &'a [u32],
    },
}

impl Objective<'_> {
    /// The loss of `output` against target row `row` (whose values are `target`), and its
    /// gradient with respect to `output`.
    fn loss_and_grad(&self, output: &[f32], row: u32, target: &[f32], grad: &mut [f32]) -> f32 {
        match *self {
            Objective::Mse => mse_with_grad(output, target, grad),
            Objective::DirectionMse => {
                let scale = 2.0 * crate::encoder::dot(target, target) / output.len() as f32;
                let loss = crate::train::loss::cosine_loss(output, target, grad);
                grad.iter_mut().for_each(|g| *g *= scale);
                scale * loss
            }
            Objective::Distill {
                temperature,
                alpha,
                labels,
            } => crate::train::loss::distillation(
                output,
                target,
                Some(labels[row as usize] as usize),
                temperature,
                alpha,
                grad,
            ),
        }
    }
}

/// Texts, targets and the examples that pair them.
pub struct Dataset<'a> {
    pub texts: &'a [String],
    /// Flat rows of `dim` floats.
    pub targets: &'a [f32],
    pub dim: usize,
    pub examples: Vec<Example>,
    pub objective: Objective<'a>,
    /// Parallel pairs as text ids (pivot, translation), for the pair ranking term.
    pub pairs: &'a [(u32, u32)],
}

impl Dataset<'_> {
    fn target(&self, row: u32) -> &[f32] {
        &self.targets[row as usize * self.dim..(row as usize + 1) * self.dim]
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    /// Mean training loss over the epoch (MSE, or the distillation objective).
    pub train_loss: f32,
    pub dev_loss: Option<f32>,
    pub examples_per_second: f64,
    pub seconds: f64,
}

/// Feature rows of every text, flattened: text i has `rows[offsets[i]..offsets[i+1]]`.
struct Features {
    rows: Vec<u32>,
    offsets: Vec<usize>,
}

impl Features {
    fn of(student: &TableStudent, texts: &[String]) -> Self {
        let per_text: Vec<Vec<u32>> = texts
            .par_iter()
            .with_min_len(256)
            .map(|t| {
                let mut f = Vec::new();
                student.features(t, &mut f);
                f
            })
            .collect();
        let mut offsets = Vec::with_capacity(texts.len() + 1);
        offsets.push(0);
        for f in &per_text {
            offsets.push(offsets.last().unwrap() + f.len());
        }
        Features {
            rows: per_text.concat(),
            offsets,
        }
    }
    fn get(&self, text: u32) -> &[u32] {
        &self.rows[self.offsets[text as usize]..self.offsets[text as usize + 1]]
    }
}

/// The gradient of one example's loss with respect to the mean-pooled hidden vector, already
/// divided by the feature count (so it is the gradient for each feature row), and with respect
/// to the output (for the projection).
struct ExampleGrad {
    loss: f32,
    row_grad: Vec<f32>,
    hidden: Vec<f32>,
    out_grad: Vec<f32>,
}

/// The distinct targets of a batch, unit length: the candidates of the ranking term.
struct BatchTargets {
    slot_of: HashMap<u32, usize>,
    unit: Vec<f32>,
    weight: f32,
    temperature: f32,
}

impl BatchTargets {
    fn of(train: &Dataset, chunk: &[u32], cfg: &TrainConfig) -> Self {
        let mut slot_of = HashMap::new();
        let mut unit = Vec::new();
        for &idx in chunk {
            let row = train.examples[idx as usize].target;
            slot_of.entry(row).or_insert_with(|| {
                let t = train.target(row);
                let norm = crate::encoder::dot(t, t).sqrt().max(f32::MIN_POSITIVE);
                unit.extend(t.iter().map(|x| x / norm));
                unit.len() / t.len() - 1
            });
        }
        BatchTargets {
            slot_of,
            unit,
            weight: cfg.contrastive_weight,
            temperature: cfg.contrastive_temperature,
        }
    }
}

fn example_grad(
    student: &TableStudent,
    features: &[u32],
    objective: Objective,
    row: u32,
    target: &[f32],
    ranking: Option<&BatchTargets>,
) -> ExampleGrad {
    let (dim, out_dim) = (student.config.dim, student.config.output_dim);
    let mut hidden = vec![0.0; dim];
    let mut output = vec![0.0; out_dim];
    student.forward(features, &mut hidden, &mut output);
    let mut out_grad = vec![0.0; out_dim];
    let mut loss = objective.loss_and_grad(&output, row, target, &mut out_grad);
    if let Some(r) = ranking {
        loss += r.weight
            * crate::train::loss::info_nce(
                &output,
                &r.unit,
                r.slot_of[&row],
                r.temperature,
                r.weight,
                &mut out_grad,
            );
    }
    ExampleGrad::backward(student, features.len(), loss, hidden, out_grad)
}

impl ExampleGrad {
    /// The gradient for each of `features` feature rows, from the gradient with respect to the
    /// output.
    fn backward(
        student: &TableStudent,
        features: usize,
        loss: f32,
        hidden: Vec<f32>,
        out_grad: Vec<f32>,
    ) -> Self {
        let (dim, out_dim) = (student.config.dim, student.config.output_dim);
        let mut row_grad = match &student.projection {
            None => out_grad.clone(),
            // hidden·P = output, so d/dhidden = P · d/doutput
            Some(p) => (0..dim)
                .map(|i| crate::encoder::dot(&p[i * out_dim..(i + 1) * out_dim], &out_grad))
                .collect(),
        };
        let inv = if features == 0 {
            0.0
        } else {
            1.0 / features as f32
        };
        row_grad.iter_mut().for_each(|g| *g *= inv);
        ExampleGrad {
            loss,
            row_grad,
            hidden,
            out_grad,
        }
    }

    fn scale(&mut self, by: f32) {
        self.row_grad
            .iter_mut()
            .chain(self.out_grad.iter_mut())
            .for_each(|x| *x *= by);
    }
}

/// The order the pair ranking term draws its pairs in: a fresh shuffle at each pass over them,
/// a function of the seed and the step alone, so a resumed run draws what the first would have.
struct PairSchedule {
    pairs: usize,
    batch: usize,
    seed: u64,
    /// One pass's order, and which pass it is.
    cached: Option<(u64, Vec<u32>)>,
}

impl PairSchedule {
    fn new(pairs: usize, cfg: &TrainConfig) -> Self {
        PairSchedule {
            pairs,
            batch: cfg.pair_ranking_batch_size.clamp(2, pairs.max(2)),
            seed: cfg.seed,
            cached: None,
        }
    }

    /// Indices into the pairs of step `step`'s batch.
    fn batch(&mut self, step: usize) -> Vec<u32> {
        let (start, n) = (step as u64 * self.batch as u64, self.pairs as u64);
        (start..start + self.batch as u64)
            .map(|k| self.order(k / n)[(k % n) as usize])
            .collect()
    }

    fn order(&mut self, pass: u64) -> &[u32] {
        if self.cached.as_ref().is_none_or(|(p, _)| *p != pass) {
            let mut order: Vec<u32> = (0..self.pairs as u32).collect();
            Rng::new(self.seed ^ 0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(pass + 1))
                .shuffle(&mut order);
            self.cached = Some((pass, order));
        }
        &self.cached.as_ref().expect("just cached").1
    }
}

/// A batch of texts run through the student for a term computed over the whole batch: their
/// hidden vectors and their outputs, flat, in the batch's order.
struct BatchTexts {
    texts: Vec<u32>,
    hidden: Vec<Vec<f32>>,
    outputs: Vec<f32>,
}

impl BatchTexts {
    fn forward(student: &TableStudent, features: &Features, texts: Vec<u32>) -> Self {
        let out_dim = student.config.output_dim;
        let forward: Vec<(Vec<f32>, Vec<f32>)> = texts
            .par_iter()
            .with_min_len(8)
            .map(|&t| {
                let mut hidden = vec![0.0; student.config.dim];
                let mut output = vec![0.0; out_dim];
                student.forward(features.get(t), &mut hidden, &mut output);
                (hidden, output)
            })
            .collect();
        let outputs = forward
            .iter()
            .flat_map(|(_, o)| o.iter().copied())
            .collect();
        let hidden = forward.into_iter().map(|(h, _)| h).collect();
        BatchTexts {
            texts,
            hidden,
            outputs,
        }
    }

    /// The batch's examples as their gradients already ran them forward (`grads`, in the same
    /// order): no second pass over the table.
    fn of_examples(
        student: &TableStudent,
        examples: &[&Example],
        grads: &[(ExampleGrad, &[u32])],
    ) -> Self {
        let out_dim = student.config.output_dim;
        let hidden: Vec<Vec<f32>> = grads.iter().map(|(g, _)| g.hidden.clone()).collect();
        let mut outputs = vec![0.0; hidden.len() * out_dim];
        for (h, out) in hidden.iter().zip(outputs.chunks_mut(out_dim)) {
            student.project(h, out);
        }
        BatchTexts {
            texts: examples.iter().map(|e| e.text).collect(),
            hidden,
            outputs,
        }
    }

    /// Each text's gradient (times `scale`) with its features, from `grads`, the gradients
    /// with respect to the outputs.
    fn backward<'f>(
        self,
        student: &TableStudent,
        features: &'f Features,
        grads: &[f32],
        scale: f32,
    ) -> Vec<(ExampleGrad, &'f [u32])> {
        self.hidden
            .into_par_iter()
            .zip(grads.par_chunks(student.config.output_dim))
            .zip(self.texts.par_iter())
            .with_min_len(8)
            .map(|((hidden, out_grad), &t)| {
                let f = features.get(t);
                let mut g = ExampleGrad::backward(student, f.len(), 0.0, hidden, out_grad.to_vec());
                g.scale(scale);
                (g, f)
            })
            .collect()
    }
}

/// The pair ranking term of one step: its loss, and each text's gradient (times `scale`) with
/// its features, both sides of every pair.
fn pair_grads<'f>(
    student: &TableStudent,
    train: &Dataset,
    features: &'f Features,
    batch: &[u32],
    temperature: f32,
    scale: f32,
) -> (f32, Vec<(ExampleGrad, &'f [u32])>) {
    let ids: Vec<(u32, u32)> = batch.iter().map(|&k| train.pairs[k as usize]).collect();
    let texts = ids.iter().map(|p| p.0).chain(ids.iter().map(|p| p.1));
    let batch = BatchTexts::forward(student, features, texts.collect());
    let out_dim = student.config.output_dim;
    let half = ids.len() * out_dim;
    let mut grads = vec![0.0; batch.outputs.len()];
    let (grad_a, grad_b) = grads.split_at_mut(half);
    let (a, b) = batch.outputs.split_at(half);
    let loss = crate::train::loss::pair_ranking(a, b, out_dim, &ids, temperature, grad_a, grad_b);
    (loss, batch.backward(student, features, &grads, scale))
}

/// The similarity-matching term of one step over the batch's examples: its loss, and each
/// text's gradient (times `scale`) with its features.
fn similarity_grads<'f>(
    student: &TableStudent,
    (train, features): (&Dataset, &'f Features),
    chunk: &[u32],
    example_grads: &[(ExampleGrad, &[u32])],
    scale: f32,
) -> (f32, Vec<(ExampleGrad, &'f [u32])>) {
    let examples: Vec<&Example> = chunk.iter().map(|&i| &train.examples[i as usize]).collect();
    let batch = BatchTexts::of_examples(student, &examples, example_grads);
    let teacher: Vec<f32> = examples
        .iter()
        .flat_map(|ex| {
            let mut t = train.target(ex.target).to_vec();
            crate::encoder::normalize(&mut t);
            t
        })
        .collect();
    let mut grads = vec![0.0; batch.outputs.len()];
    let out_dim = student.config.output_dim;
    let loss =
        crate::train::loss::similarity_matching(&batch.outputs, &teacher, out_dim, &mut grads);
    (loss, batch.backward(student, features, &grads, scale))
}

/// Adam moments for the table (touched rows only) and the projection (dense).
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    pm: Vec<f32>,
    pv: Vec<f32>,
    step: u64,
}

impl Adam {
    /// Zero moments for every weight of `student`.
    fn for_student(student: &TableStudent) -> Self {
        let projection = student.projection.as_ref().map_or(0, Vec::len);
        Adam {
            m: vec![0.0; student.table.len()],
            v: vec![0.0; student.table.len()],
            pm: vec![0.0; projection],
            pv: vec![0.0; projection],
            step: 0,
        }
    }
}

/// Raw access to table rows from several threads. Sound only while each thread touches a
/// disjoint set of rows: shard k owns the rows with `row % shards == k`.
#[derive(Clone, Copy)]
struct SharedRows(*mut f32);
unsafe impl Send for SharedRows {}
unsafe impl Sync for SharedRows {}
impl SharedRows {
    /// SAFETY: the caller guarantees no other thread accesses this row concurrently.
    #[allow(clippy::mut_from_ref)]
    unsafe fn row(&self, row: usize, dim: usize) -> &mut [f32] {
        std::slice::from_raw_parts_mut(self.0.add(row * dim), dim)
    }
}

fn learning_rate(cfg: &TrainConfig, step: usize, total: usize) -> f32 {
    let warm = ((cfg.warmup * total as f32) as usize).max(1);
    if step < warm {
        cfg.lr * (step + 1) as f32 / warm as f32
    } else {
        cfg.lr * (total - step) as f32 / (total - warm).max(1) as f32
    }
}

/// Progress reported after each batch: (step, total steps, running mean loss).
pub type OnStep<'a> = &'a mut dyn FnMut(usize, usize, f32);

/// Where and how often a training run saves its state (see [`crate::train::checkpoint`]).
#[derive(Debug, Clone)]
pub struct Checkpointing {
    pub path: PathBuf,
    /// Also every this many steps (0: at the end of each epoch only).
    pub every: usize,
    /// Continue from `path` when it exists (else start afresh and replace it).
    pub resume: bool,
}

/// The scalar part of a checkpoint; the tensors hold weights, moments and the example order.
#[derive(Debug, Serialize, Deserialize)]
struct TrainState {
    fingerprint: String,
    epoch: usize,
    /// The next batch of `epoch` to run.
    next_batch: usize,
    /// Whether `epoch`'s order is already shuffled (a checkpoint taken inside the epoch).
    shuffled: bool,
    adam_step: u64,
    rng: Rng,
    loss_sum: f64,
    logs: Vec<EpochLog>,
}

/// What a checkpoint must match to be continued: the config, the student's shape and
/// vocabulary, and the data (texts, targets, examples, objective).
fn fingerprint(student: &TableStudent, train: &Dataset, cfg: &TrainConfig) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    // How often checkpoints are written does not change the result.
    let cfg = TrainConfig {
        checkpoint_every: 0,
        ..cfg.clone()
    };
    h.update(
        serde_json::to_string(&cfg)
            .expect("config serialises")
            .as_bytes(),
    );
    h.update(
        serde_json::to_string(&student.config)
            .expect("config serialises")
            .as_bytes(),
    );
    for w in student.words() {
        h.update(w.as_bytes());
        h.update(b"\n");
    }
    for t in train.texts {
        h.update(t.as_bytes());
        h.update(b"\n");
    }
    for chunk in train.targets.chunks(1 << 14) {
        let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
        h.update(&bytes);
    }
    for e in &train.examples {
        h.update(&e.text.to_le_bytes());
        h.update(&e.target.to_le_bytes());
        h.update(&e.weight.to_le_bytes());
    }
    for &(a, b) in train.pairs {
        h.update(&a.to_le_bytes());
        h.update(&b.to_le_bytes());
    }
    h.update(format!("{:?}", train.objective).as_bytes());
    format!("{:032x}", h.digest128())
}

fn save_checkpoint(
    ck: &Checkpointing,
    student: &TableStudent,
    adam: &Adam,
    order: &[u32],
    state: &TrainState,
) -> Result<()> {
    let mut tensors = vec![
        TensorRef::F32("table", &student.table),
        TensorRef::F32("m", &adam.m),
        TensorRef::F32("v", &adam.v),
        TensorRef::U32("order", order),
    ];
    if let Some(p) = &student.projection {
        tensors.push(TensorRef::F32("projection", p));
        tensors.push(TensorRef::F32("pm", &adam.pm));
        tensors.push(TensorRef::F32("pv", &adam.pv));
    }
    crate::train::checkpoint::write(&ck.path, &tensors, state)
}

/// Restores weights, moments and order from a checkpoint; returns its state.
fn restore_checkpoint(
    ck: &Checkpointing,
    fingerprint: &str,
    student: &mut TableStudent,
    adam: &mut Adam,
    order: &mut [u32],
) -> Result<TrainState> {
    let loaded = crate::train::checkpoint::read::<TrainState>(&ck.path)?;
    if loaded.state.fingerprint != fingerprint {
        return Err(Error::invalid(
            &ck.path,
            "this checkpoint was written for another config, student or data: delete it, or \
             run without --resume to start afresh",
        ));
    }
    loaded.read_f32("table", &mut student.table)?;
    loaded.read_f32("m", &mut adam.m)?;
    loaded.read_f32("v", &mut adam.v)?;
    loaded.read_u32("order", order)?;
    if let Some(p) = student.projection.as_mut() {
        loaded.read_f32("projection", p)?;
        loaded.read_f32("pm", &mut adam.pm)?;
        loaded.read_f32("pv", &mut adam.pv)?;
    }
    Ok(loaded.state)
}

/// Trains `student` toward `train`'s targets with sparse Adam, checkpointing as `checkpoint`
/// says; returns one log per epoch.
pub fn train(
    student: &mut TableStudent,
    train: &Dataset,
    dev: Option<&Dataset>,
    cfg: &TrainConfig,
    checkpoint: Option<&Checkpointing>,
    on_step: OnStep,
) -> Result<Vec<EpochLog>> {
    let (ranked, ranked_pairs) = check_inputs(student, train, cfg)?;
    let objective = objective_of(train, cfg)?;
    let features = Features::of(student, train.texts);
    let dev_features = dev.map(|d| Features::of(student, d.texts));
    let dim = student.config.dim;
    let mut adam = Adam::for_student(student);
    let batch = cfg.batch_size.max(1);
    let steps_per_epoch = train.examples.len().div_ceil(batch);
    let total = steps_per_epoch * cfg.epochs;
    // The epoch's order, as indices into the examples (what a checkpoint stores).
    let mut order: Vec<u32> = (0..train.examples.len() as u32).collect();
    let (mut state, mut last_checkpoint) = start_or_resume(
        checkpoint, student, train, cfg, &mut adam, &mut order, total,
    )?;
    let shards = rayon::current_num_threads().max(1) * 2;
    let mut pair_schedule = ranked_pairs.then(|| PairSchedule::new(train.pairs.len(), cfg));
    while state.epoch < cfg.epochs {
        let epoch = state.epoch;
        let started = Instant::now();
        if !state.shuffled {
            state.rng.shuffle(&mut order);
            state.shuffled = true;
            state.loss_sum = 0.0;
        }
        for (i, chunk) in order.chunks(batch).enumerate().skip(state.next_batch) {
            let step = epoch * steps_per_epoch + i;
            let lr = learning_rate(cfg, step, total);
            let ranking = ranked.then(|| BatchTargets::of(train, chunk, cfg));
            let mut grads = batch_grads(
                student,
                (train, objective),
                &features,
                chunk,
                ranking.as_ref(),
            );
            let mut batch_loss: f32 =
                grads.iter().map(|(g, _)| g.loss).sum::<f32>() / chunk.len() as f32;
            let weight = chunk
                .iter()
                .map(|&idx| train.examples[idx as usize].weight)
                .sum::<f32>();
            if let Some(schedule) = pair_schedule.as_mut() {
                // apply_sparse divides by the batch's weight: times it, the term is its weight
                // times the mean pair loss's gradient.
                let scale = cfg.pair_ranking_weight * weight;
                let pairs = schedule.batch(step);
                let (loss, pair) = pair_grads(
                    student,
                    train,
                    &features,
                    &pairs,
                    cfg.contrastive_temperature,
                    scale,
                );
                batch_loss += cfg.pair_ranking_weight * loss;
                grads.extend(pair);
            }
            if cfg.similarity_weight > 0.0 {
                let scale = cfg.similarity_weight * weight;
                // The batch's own examples lead `grads`, already run forward.
                let (loss, similar) = similarity_grads(
                    student,
                    (train, &features),
                    chunk,
                    &grads[..chunk.len()],
                    scale,
                );
                batch_loss += cfg.similarity_weight * loss;
                grads.extend(similar);
            }
            if !batch_loss.is_finite() {
                return Err(diverged(
                    batch_loss,
                    epoch,
                    step,
                    checkpoint,
                    last_checkpoint,
                ));
            }
            state.loss_sum += batch_loss as f64 * chunk.len() as f64;
            adam.step += 1;
            apply_sparse(student, &mut adam, &grads, weight, lr, cfg, shards, dim);
            let last_in_epoch = i + 1 == steps_per_epoch;
            if let Some(ck) = checkpoint.filter(|c| c.every > 0) {
                if (step + 1).is_multiple_of(ck.every) && !last_in_epoch {
                    state.next_batch = i + 1;
                    state.adam_step = adam.step;
                    save_checkpoint(ck, student, &adam, &order, &state)?;
                    last_checkpoint = Some(step + 1);
                }
            }
            on_step(
                step + 1,
                total,
                (state.loss_sum / ((i * batch + chunk.len()) as f64)) as f32,
            );
        }
        let dev_loss = match (dev, &dev_features) {
            (Some(d), Some(f)) => Some(mean_loss(student, d, objective_of(d, cfg)?, f)),
            _ => None,
        };
        state.end_epoch(
            order.len(),
            started.elapsed().as_secs_f64(),
            dev_loss,
            &adam,
        );
        if let Some(ck) = checkpoint {
            save_checkpoint(ck, student, &adam, &order, &state)?;
            last_checkpoint = Some(adam.step as usize);
        }
    }
    Ok(state.logs)
}

/// Refuses data and settings training cannot use; returns whether the ranking term against the
/// targets is on, and the one over the pairs.
fn check_inputs(
    student: &TableStudent,
    train: &Dataset,
    cfg: &TrainConfig,
) -> Result<(bool, bool)> {
    if train.examples.is_empty() {
        return Err(Error::msg("no training examples"));
    }
    if train.dim != student.config.output_dim {
        return Err(Error::msg(format!(
            "targets have dimension {}, the student outputs {}",
            train.dim, student.config.output_dim
        )));
    }
    let ranked = cfg.contrastive_weight > 0.0;
    let ranked_pairs = cfg.pair_ranking_weight > 0.0;
    if ranked || ranked_pairs {
        if !matches!(train.objective, Objective::Mse | Objective::DirectionMse) {
            return Err(Error::msg(
                "train.contrastive_weight and train.pair_ranking_weight apply to embedding \
                 distillation (MSE) only",
            ));
        }
        // NaN included.
        if cfg.contrastive_temperature.is_nan() || cfg.contrastive_temperature <= 0.0 {
            return Err(Error::msg(format!(
                "train.contrastive_temperature must be > 0, not {}",
                cfg.contrastive_temperature
            )));
        }
    }
    if ranked_pairs && train.pairs.is_empty() {
        return Err(Error::msg(
            "train.pair_ranking_weight is set but the data has no parallel pairs to rank",
        ));
    }
    if cfg.similarity_weight > 0.0
        && !matches!(train.objective, Objective::Mse | Objective::DirectionMse)
    {
        return Err(Error::msg(
            "train.similarity_weight applies to embedding distillation only (remove it)",
        ));
    }
    if cfg.similarity_weight.is_nan() || cfg.similarity_weight < 0.0 {
        return Err(Error::msg(format!(
            "train.similarity_weight must be ≥ 0, not {}",
            cfg.similarity_weight
        )));
    }
    if cfg.pair_ranking_weight.is_nan() || cfg.pair_ranking_weight < 0.0 {
        return Err(Error::msg(format!(
            "train.pair_ranking_weight must be ≥ 0, not {}",
            cfg.pair_ranking_weight
        )));
    }
    Ok((ranked, ranked_pairs))
}

/// A fresh training state, or the checkpoint's when `checkpoint` says to resume; also the
/// step of the last checkpoint written, if any.
fn start_or_resume(
    checkpoint: Option<&Checkpointing>,
    student: &mut TableStudent,
    train: &Dataset,
    cfg: &TrainConfig,
    adam: &mut Adam,
    order: &mut [u32],
    total: usize,
) -> Result<(TrainState, Option<usize>)> {
    // Hashing every target and text costs a pass over the data: only a checkpointed run needs it.
    let fingerprint = checkpoint.map_or_else(String::new, |_| fingerprint(student, train, cfg));
    if let Some(ck) = checkpoint.filter(|c| c.resume && c.path.exists()) {
        let state = restore_checkpoint(ck, &fingerprint, student, adam, order)?;
        adam.step = state.adam_step;
        tracing::info!(
            "resuming from {} at epoch {}, step {} of {total}",
            ck.path.display(),
            state.epoch + 1,
            state.adam_step
        );
        let at = Some(state.adam_step as usize);
        return Ok((state, at));
    }
    if let Some(ck) = checkpoint.filter(|c| c.path.exists()) {
        tracing::warn!(
            "{} exists; starting afresh (pass --resume to continue from it)",
            ck.path.display()
        );
    }
    let state = TrainState {
        fingerprint,
        epoch: 0,
        next_batch: 0,
        shuffled: false,
        adam_step: 0,
        rng: Rng::new(cfg.seed),
        loss_sum: 0.0,
        logs: Vec::new(),
    };
    Ok((state, None))
}

/// The objective `train` is trained on under `cfg.fit`.
fn objective_of<'a>(train: &Dataset<'a>, cfg: &TrainConfig) -> Result<Objective<'a>> {
    match (cfg.fit, train.objective) {
        (Fit::Vector, objective) => Ok(objective),
        (Fit::Direction, Objective::Mse | Objective::DirectionMse) => Ok(Objective::DirectionMse),
        (Fit::Direction, Objective::Distill { .. }) => Err(Error::msg(
            "train.fit = \"direction\" applies to embedding distillation only; a classifier \
             learns the teacher's logits (remove train.fit)",
        )),
    }
}

/// Each example's gradient (scaled by its weight) and features, in parallel.
fn batch_grads<'f>(
    student: &TableStudent,
    (train, objective): (&Dataset, Objective),
    features: &'f Features,
    chunk: &[u32],
    ranking: Option<&BatchTargets>,
) -> Vec<(ExampleGrad, &'f [u32])> {
    chunk
        .par_iter()
        .with_min_len(8)
        .map(|&idx| {
            let ex = &train.examples[idx as usize];
            let f = features.get(ex.text);
            let mut g = example_grad(
                student,
                f,
                objective,
                ex.target,
                train.target(ex.target),
                ranking,
            );
            g.scale(ex.weight);
            (g, f)
        })
        .collect()
}

/// The error for a loss that is no longer finite, naming the checkpoint to go back to.
fn diverged(
    loss: f32,
    epoch: usize,
    step: usize,
    checkpoint: Option<&Checkpointing>,
    last_checkpoint: Option<usize>,
) -> Error {
    let resume = match (checkpoint, last_checkpoint) {
        (Some(ck), Some(at)) => format!(
            "the last good checkpoint is {} (step {at}); lower the learning rate \
             and resume from it, or start afresh",
            ck.path.display()
        ),
        _ => "no checkpoint was written yet; lower the learning rate".into(),
    };
    Error::msg(format!(
        "loss became {loss} at epoch {} step {}: {resume}",
        epoch + 1,
        step + 1
    ))
}

impl TrainState {
    /// Logs the finished epoch and moves to the next one.
    fn end_epoch(&mut self, examples: usize, seconds: f64, dev_loss: Option<f32>, adam: &Adam) {
        let log = EpochLog {
            epoch: self.epoch + 1,
            train_loss: (self.loss_sum / examples as f64) as f32,
            dev_loss,
            examples_per_second: examples as f64 / seconds,
            seconds,
        };
        tracing::info!(epoch = log.epoch, train_loss = log.train_loss, dev_loss = ?log.dev_loss, examples_per_second = log.examples_per_second as u64, "epoch done");
        self.logs.push(log);
        self.epoch += 1;
        self.next_batch = 0;
        self.shuffled = false;
        self.adam_step = adam.step;
    }
}

#[allow(clippy::too_many_arguments)]
fn apply_sparse(
    student: &mut TableStudent,
    adam: &mut Adam,
    grads: &[(ExampleGrad, &[u32])],
    total_weight: f32,
    lr: f32,
    cfg: &TrainConfig,
    shards: usize,
    dim: usize,
) {
    // The batch loss is the weighted mean of the examples' losses.
    let inv_batch = 1.0 / total_weight.max(f32::MIN_POSITIVE);
    let hyper = crate::kernels::AdamStep::new(lr, cfg.beta1, cfg.beta2, cfg.eps, adam.step);
    // Projection first uses the gradients computed with the old projection, as autodiff would.
    if let Some(p) = student.projection.as_mut() {
        let out_dim = student.config.output_dim;
        let mut grad = vec![0.0f32; p.len()];
        grad.par_chunks_mut(out_dim)
            .enumerate()
            .for_each(|(i, g_row)| {
                for (eg, _) in grads {
                    crate::kernels::axpy(g_row, eg.hidden[i] * inv_batch, &eg.out_grad);
                }
            });
        crate::kernels::adam(p, &mut adam.pm, &mut adam.pv, &grad, &hyper);
    }
    let table = SharedRows(student.table.as_mut_ptr());
    let m = SharedRows(adam.m.as_mut_ptr());
    let v = SharedRows(adam.v.as_mut_ptr());
    (0..shards).into_par_iter().for_each(|shard| {
        let mut slot_of: HashMap<u32, usize> = HashMap::new();
        let mut sums: Vec<f32> = Vec::new();
        for (eg, features) in grads {
            for &row in features.iter().filter(|&&r| r as usize % shards == shard) {
                let slot = *slot_of.entry(row).or_insert_with(|| {
                    sums.extend(std::iter::repeat_n(0.0, dim));
                    sums.len() / dim - 1
                });
                crate::kernels::axpy(
                    &mut sums[slot * dim..(slot + 1) * dim],
                    inv_batch,
                    &eg.row_grad,
                );
            }
        }
        for (&row, &slot) in &slot_of {
            // SAFETY: only this shard touches rows with row % shards == shard.
            unsafe {
                crate::kernels::adam(
                    table.row(row as usize, dim),
                    m.row(row as usize, dim),
                    v.row(row as usize, dim),
                    &sums[slot * dim..(slot + 1) * dim],
                    &hyper,
                );
            }
        }
    });
}

fn mean_loss(
    student: &TableStudent,
    data: &Dataset,
    objective: Objective,
    features: &Features,
) -> f32 {
    let total: f64 = data
        .examples
        .par_iter()
        .map(|ex| {
            let mut hidden = vec![0.0; student.config.dim];
            let mut out = vec![0.0; student.config.output_dim];
            student.forward(features.get(ex.text), &mut hidden, &mut out);
            let mut grad = vec![0.0; out.len()];
            objective.loss_and_grad(&out, ex.target, data.target(ex.target), &mut grad) as f64
        })
        .sum();
    (total / data.examples.len().max(1) as f64) as f32
}

/// Mean loss of the student on a dataset, under the dataset's objective.
pub fn evaluate_loss(student: &TableStudent, data: &Dataset) -> f32 {
    mean_loss(
        student,
        data,
        data.objective,
        &Features::of(student, data.texts),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::student::{table_student::build_vocab, SubwordConfig, WordRules};

    fn toy(projection: bool) -> (TableStudent, Vec<String>, Vec<f32>) {
        let texts: Vec<String> = [
            "the cat sleeps",
            "a dog runs",
            "die Katze schläft",
            "ein Hund rennt",
            "猫が寝る",
            "犬が走る",
        ]
        .map(String::from)
        .to_vec();
        let config = SubwordConfig::new(
            if projection { 6 } else { 8 },
            8,
            64,
            (3, 4),
            WordRules::new(true),
        );
        let words = build_vocab(
            texts.iter().map(String::as_str),
            WordRules::new(true),
            1,
            100,
        );
        let student = TableStudent::new(config, words, 3).unwrap();
        let mut rng = Rng::new(9);
        let mut targets: Vec<f32> = (0..2 * 8).map(|_| rng.normal()).collect();
        targets.chunks_mut(8).for_each(crate::encoder::normalize);
        (student, texts, targets)
    }

    /// The toy texts and targets under MSE, every text toward target `text % 2`.
    fn mse_data<'a>(texts: &'a [String], targets: &'a [f32]) -> Dataset<'a> {
        Dataset {
            pairs: &[],
            texts,
            targets,
            dim: 8,
            examples: examples(),
            objective: Objective::Mse,
        }
    }

    fn examples() -> Vec<Example> {
        (0..6)
            .map(|i| Example {
                text: i,
                target: i % 2,
                weight: 1.0,
            })
            .collect()
    }

    #[test]
    fn row_gradient_matches_finite_differences() {
        let labels = [3u32, 5];
        let objectives = [
            Objective::Mse,
            Objective::DirectionMse,
            Objective::Distill {
                temperature: 2.0,
                alpha: 0.5,
                labels: &labels,
            },
            Objective::Distill {
                temperature: 4.0,
                alpha: 1.0,
                labels: &labels,
            },
        ];
        // MSE plus the ranking term over both toy targets.
        let ranked_cfg = TrainConfig {
            contrastive_weight: 0.7,
            contrastive_temperature: 0.5,
            ..Default::default()
        };
        let cases = objectives
            .iter()
            .map(|&o| (o, false))
            .chain([(Objective::Mse, true), (Objective::DirectionMse, true)]);
        for projection in [false, true] {
            for (objective, ranked) in cases.clone() {
                let (mut student, texts, targets) = toy(projection);
                let data = mse_data(&texts, &targets);
                let ranking = ranked.then(|| BatchTargets::of(&data, &[0, 1], &ranked_cfg));
                let mut f = Vec::new();
                student.features(&texts[0], &mut f);
                let g = example_grad(
                    &student,
                    &f,
                    objective,
                    1,
                    &targets[8..16],
                    ranking.as_ref(),
                );
                let loss_at = |s: &TableStudent| {
                    let mut h = vec![0.0; s.config.dim];
                    let mut o = vec![0.0; 8];
                    s.forward(&f, &mut h, &mut o);
                    let mut grad = vec![0.0; 8];
                    let mut loss = objective.loss_and_grad(&o, 1, &targets[8..16], &mut grad);
                    if let Some(r) = &ranking {
                        loss += r.weight
                            * crate::train::loss::info_nce(
                                &o,
                                &r.unit,
                                r.slot_of[&1],
                                r.temperature,
                                1.0,
                                &mut grad,
                            );
                    }
                    loss
                };
                let row = f[0] as usize;
                let count = f.iter().filter(|&&r| r as usize == row).count() as f32;
                for d in 0..student.config.dim {
                    let i = row * student.config.dim + d;
                    let orig = student.table[i];
                    student.table[i] = orig + 1e-2;
                    let up = loss_at(&student);
                    student.table[i] = orig - 1e-2;
                    let down = loss_at(&student);
                    student.table[i] = orig;
                    let numeric = (up - down) / 2e-2;
                    assert!(
                        (numeric - count * g.row_grad[d]).abs() < 2e-4,
                        "projection={projection} {objective:?} ranked={ranked} d={d}: {numeric} vs {}",
                        count * g.row_grad[d]
                    );
                }
            }
        }
    }

    #[test]
    fn training_lowers_the_loss_and_is_reproducible() {
        for projection in [false, true] {
            let run = || {
                let (mut student, texts, targets) = toy(projection);
                let data = mse_data(&texts, &targets);
                let before = evaluate_loss(&student, &data);
                let cfg = TrainConfig {
                    epochs: 60,
                    batch_size: 2,
                    lr: 0.05,
                    ..Default::default()
                };
                let logs = train(
                    &mut student,
                    &data,
                    Some(&data),
                    &cfg,
                    None,
                    &mut |_, _, _| {},
                )
                .unwrap();
                (
                    before,
                    logs.last().unwrap().dev_loss.unwrap(),
                    student.table.to_vec(),
                )
            };
            let (before, after, table) = run();
            assert!(
                after < before * 0.2,
                "projection={projection}: {before} -> {after}"
            );
            let (_, after2, table2) = run();
            assert_eq!(after, after2);
            assert_eq!(table, table2, "same seed, same student");
        }
    }

    #[test]
    fn fitting_the_direction_points_each_text_at_its_target_whatever_its_length() {
        let (mut student, texts, mut targets) = toy(false);
        // Target 1 three times as long as target 0: plain MSE would have to match both lengths.
        targets[8..].iter_mut().for_each(|x| *x *= 3.0);
        let data = mse_data(&texts, &targets);
        let cfg = TrainConfig {
            epochs: 60,
            batch_size: 2,
            lr: 0.05,
            fit: Fit::Direction,
            ..Default::default()
        };
        let before = objective_of(&data, &cfg).unwrap();
        assert_eq!(before, Objective::DirectionMse);
        train(&mut student, &data, None, &cfg, None, &mut |_, _, _| {}).unwrap();
        for (i, text) in texts.iter().enumerate().take(6) {
            let t = &targets[(i % 2) * 8..(i % 2 + 1) * 8];
            let y = student.embed(text);
            let cos = crate::encoder::dot(&y, t)
                / (crate::encoder::dot(&y, &y) * crate::encoder::dot(t, t)).sqrt();
            assert!(cos > 0.95, "text {i}: cos {cos}");
        }
        // A classifier's objective has no direction to fit: refused, saying what to remove.
        let labels = [0u32, 1];
        let distill = Dataset {
            objective: Objective::Distill {
                temperature: 2.0,
                alpha: 0.5,
                labels: &labels,
            },
            ..mse_data(&texts, &targets)
        };
        let err = objective_of(&distill, &cfg).unwrap_err().to_string();
        assert!(err.contains("train.fit"), "{err}");
    }

    #[test]
    fn thread_count_does_not_change_the_result() {
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let (mut student, texts, targets) = toy(false);
                let data = mse_data(&texts, &targets);
                let cfg = TrainConfig {
                    epochs: 3,
                    batch_size: 4,
                    ..Default::default()
                };
                train(&mut student, &data, None, &cfg, None, &mut |_, _, _| {}).unwrap();
                student.table.to_vec()
            })
        };
        assert_eq!(run(1), run(3));
    }

    #[test]
    fn the_ranking_term_trains_each_text_nearest_its_own_target() {
        let (mut student, texts, targets) = toy(true);
        let data = mse_data(&texts, &targets);
        let cfg = TrainConfig {
            epochs: 60,
            batch_size: 4,
            lr: 0.05,
            contrastive_weight: 1.0,
            contrastive_temperature: 0.1,
            ..Default::default()
        };
        let before = evaluate_loss(&student, &data);
        let logs = train(&mut student, &data, None, &cfg, None, &mut |_, _, _| {}).unwrap();
        assert!(logs.last().unwrap().train_loss.is_finite());
        assert!(
            evaluate_loss(&student, &data) < before,
            "the MSE part falls too"
        );
        for (i, text) in texts.iter().enumerate() {
            let out = student.embed(text);
            let cos = |t: &[f32]| crate::encoder::dot(&out, t);
            let (own, other) = (
                &targets[(i % 2) * 8..][..8],
                &targets[(1 - i % 2) * 8..][..8],
            );
            assert!(
                cos(own) > cos(other),
                "{text}: {} vs {}",
                cos(own),
                cos(other)
            );
        }
        // Not defined for the classification objective, nor at τ = 0.
        let labels = [0u32, 1];
        let distill = Dataset {
            pairs: &[],
            objective: Objective::Distill {
                temperature: 2.0,
                alpha: 0.5,
                labels: &labels,
            },
            ..mse_data(&texts, &targets)
        };
        let err = train(&mut student, &distill, None, &cfg, None, &mut |_, _, _| {});
        assert!(err.unwrap_err().to_string().contains("MSE) only"));
        let cold = TrainConfig {
            contrastive_temperature: 0.0,
            ..cfg
        };
        let err = train(&mut student, &data, None, &cold, None, &mut |_, _, _| {});
        assert!(err.unwrap_err().to_string().contains("must be > 0"));
    }

    #[test]
    fn the_pair_ranking_term_teaches_translations_no_target_was_given_for() {
        let (_, texts, targets) = toy(true);
        // Only the two English texts have targets; their translations come as pairs alone.
        let data = Dataset {
            examples: examples()[..2].to_vec(),
            pairs: &[(0, 2), (1, 3), (0, 4), (1, 5)],
            ..mse_data(&texts, &targets)
        };
        let cfg = TrainConfig {
            epochs: 200,
            batch_size: 2,
            lr: 0.05,
            pair_ranking_weight: 1.0,
            pair_ranking_batch_size: 2,
            contrastive_temperature: 0.1,
            ..Default::default()
        };
        // How much nearer (in cosine) each translation is to its own English than to the other.
        let margins = |cfg: &TrainConfig| -> Vec<f32> {
            let mut student = toy(true).0;
            train(&mut student, &data, None, cfg, None, &mut |_, _, _| {}).unwrap();
            let en = [student.embed(&texts[0]), student.embed(&texts[1])];
            (2..6)
                .map(|i| {
                    let xx = student.embed(&texts[i]);
                    let cos = |e: &[f32]| crate::encoder::dot(&xx, e);
                    cos(&en[i % 2]) - cos(&en[1 - i % 2])
                })
                .collect()
        };
        let with_pairs = margins(&cfg);
        let without = margins(&TrainConfig {
            pair_ranking_weight: 0.0,
            ..cfg.clone()
        });
        for (i, (w, wo)) in with_pairs.iter().zip(&without).enumerate() {
            assert!(
                *w > 0.1 && *w > wo + 0.1,
                "{}: {w} with pairs, {wo} without",
                texts[i + 2]
            );
        }
        // Refused: a weight with no pairs, and a negative weight.
        let mut student = toy(true).0;
        let no_pairs = mse_data(&texts, &targets);
        let err = train(&mut student, &no_pairs, None, &cfg, None, &mut |_, _, _| {});
        assert!(err.unwrap_err().to_string().contains("no parallel pairs"));
        let negative = TrainConfig {
            pair_ranking_weight: -1.0,
            ..cfg
        };
        let err = train(
            &mut student,
            &data,
            None,
            &negative,
            None,
            &mut |_, _, _| {},
        );
        assert!(err.unwrap_err().to_string().contains("must be ≥ 0"));
    }

    #[test]
    fn the_pair_batches_cover_every_pair_once_a_pass_and_depend_on_the_step_alone() {
        let cfg = TrainConfig {
            pair_ranking_batch_size: 4,
            ..Default::default()
        };
        let mut walked = PairSchedule::new(10, &cfg);
        let drawn: Vec<u32> = (0..5).flat_map(|step| walked.batch(step)).collect();
        for pass in drawn.chunks(10) {
            let mut sorted = pass.to_vec();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..10).collect::<Vec<u32>>());
        }
        assert_ne!(drawn[..10], drawn[10..], "each pass is shuffled afresh");
        // What a resumed run draws at step 3 without having drawn steps 0 to 2.
        assert_eq!(PairSchedule::new(10, &cfg).batch(3), drawn[12..16]);
    }

    #[test]
    fn a_run_resumed_after_a_crash_ends_with_the_same_student() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TrainConfig {
            epochs: 3,
            batch_size: 2,
            lr: 0.05,
            checkpoint_every: 2,
            ..Default::default()
        };
        for projection in [false, true] {
            let (student0, texts, targets) = toy(projection);
            let data = mse_data(&texts, &targets);
            let mut whole = toy(projection).0;
            let logs = train(&mut whole, &data, None, &cfg, None, &mut |_, _, _| {}).unwrap();
            // 3 steps per epoch, 9 in all: crash inside epoch 1, at an epoch end, in epoch 3.
            for crash_at in [2, 3, 5, 8] {
                let ck = Checkpointing {
                    path: dir.path().join(format!("{projection}-{crash_at}.ckpt")),
                    every: cfg.checkpoint_every,
                    resume: true,
                };
                let mut crashed = toy(projection).0;
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    train(
                        &mut crashed,
                        &data,
                        None,
                        &cfg,
                        Some(&ck),
                        &mut |step, _, _| {
                            assert!(step < crash_at, "simulated crash");
                        },
                    )
                }));
                assert!(outcome.is_err(), "the run crashed");
                let mut resumed = toy(projection).0;
                let mut steps = Vec::new();
                let resumed_logs = train(
                    &mut resumed,
                    &data,
                    None,
                    &cfg,
                    Some(&ck),
                    &mut |s, _, _| steps.push(s),
                )
                .unwrap();
                assert!(steps[0] > 1 && steps[0] <= crash_at + 1, "{steps:?}");
                assert_eq!(
                    resumed.table.to_vec(),
                    whole.table.to_vec(),
                    "crash at {crash_at}"
                );
                assert_eq!(resumed.projection, whole.projection);
                assert_eq!(resumed_logs.len(), logs.len());
            }
            // A checkpoint of other data is refused, naming the file.
            let other = Dataset {
                examples: examples()[..4].to_vec(),
                ..data
            };
            let ck = Checkpointing {
                path: dir.path().join(format!("{projection}-2.ckpt")),
                every: 2,
                resume: true,
            };
            let mut s = student0;
            let err = train(&mut s, &other, None, &cfg, Some(&ck), &mut |_, _, _| {})
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("-2.ckpt") && err.contains("another config"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_non_finite_loss_names_the_step_and_the_last_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let (mut student, texts, targets) = toy(false);
        let data = mse_data(&texts, &targets);
        let cfg = TrainConfig {
            epochs: 2,
            batch_size: 2,
            lr: 1e30,
            ..Default::default()
        };
        let ck = Checkpointing {
            path: dir.path().join("nan.ckpt"),
            every: 1,
            resume: false,
        };
        let err = train(
            &mut student,
            &data,
            None,
            &cfg,
            Some(&ck),
            &mut |_, _, _| {},
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("loss became") && err.contains("step") && err.contains("nan.ckpt"),
            "{err}"
        );
    }

    #[test]
    fn an_empty_dataset_is_an_error() {
        let (mut student, texts, targets) = toy(false);
        let data = Dataset {
            pairs: &[],
            texts: &texts,
            targets: &targets,
            dim: 8,
            examples: vec![],
            objective: Objective::Mse,
        };
        assert!(train(
            &mut student,
            &data,
            None,
            &TrainConfig::default(),
            None,
            &mut |_, _, _| {}
        )
        .is_err());
    }
}
