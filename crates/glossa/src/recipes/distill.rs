//! The whole job, end to end: corpus → teacher labels → student → evaluation → report, as a
//! short list of named stages.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

use crate::data::corpus::BuildReport;
use crate::data::select::{
    dev_sample_from, direct_texts_from, every_pair_from, pairs_with_english, select_english,
    select_english_from, with_english_only, Keep,
};
use crate::data::testsets::TestSetIndex;
use crate::data::Pair;
use crate::eval::{self, DevSet, ModelReport, Suite};
use crate::progress::Progress;
use crate::recipes::config::{Config, StudentKind};
use crate::recipes::run::Run;
use crate::recipes::sources::Sources;
use crate::recipes::students::{
    new_static_student, new_subword_student, train_student, train_transformer_student,
};
use crate::recipes::teacher::{label_in_chunks, open_cache, RunTeacher};
use crate::student::TableStudent;
use crate::teacher::cache::{CachedEncoder, LabelCache};
use crate::train::pairs::{center_rows, mean_row, random_unit_targets, TrainingData};
use crate::train::EpochLog;
use crate::{Encoder, Error, Result};

#[derive(Debug, Serialize)]
pub struct DistillReport {
    pub corpus: BuildReport,
    /// English-only sentences (WordNet) used for training.
    pub english_only: usize,
    /// Frequent words (wordfreq lists, every language) labelled and learnt directly.
    pub words: usize,
    /// Fortune entries (every language) labelled and learnt directly.
    pub fortunes: usize,
    /// The user's monolingual lines (every language) labelled and learnt directly.
    pub monolingual: usize,
    /// Evaluations not run, each with the reason (e.g. no evaluation sets were found).
    pub skipped_evaluations: Vec<String>,
    /// Distinct English texts labelled by the teacher and used for training.
    pub english_texts: usize,
    /// Training examples per language (English: the English texts themselves).
    pub examples: BTreeMap<String, usize>,
    /// Parallel pairs, labelled or not, that the pair ranking term read (0: the term is off).
    pub ranking_pairs: usize,
    pub train_log: Vec<EpochLog>,
    pub models: Vec<ModelReport>,
    pub seconds: BTreeMap<String, f64>,
}

/// Runs the whole pipeline for `config`, writing everything under `config.run_dir`.
pub fn distill(config: &Config, progress: &dyn Progress) -> Result<DistillReport> {
    refuse_settings_that_cannot_apply(config)?;
    let run = Run::create(config, progress)?;
    // Loaded once: both the pairs and the English-only sentences are filtered against it.
    let eval_found = config.eval_dir.is_dir();
    let tests = match eval_found {
        true => TestSetIndex::load(&config.eval_dir)?,
        false => {
            tracing::warn!("{}", no_eval_sets(config));
            TestSetIndex::default()
        }
    };
    let mut sources = Sources::gather(config, &tests, &run)?;
    let teacher = run.stage("load teacher", || RunTeacher::load(&config.teacher))?;
    // Embeddings computed elsewhere cover the texts they were computed for: train on those.
    if let RunTeacher::Precomputed(p) = &teacher {
        sources.keep_covered(p);
    }
    let keep = |en: &str| match &teacher {
        RunTeacher::Precomputed(p) => p.covers(en),
        _ => true,
    };
    let mut cache = open_cache(config, &teacher)?;
    let selection = run.stage("select", || Selection::choose(config, &sources, &keep))?;
    run.stage("teacher labels", || {
        label_in_chunks(
            &teacher,
            &mut cache,
            &selection.all(),
            "teacher labels",
            progress,
            teacher.label_chunk(),
        )
    })?;
    if let RunTeacher::Remote { remote, .. } = &teacher {
        for (endpoint, texts, rate) in remote.throughput() {
            let rate = rate.map_or("no answer".into(), |r| {
                format!("{r:.0} texts/s per request")
            });
            tracing::info!("teacher endpoint {endpoint}: {texts} texts, {rate}");
        }
    }
    let (data, dev_data) = training_data(config, &cache, &selection, &sources, &keep)?;
    let students = train_students(&run, config, &teacher, &mut cache, &data, &dev_data)?;
    let mut skipped_evaluations = Vec::new();
    let eval_config = match eval_found {
        true => config.clone(),
        false => {
            skipped_evaluations.push(no_eval_sets(config));
            without_test_sets(config)
        }
    };
    let trained = data.per_language.keys().map(String::as_str);
    let models = evaluate(
        &run,
        &eval_config,
        (&teacher, &mut cache),
        &selection,
        &students,
        trained,
    )?;
    let report = DistillReport {
        corpus: sources.corpus_report,
        english_only: sources.english_only.len(),
        words: sources.words.len(),
        fortunes: sources.fortunes.len(),
        monolingual: sources.monolingual.len(),
        skipped_evaluations,
        english_texts: selection.english.len(),
        examples: data.per_language.clone(),
        ranking_pairs: data.pairs.len(),
        train_log: students.train_log,
        models,
        seconds: run.seconds(),
    };
    write_reports(&run, &report, &teacher.name())?;
    crate::recipes::model_card::write(&run.dir().join("student"), config, &report.models)?;
    run.remove_checkpoints();
    Ok(report)
}

