//! The students: small models trained to reproduce the teacher's embeddings.

pub mod features;
pub mod model2vec;
pub mod subword;
pub mod table;
pub mod token_init;

pub use subword::{SubwordConfig, SubwordStudent};
pub use table::Precision;

use std::path::Path;

/// File naming a student directory's kind and settings.
pub const STUDENT_FILE: &str = "student.json";

/// True when `dir` holds a glossa student (as opposed to a Hugging Face teacher).
pub fn is_student_dir(dir: &Path) -> bool {
    dir.join(STUDENT_FILE).is_file()
}
