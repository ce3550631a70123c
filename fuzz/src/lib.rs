//! Shared by the fuzz targets: the invariant every reader's error must keep, the scratch folder
//! of the readers that only take a directory, and the seed inputs, made with glossa's own writers
//! wherever it has one.

pub mod seeds;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use glossa::Error;

/// The invariant of every reader's error: it names the input (`name`, a file name or path), and a
/// parse error points at a line the input has (the end of the input counts as being on the line
/// after its last newline).
pub fn check_error(err: &Error, name: &str, input: &[u8]) {
    check_named(err, name);
    if let Error::Parse { line, .. } = err {
        let lines = input.iter().filter(|&&b| b == b'\n').count() + 1;
        assert!(
            (1..=lines).contains(line),
            "{err}: line {line} of an input of {lines} lines"
        );
    }
}

/// The error names the input (`name`, a file name or path).
pub fn check_named(err: &Error, name: &str) {
    let msg = err.to_string();
    assert!(
        msg.contains(name),
        "the error does not name the input {name}: {msg}"
    );
}

/// A scratch folder for the readers that take a directory, made once per fuzzing process, under
/// `$GLOSSA_FUZZ_SCRATCH` (scripts/fuzz.sh sets it, and removes it at the end), else in memory
/// (`/dev/shm`) where there is one, else the temp folder. Not on ext4 if it can be helped:
/// truncating and rewriting a file there flushes it on close, which cost milliseconds per input.
/// libFuzzer exits without running destructors, so the folder outlives the process.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let parent = match std::env::var_os("GLOSSA_FUZZ_SCRATCH") {
            Some(dir) => PathBuf::from(dir),
            None if shm.is_dir() => shm.to_path_buf(),
            None => std::env::temp_dir(),
        };
        std::fs::create_dir_all(&parent).expect("scratch parent folder");
        tempfile::Builder::new()
            .prefix("glossa-fuzz-")
            .tempdir_in(parent)
            .expect("a scratch folder")
            .keep()
    })
}

/// Writes `files` (name, bytes) into `dir`, replacing what was there.
pub fn write_files(dir: &Path, files: &[(&str, &[u8])]) {
    std::fs::create_dir_all(dir).expect("scratch folder");
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).expect("scratch file");
    }
}

/// The separator of the parts of an input that stands for several files (see [`parts`]).
pub const SEPARATOR: &[u8] = b"\n%%%%\n";

/// Splits an input into at most `n` parts at [`SEPARATOR`]; missing parts are empty.
pub fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(n);
    let mut rest = data;
    while out.len() + 1 < n {
        match rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
            Some(at) => {
                out.push(&rest[..at]);
                rest = &rest[at + SEPARATOR.len()..];
            }
            None => break,
        }
    }
    out.push(rest);
    out.resize(n, &[]);
    out
}

/// Joins files into one input, the inverse of [`parts`].
pub fn join(files: &[&[u8]]) -> Vec<u8> {
    files.join(SEPARATOR)
}

/// Writes a target's seeds into `$GLOSSA_FUZZ_SEEDS` when it is set (scripts/fuzz.sh sets it to
/// the target's corpus folder), as `seed-<name>` files. Called from each target's `init`, which
/// runs before libFuzzer reads its corpus.
pub fn write_seeds(make: fn() -> Vec<(&'static str, Vec<u8>)>) {
    let Some(dir) = std::env::var_os("GLOSSA_FUZZ_SEEDS").map(PathBuf::from) else {
        return;
    };
    std::fs::create_dir_all(&dir).expect("seed folder");
    for (name, bytes) in make() {
        std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("seed file");
    }
}