/// Why Tatoeba and STS are not run: said in the log and the report.
fn no_eval_sets(config: &Config) -> String {
    format!(
        "Tatoeba and STS skipped: no evaluation sets at {} (give --eval-dir or GLOSSA_EVAL_DIR: a folder \
         with tatoeba/, sts2017/ and stsbenchmark/). Test sentences could not be kept out of \
         training either; the dev-split MSE is still reported",
        config.eval_dir.display()
    )
}

/// `config` with every evaluation that reads the evaluation sets switched off.
fn without_test_sets(config: &Config) -> Config {
    let mut config = config.clone();
    config.eval.tatoeba.clear();
    config.eval.sts17 = false;
    config.eval.stsb = false;
    config
}

/// Checked before the teacher's hours are spent, not after.
fn refuse_settings_that_cannot_apply(config: &Config) -> Result<()> {
    let train = &config.train;
    if config.student.kind == StudentKind::Transformer
        && (train.contrastive_weight > 0.0 || train.pair_ranking_weight > 0.0)
    {
        return Err(Error::msg(
            "train.contrastive_weight and train.pair_ranking_weight are for the subword and \
             static students: the Transformer student trains on MSE with the [transformer] \
             section's settings",
        ));
    }
    if config.student.kind != StudentKind::Subword && config.student.word_ngrams != 1 {
        return Err(Error::msg(format!(
            "student.word_ngrams = {} is for the subword student (kind = \"subword\"): the \
             static and Transformer students read the teacher's tokens; remove the key",
            config.student.word_ngrams
        )));
    }
    Ok(())
}

/// The texts the teacher labels: the training English texts (with the English-only sentences,
/// the translations learnt directly, the frequent words and the fortunes) and the dev ones.
struct Selection {
    english: Vec<String>,
    dev_pairs: BTreeMap<String, Vec<Pair>>,
    dev_english: Vec<String>,
}

impl Selection {
    /// Reads the corpus from disk, keeping in memory only what it selects.
    fn choose(config: &Config, sources: &Sources, keep: Keep) -> Result<Self> {
        let files = &sources.corpus;
        let english = with_english_only(
            select_english_from(files, config.corpus.max_english, keep)?,
            &sources.english_only,
        );
        let direct = direct_texts_from(files, &english, config.corpus.direct_per_language, keep)?;
        if !direct.is_empty() {
            tracing::info!(
                "{} translations are also learnt directly toward the teacher's own vectors",
                direct.len()
            );
        }
        let english = with_english_only(english, &direct);
        let english = with_english_only(english, &sources.words);
        let english = with_english_only(english, &sources.fortunes);
        let english = with_english_only(english, &sources.monolingual);
        let per_language = config.corpus.dev_pairs_per_language;
        let dev_pairs = dev_sample_from(files, per_language, keep)?;
        let dev_only = &sources.english_only_dev;
        let dev_english = with_english_only(
            select_english(&dev_pairs, usize::MAX),
            &dev_only[..dev_only.len().min(per_language)],
        );
        tracing::info!(
            "{} English-only sentences for training, {} for dev",
            sources.english_only.len(),
            dev_only.len()
        );
        Ok(Selection {
            english,
            dev_pairs,
            dev_english,
        })
    }

