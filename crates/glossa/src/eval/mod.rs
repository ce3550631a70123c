//! Tasks that turn a model into report rows: Tatoeba bitext retrieval, STS (2017 and benchmark)
//! Spearman correlation, MSE to the teacher, encode throughput and size on disk.

pub mod report;
pub mod speed;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::encoder::{cosine, dot};
use crate::{Embeddings, Encoder, Error, Result};

/// Tatoeba test pairs for one language: line i of `xx` translates line i of `eng`.
pub struct Tatoeba {
    pub lang: String,
    pub xx: Vec<String>,
    pub eng: Vec<String>,
}

/// An STS set: sentence pairs with gold similarity 0–5.
pub struct Sts {
    pub name: String,
    pub pairs: Vec<(String, String)>,
    pub gold: Vec<f32>,
}

fn lines(path: &Path) -> Result<Vec<String>> {
    Ok(crate::error::read_to_string(path)?
        .lines()
        .map(str::to_owned)
        .collect())
}

/// Whether the evaluation sets hold Tatoeba for `lang` (an ISO 639-3 code).
pub fn has_tatoeba(eval_dir: &Path, lang: &str) -> bool {
    eval_dir
        .join("tatoeba")
        .join(format!("tatoeba.{lang}-eng.{lang}"))
        .is_file()
}

/// The Tatoeba languages to evaluate: the configured (headline) ones, then every trained
/// language (a canonical corpus code) that the test set has and that is not among them.
pub fn tatoeba_languages<'a>(
    eval_dir: &Path,
    configured: &[String],
    trained: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let mut langs = configured.to_vec();
    for code in trained
        .into_iter()
        .filter_map(crate::data::lang::tatoeba_code)
    {
        if code != "eng" && !langs.iter().any(|l| l == code) && has_tatoeba(eval_dir, code) {
            langs.push(code.to_string());
        }
    }
    langs
}

/// For a report over more Tatoeba languages than the headline ones: `tatoeba_mean` over the
/// headline languages, `tatoeba_all_mean` over all of them.
pub fn split_tatoeba_means(report: &mut ModelReport, headline: &[String]) {
    let mean = |scores: Vec<f32>| {
        (!scores.is_empty()).then(|| scores.iter().sum::<f32>() / scores.len() as f32)
    };
    let all: Vec<f32> = report.tatoeba.values().map(|r| r.mean).collect();
    let head: Vec<f32> = headline
        .iter()
        .filter_map(|l| report.tatoeba.get(l).map(|r| r.mean))
        .collect();
    report.tatoeba_all_mean = mean(all);
    report.tatoeba_mean = mean(head);
}

/// Reads `tatoeba/tatoeba.<lang>-eng.{<lang>,eng}` (ISO 639-3 codes).
pub fn load_tatoeba(eval_dir: &Path, lang: &str) -> Result<Tatoeba> {
    let dir = eval_dir.join("tatoeba");
    let xx_path = dir.join(format!("tatoeba.{lang}-eng.{lang}"));
    let eng_path = dir.join(format!("tatoeba.{lang}-eng.eng"));
    if !xx_path.is_file() {
        return Err(Error::invalid(
            &xx_path,
            format!(
                "no Tatoeba set for '{lang}' (languages are ISO 639-3 codes such as deu, cmn, jpn)"
            ),
        ));
    }
    let (xx, eng) = (lines(&xx_path)?, lines(&eng_path)?);
    if xx.len() != eng.len() || xx.is_empty() {
        return Err(Error::invalid(
            &eng_path,
            format!(
                "{} lines, but {} has {}",
                eng.len(),
                xx_path.display(),
                xx.len()
            ),
        ));
    }
    Ok(Tatoeba {
        lang: lang.to_string(),
        xx,
        eng,
    })
}

