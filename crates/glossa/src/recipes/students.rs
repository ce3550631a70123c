//! The students a recipe builds and trains: fresh fastText-style tables, Model2Vec-style tables
//! initialised from the teacher's token vectors, and Transformers cut from the teacher.

use std::time::Instant;

use rayon::prelude::*;

use crate::progress::Progress;
use crate::recipes::config::{Config, StudentConfig};
use crate::recipes::run::Run;
use crate::recipes::teacher::label;
use crate::student::table_student::build_vocab;
use crate::student::{token_init, SubwordConfig, TableStudent};
use crate::teacher::cache::LabelCache;
use crate::teacher::Teacher;
use crate::train::pairs::TrainingData;
use crate::train::{Dataset, EpochLog, TrainConfig};
use crate::{Encoder, Error, Result};

/// A fresh fastText-style student for `data`: vocabulary from its texts, random rows.
pub fn new_subword_student(
    config: &Config,
    data: &TrainingData,
    what: &str,
) -> Result<TableStudent> {
    let student = fresh_subword_student(
        &config.student,
        &data.texts,
        data.dim,
        data.dim,
        config.train.seed,
    )?;
    tracing::info!(
        "{what}: {} words + {} buckets",
        student.words().len(),
        student.config.buckets
    );
    Ok(student)
}

/// A fastText-style student of `s`'s shape and word rules: vocabulary counted on `texts`,
/// rows `s.dim` wide (else `width`), an output `output_dim` wide, random rows from `seed`.
pub fn fresh_subword_student(
    s: &StudentConfig,
    texts: &[String],
    width: usize,
    output_dim: usize,
    seed: u64,
) -> Result<TableStudent> {
    let rules = s.word_rules();
    let words = build_vocab(
        texts.iter().map(String::as_str),
        rules,
        s.min_count,
        s.max_words,
    );
    let shape = SubwordConfig {
        word_ngrams: s.word_ngrams,
        ..SubwordConfig::new(
            s.dim.unwrap_or(width),
            output_dim,
            s.buckets,
            (s.minn, s.maxn),
            rules,
        )
    };
    TableStudent::new(shape, words, seed)
}

/// The Model2Vec-style static student: every token of the teacher's tokenizer through the
/// teacher (via the label cache, so an interrupted run resumes), PCA, SIF weights from the token
/// counts of the training texts.
pub fn new_static_student(
    config: &Config,
    teacher: &Teacher,
    cache: &mut LabelCache,
    data: &TrainingData,
    progress: &dyn Progress,
) -> Result<TableStudent> {
    let path = teacher.tokenizer_path();
    let tokenizer = tokenizers::Tokenizer::from_file(&path)
        .map_err(|e| Error::invalid(&path, format!("cannot load tokenizer: {e}")))?;
    let counts = token_init::token_counts(&tokenizer, data.texts.par_iter().map(String::as_str));
    let mut texts = token_init::token_texts(&tokenizer);
    let kept = token_init::keep_most_used(&mut texts, &counts, config.student.max_tokens);
    let present: Vec<&str> = texts.iter().flatten().map(String::as_str).collect();
    tracing::info!(
        "static student: the teacher encodes {} of {} tokens on their own ({} occur in the \
         training texts; at most student.max_tokens = {})",
        present.len(),
        texts.len(),
        kept.used,
        config.student.max_tokens
    );
    label(teacher, cache, &present, "token vectors", progress)?;
    let vectors = cache.lookup(&present)?;
    let mut rows = vectors.rows();
    let per_token: Vec<Option<&[f32]>> = texts
        .iter()
        .map(|t| {
            t.as_ref()
                .map(|_| rows.next().expect("one vector per present token"))
        })
        .collect();
    let weights = token_init::sif_weights(&counts, config.student.sif_coefficient);
    let dim = config.student.dim.unwrap_or(teacher.dim());
    let mut student =
        token_init::build_static(tokenizer, &per_token, teacher.dim(), dim, &weights)?;
    student.teacher = teacher.name();
    Ok(student)
}

/// Trains `student` on `data` toward its targets (MSE), with the run's progress and checkpoints.
pub fn train_student(
    run: &Run,
    config: &Config,
    mut student: TableStudent,
    data: &TrainingData,
    dev: &TrainingData,
    what: &str,
) -> Result<(TableStudent, Vec<EpochLog>)> {
    tracing::info!(
        "{what}: {} rows of {}, {} examples, {} epochs",
        student.rows(),
        student.config.dim,
        data.examples.len(),
        config.train.epochs
    );
    let logs = train_with_progress(
        run,
        &config.train,
        &mut student,
        &data.dataset(),
        Some(&dev.dataset()),
        what,
        &|loss| format!("{what} mse×1000 {:.3}", loss * 1000.0),
    )?;
    Ok((student, logs))
}

/// Builds and trains the Transformer student of `config.transformer`, with a progress bar.
pub fn train_transformer_student(
    run: &Run,
    config: &Config,
    data: &TrainingData,
    dev: &TrainingData,
    what: &str,
) -> Result<(crate::student::TransformerStudent, Vec<EpochLog>)> {
    if config.train.fit != crate::train::Fit::Vector {
        return Err(crate::Error::msg(
            "train.fit = \"direction\" applies to the table students; a Transformer student \
             trains on the plain MSE ([transformer] settings; remove train.fit)",
        ));
    }
    let cfg = &config.transformer;
    let teacher_dir = crate::hub::resolve(&config.teacher.model)?;
    let mut student = crate::train::autodiff::new_student(&teacher_dir, cfg)?;
    let task = run.progress().start(what, 0);
    let mut last_log = Instant::now();
    crate::train::autodiff::train(
        &mut student,
        &data.dataset(),
        Some(&dev.dataset()),
        cfg,
        &mut |step, total, loss| {
            task.set_total(total as u64);
            task.set_done(step as u64);
            task.set_message(format!("{what} mse×1000 {:.3}", loss * 1000.0));
            // The bar is hidden when stderr is not a terminal: the log shows the loss falling.
            if last_log.elapsed().as_secs() >= 30 || step == total {
                tracing::info!(
                    "{what}: step {step}/{total}, running mse×1000 {:.3}",
                    loss * 1000.0
                );
                last_log = Instant::now();
            }
        },
    )
    .map(|logs| (student, logs))
}

/// Trains `student` with a progress bar and checkpoints under the run's `checkpoints/<what>`.
pub fn train_with_progress(
    run: &Run,
    cfg: &TrainConfig,
    student: &mut TableStudent,
    data: &Dataset,
    dev: Option<&Dataset>,
    what: &str,
    message: &dyn Fn(f32) -> String,
) -> Result<Vec<EpochLog>> {
    let task = run.progress().start(what, 0);
    let checkpointing = run.checkpointing(what, cfg.checkpoint_every);
    crate::train::train(
        student,
        data,
        dev,
        cfg,
        Some(&checkpointing),
        &mut |step, total, loss| {
            task.set_total(total as u64);
            task.set_done(step as u64);
            if step % 200 == 0 {
                task.set_message(message(loss));
            }
        },
    )
}