    fn all(&self) -> Vec<&str> {
        self.english
            .iter()
            .chain(&self.dev_english)
            .map(String::as_str)
            .collect()
    }
}

/// The training and dev examples, toward the teacher's vectors (centred when the config says).
fn training_data(
    config: &Config,
    cache: &LabelCache,
    selection: &Selection,
    sources: &Sources,
    keep: Keep,
) -> Result<(TrainingData, TrainingData)> {
    let mut targets = cache.lookup(&refs(&selection.english))?;
    let mut dev_targets = cache.lookup(&refs(&selection.dev_english))?;
    if config.student.center_targets {
        let mean = mean_row(&targets);
        tracing::info!(
            "centring the teacher's vectors: their mean has norm {:.3}",
            crate::encoder::dot(&mean, &mean).sqrt()
        );
        center_rows(&mut targets, &mean);
        center_rows(&mut dev_targets, &mean);
    }
    let dim = cache.dim();
    let cap = config.corpus.max_pairs_per_language;
    let train = pairs_with_english(&sources.corpus, &selection.english, cap, keep)?;
    let ranking = if config.train.pair_ranking_weight > 0.0 {
        every_pair_from(&sources.corpus, cap)?
    } else {
        BTreeMap::new()
    };
    let english = &selection.english;
    let data = TrainingData::assemble(english, targets.into_vec(), dim, &train, &ranking);
    if !data.pairs.is_empty() {
        tracing::info!(
            "{} parallel pairs, labelled or not, train the pair ranking term",
            data.pairs.len()
        );
    }
    let (dev, none) = (&selection.dev_pairs, &BTreeMap::new());
    let dev_data = TrainingData::assemble(
        &selection.dev_english,
        dev_targets.into_vec(),
        dim,
        dev,
        none,
    );
    tracing::info!(
        "training on {} distinct English texts, {} examples",
        selection.english.len(),
        data.examples.len()
    );
    Ok((data, dev_data))
}

fn refs(texts: &[String]) -> Vec<&str> {
    texts.iter().map(String::as_str).collect()
}

/// What training produced: the student (as saved and loaded back), its log, the static
/// student's starting point and the random-target control, when the run has them.
struct Students {
    student: Box<dyn Encoder>,
    train_log: Vec<EpochLog>,
    init_only: Option<TableStudent>,
    control: Option<TableStudent>,
}

fn train_students(
    run: &Run,
    config: &Config,
    teacher: &RunTeacher,
    cache: &mut LabelCache,
    data: &TrainingData,
    dev_data: &TrainingData,
) -> Result<Students> {
    let student_dir = run.dir().join("student");
    let trained = if config.student.kind == StudentKind::Transformer {
        teacher.model()?;
        let (student, log) = run.stage("train student", || {
            train_transformer_student(run, config, data, dev_data, "student")
        })?;
        student.save(&student_dir)?;
        (crate::student::load_student(&student_dir)?, log, None)
    } else {
        let (student, log, init_only) =
            train_table_student(run, config, teacher, cache, data, dev_data)?;
        student.save(&student_dir)?;
        let loaded: Box<dyn Encoder> = Box::new(TableStudent::load(&student_dir)?);
        (loaded, log, init_only)
    };
    tracing::info!("student saved to {}", student_dir.display());
    let (student, train_log, init_only) = trained;
    let control = train_control(run, config, data, dev_data)?;
    Ok(Students {
        student,
        train_log,
        init_only,
        control,
    })
}