/// Reads the five STS2017 tracks (`STS.input.*.txt` with `STS.gs.*.txt`).
pub fn load_sts17(eval_dir: &Path) -> Result<Vec<Sts>> {
    let dir = eval_dir.join("sts2017");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| Error::io(&dir, e))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| {
            n.strip_prefix("STS.input.")
                .and_then(|n| n.strip_suffix(".txt"))
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let input = dir.join(format!("STS.input.{name}.txt"));
            let gold_path = dir.join(format!("STS.gs.{name}.txt"));
            let mut pairs = Vec::new();
            for (i, line) in lines(&input)?.iter().enumerate() {
                let (a, b) = line.split_once('\t').ok_or_else(|| {
                    Error::parse(&input, i + 1, "expected two tab-separated sentences")
                })?;
                pairs.push((a.to_string(), b.to_string()));
            }
            let gold = parse_scores(&gold_path, lines(&gold_path)?.iter().map(String::as_str))?;
            if gold.len() != pairs.len() {
                return Err(Error::invalid(
                    &gold_path,
                    format!(
                        "{} scores for {} pairs in {}",
                        gold.len(),
                        pairs.len(),
                        input.display()
                    ),
                ));
            }
            // "track4a.es-en" → "sts17-4a-es-en": tracks 4a and 4b share a language pair.
            let short = name.trim_start_matches("track").replace('.', "-");
            Ok(Sts {
                name: format!("sts17-{short}"),
                pairs,
                gold,
            })
        })
        .collect()
}

fn parse_scores<'a>(path: &Path, lines: impl Iterator<Item = &'a str>) -> Result<Vec<f32>> {
    lines
        .enumerate()
        .map(|(i, l)| {
            l.trim()
                .parse::<f32>()
                .map_err(|_| Error::parse(path, i + 1, format!("expected a score, found {l:?}")))
        })
        .collect()
}

/// Reads STS-benchmark `sts-<split>.csv`: genre, file, year, id, score, s1, s2 (tab-separated).
pub fn load_stsb(eval_dir: &Path, split: &str) -> Result<Sts> {
    let path = eval_dir
        .join("stsbenchmark")
        .join(format!("sts-{split}.csv"));
    let mut pairs = Vec::new();
    let mut gold = Vec::new();
    for (i, line) in lines(&path)?.iter().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 7 {
            return Err(Error::parse(
                &path,
                i + 1,
                format!(
                    "expected at least 7 tab-separated fields, found {}",
                    f.len()
                ),
            ));
        }
        gold.push(f[4].parse().map_err(|_| {
            Error::parse(
                &path,
                i + 1,
                format!("expected a score in field 5, found {:?}", f[4]),
            )
        })?);
        pairs.push((f[5].to_string(), f[6].to_string()));
    }
    Ok(Sts {
        name: format!("stsb-{split}"),
        pairs,
        gold,
    })
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Retrieval {
    /// Accuracy of finding the English line from the translation, in %.
    pub xx_to_eng: f32,
    pub eng_to_xx: f32,
    pub mean: f32,
}

/// Cosine nearest-neighbour retrieval accuracy in both directions.
pub fn retrieval(xx: &Embeddings, eng: &Embeddings) -> Retrieval {
    let (mut a, mut b) = (xx.clone(), eng.clone());
    a.normalize();
    b.normalize();
    let hits = |q: &Embeddings, k: &Embeddings| -> usize {
        (0..q.len())
            .into_par_iter()
            .filter(|&i| {
                let qi = q.row(i);
                let own = dot(qi, k.row(i));
                // Correct when no other candidate scores strictly higher (ties favour the answer).
                !(0..k.len()).any(|j| j != i && dot(qi, k.row(j)) > own)
            })
            .count()
    };
    let n = xx.len() as f32;
    let x2e = 100.0 * hits(&a, &b) as f32 / n;
    let e2x = 100.0 * hits(&b, &a) as f32 / n;
    Retrieval {
        xx_to_eng: x2e,
        eng_to_xx: e2x,
        mean: (x2e + e2x) / 2.0,
    }
}

/// Spearman rank correlation ×100.
pub fn spearman(a: &[f32], b: &[f32]) -> f32 {
    let (ra, rb) = (ranks(a), ranks(b));
    100.0 * pearson(&ra, &rb)
}

