//! The teacher of a run and its labels: a model glossa runs, embedding servers elsewhere, or
//! embeddings computed elsewhere, always read through the label cache.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::progress::Progress;
use crate::recipes::config::{Config, TeacherConfig};
use crate::teacher::cache::LabelCache;
use crate::teacher::precomputed::Precomputed;
use crate::teacher::remote::{probe, RemoteOptions, RemoteTeacher};
use crate::teacher::Teacher;
use crate::{Embeddings, Encoder, Error, Result};

/// The teacher of a run: a model glossa runs, or embeddings computed elsewhere.
// One per run: the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum RunTeacher {
    Model(Teacher),
    Precomputed(Precomputed),
    /// Embedding servers; `local` is the model they stand for when it can run here (their
    /// reference, and the model for the students that start from it).
    Remote {
        remote: RemoteTeacher,
        local: Option<Teacher>,
    },
}

impl RunTeacher {
    pub fn load(config: &TeacherConfig) -> Result<Self> {
        match (&config.embeddings, &config.texts) {
            (Some(vectors), Some(texts)) => {
                Ok(RunTeacher::Precomputed(Precomputed::load(texts, vectors)?))
            }
            (Some(_), None) | (None, Some(_)) => Err(Error::msg(
                "teacher.embeddings and teacher.texts go together: the vectors and the texts \
                 they embed, line by line",
            )),
            (None, None) if !config.endpoints.is_empty() => load_remote(config),
            (None, None) => {
                let mut teacher = Teacher::load_on(&config.model, config.device)?;
                teacher.batch_size = config.batch_size;
                Ok(RunTeacher::Model(teacher))
            }
        }
    }

    pub fn fingerprint(&self) -> &str {
        match self {
            RunTeacher::Model(t) => t.fingerprint(),
            RunTeacher::Precomputed(t) => t.fingerprint(),
            RunTeacher::Remote { remote, .. } => remote.fingerprint(),
        }
    }

    /// Texts per call of the teacher while labelling: enough to keep a fleet busy.
    pub fn label_chunk(&self) -> usize {
        match self {
            RunTeacher::Remote { remote, .. } => remote.chunk(),
            RunTeacher::Model(teacher) => teacher.label_chunk(),
            RunTeacher::Precomputed(_) => LABEL_CHUNK,
        }
    }

    /// True when the teacher can label `text` (a model can label anything).
    pub fn covers(&self, text: &str) -> bool {
        match self {
            RunTeacher::Model(_) | RunTeacher::Remote { .. } => true,
            RunTeacher::Precomputed(t) => t.covers(text),
        }
    }

    /// The teacher model itself, for the students that start from it.
    pub fn model(&self) -> Result<&Teacher> {
        match self {
            RunTeacher::Model(t) => Ok(t),
            RunTeacher::Remote { local: Some(t), .. } => Ok(t),
            RunTeacher::Remote {
                local: None,
                remote,
            } => Err(Error::msg(format!(
                "the static and Transformer students start from the teacher model itself; {} \
                 runs on remote endpoints only (make the model available here, or use kind = \
                 \"subword\")",
                remote.name()
            ))),
            RunTeacher::Precomputed(t) => Err(Error::msg(format!(
                "the static and Transformer students start from the teacher model itself (its \
                 vector of each token; its layers); {} is precomputed embeddings, not a model \
                 (use kind = \"subword\")",
                t.name()
            ))),
        }
    }

    fn encoder(&self) -> &dyn Encoder {
        match self {
            RunTeacher::Model(t) => t,
            RunTeacher::Precomputed(t) => t,
            RunTeacher::Remote { remote, .. } => remote,
        }
    }
}

pub use crate::teacher::LABEL_CHUNK;