/// Trains the subword or static student; the static student's starting point is a model of
/// its own (Model2Vec's), kept and returned, so the report shows what training adds.
fn train_table_student(
    run: &Run,
    config: &Config,
    teacher: &RunTeacher,
    cache: &mut LabelCache,
    data: &TrainingData,
    dev_data: &TrainingData,
) -> Result<(TableStudent, Vec<EpochLog>, Option<TableStudent>)> {
    let mut init_only = None;
    let initial = match config.student.kind {
        StudentKind::Static => {
            let initial = run.stage("static init", || {
                new_static_student(config, teacher.model()?, cache, data, run.progress())
            })?;
            let init_dir = run.dir().join("student-init");
            initial.save(&init_dir)?;
            init_only = Some(TableStudent::load(&init_dir)?);
            initial
        }
        _ => new_subword_student(config, data, "student")?,
    };
    let (mut student, log) = run.stage("train student", || {
        train_student(run, config, initial, data, dev_data, "student")
    })?;
    student.teacher = teacher.name();
    Ok((student, log, init_only))
}

/// The control measures what string overlap alone gives a subword table: the same training
/// toward random unit vectors. A Transformer student has no such baseline here.
fn train_control(
    run: &Run,
    config: &Config,
    data: &TrainingData,
    dev_data: &TrainingData,
) -> Result<Option<TableStudent>> {
    if !config.eval.random_target_control || config.student.kind == StudentKind::Transformer {
        return Ok(None);
    }
    // One target row per English text; the texts and examples stay those of the student.
    let rows = data.targets.len() / data.dim;
    let random = random_unit_targets(rows, data.dim, config.train.seed.wrapping_add(1));
    // The pairs would teach the control alignment without the teacher: it stays on the targets.
    let control_data = TrainingData {
        targets: random,
        pairs: Vec::new(),
        ..data.clone()
    };
    let mut config = config.clone();
    config.train.pair_ranking_weight = 0.0;
    let config = &config;
    let (control, _) = run.stage("train control", || {
        let initial = match config.student.kind {
            StudentKind::Static => TableStudent::load(&run.dir().join("student-init"))?,
            _ => new_subword_student(config, &control_data, "control")?,
        };
        train_student(run, config, initial, &control_data, dev_data, "control")
    })?;
    Ok(Some(control))
}

/// Every model of the run on the evaluation suite: the teacher (through the label cache), the
/// static student's starting point, the student and the control.
fn evaluate<'a>(
    run: &Run,
    config: &Config,
    (teacher, cache): (&RunTeacher, &mut LabelCache),
    selection: &Selection,
    students: &Students,
    trained: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<ModelReport>> {
    let eval_cfg = &config.eval;
    // Tatoeba for every trained language the test set has, beside the headline ones (none
    // when the run evaluates no Tatoeba at all).
    let tatoeba = match eval_cfg.tatoeba.is_empty() || !eval_cfg.tatoeba_trained {
        true => eval_cfg.tatoeba.clone(),
        false => eval::tatoeba_languages(&config.eval_dir, &eval_cfg.tatoeba, trained),
    };
    let mut suite = Suite::load(&config.eval_dir, &tatoeba, eval_cfg.sts17, eval_cfg.stsb)?;
    // Dev MSE compares each model with the teacher's raw vectors; a student of centred targets
    // lives in another space, so the comparison would mean nothing.
    if !config.student.center_targets {
        suite.dev = Some(dev_set(
            &selection.dev_pairs,
            &selection.dev_english,
            cache,
        )?);
    }
    let options = eval::Options {
        speed: eval_cfg.speed_method(),
    };
    let log = |msg: &str| tracing::info!("evaluating {msg}");
    let mut models = Vec::new();
    let teacher_report = run.stage("evaluate teacher", || {
        evaluate_teacher(teacher, cache, &suite, &options)
    });
    match (teacher_report, teacher) {
        (Ok(report), _) => models.push(report),
        // Precomputed embeddings rarely include the test sets: the students are still scored.
        (Err(e), RunTeacher::Precomputed(_)) => tracing::warn!("the teacher is not scored: {e}"),
        (Err(e), RunTeacher::Model(_) | RunTeacher::Remote { .. }) => return Err(e),
    }
    let mut score = |stage: &str, name: &str, model: &dyn Encoder| -> Result<()> {
        let report = run.stage(stage, || {
            eval::evaluate(name, model, &suite, &options, &log)
        })?;
        models.push(report);
        Ok(())
    };
    if let Some(init) = &students.init_only {
        score("evaluate static init", "student, init only", init)?;
    }
    score("evaluate student", "student", students.student.as_ref())?;
    if let Some(control) = &students.control {
        score("evaluate control", "random-target control", control)?;
    }
    if tatoeba.len() > eval_cfg.tatoeba.len() {
        models
            .iter_mut()
            .for_each(|m| eval::split_tatoeba_means(m, &eval_cfg.tatoeba));
    }
    Ok(models)
}

