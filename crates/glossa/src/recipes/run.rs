//! One run of a recipe: its directory, the time each stage took, its report files and its
//! checkpoints. `distill` and `classify` both work through it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::progress::Progress;
use crate::recipes::config::Config;
use crate::train::Checkpointing;
use crate::{Error, Result};

pub struct Run<'a> {
    dir: PathBuf,
    resume: bool,
    progress: &'a dyn Progress,
    /// Seconds per stage, in the order the stages ran (a RefCell so a stage's closure may use
    /// the run too).
    seconds: RefCell<BTreeMap<String, f64>>,
}

impl<'a> Run<'a> {
    /// Creates the run directory of `config` and records the config it runs.
    pub fn create(config: &Config, progress: &'a dyn Progress) -> Result<Self> {
        let dir = config.run_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let run = Run {
            dir,
            resume: config.resume,
            progress,
            seconds: RefCell::new(BTreeMap::new()),
        };
        run.write("config.toml", config.to_toml().as_bytes())?;
        Ok(run)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn progress(&self) -> &'a dyn Progress {
        self.progress
    }

    /// Runs stage `name`, logging its start and recording how long it took.
    pub fn stage<T>(&self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let start = Instant::now();
        tracing::info!("{name}…");
        let out = f();
        self.seconds
            .borrow_mut()
            .insert(name.to_string(), start.elapsed().as_secs_f64());
        out
    }

    /// The seconds each stage took so far.
    pub fn seconds(&self) -> BTreeMap<String, f64> {
        self.seconds.borrow().clone()
    }

    /// Writes `bytes` to the run directory's file `name`, atomically.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        crate::io::write_atomic(self.dir.join(name), bytes)
    }

    /// Where the training of model `what` keeps its checkpoint, every `every` steps.
    pub fn checkpointing(&self, what: &str, every: usize) -> Checkpointing {
        Checkpointing {
            path: self
                .dir
                .join("checkpoints")
                .join(format!("{}.ckpt", what.replace([' ', '/', ','], "-"))),
            every,
            resume: self.resume,
        }
    }

    /// The run is complete: its checkpoints (weights + optimizer state, several times the
    /// model's size) are no longer needed.
    pub fn remove_checkpoints(&self) {
        let dir = self.dir.join("checkpoints");
        if dir.exists() {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!("could not remove {}: {e}", dir.display());
            }
        }
    }
}
