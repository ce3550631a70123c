//! The GPU teacher against the CPU one, on one machine: speed (texts/s, tokens/s) and the
//! cosine between their vectors. docs/performance.md ("GPU teacher") quotes its output.
//!
//! Two steps, because the GPU machine this project borrows takes at most 64 MiB with it and
//! has no tokenizer or hub access:
//!
//! ```text
//! # here: tokenize real texts with the real teacher, keep the rows of the word table they use
//! cargo run --release --example gpu_check -- prepare TEACHER TEXTS.tsv... --texts N --out DIR
//! # there (a build with --features cuda): both engines on the same ids and weights
//! gpu_check run DIR [--device cuda:0] [--passes P] [--shape base|large] [--cpu-texts N]
//! ```
//!
//! `--shape base` / `large` swaps the weights for random ones of multilingual-e5-base's /
//! -large's shape (same ids, clamped to the table): their speed, with no weights to carry.
//!
//! `prepare` writes every weight as f16 (the encoder of multilingual-e5-small is 85 MB in f32)
//! and the word table's used rows only, renumbering the ids; both engines then read the same
//! f16-rounded weights (as f32), so the comparison between them is exact, and their speed is
//! that of the full model (a lookup costs the same in a smaller table).

use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use glossa::bert::{parse_config, Bert, Pooling};
use glossa::teacher::{Engine, Teacher, TeacherDevice};
use glossa::{Error, Result};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("prepare") => prepare(&args[1..]),
        Some("run") => run(&args[1..]),
        _ => Err(Error::msg(
            "usage: gpu_check prepare TEACHER TEXTS... --texts N --out DIR | run DIR [--device cuda:0] [--passes P] [--shape base|large] [--cpu-texts N]",
        )),
    };
    if let Err(e) = result {
        eprintln!("gpu_check: {e}");
        std::process::exit(1);
    }
}

/// `--name value` from `args`, and the other arguments in order.
fn split_flags(args: &[String]) -> (HashMap<String, String>, Vec<String>) {
    let (mut flags, mut rest) = (HashMap::new(), Vec::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.strip_prefix("--") {
            Some(name) => {
                flags.insert(name.to_string(), it.next().cloned().unwrap_or_default());
            }
            None => rest.push(a.clone()),
        }
    }
    (flags, rest)
}

fn flag<T: std::str::FromStr>(
    flags: &HashMap<String, String>,
    name: &str,
    default: T,
) -> Result<T> {
    match flags.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| Error::msg(format!("--{name} {v}: not a valid value"))),
    }
}

/// The first `n` distinct texts of the files, both sides of `a<TAB>b` lines, round-robin over
/// the files so every language is in.
fn read_texts(files: &[String], n: usize) -> Result<Vec<String>> {
    let mut per_file = Vec::new();
    for f in files {
        let file = std::fs::File::open(f).map_err(|e| Error::msg(format!("{f}: {e}")))?;
        let lines: Vec<String> = std::io::BufReader::new(file)
            .lines()
            .take(n)
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::msg(format!("{f}: {e}")))?;
        per_file.push(
            lines
                .into_iter()
                .flat_map(|l| l.split('\t').map(str::to_string).collect::<Vec<_>>())
                .collect::<Vec<_>>(),
        );
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for i in 0.. {
        let mut any = false;
        for texts in &per_file {
            if let Some(t) = texts.get(i) {
                any = true;
                if out.len() < n && !t.trim().is_empty() && seen.insert(t.clone()) {
                    out.push(t.clone());
                }
            }
        }
        if !any || out.len() >= n {
            break;
        }
    }
    Ok(out)
}

fn prepare(args: &[String]) -> Result<()> {
    let (flags, rest) = split_flags(args);
    let (teacher_spec, files) = rest
        .split_first()
        .ok_or_else(|| Error::msg("prepare: name the teacher and at least one text file"))?;
    let n: usize = flag(&flags, "texts", 10_000)?;
    let out = PathBuf::from(flag(&flags, "out", "gpu-check".to_string())?);
    let teacher = Teacher::load(teacher_spec)?;
    let dir = glossa::hub::resolve(teacher_spec)?;
    let texts = read_texts(files, n)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let start = Instant::now();
    let ids = teacher.tokenize(&refs)?;
    let tokenize_s = start.elapsed().as_secs_f64();

    // Keep the rows the texts use, renumbered in order of first use.
    let mut kept: Vec<u32> = Vec::new();
    let mut new_id: HashMap<u32, u32> = HashMap::new();
    let ids: Vec<Vec<u32>> = ids
        .iter()
        .map(|s| {
            s.iter()
                .map(|&id| {
                    *new_id.entry(id).or_insert_with(|| {
                        kept.push(id);
                        kept.len() as u32 - 1
                    })
                })
                .collect()
        })
        .collect();
    std::fs::create_dir_all(&out).map_err(|e| Error::msg(format!("{}: {e}", out.display())))?;
    write_weights(&dir.dir, &kept, &out)?;
    write_ids(&out.join("ids.bin"), &ids)?;
    let tokens: usize = ids.iter().map(Vec::len).sum();
    let summary = serde_json::json!({
        "teacher": teacher_spec,
        "texts": ids.len(),
        "tokens": tokens,
        "word_rows_kept": kept.len(),
        "tokenize_seconds_here": tokenize_s,
        "tokenize_threads_here": rayon::current_num_threads(),
    });
    std::fs::write(
        out.join("source.json"),
        serde_json::to_string_pretty(&summary).unwrap(),
    )
    .map_err(|e| Error::msg(format!("{}: {e}", out.display())))?;
    println!("{summary}");
    Ok(())
}