/// The teacher's scores, read through the label cache; its speed is timed on the model itself.
fn evaluate_teacher(
    teacher: &RunTeacher,
    cache: &mut LabelCache,
    suite: &Suite,
    options: &eval::Options,
) -> Result<ModelReport> {
    let cached = CachedEncoder {
        encoder: teacher,
        cache: Mutex::new(cache),
    };
    let no_speed = eval::Options { speed: None };
    let log = |msg: &str| tracing::info!("evaluating {msg}");
    let mut report = eval::evaluate("teacher", &cached, suite, &no_speed, &log)?;
    // No texts to time (no Tatoeba or STS set): no speed, as for the students.
    if let (RunTeacher::Model(t), Some(method)) = (teacher, options.speed_method(suite)) {
        let (rate, described) = eval::timed(t, suite, &method)?;
        report.sentences_per_second = Some(rate);
        report.speed_method = Some(described);
    }
    Ok(report)
}

/// Dev translations per language with the teacher's vectors of their English sides, plus the
/// English texts themselves under "en".
fn dev_set(
    dev_pairs: &BTreeMap<String, Vec<Pair>>,
    dev_english: &[String],
    cache: &LabelCache,
) -> Result<DevSet> {
    let mut by_lang = BTreeMap::new();
    let english_refs: Vec<&str> = dev_english.iter().map(String::as_str).collect();
    by_lang.insert(
        "en".to_string(),
        (dev_english.to_vec(), cache.lookup(&english_refs)?),
    );
    for (lang, pairs) in dev_pairs {
        let en: Vec<&str> = pairs.iter().map(|p| p.en.as_str()).collect();
        let targets = cache.lookup(&en)?;
        by_lang.insert(
            lang.clone(),
            (pairs.iter().map(|p| p.xx.clone()).collect(), targets),
        );
    }
    Ok(DevSet { by_lang })
}

/// report.json, report.txt (the table) and report.html (tables and training curves).
fn write_reports(run: &Run, report: &DistillReport, teacher: &str) -> Result<()> {
    let json = serde_json::to_vec_pretty(report).expect("report serialises");
    run.write("report.json", &json)?;
    run.write("report.txt", eval::render_table(&report.models).as_bytes())?;
    let student_dir = run.dir().join("student");
    let examples = report.examples.iter().map(|(l, n)| format!("{l} {n}"));
    let notes = vec![
        format!("Teacher: {teacher}. Student: {}.", student_dir.display()),
        format!(
            "{} distinct texts labelled ({} of them English-only sentences, {} frequent words, \
             {} fortune entries); training examples per language: {}.",
            report.english_texts,
            report.english_only,
            report.words,
            report.fortunes,
            examples.collect::<Vec<_>>().join(", ")
        ),
    ];
    let title = "glossa distillation report";
    let page = crate::eval::report::html(title, &report.models, &report.train_log, &notes);
    run.write("report.html", page.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_ngrams_are_refused_for_students_that_read_the_teachers_tokens() {
        let mut config = Config::default();
        config.student.word_ngrams = 2;
        assert!(refuse_settings_that_cannot_apply(&config).is_ok());
        for kind in [StudentKind::Static, StudentKind::Transformer] {
            config.student.kind = kind;
            let err = refuse_settings_that_cannot_apply(&config).unwrap_err();
            assert!(
                err.to_string().contains("student.word_ngrams = 2"),
                "{kind:?}: {err}"
            );
        }
    }
}
