//! Resolving a model reference: a local directory, or a Hugging Face repo id found in the
//! Hugging Face cache (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`),
//! laid out as `models--org--name/snapshots/<rev>/`, or else downloaded there (`download`).

pub mod download;

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Where a model's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDir {
    /// What the user wrote: a path or a repo id. Used in reports and cache keys.
    pub name: String,
    pub dir: PathBuf,
}

impl ModelDir {
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A file that must exist, or an error naming it.
    pub fn required(&self, name: &str) -> Result<PathBuf> {
        let path = self.file(name);
        if self.has(name)? {
            Ok(path)
        } else {
            Err(Error::model(
                &self.name,
                format!("missing file {}", path.display()),
            ))
        }
    }

    /// Whether the directory holds the file `name`: false when nothing is there, an error when
    /// something is there that cannot be read as a file (a symlink loop, a link to nothing, a
    /// directory), so such a file is not reported as missing.
    pub fn has(&self, name: &str) -> Result<bool> {
        let path = self.file(name);
        let link = match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io(&path, e)),
            Ok(link) => link,
        };
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(true),
            Ok(_) => Err(Error::invalid(&path, "is not a regular file")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && link.is_symlink() => {
                let target = std::fs::read_link(&path).unwrap_or_default();
                Err(Error::invalid(
                    &path,
                    format!(
                        "is a symbolic link to {}, which does not exist",
                        target.display()
                    ),
                ))
            }
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// The names of the first `n` entries of the directory, sorted, and how many there are in
    /// all: what an error shows of a directory that holds no model.
    pub fn listing(&self, n: usize) -> Result<(Vec<String>, usize)> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let total = names.len();
        names.truncate(n);
        Ok((names, total))
    }

    /// Total size of the regular files in the directory (links followed), in bytes.
    pub fn size_on_disk(&self) -> u64 {
        fn walk(dir: &Path) -> u64 {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return 0;
            };
            entries
                .filter_map(|e| e.ok())
                .map(|e| {
                    let path = e.path();
                    match std::fs::metadata(&path) {
                        Ok(m) if m.is_dir() => walk(&path),
                        Ok(m) => m.len(),
                        Err(_) => 0,
                    }
                })
                .sum()
        }
        walk(&self.dir)
    }
}

/// The Hugging Face hub cache directory, honouring the same variables as the Python libraries.
pub fn hf_cache() -> hf_hub::Cache {
    match std::env::var_os("HF_HUB_CACHE") {
        Some(dir) => hf_hub::Cache::new(PathBuf::from(dir)),
        None => hf_hub::Cache::from_env(),
    }
}

/// Resolves `spec` to a directory: an existing directory is taken as it is; otherwise `spec` is
/// read as a repo id (`org/name`, or `org/name@revision`), looked up in the Hugging Face cache
/// and, when missing there, downloaded from the hub (unless `HF_HUB_OFFLINE=1`).
pub fn resolve(spec: &str) -> Result<ModelDir> {
    resolve_with(spec, &crate::hub::download::Hub::from_env())
}

/// [`resolve`] with the hub settings given rather than read from the environment.
pub fn resolve_with(spec: &str, hub: &crate::hub::download::Hub) -> Result<ModelDir> {
    let path = Path::new(spec);
    if path.is_dir() {
        return Ok(ModelDir {
            name: spec.to_string(),
            dir: path.to_path_buf(),
        });
    }
    let (id, revision) = crate::hub::download::split_revision(spec);
    let looks_like_repo =
        id.split('/').count() == 2 && !id.starts_with('.') && !id.starts_with('/');
    if !looks_like_repo {
        return Err(Error::model(
            spec,
            "no such directory (and not a Hugging Face repo id like 'org/name')",
        ));
    }
    let found = |dir| ModelDir {
        name: spec.to_string(),
        dir,
    };
    if let Some(dir) = crate::hub::download::cached_snapshot(&hub.cache, id, revision) {
        return Ok(found(dir));
    }
    if hub.offline {
        return Err(Error::model(
            spec,
            format!(
                "not a directory, and not in the Hugging Face cache at {} (HF_HUB_OFFLINE is set: \
                 run scripts/fetch-assets.sh teacher, unset HF_HUB_OFFLINE to download it, or \
                 pass a model directory)",
                hub.cache.path().display()
            ),
        ));
    }
    crate::hub::download::download(hub, id, revision)
        .map(found)
        .map_err(|e| {
            Error::model(
                spec,
                format!(
                    "not in the Hugging Face cache at {}, and the download failed: {e}",
                    hub.cache.path().display()
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_cannot_be_read_is_not_reported_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        let model = ModelDir {
            name: "m".into(),
            dir: dir.path().to_path_buf(),
        };
        assert!(!model.has("config.json").unwrap());
        let err = model.required("config.json").unwrap_err().to_string();
        assert!(
            err.contains("missing file") && err.contains("config.json"),
            "{err}"
        );

        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        assert!(model.has("config.json").unwrap());
        std::fs::create_dir(dir.path().join("tokenizer.json")).unwrap();
        let err = model.required("tokenizer.json").unwrap_err().to_string();
        assert!(err.contains("is not a regular file"), "{err}");

        let looped = dir.path().join("model.safetensors");
        std::os::unix::fs::symlink(&looped, &looped).unwrap();
        let err = model.required("model.safetensors").unwrap_err().to_string();
        let os = std::fs::metadata(&looped).unwrap_err().to_string();
        assert!(err.starts_with(&looped.display().to_string()), "{err}");
        assert_eq!(err.matches(&os).count(), 1, "the OS error once: {err}");
        assert_eq!(err.matches("os error").count(), 1, "{err}");

        let (names, total) = model.listing(2).unwrap();
        assert_eq!(names, ["config.json", "model.safetensors"]);
        assert_eq!(total, 3);
    }

    #[test]
    fn directories_and_cache_entries_resolve_and_misses_explain() {
        let dir = tempfile::tempdir().unwrap();
        let got = resolve(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(got.dir, dir.path());

        let snap = dir.path().join("models--org--tiny/snapshots/abc");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::write(snap.join("config.json"), "{}").unwrap();
        std::fs::create_dir_all(dir.path().join("models--org--tiny/refs")).unwrap();
        std::fs::write(dir.path().join("models--org--tiny/refs/main"), "abc").unwrap();
        let cache = hf_hub::Cache::new(dir.path().to_path_buf());
        assert_eq!(
            cache.model("org/tiny".into()).get("config.json").unwrap(),
            snap.join("config.json")
        );

        let hub = crate::hub::download::Hub {
            cache,
            endpoint: None,
            token: None,
            offline: true,
        };
        assert_eq!(resolve_with("org/tiny", &hub).unwrap().dir, snap);
        assert_eq!(
            resolve_with("org/tiny@abc", &hub).unwrap().dir,
            snap,
            "a commit pins"
        );
        let err = resolve_with("no/such-model-anywhere", &hub)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not in the Hugging Face cache") && err.contains("HF_HUB_OFFLINE"),
            "{err}"
        );
        let err = resolve("./not-here").unwrap_err().to_string();
        assert!(err.contains("no such directory"), "{err}");
    }
}