fn ranks(v: &[f32]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        // Ties share the mean of their ranks.
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = rank;
        }
        i = j + 1;
    }
    r
}

fn pearson(a: &[f64], b: &[f64]) -> f32 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    if va == 0.0 || vb == 0.0 {
        0.0
    } else {
        (cov / (va * vb).sqrt()) as f32
    }
}

pub fn sts_score(encoder: &dyn Encoder, set: &Sts) -> Result<f32> {
    let left: Vec<&str> = set.pairs.iter().map(|p| p.0.as_str()).collect();
    let right: Vec<&str> = set.pairs.iter().map(|p| p.1.as_str()).collect();
    let (a, b) = (encoder.encode(&left)?, encoder.encode(&right)?);
    let sims: Vec<f32> = (0..a.len()).map(|i| cosine(a.row(i), b.row(i))).collect();
    Ok(spearman(&sims, &set.gold))
}

/// Dev pairs per language: translations and the teacher's vectors of their English sides.
pub struct DevSet {
    pub by_lang: BTreeMap<String, (Vec<String>, Embeddings)>,
}

/// Everything a report needs, loaded once and shared by every model evaluated.
pub struct Suite {
    pub tatoeba: Vec<Tatoeba>,
    pub sts: Vec<Sts>,
    pub dev: Option<DevSet>,
    /// Sentences timed for throughput: `glossa bench`'s `short` input where the eval folder has
    /// its files, else the evaluated sets' English sentences.
    pub speed_texts: Vec<String>,
    /// What `speed_texts` are, as [`speed::Method::input`] names them.
    pub speed_input: String,
}

impl Suite {
    /// Loads the Tatoeba languages asked for, STS2017 and the STS-benchmark test split.
    pub fn load(eval_dir: &Path, tatoeba: &[String], sts17: bool, stsb: bool) -> Result<Self> {
        let tatoeba: Vec<Tatoeba> = tatoeba
            .iter()
            .map(|l| load_tatoeba(eval_dir, l))
            .collect::<Result<_>>()?;
        let mut sts = if sts17 {
            load_sts17(eval_dir)?
        } else {
            Vec::new()
        };
        if stsb {
            sts.push(load_stsb(eval_dir, "test")?);
        }
        let (speed_texts, speed_input) = speed_texts(eval_dir, &tatoeba, &sts);
        Ok(Suite {
            tatoeba,
            sts,
            dev: None,
            speed_texts,
            speed_input,
        })
    }
}

