//! Other tools' formats: fastText (`.bin`, `.vec`), Model2Vec directories; and [`load_encoder`],
//! which opens any model directory glossa knows.

pub mod fasttext;
pub mod model2vec;

use std::io::Write;
use std::path::Path;

use crate::student::{is_student_dir, TableStudent};
use crate::teacher::Teacher;
use crate::{Encoder, Error, Result};

/// Loads whatever `spec` names: a student directory, a Model2Vec directory, a teacher directory,
/// or a repo id, which may hold any of them (resolved through the hub cache, downloaded if
/// missing).
pub fn load_encoder(spec: &str) -> Result<Box<dyn Encoder>> {
    let model = crate::hub::resolve(spec)?;
    let path = model.dir.as_path();
    if is_student_dir(path) {
        return crate::student::load_student(path);
    }
    if model2vec::is_model2vec_dir(path) {
        return Ok(Box::new(model2vec::read(path)?));
    }
    Ok(Box::new(Teacher::from_dir(model)?))
}

/// Writes the student's word vectors in fastText's text `.vec` format (a header line
/// `<count> <dim>`, then `word v1 v2 …`), each word embedded as the student embeds it, so any
/// tool that reads word2vec/fastText text vectors can use them.
pub fn write_vec(student: &TableStudent, path: &Path) -> Result<()> {
    let words = student.words();
    // Written whole or not at all: an interrupted export leaves no file whose header promises
    // rows it lacks.
    let mut out = crate::io::AtomicFile::create(path, &[])?;
    let io = |e| Error::io(path, e);
    writeln!(out, "{} {}", words.len(), student.dim()).map_err(io)?;
    for chunk in words.chunks(1024) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let vectors = student.encode(&refs)?;
        for (word, v) in chunk.iter().zip(vectors.rows()) {
            write!(out, "{word}").map_err(io)?;
            for x in v {
                write!(out, " {x:.5}").map_err(io)?;
            }
            writeln!(out).map_err(io)?;
        }
    }
    out.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::student::{table_student::build_vocab, SubwordConfig};

    #[test]
    fn vec_file_has_header_and_one_line_per_word() {
        let config = SubwordConfig {
            dim: 3,
            output_dim: 3,
            buckets: 10,
            minn: 3,
            maxn: 4,
            lowercase: true,
        };
        let s = TableStudent::new(config, build_vocab(["hello world"], true, 1, 10), 1).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.vec");
        write_vec(&s, &path).unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "2 3");
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1].split(' ').count(), 4);
    }
}
