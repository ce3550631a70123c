//! The teacher of a run and its labels: a model glossa runs, or embeddings computed elsewhere,
//! always read through the label cache.

use std::sync::Mutex;
use std::time::Instant;

use crate::progress::Progress;
use crate::recipes::config::{Config, TeacherConfig};
use crate::teacher::cache::LabelCache;
use crate::teacher::precomputed::Precomputed;
use crate::teacher::Teacher;
use crate::{Embeddings, Encoder, Error, Result};

/// The teacher of a run: a model glossa runs, or embeddings computed elsewhere.
// One per run: the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum RunTeacher {
    Model(Teacher),
    Precomputed(Precomputed),
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
            (None, None) => {
                let mut teacher = Teacher::load(&config.model)?;
                teacher.batch_size = config.batch_size;
                Ok(RunTeacher::Model(teacher))
            }
        }
    }

    pub fn fingerprint(&self) -> &str {
        match self {
            RunTeacher::Model(t) => t.fingerprint(),
            RunTeacher::Precomputed(t) => t.fingerprint(),
        }
    }

    /// True when the teacher can label `text` (a model can label anything).
    pub fn covers(&self, text: &str) -> bool {
        match self {
            RunTeacher::Model(_) => true,
            RunTeacher::Precomputed(t) => t.covers(text),
        }
    }

    /// The teacher model itself, for the students that start from it.
    pub fn model(&self) -> Result<&Teacher> {
        match self {
            RunTeacher::Model(t) => Ok(t),
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
        }
    }
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

/// Opens the label cache of `teacher` under the config's cache directory.
pub fn open_cache(config: &Config, teacher: &RunTeacher) -> Result<LabelCache> {
    LabelCache::open(
        &config.cache_dir,
        &teacher.name(),
        teacher.fingerprint(),
        teacher.dim(),
    )
}

/// Encodes `texts` into the cache, showing progress; returns how many were new.
pub fn label(
    teacher: &dyn Encoder,
    cache: &mut LabelCache,
    texts: &[&str],
    what: &str,
    progress: &dyn Progress,
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
    cache.fill(teacher, texts.iter().copied(), 256, &|done, total| {
        task.set_done(done as u64);
        let mut last = last_log.lock().unwrap();
        if last.elapsed().as_secs() >= 30 {
            tracing::info!("{what}: {done}/{total}");
            *last = Instant::now();
        }
    })
}