/// `glossa bench`'s `short` input, so a report's figure and the benchmark's time the same texts;
/// a folder without those Tatoeba files (a test's, a user's own sets) times the first 2,000
/// English sentences it has, and the method says so.
fn speed_texts(eval_dir: &Path, tatoeba: &[Tatoeba], sts: &[Sts]) -> (Vec<String>, String) {
    if let Ok(texts) = speed::inputs(eval_dir, "short") {
        return (texts, "short".into());
    }
    let mut texts: Vec<String> = tatoeba
        .iter()
        .flat_map(|t| t.eng.iter().cloned())
        .take(2000)
        .collect();
    let mut from = "Tatoeba";
    if texts.is_empty() {
        texts = sts
            .iter()
            .flat_map(|s| s.pairs.iter().map(|p| p.0.clone()))
            .take(2000)
            .collect();
        from = "STS";
    }
    let input = format!(
        "the first {} English sentences of the evaluated {from} sets (the folder lacks \
         `glossa bench`'s inputs)",
        texts.len()
    );
    (texts, input)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelReport {
    pub name: String,
    pub tatoeba: BTreeMap<String, Retrieval>,
    /// Mean over the configured (headline) languages.
    pub tatoeba_mean: Option<f32>,
    /// Mean over every language in `tatoeba`: the headline ones and every trained language the
    /// test set has; absent when that is the headline set itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tatoeba_all_mean: Option<f32>,
    /// Spearman ×100 per STS set.
    pub sts: BTreeMap<String, f32>,
    /// MSE (×1000 is easier to read; stored raw) of model(translation) to teacher(English).
    pub dev_mse: BTreeMap<String, f32>,
    pub sentences_per_second: Option<f64>,
    /// How `sentences_per_second` was measured ([`speed::Method::describe`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_method: Option<String>,
    pub size_bytes: Option<u64>,
}

pub struct Options {
    /// Time encoding for throughput this way (uncached encoders only); `None`: no speed. The
    /// input is the suite's (`Suite::speed_input`), whatever `input` says.
    pub speed: Option<speed::Method>,
}

impl Options {
    /// The method a model of `suite` is timed by, if any: `None` without texts to time.
    pub fn speed_method(&self, suite: &Suite) -> Option<speed::Method> {
        let method = self
            .speed
            .as_ref()
            .filter(|_| !suite.speed_texts.is_empty())?;
        Some(speed::Method {
            input: suite.speed_input.clone(),
            ..method.clone()
        })
    }
}

/// Times `encoder` on the suite's speed texts by `method`: the figure and its description.
pub fn timed(
    encoder: &dyn Encoder,
    suite: &Suite,
    method: &speed::Method,
) -> Result<(f64, String)> {
    let rate = speed::measure(encoder, &suite.speed_texts, method)?;
    Ok((rate, method.describe()))
}

pub fn evaluate(
    name: &str,
    encoder: &dyn Encoder,
    suite: &Suite,
    options: &Options,
    progress: &dyn Fn(&str),
) -> Result<ModelReport> {
    let mut tatoeba = BTreeMap::new();
    for set in &suite.tatoeba {
        progress(&format!("{name}: tatoeba {}", set.lang));
        let xx: Vec<&str> = set.xx.iter().map(String::as_str).collect();
        let eng: Vec<&str> = set.eng.iter().map(String::as_str).collect();
        tatoeba.insert(
            set.lang.clone(),
            retrieval(&encoder.encode(&xx)?, &encoder.encode(&eng)?),
        );
    }
    let tatoeba_mean = (!tatoeba.is_empty())
        .then(|| tatoeba.values().map(|r| r.mean).sum::<f32>() / tatoeba.len() as f32);
    let mut sts = BTreeMap::new();
    for set in &suite.sts {
        progress(&format!("{name}: {}", set.name));
        sts.insert(set.name.clone(), sts_score(encoder, set)?);
    }
    let mut dev_mse = BTreeMap::new();
    if let Some(dev) = &suite.dev {
        progress(&format!("{name}: dev MSE"));
        for (lang, (texts, targets)) in &dev.by_lang {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let got = encoder.encode(&refs)?;
            let mse = (0..got.len())
                .map(|i| crate::train::loss::mse(got.row(i), targets.row(i)))
                .sum::<f32>()
                / got.len().max(1) as f32;
            dev_mse.insert(lang.clone(), mse);
        }
    }
    let speed = match options.speed_method(suite) {
        Some(method) => {
            progress(&format!("{name}: speed"));
            Some(timed(encoder, suite, &method)?)
        }
        None => None,
    };
    let (sentences_per_second, speed_method) = speed.unzip();
    Ok(ModelReport {
        name: name.to_string(),
        tatoeba,
        tatoeba_mean,
        tatoeba_all_mean: None,
        sts,
        dev_mse,
        sentences_per_second,
        speed_method,
        size_bytes: encoder.size_on_disk(),
    })
}

/// Sentences per second encoding `texts` in batches of `batch` (tokenization included), after a
/// warm-up batch, repeating the list until `min_seconds` have passed and at least a batch is
/// done; it stops at the first batch boundary after that (a whole pass of a teacher over long
/// inputs takes longer than the usual 3 s).
///
/// Each pass starts cold: a cache of what the model has read (the static student's piece ids,
/// the subword student's word sums) would otherwise serve every pass after the first from the
/// inputs themselves. Within a pass words still repeat across sentences, as in real use.
pub fn throughput(
    encoder: &dyn Encoder,
    texts: &[String],
    batch: usize,
    min_seconds: f64,
) -> Result<f64> {
    if texts.is_empty() {
        // The loop below would never finish a batch.
        return Err(Error::msg("no texts to time the encoder on"));
    }
    let batch = batch.max(1);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    encoder.encode(&refs[..refs.len().min(batch)])?;
    let start = Instant::now();
    let mut done = 0usize;
    loop {
        encoder.clear_cache();
        for chunk in refs.chunks(batch) {
            encoder.encode(chunk)?;
            done += chunk.len();
            if start.elapsed().as_secs_f64() >= min_seconds && done >= batch {
                return Ok(done as f64 / start.elapsed().as_secs_f64());
            }
        }
    }
}

/// The keys present in any report's map, sorted: the rows or groups shared by a comparison.
pub fn keys_of<R, V>(reports: &[R], map: impl Fn(&R) -> &BTreeMap<String, V>) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> =
        reports.iter().flat_map(|r| map(r).keys()).collect();
    keys.into_iter().cloned().collect()
}

