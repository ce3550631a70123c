//! The students: small models trained to reproduce the teacher's embeddings.

pub mod features;
pub mod model2vec;
pub mod pieces;
pub mod subword;
pub mod table;
pub mod token_init;
pub mod transformer;
pub mod word_sums;

pub use subword::{SubwordConfig, SubwordStudent};
pub use table::Precision;
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
            Ok(Box::new(SubwordStudent::load(dir)?))
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