/// The teacher's weights as f16, the word table cut to the `kept` rows; config.json to match.
fn write_weights(model: &Path, kept: &[u32], out: &Path) -> Result<()> {
    let weights = candle_core::safetensors::load(model.join("model.safetensors"), &Device::Cpu)?;
    let rows = Tensor::from_vec(kept.to_vec(), kept.len(), &Device::Cpu)?;
    let mut small = HashMap::new();
    for (name, t) in weights {
        let t = if name.ends_with("embeddings.word_embeddings.weight") {
            t.index_select(&rows, 0)?
        } else {
            t
        };
        let t = if t.dtype() == DType::F32 {
            t.to_dtype(DType::F16)?
        } else {
            t
        };
        small.insert(name, t);
    }
    candle_core::safetensors::save(&small, out.join("model.safetensors"))?;
    let text = std::fs::read_to_string(model.join("config.json"))
        .map_err(|e| Error::msg(format!("config.json: {e}")))?;
    let mut config: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::msg(format!("config.json: {e}")))?;
    config["vocab_size"] = kept.len().into();
    std::fs::write(out.join("config.json"), config.to_string())
        .map_err(|e| Error::msg(format!("{}: {e}", out.display())))
}

fn write_ids(path: &Path, seqs: &[Vec<u32>]) -> Result<()> {
    let mut bytes = Vec::new();
    bytes.extend((seqs.len() as u32).to_le_bytes());
    for s in seqs {
        bytes.extend((s.len() as u32).to_le_bytes());
        s.iter().for_each(|id| bytes.extend(id.to_le_bytes()));
    }
    let mut f =
        std::fs::File::create(path).map_err(|e| Error::msg(format!("{}: {e}", path.display())))?;
    f.write_all(&bytes)
        .map_err(|e| Error::msg(format!("{}: {e}", path.display())))
}

fn read_ids(path: &Path) -> Result<Vec<Vec<u32>>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| Error::msg(format!("{}: {e}", path.display())))?;
    let words: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let truncated = || Error::msg(format!("{}: truncated", path.display()));
    let (&count, mut rest) = words.split_first().ok_or_else(truncated)?;
    let mut seqs = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (&len, tail) = rest.split_first().ok_or_else(truncated)?;
        if tail.len() < len as usize {
            return Err(truncated());
        }
        seqs.push(tail[..len as usize].to_vec());
        rest = &tail[len as usize..];
    }
    Ok(seqs)
}