/// STS-benchmark's key in `ModelReport::sts`.
pub const STSB: &str = "stsb-test";

/// The size–quality curve: (size MB, Tatoeba mean, STS-benchmark) of each report with a size
/// and a quality figure, largest first.
pub fn size_curve(reports: &[ModelReport]) -> Vec<(&str, f64, Option<f32>, Option<f32>)> {
    let mut points: Vec<_> = reports
        .iter()
        .filter_map(|r| {
            let mb = r.size_bytes? as f64 / 1e6;
            let stsb = r.sts.get(STSB).copied();
            (r.tatoeba_mean.is_some() || stsb.is_some()).then_some((
                r.name.as_str(),
                mb,
                r.tatoeba_mean,
                stsb,
            ))
        })
        .collect();
    points.sort_by(|a, b| b.1.total_cmp(&a.1));
    points
}

/// `size_curve` as a plain-text table, or None with fewer than two points.
pub fn render_size_curve(reports: &[ModelReport]) -> Option<String> {
    let points = size_curve(reports);
    if points.len() < 2 {
        return None;
    }
    let fmt = |v: Option<f32>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    let mut out = format!(
        "{:<40} {:>12} {:>16} {:>14}\n",
        "size–quality", "size MB", "tatoeba mean %", "stsb spearman"
    );
    for (name, mb, tatoeba, stsb) in points {
        out += &format!(
            "{name:<40} {mb:>12.1} {:>16} {:>14}\n",
            fmt(tatoeba),
            fmt(stsb)
        );
    }
    Some(out)
}

/// The comparison as a plain-text table: one column per model.
pub fn render_table(reports: &[ModelReport]) -> String {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let col = |f: &dyn Fn(&ModelReport) -> Option<String>| {
        reports
            .iter()
            .map(|r| f(r).unwrap_or_else(|| "-".into()))
            .collect::<Vec<_>>()
    };
    let langs: Vec<String> = keys_of(reports, |r| &r.tatoeba);
    for lang in &langs {
        rows.push((
            format!("tatoeba {lang} acc %"),
            col(&|r| r.tatoeba.get(lang).map(|t| format!("{:.1}", t.mean))),
        ));
    }
    if !langs.is_empty() {
        rows.push((
            "tatoeba mean acc %".into(),
            col(&|r| r.tatoeba_mean.map(|m| format!("{m:.1}"))),
        ));
    }
    if reports.iter().any(|r| r.tatoeba_all_mean.is_some()) {
        rows.push((
            format!("tatoeba mean, all {} acc %", langs.len()),
            col(&|r| r.tatoeba_all_mean.map(|m| format!("{m:.1}"))),
        ));
    }
    let sts: Vec<String> = keys_of(reports, |r| &r.sts);
    for s in &sts {
        rows.push((
            format!("{s} spearman"),
            col(&|r| r.sts.get(s).map(|v| format!("{v:.1}"))),
        ));
    }
    let dev: Vec<String> = keys_of(reports, |r| &r.dev_mse);
    for l in &dev {
        rows.push((
            format!("dev MSE×1000 {l}"),
            col(&|r| r.dev_mse.get(l).map(|v| format!("{:.3}", v * 1000.0))),
        ));
    }
    rows.push((
        "sentences/s".into(),
        col(&|r| r.sentences_per_second.map(|v| format!("{v:.0}"))),
    ));
    if let Some(base) = reports.first().and_then(|r| r.sentences_per_second) {
        rows.push((
            "speed vs first column".into(),
            col(&|r| r.sentences_per_second.map(|v| format!("{:.1}x", v / base))),
        ));
    }
    rows.push((
        "size on disk MB".into(),
        col(&|r| r.size_bytes.map(|b| format!("{:.1}", b as f64 / 1e6))),
    ));
    let header: Vec<String> = reports.iter().map(|r| r.name.clone()).collect();
    align(&header, rows) + &speed_note(reports)
}

