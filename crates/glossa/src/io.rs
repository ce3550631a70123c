//! Writing files safely: whatever happens (an error, a full disk, Ctrl-C, a crash), the final
//! path holds either its old content or the complete new one, never part of it.
//!
//! [`AtomicFile`] writes to a temporary file in the target's own directory (so the rename
//! cannot cross file systems), fsyncs it, renames it over the target and fsyncs the directory.
//! The temporary file is removed when the writer is dropped without `commit` (an error) and on
//! Ctrl-C. Before anything is written, a target that is a device, FIFO, socket or directory is
//! refused, and so is a target that is one of the writer's inputs (same file, by inode).

use std::collections::BTreeSet;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};

use crate::{Error, Result};

/// Temporary files being written, removed by the Ctrl-C handler.
static LIVE: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
static HANDLER: Once = Once::new();

fn live() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Installs, once, a Ctrl-C handler that removes the live temporary files and exits 130 (as the
/// default action would). Only processes that write files install it: `glossa serve` keeps its
/// own signal handling.
fn remove_temporaries_on_ctrl_c() {
    HANDLER.call_once(|| {
        let installed = ctrlc::set_handler(|| {
            for path in live().iter() {
                let _ = std::fs::remove_file(path);
            }
            eprintln!("interrupted: temporary files removed, outputs left as they were");
            std::process::exit(130);
        });
        if let Err(e) = installed {
            tracing::debug!("no Ctrl-C clean-up of temporary files: {e}");
        }
    });
}

/// A file written in full or not at all; see the module docs.
pub struct AtomicFile {
    /// `None` once committed.
    out: Option<BufWriter<tempfile::NamedTempFile>>,
    tmp: PathBuf,
    path: PathBuf,
}

impl AtomicFile {
    /// Starts writing `path` (its directory is created), refusing targets that are not
    /// regular files and targets that are one of `inputs`.
    pub fn create(path: impl AsRef<Path>, inputs: &[&Path]) -> Result<Self> {
        Self::create_buffered(path, inputs, 1 << 20)
    }

    /// [`AtomicFile::create`] with a write buffer of `capacity` bytes (smaller for the many
    /// files a corpus build keeps open at once).
    pub fn create_buffered(
        path: impl AsRef<Path>,
        inputs: &[&Path],
        capacity: usize,
    ) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        check_target(&path, inputs)?;
        let dir = parent_dir(&path);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        remove_temporaries_on_ctrl_c();
        let name = path
            .file_name()
            .map_or("out".into(), |n| n.to_string_lossy());
        let file = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(&dir, e))?;
        let tmp = file.path().to_path_buf();
        live().insert(tmp.clone());
        Ok(AtomicFile {
            out: Some(BufWriter::with_capacity(capacity, file)),
            tmp,
            path,
        })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An error writing this file, naming the final path.
    pub fn error(&self, e: std::io::Error) -> Error {
        Error::io(&self.path, e)
    }

    /// Flushes, fsyncs and renames over the final path; only now does it change.
    pub fn commit(mut self) -> Result<()> {
        let out = self.out.take().expect("committed once");
        let path = self.path.clone();
        let result = (|| {
            let file = out
                .into_inner()
                .map_err(|e| Error::io(&path, e.into_error()))?;
            file.as_file().sync_all().map_err(|e| Error::io(&path, e))?;
            file.persist(&path).map_err(|e| Error::io(&path, e.error))?;
            sync_dir(&parent_dir(&path));
            Ok(())
        })();
        // On error the NamedTempFile was dropped (and removed) inside the closure.
        live().remove(&self.tmp);
        result
    }
}

impl AtomicFile {
    fn writer(&mut self) -> &mut BufWriter<tempfile::NamedTempFile> {
        self.out.as_mut().expect("not written after commit")
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer().write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.writer().write_all(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.writer().flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // Not committed: the NamedTempFile removes itself as `out` drops; forget its path.
        live().remove(&self.tmp);
    }
}

/// Streams a file's bytes through `visit` in blocks of 1 MiB (for checksums of large files).
pub fn for_each_block(path: &Path, visit: &mut dyn FnMut(&[u8])) -> Result<()> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut block = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut block).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Ok(());
        }
        visit(&block[..n]);
    }
}

/// Writes a whole file atomically (see the module docs).
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(path, &[])?;
    file.write_all(bytes).map_err(|e| file.error(e))?;
    file.commit()
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Makes the rename durable; a file system that cannot sync directories loses nothing by it.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Refuses a target that exists and is not a regular file (a directory, device, FIFO or
/// socket: replacing it by a file would be wrong or destroy it), or that is one of `inputs`.
pub fn check_target(path: &Path, inputs: &[&Path]) -> Result<()> {
    if let Ok(meta) = std::fs::metadata(path) {
        let kind = meta.file_type();
        if kind.is_dir() {
            return Err(Error::invalid(
                path,
                "is a directory; give the path of the file to write",
            ));
        }
        if !kind.is_file() {
            return Err(Error::invalid(
                path,
                "is not a regular file (a device, FIFO or socket); refusing to replace it",
            ));
        }
    }
    for input in inputs {
        refuse_same(input, path)?;
    }
    Ok(())
}

/// Refuses to write `output` when it is `input` (the same file or directory, by inode): the
/// output would destroy what is being read.
pub fn refuse_same(input: &Path, output: &Path) -> Result<()> {
    if same_file(input, output) {
        return Err(Error::invalid(
            output,
            format!(
                "is the input {} itself; write to another path (the input would be destroyed)",
                input.display()
            ),
        ));
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        a.dev() == b.dev() && a.ino() == b.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn a_writer_dropped_before_commit_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        std::fs::write(&path, "old").unwrap();
        let mut file = AtomicFile::create(&path, &[]).unwrap();
        file.write_all(b"half of the new").unwrap();
        drop(file);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert!(leftovers(dir.path()).is_empty());
        // Other tests write files at the same time: only this directory's temporaries count.
        assert!(!live().iter().any(|p| p.starts_with(dir.path())));
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn directories_devices_and_inputs_are_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(dir.path(), b"x").unwrap_err().to_string();
        assert!(err.contains("is a directory"), "{err}");
        #[cfg(unix)]
        {
            let err = write_atomic("/dev/null", b"x").unwrap_err().to_string();
            assert!(err.contains("not a regular file"), "{err}");
        }
        let input = dir.path().join("in.txt");
        std::fs::write(&input, "keep").unwrap();
        let err = AtomicFile::create(&input, &[&input])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("is the input"), "{err}");
        assert_eq!(std::fs::read_to_string(&input).unwrap(), "keep");
        assert!(leftovers(dir.path()).is_empty());
    }
}