/// The endpoints of `config`, standing for its model when that runs here.
fn load_remote(config: &TeacherConfig) -> Result<RunTeacher> {
    let options = remote_options(config)?;
    let local = match Teacher::load_on(&config.model, config.device) {
        Ok(mut t) => {
            t.batch_size = config.batch_size;
            Some(t)
        }
        Err(e) => {
            tracing::warn!(
                "the teacher {} cannot run here ({e}): the endpoints are checked against the \
                 label cache's probe rows instead",
                config.model
            );
            None
        }
    };
    let remote = match &local {
        Some(t) => {
            let reference = t.encode(probe::PROBES)?;
            RemoteTeacher::standing_for(options, &t.name(), t.fingerprint(), reference)?
        }
        None => RemoteTeacher::unverified(options, config.endpoint_fingerprint.clone())?,
    };
    Ok(RunTeacher::Remote { remote, local })
}

fn remote_options(config: &TeacherConfig) -> Result<RemoteOptions> {
    let api_key = match &config.endpoint_api_key_env {
        None => None,
        Some(var) => Some(std::env::var(var).map_err(|_| {
            Error::msg(format!(
                "teacher.endpoint_api_key_env names {var}, which is not set: export it, or \
                 remove the setting for endpoints without a key"
            ))
        })?),
    };
    let seconds = |name: &str, s: f64| {
        Duration::try_from_secs_f64(s)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| Error::msg(format!("teacher.{name} must be a positive number, got {s}")))
    };
    let model = match config.endpoint_model.as_str() {
        "" => config.model.clone(),
        m => m.to_string(),
    };
    Ok(RemoteOptions {
        endpoints: config.endpoints.clone(),
        api: config.endpoint_api,
        model,
        api_key,
        batch_size: config.endpoint_batch_size,
        in_flight: config.endpoint_in_flight,
        timeout: seconds("endpoint_timeout_s", config.endpoint_timeout_s)?,
        give_up: seconds("endpoint_give_up_s", config.endpoint_give_up_s)?,
        min_cosine: config.endpoint_min_cosine,
    })
}

impl Encoder for RunTeacher {
    fn name(&self) -> String {
        self.encoder().name()
    }
    fn dim(&self) -> usize {
        self.encoder().dim()
    }
    fn encode(&self, texts: &[&str]) -> Result<Embeddings> {
        self.encoder().encode(texts)
    }
    fn count_tokens(&self, text: &str) -> usize {
        self.encoder().count_tokens(text)
    }
    fn size_on_disk(&self) -> Option<u64> {
        self.encoder().size_on_disk()
    }
}

/// Opens the label cache of `teacher` under the config's cache directory; remote endpoints
/// agree with it on the probe set before they label anything.
pub fn open_cache(config: &Config, teacher: &RunTeacher) -> Result<LabelCache> {
    let mut cache = LabelCache::open(
        &config.cache_dir,
        &teacher.name(),
        teacher.fingerprint(),
        teacher.dim(),
    )?;
    if let RunTeacher::Remote { remote, .. } = teacher {
        remote.settle(&mut cache)?;
    }
    Ok(cache)
}

/// Encodes `texts` into the cache, showing progress; returns how many were new.
pub fn label(
    teacher: &dyn Encoder,
    cache: &mut LabelCache,
    texts: &[&str],
    what: &str,
    progress: &dyn Progress,
) -> Result<usize> {
    label_in_chunks(teacher, cache, texts, what, progress, LABEL_CHUNK)
}

/// [`label`], `chunk` texts per call of the teacher.
pub fn label_in_chunks(
    teacher: &dyn Encoder,
    cache: &mut LabelCache,
    texts: &[&str],
    what: &str,
    progress: &dyn Progress,
    chunk: usize,
) -> Result<usize> {
    let missing = cache.missing(texts.iter().copied()).len();
    if missing == 0 {
        tracing::info!(
            "{what}: all {} texts already labelled in {}",
            texts.len(),
            cache.dir().display()
        );
        return Ok(0);
    }
    tracing::info!(
        "{what}: {missing} of {} texts to label ({} cached)",
        texts.len(),
        texts.len() - missing
    );
    let task = progress.start(what, missing as u64);
    let last_log = Mutex::new(Instant::now());
    cache.fill(teacher, texts.iter().copied(), chunk, &|done, total| {
        task.set_done(done as u64);
        let mut last = last_log.lock().unwrap();
        if last.elapsed().as_secs() >= 30 {
            tracing::info!("{what}: {done}/{total}");
            *last = Instant::now();
        }
    })
}