/// The line under a table that says how its sentences/s were measured (one line per model
/// when their methods differ), so the figure never stands without its method.
fn speed_note(reports: &[ModelReport]) -> String {
    let methods: std::collections::BTreeSet<&String> = reports
        .iter()
        .filter_map(|r| r.speed_method.as_ref())
        .collect();
    match methods.len() {
        0 => String::new(),
        1 => format!("sentences/s: {}\n", methods.into_iter().next().unwrap()),
        _ => reports
            .iter()
            .filter_map(|r| {
                Some(format!(
                    "sentences/s of {}: {}\n",
                    r.name,
                    r.speed_method.as_ref()?
                ))
            })
            .collect(),
    }
}

/// Rows of cells under `header`, the metric names left-aligned, every column right-aligned.
fn align(header: &[String], rows: Vec<(String, Vec<String>)>) -> String {
    let first = rows
        .iter()
        .map(|r| r.0.chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r.1[i].len())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!("{:<first$}", "metric");
    for (h, w) in header.iter().zip(&widths) {
        out.push_str(&format!("  {h:>w$}"));
    }
    out.push('\n');
    out.push_str(&"-".repeat(first + widths.iter().map(|w| w + 2).sum::<usize>()));
    out.push('\n');
    for (label, cells) in rows {
        out.push_str(&format!("{label:<first$}"));
        for (c, w) in cells.iter().zip(&widths) {
            out.push_str(&format!("  {c:>w$}"));
        }
        out.push('\n');
    }
    out
}

