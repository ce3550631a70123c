//! The one definition of a speed figure: encode throughput on named inputs, at a named thread
//! count and batch size, timed cold. `glossa bench`, `glossa eval` and the distillation report
//! all time through [`measure`], and every figure carries [`Method::describe`] beside it, so two
//! numbers for the same model differ only where their methods say they do.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Encoder, Error, Result};

/// The Tatoeba English files the inputs are read from, in this order.
const INPUT_LANGS: [&str; 6] = ["deu", "fra", "spa", "jpn", "cmn", "rus"];
/// `short`: this many Tatoeba English lines.
const SHORT_TEXTS: usize = 2000;
/// `long`: this many paragraphs, each of at least `LONG_WORDS` words.
const LONG_TEXTS: usize = 500;
const LONG_WORDS: usize = 45;

/// How a speed figure is measured. The defaults are `glossa bench`'s first case: one thread
/// (a figure that does not depend on how busy the other cores are), batch 32, `short`, 3 s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Method {
    pub threads: usize,
    pub batch: usize,
    /// `short` or `long` (see [`inputs`]).
    pub input: String,
    /// Minimum seconds timed, after a warm-up batch.
    pub seconds: f64,
}

impl Default for Method {
    fn default() -> Self {
        Method {
            threads: 1,
            batch: 32,
            input: "short".into(),
            seconds: 3.0,
        }
    }
}

impl Method {
    /// The method in words, printed next to every figure it produced.
    pub fn describe(&self) -> String {
        let what = match self.input.as_str() {
            "short" => format!("{SHORT_TEXTS} Tatoeba English lines"),
            "long" => format!("{LONG_TEXTS} paragraphs of >= {LONG_WORDS} words"),
            // Anything else is a description of its own (see `Suite::load`).
            other => return self.describe_with(other),
        };
        self.describe_with(&format!("{} ({what})", self.input))
    }

    fn describe_with(&self, input: &str) -> String {
        let s = if self.threads == 1 { "" } else { "s" };
        format!(
            "input {input}, {} thread{s}, batch {}, >= {} s after a warm-up batch, \
             cold (caches emptied each pass), tokenization included",
            self.threads, self.batch, self.seconds
        )
    }
}

/// The benchmark inputs: `short` is Tatoeba's English lines; `long` joins consecutive lines into
/// paragraphs of at least 45 words (~45-60 tokens). Both are fixed, so figures taken on different
/// days or by different tools (`glossa bench --write-inputs`) time the same texts.
pub fn inputs(eval_dir: &Path, kind: &str) -> Result<Vec<String>> {
    if kind != "short" && kind != "long" {
        return Err(Error::msg(format!(
            "unknown input kind '{kind}' (expected short or long)"
        )));
    }
    let dir = eval_dir.join("tatoeba");
    let mut lines = Vec::new();
    for lang in INPUT_LANGS {
        let path = dir.join(format!("tatoeba.{lang}-eng.eng"));
        lines.extend(
            crate::error::read_to_string(&path)?
                .lines()
                .map(str::to_owned),
        );
    }
    if kind == "short" {
        return Ok(lines.into_iter().take(SHORT_TEXTS).collect());
    }
    Ok(paragraphs(lines).take(LONG_TEXTS).collect())
}

/// Consecutive lines joined until each paragraph has at least `LONG_WORDS` words.
fn paragraphs(lines: Vec<String>) -> impl Iterator<Item = String> {
    let mut paragraph = String::new();
    lines.into_iter().filter_map(move |line| {
        if !paragraph.is_empty() {
            paragraph.push(' ');
        }
        paragraph.push_str(&line);
        (paragraph.split_whitespace().count() >= LONG_WORDS).then(|| std::mem::take(&mut paragraph))
    })
}

/// Sentences per second of `encoder` on `texts` by `method`, its threads in a pool of their own
/// (so the figure means the same in a process whose global pool has all cores, as `eval` and
/// `distill` have, as in `glossa bench`'s one-case processes).
pub fn measure(encoder: &dyn Encoder, texts: &[String], method: &Method) -> Result<f64> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(method.threads.max(1))
        .build()
        .map_err(|e| Error::msg(format!("starting {} timing threads: {e}", method.threads)))?;
    pool.install(|| super::throughput(encoder, texts, method.batch, method.seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_names_threads_batch_input_and_cold_timing() {
        let d = Method::default().describe();
        for part in [
            "input short",
            "1 thread,",
            "batch 32",
            "cold",
            "2000 Tatoeba",
        ] {
            assert!(d.contains(part), "{d} lacks {part}");
        }
        let two = Method {
            threads: 2,
            input: "long".into(),
            ..Method::default()
        };
        assert!(two.describe().contains("2 threads"), "{}", two.describe());
        assert!(two.describe().contains(">= 45 words"), "{}", two.describe());
    }

    #[test]
    fn paragraphs_have_at_least_the_word_count_and_keep_order() {
        let lines: Vec<String> = (0..100).map(|i| format!("w{i} x y z")).collect();
        let out: Vec<String> = paragraphs(lines).collect();
        assert_eq!(out.len(), 100 * 4 / 48);
        assert!(out
            .iter()
            .all(|p| p.split_whitespace().count() >= LONG_WORDS));
        assert!(
            out[0].starts_with("w0 ") && out[1].starts_with("w12 "),
            "{out:?}"
        );
    }

    #[test]
    fn an_unknown_input_kind_is_named_in_the_error() {
        let err = inputs(Path::new("/nonexistent"), "medium").unwrap_err();
        assert!(err.to_string().contains("'medium'"), "{err}");
    }

    #[test]
    fn measure_runs_in_the_methods_thread_count() {
        struct Threads(std::sync::Mutex<usize>);
        impl Encoder for Threads {
            fn name(&self) -> String {
                "threads".into()
            }
            fn dim(&self) -> usize {
                1
            }
            fn encode(&self, texts: &[&str]) -> Result<crate::Embeddings> {
                *self.0.lock().unwrap() = rayon::current_num_threads();
                Ok(crate::Embeddings::new(1, vec![0.0; texts.len()]))
            }
        }
        let enc = Threads(std::sync::Mutex::new(0));
        let method = Method {
            threads: 3,
            seconds: 0.0,
            ..Method::default()
        };
        assert!(measure(&enc, &["a".to_string()], &method).unwrap() > 0.0);
        assert_eq!(*enc.0.lock().unwrap(), 3);
    }
}