/// Seconds for one pass over `seqs`, `chunk` texts per call (as labelling calls the teacher).
fn timed_pass(engine: &Engine, seqs: &[&[u32]], chunk: usize) -> Result<(f64, Vec<f32>)> {
    let start = Instant::now();
    let mut out = Vec::new();
    for part in seqs.chunks(chunk) {
        out.extend(engine.embed(part, Pooling::Mean, 32)?);
    }
    Ok((start.elapsed().as_secs_f64(), out))
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn run(args: &[String]) -> Result<()> {
    let (flags, rest) = split_flags(args);
    let dir = PathBuf::from(
        rest.first()
            .ok_or_else(|| Error::msg("run: name the directory prepare wrote"))?,
    );
    let device: TeacherDevice = flag(&flags, "device", TeacherDevice::Cuda(0))?;
    let passes: usize = flag(&flags, "passes", 5)?;
    let shape: String = flag(&flags, "shape", "bundle".to_string())?;
    let config_path = dir.join("config.json");
    let mut config = parse_config(
        &std::fs::read_to_string(&config_path)
            .map_err(|e| Error::msg(format!("{}: {e}", config_path.display())))?,
        &config_path,
    )?;
    // SAFETY: read-only mapping of a file nothing else writes during the check.
    let vb = unsafe {
        VarBuilder::from_mmaped_safetensors(
            &[dir.join("model.safetensors")],
            DType::F32,
            &Device::Cpu,
        )
    }?;
    let bert = match shape.as_str() {
        "bundle" => Bert::load(vb, &config)?,
        "base" => random_bert(&mut config, (768, 12, 3072, 12))?,
        "large" => random_bert(&mut config, (1024, 16, 4096, 24))?,
        other => {
            return Err(Error::msg(format!(
                "--shape {other}: expected base or large"
            )))
        }
    };
    let ids = read_ids(&dir.join("ids.bin"))?;
    let seqs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
    let cpu_texts: usize = flag(&flags, "cpu-texts", seqs.len())?;
    println!(
        "{}",
        serde_json::json!({"shape": shape, "hidden": config.hidden_size, "layers": config.num_hidden_layers})
    );
    let report = |engine: &str, chunk: usize, seconds: f64, seqs: &[&[u32]]| {
        let tokens: usize = seqs.iter().map(|s| s.len()).sum();
        println!(
            "{}",
            serde_json::json!({
                "engine": engine, "texts": seqs.len(), "tokens": tokens, "chunk": chunk,
                "seconds": seconds, "texts_per_s": seqs.len() as f64 / seconds,
                "tokens_per_s": tokens as f64 / seconds,
            })
        );
    };

    let cpu = Engine::new(&bert, TeacherDevice::Cpu)?;
    let threads = rayon::current_num_threads();
    let cpu_seqs = &seqs[..cpu_texts.min(seqs.len())];
    timed_pass(&cpu, &cpu_seqs[..cpu_seqs.len().min(256)], 256)?;
    let (seconds, cpu_vectors) = timed_pass(&cpu, cpu_seqs, 256)?;
    report(&format!("cpu, {threads} threads"), 256, seconds, cpu_seqs);

    let start = Instant::now();
    let gpu = Engine::new(&bert, device)?;
    println!(
        "{}",
        serde_json::json!({"gpu_start_seconds": start.elapsed().as_secs_f64()})
    );
    let (_, gpu_vectors) = timed_pass(&gpu, cpu_seqs, 8192)?;
    let h = config.hidden_size;
    let mut cosines: Vec<f64> = cpu_vectors
        .chunks_exact(h)
        .zip(gpu_vectors.chunks_exact(h))
        .map(|(a, b)| cosine(a, b))
        .collect();
    cosines.sort_by(f64::total_cmp);
    let max_diff = cpu_vectors
        .iter()
        .zip(&gpu_vectors)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    println!(
        "{}",
        serde_json::json!({
            "cosine_min": cosines[0], "cosine_p001": cosines[cosines.len() / 1000],
            "cosine_mean": cosines.iter().sum::<f64>() / cosines.len() as f64,
            "max_abs_diff": max_diff,
        })
    );
    let chunks: Vec<usize> = flag(&flags, "chunks", "256,8192,65536".to_string())?
        .split(',')
        .map(|c| {
            c.parse()
                .map_err(|_| Error::msg(format!("--chunks: '{c}' is not a number")))
        })
        .collect::<Result<_>>()?;
    for chunk in chunks {
        let mut best = f64::INFINITY;
        for _ in 0..passes {
            best = best.min(timed_pass(&gpu, &seqs, chunk)?.0);
        }
        report(&format!("{device} (best of {passes})"), chunk, best, &seqs);
    }
    Ok(())
}

/// An encoder of the bundle's vocabulary and positions with `(hidden, heads, intermediate,
/// layers)` and random weights: for speed only.
fn random_bert(
    config: &mut glossa::bert::Config,
    (hidden, heads, intermediate, layers): (usize, usize, usize, usize),
) -> Result<Bert> {
    config.hidden_size = hidden;
    config.num_attention_heads = heads;
    config.intermediate_size = intermediate;
    config.num_hidden_layers = layers;
    let shapes = glossa::bert::tensor_shapes(
        config.vocab_size,
        config.max_position_embeddings,
        config.type_vocab_size,
        hidden,
        intermediate,
        layers,
    );
    let mut weights = HashMap::new();
    for (name, shape) in shapes {
        let t = if name.contains("LayerNorm.weight") {
            Tensor::ones(shape.as_slice(), DType::F32, &Device::Cpu)?
        } else {
            Tensor::randn(0f32, 0.02, shape.as_slice(), &Device::Cpu)?
        };
        weights.insert(name, t);
    }
    Ok(Bert::load(
        VarBuilder::from_tensors(weights, DType::F32, &Device::Cpu),
        config,
    )?)
}