/// A small report for tests of code that renders reports.
#[cfg(test)]
pub(crate) fn sample_report(name: &str) -> ModelReport {
    ModelReport {
        name: name.into(),
        tatoeba: [(
            "deu".to_string(),
            Retrieval {
                xx_to_eng: 50.0,
                eng_to_xx: 40.0,
                mean: 45.0,
            },
        )]
        .into(),
        tatoeba_mean: Some(45.0),
        tatoeba_all_mean: None,
        sts: [("stsb-test".to_string(), 61.0)].into(),
        dev_mse: BTreeMap::new(),
        sentences_per_second: Some(100.0),
        speed_method: Some(speed::Method::default().describe()),
        size_bytes: Some(10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_trained_language_tatoeba_has_is_evaluated_and_averaged_apart() {
        let dir = tempfile::tempdir().unwrap();
        let tatoeba = dir.path().join("tatoeba");
        std::fs::create_dir(&tatoeba).unwrap();
        for lang in ["deu", "swh", "ces"] {
            std::fs::write(tatoeba.join(format!("tatoeba.{lang}-eng.{lang}")), "x\n").unwrap();
        }
        let headline = vec!["deu".to_string()];
        // Swahili and Czech are trained and in the test set; Klingon is not in it; English
        // and German are not added twice.
        let langs = tatoeba_languages(dir.path(), &headline, ["en", "de", "sw", "cs", "tlh"]);
        assert_eq!(langs, ["deu", "swh", "ces"]);

        let mut report = sample_report("m");
        report.tatoeba.clear();
        for (lang, mean) in [("deu", 90.0), ("swh", 30.0), ("ces", 60.0)] {
            report.tatoeba.insert(
                lang.into(),
                Retrieval {
                    xx_to_eng: mean,
                    eng_to_xx: mean,
                    mean,
                },
            );
        }
        split_tatoeba_means(&mut report, &headline);
        assert_eq!(report.tatoeba_mean, Some(90.0));
        assert_eq!(report.tatoeba_all_mean, Some(60.0));
        assert!(render_table(&[report]).contains("tatoeba mean, all 3 acc %"));
    }

    /// Vectors of ones: enough to time.
    struct Ones;

    impl Encoder for Ones {
        fn name(&self) -> String {
            "ones".into()
        }
        fn dim(&self) -> usize {
            2
        }
        fn encode(&self, texts: &[&str]) -> Result<Embeddings> {
            Ok(Embeddings::new(2, vec![1.0; 2 * texts.len()]))
        }
    }

    #[test]
    fn throughput_of_no_texts_is_an_error_not_a_hang() {
        let err = throughput(&Ones, &[], 32, 0.0).unwrap_err().to_string();
        assert!(err.contains("no texts"), "{err}");
        let speed = throughput(&Ones, &["a".to_string()], 32, 0.0).unwrap();
        assert!(speed > 0.0);
    }

    #[test]
    fn spearman_handles_ties_and_order() {
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]) - 100.0).abs() < 1e-4);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 100.0).abs() < 1e-4);
        assert_eq!(ranks(&[5.0, 1.0, 5.0]), vec![2.5, 1.0, 2.5]);
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), 0.0);
    }

    #[test]
    fn retrieval_counts_both_directions() {
        let xx = Embeddings::new(2, vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        // xx0 is nearest eng2 and xx2 nearest eng0: one of three right; eng2 is nearest xx0.
        let eng = Embeddings::new(2, vec![1.0, 0.1, 0.0, 1.0, 1.0, 0.05]);
        let r = retrieval(&xx, &eng);
        assert!((r.xx_to_eng - 100.0 / 3.0).abs() < 1e-3, "{r:?}");
        assert!((r.eng_to_xx - 200.0 / 3.0).abs() < 1e-3, "{r:?}");
        assert_eq!(r.mean, (r.xx_to_eng + r.eng_to_xx) / 2.0);
    }

    #[test]
    fn eval_files_with_errors_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("stsbenchmark")).unwrap();
        std::fs::write(
            dir.path().join("stsbenchmark/sts-test.csv"),
            "a\tb\tc\td\tx.y\ts1\ts2\n",
        )
        .unwrap();
        let err = load_stsb(dir.path(), "test").err().unwrap().to_string();
        assert!(
            err.contains("sts-test.csv:1") && err.contains("score"),
            "{err}"
        );
        let err = load_tatoeba(dir.path(), "xyz").err().unwrap().to_string();
        assert!(err.contains("no Tatoeba set for 'xyz'"), "{err}");
    }

    #[test]
    fn table_has_a_column_per_model() {
        let r = sample_report("m");
        let table = render_table(&[r, sample_report("other")]);
        assert!(
            table.contains("tatoeba deu acc %")
                && table.contains("45.0")
                && table.contains("other"),
            "{table}"
        );
    }

    #[test]
    fn the_table_names_how_speed_was_measured_once_or_per_model() {
        let same = render_table(&[sample_report("a"), sample_report("b")]);
        let method = speed::Method::default().describe();
        assert_eq!(same.matches(&method).count(), 1, "{same}");
        let mut b = sample_report("b");
        b.speed_method = Some("other way".into());
        let differ = render_table(&[sample_report("a"), b]);
        assert!(
            differ.contains(&format!("sentences/s of a: {method}"))
                && differ.contains("sentences/s of b: other way"),
            "{differ}"
        );
    }
}
