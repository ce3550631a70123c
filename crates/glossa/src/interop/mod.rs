//! Other tools' formats: fastText (`.bin`, `.vec`), Model2Vec directories; and [`load_encoder`],
//! which opens any model directory glossa knows.

pub mod fasttext;
pub mod model2vec;

use std::io::Write;
use std::path::Path;

use crate::hub::ModelDir;
use crate::student::{TableStudent, STUDENT_FILE};
use crate::teacher::Teacher;
use crate::{Encoder, Error, Result};

/// What a model directory must hold, for each kind [`load_encoder`] tries, in its order.
const KINDS: &str = "student.json (a glossa student), or config.json + model.safetensors + \
                     tokenizer.json (a Model2Vec model, or a sentence-transformers / Hugging Face \
                     BERT model)";

/// The kinds of model directory [`load_encoder`] opens.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Student,
    Model2Vec,
    Transformer,
}

/// Loads whatever `spec` names: a student directory, a Model2Vec directory, a teacher directory,
/// or a repo id, which may hold any of them (resolved through the hub cache, downloaded if
/// missing).
pub fn load_encoder(spec: &str) -> Result<Box<dyn Encoder>> {
    let model = crate::hub::resolve(spec)?;
    match kind(&model)? {
        Kind::Student => crate::student::load_student(&model.dir),
        Kind::Model2Vec => Ok(Box::new(model2vec::read(&model.dir)?)),
        Kind::Transformer => Ok(Box::new(Teacher::from_dir(model)?)),
    }
}

/// Which kind `model` is, by the file that marks each kind; a directory with none of them (or
/// with a marker that cannot be read) is refused with what a model directory must hold, rather
/// than with the last kind's first missing file.
fn kind(model: &ModelDir) -> Result<Kind> {
    let not_a_model = |why: String| {
        Error::invalid(
            &model.dir,
            format!("not a glossa model ({why}): a model directory holds {KINDS}"),
        )
    };
    let has = |name| model.has(name).map_err(|e| not_a_model(e.to_string()));
    if has(STUDENT_FILE)? {
        Ok(Kind::Student)
    } else if has("config.json")? {
        Ok(match model2vec::is_model2vec_dir(&model.dir) {
            true => Kind::Model2Vec,
            false => Kind::Transformer,
        })
    } else {
        Err(not_a_model(contents(model)?))
    }
}

/// What a directory that holds no model holds instead, in a few words.
fn contents(model: &ModelDir) -> Result<String> {
    let (names, total) = model.listing(6)?;
    if total == 0 {
        return Ok("the directory is empty".into());
    }
    let mut said = format!("it holds only {}", names.join(", "));
    if total > names.len() {
        said += &format!(" and {} more", total - names.len());
    }
    // A fastText model is something glossa writes (`export fasttext`), not something it runs.
    if names.iter().any(|n| n.ends_with(".bin")) {
        said += "; fastText .bin files are written by `glossa export fasttext`, not loaded";
    }
    Ok(said)
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
    use crate::student::{table_student::build_vocab, SubwordConfig, WordRules};

    fn model_dir(dir: &Path) -> ModelDir {
        ModelDir {
            name: dir.display().to_string(),
            dir: dir.to_path_buf(),
        }
    }

    fn refusal(dir: &Path) -> String {
        kind(&model_dir(dir)).unwrap_err().to_string()
    }

    #[test]
    fn a_directory_without_a_model_says_what_a_model_directory_holds() {
        let dir = tempfile::tempdir().unwrap();
        let err = refusal(dir.path());
        assert!(err.starts_with(&dir.path().display().to_string()), "{err}");
        for want in [
            "not a glossa model (the directory is empty)",
            "student.json (a glossa student)",
            "config.json + model.safetensors + tokenizer.json",
            "Model2Vec",
            "sentence-transformers",
        ] {
            assert!(err.contains(want), "lacks {want:?}: {err}");
        }
        assert!(!err.contains("missing file"), "{err}");

        for name in ["notes.txt", "a.csv", "m.bin"] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let err = refusal(dir.path());
        assert!(
            err.contains("it holds only a.csv, m.bin, notes.txt"),
            "{err}"
        );
        assert!(err.contains("fastText .bin files are written by"), "{err}");
        assert!(err.contains("student.json (a glossa student)"), "{err}");

        for i in 0..10 {
            std::fs::write(dir.path().join(format!("f{i}")), "x").unwrap();
        }
        assert!(refusal(dir.path()).contains(" and 7 more"));
    }

    #[test]
    fn an_unreadable_marker_file_is_named_with_its_os_error_once() {
        let dir = tempfile::tempdir().unwrap();
        let student = dir.path().join(STUDENT_FILE);
        std::os::unix::fs::symlink(&student, &student).unwrap();
        let err = refusal(dir.path());
        assert!(err.contains(&student.display().to_string()), "{err}");
        assert!(err.contains("student.json (a glossa student)"), "{err}");
        assert!(!err.contains("missing file"), "{err}");
        let os = std::fs::metadata(&student).unwrap_err().to_string();
        assert!(os.contains("os error"), "{os}");
        assert_eq!(err.matches(&os).count(), 1, "{err}");
        assert_eq!(err.matches("os error").count(), 1, "{err}");

        std::fs::remove_file(&student).unwrap();
        std::os::unix::fs::symlink(dir.path().join("gone"), &student).unwrap();
        let err = refusal(dir.path());
        assert!(
            err.contains("symbolic link to") && err.contains("does not exist"),
            "{err}"
        );
    }

    #[test]
    fn marker_files_choose_the_kind() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), r#"{"model_type": "bert"}"#).unwrap();
        assert_eq!(kind(&model_dir(dir.path())).unwrap(), Kind::Transformer);
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"model_type": "model2vec"}"#,
        )
        .unwrap();
        assert_eq!(kind(&model_dir(dir.path())).unwrap(), Kind::Model2Vec);
        std::fs::write(dir.path().join(STUDENT_FILE), "{}").unwrap();
        assert_eq!(kind(&model_dir(dir.path())).unwrap(), Kind::Student);
    }

    #[test]
    fn vec_file_has_header_and_one_line_per_word() {
        let config = SubwordConfig::new(3, 3, 10, (3, 4), WordRules::new(true));
        let s = TableStudent::new(
            config,
            build_vocab(["hello world"], WordRules::new(true), 1, 10),
            1,
        )
        .unwrap();
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
