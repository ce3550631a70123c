//! Parallel text: reading real human translations, cleaning them, splitting them, and the
//! plain `en<TAB>xx` TSV files everything downstream reads.

pub mod clean;
pub mod corpus;
pub mod dedup;
pub mod devset;
pub mod dictd;
pub mod fortune;
pub mod help;
pub mod labelled;
pub mod lang;
pub mod mo;
pub mod provenance;
pub mod select;
pub mod testsets;
pub mod tsv;
pub mod user;
pub mod wordfreq;
pub mod wordnet;

pub use corpus::{build_corpus, BuildReport, CorpusSources};
pub use tsv::{for_each_pair, parse_pairs, read_pairs, write_pairs};

/// One translation pair: an English text and its translation into the file's language.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pair {
    pub en: String,
    pub xx: String,
}
