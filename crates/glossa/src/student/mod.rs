//! The students: small models trained to reproduce the teacher's embeddings.

pub mod features;
pub mod pieces;
pub mod shrink;
pub mod table;
pub mod table_student;
pub mod token_init;
pub mod transformer;
pub mod word_sums;

pub use features::{Marks, UnspacedLetters, WordRules};
pub use table::Precision;
pub use table_student::{SubwordConfig, TableStudent};
pub use transformer::{TransformerShape, TransformerStudent};

use std::path::Path;

use crate::{Encoder, Error, Result};

/// File naming a student directory's kind and settings.
pub const STUDENT_FILE: &str = "student.json";

/// True when `dir` holds a glossa student (as opposed to a Hugging Face teacher).
pub fn is_student_dir(dir: &Path) -> bool {
    dir.join(STUDENT_FILE).is_file()
}

/// The `format` field of a student directory's `student.json` (`glossa-subword/1`,
/// `glossa-transformer/1`).
pub fn student_format(dir: &Path) -> Result<String> {
    #[derive(serde::Deserialize)]
    struct Format {
        format: String,
    }
    let path = dir.join(STUDENT_FILE);
    let f: Format = crate::error::read_json(&path)?;
    Ok(f.format)
}

/// Loads a student directory of either kind, by its `student.json`'s format.
pub fn load_student(dir: &Path) -> Result<Box<dyn Encoder>> {
    match student_format(dir)?.as_str() {
        transformer::FORMAT => Ok(Box::new(TransformerStudent::load(dir)?)),
        f if f.starts_with("glossa-subword/") || f.starts_with("glossa-static/") => {
            Ok(Box::new(TableStudent::load(dir)?))
        }
        other => Err(Error::invalid(
            dir.join(STUDENT_FILE),
            format!(
                "unknown student format '{other}' (known: glossa-subword/1, glossa-static/1, {})",
                transformer::FORMAT
            ),
        )),
    }
}

/// Writes a copy of the student in `model` to `out` with its weights in `precision` (a
/// Transformer student takes int8 only); a classifier's labels travel with it.
pub fn quantize(model: &Path, out: &Path, precision: Precision) -> Result<()> {
    if student_format(model)? == transformer::FORMAT {
        TransformerStudent::load(model)?.save_as(out, precision)?;
    } else {
        TableStudent::load(model)?.save_as(out, precision)?;
    }
    let labels = model.join("labels.json");
    if labels.is_file() {
        crate::io::write_atomic(out.join("labels.json"), &crate::error::read(&labels)?)?;
    }
    Ok(())
}
