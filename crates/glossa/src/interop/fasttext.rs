//! fastText's binary model format (`.bin`, version 12): writing a student as a supervised
//! fastText model whose `get_sentence_vector` is the student's vector, and reading such files
//! back (for the round-trip tests, and to inspect what was written).
//!
//! Layout (all little-endian, as fastText writes it on the machines it runs on):
//! magic i32, version i32; Args (dim, ws, epoch, minCount, neg, wordNgrams, loss, model, bucket,
//! minn, maxn, lrUpdateRate: i32; t: f64); Dictionary (size i32, nwords i32, nlabels i32,
//! ntokens i64, pruneidx_size i64, then per entry: the word's bytes, a NUL, count i64, type i8;
//! then pruneidx_size pairs of i32); quant_input u8; input matrix (rows i64, cols i64, f32 data);
//! qout u8; output matrix (the same).
//!
//! Why a *supervised* model: fastText's sentence vector for supervised models is the plain mean
//! of the input rows of every token's features (word row if known + hashed `<word>` n-grams),
//! which is glossa's forward pass; for cbow/skipgram it averages *normalised* word vectors
//! instead. A supervised model needs an output matrix and a label: one dummy label with a zero
//! output row. The end-of-line token `</s>` that fastText appends to every line is left out of
//! the dictionary, so it adds no feature (fastText skips an unknown `</s>` entirely).

use std::io::{Read, Write};
use std::path::Path;

use crate::student::features::{char_ngrams, fasttext_hash, tokenize, TokenKind, WordRules};
use crate::student::TableStudent;
use crate::{Error, Result};

/// `FASTTEXT_FILEFORMAT_MAGIC_INT32` in fastText's source.
pub const MAGIC: i32 = 793_712_314;
/// The format version fastText 0.9.x writes and reads.
pub const VERSION: i32 = 12;
/// fastText's model enum: cbow = 1, skipgram = 2, supervised = 3.
pub const MODEL_SUPERVISED: i32 = 3;
/// fastText's loss enum: hs = 1, ns = 2, softmax = 3, one-vs-all = 4. Softmax needs no label
/// counts (hs and ns build trees and tables from them), so the dummy label is harmless.
pub const LOSS_SOFTMAX: i32 = 3;
/// The one label the exported model carries (fastText's default label prefix + a name).
pub const DUMMY_LABEL: &str = "__label__glossa";

/// The `Args` block of a `.bin`.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub dim: i32,
    pub ws: i32,
    pub epoch: i32,
    pub min_count: i32,
    pub neg: i32,
    pub word_ngrams: i32,
    pub loss: i32,
    pub model: i32,
    pub bucket: i32,
    pub minn: i32,
    pub maxn: i32,
    pub lr_update_rate: i32,
    pub t: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub word: String,
    pub count: i64,
    /// 0 = word, 1 = label.
    pub kind: i8,
}

/// A dense (unquantized) fastText model as read from a `.bin`.
#[derive(Debug, Clone)]
pub struct FasttextModel {
    pub version: i32,
    pub args: Args,
    pub nwords: usize,
    pub ntokens: i64,
    /// Words (ids 0..nwords) then labels.
    pub entries: Vec<Entry>,
    /// (nwords + bucket) × dim, row-major.
    pub input: Vec<f32>,
    /// nlabels × dim for supervised models.
    pub output: Vec<f32>,
    pub output_rows: usize,
}

/// What `write_bin` wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    pub words: usize,
    pub buckets: usize,
    pub dim: usize,
    /// Vocabulary words that glossa treats as one CJK character token (no n-grams); their rows
    /// were adjusted so fastText's sum over word + n-gram rows equals glossa's one row.
    pub adjusted_words: usize,
    /// Ways in which fastText's sentence vectors will differ from the student's.
    pub warnings: Vec<String>,
}

/// Writes `student` as a supervised fastText model at `path`.
///
/// Rows are the student's table times its projection (mean pooling is linear, so projecting
/// each row equals projecting the mean). For text given to fastText as glossa's tokens joined by
/// spaces (`glossa tokenize`), `get_sentence_vector` is then the student's vector, except for
/// the differences explained in docs/interop.md (CJK tokens: same direction, other length).
pub fn write_bin(student: &TableStudent, path: &Path) -> Result<ExportSummary> {
    if student.is_static() {
        return Err(Error::msg(
            "a static token student has no fastText form (its features are tokenizer ids, not \
             words and character n-grams): export it with `glossa export model2vec`",
        ));
    }
    let config = &student.config;
    if config.word_ngrams > 1 {
        // fastText chains word hashes over its own tokens, end-of-line token included, so its
        // word n-gram rows would not be the ones the student learnt.
        return Err(Error::msg(format!(
            "a student with word n-grams (student.json: word_ngrams = {}) has no fastText form \
             yet: fastText's sentence vectors would read other word-pair rows; use the student \
             directory itself (`glossa embed`, `glossa serve`, the Python and C bindings)",
            config.word_ngrams
        )));
    }
    let words = student.words();
    let vocab_path = Path::new("vocab.txt");
    for (i, w) in words.iter().enumerate() {
        // fastText splits lines on these bytes and reads entries up to a NUL; a word holding
        // one could never be looked up (and a NUL would corrupt the file).
        if w.is_empty() || w.bytes().any(|b| b" \n\r\t\x0b\x0c\0".contains(&b)) {
            return Err(Error::invalid(
                vocab_path,
                format!("word {} ({w:?}) is empty or holds whitespace or NUL, which fastText cannot represent", i + 1),
            ));
        }
        if w.starts_with("__label__") || w == "</s>" {
            return Err(Error::invalid(
                vocab_path,
                format!(
                    "word {} ({w:?}) would be a label or fastText's end-of-line token",
                    i + 1
                ),
            ));
        }
    }
    // fastText keeps sizes and row ids in i32.
    let rows = words.len() + config.buckets;
    let as_i32 = |n: usize, what: &str| {
        i32::try_from(n).map_err(|_| {
            Error::msg(format!(
                "cannot export to fastText: {what} {n} is more than fastText's i32 allows"
            ))
        })
    };
    as_i32(rows + 1, "rows + labels")?;
    let dim = as_i32(config.output_dim, "dimension")?;
    let mut warnings = Vec::new();
    if config.minn == 1 {
        warnings.push(
            "minn = 1: glossa counts the one-character n-grams '<' and '>' of every word, \
             fastText skips them, so sentence vectors will differ"
                .to_string(),
        );
    }
    let args = Args {
        dim,
        ws: 5,
        epoch: 1,
        min_count: 1,
        neg: 5,
        // Word n-grams would add hashed word-pair rows the student does not have.
        word_ngrams: 1,
        loss: LOSS_SOFTMAX,
        model: MODEL_SUPERVISED,
        bucket: as_i32(config.buckets, "buckets")?,
        minn: as_i32(config.minn, "minn")?,
        maxn: as_i32(config.maxn, "maxn")?,
        lr_update_rate: 100,
        t: 1e-4,
    };

    // Checked before the first byte (a directory or device is refused), written to a temporary
    // file that an error or Ctrl-C removes, renamed into place once complete.
    let mut out = crate::io::AtomicFile::create(path, &[])?;
    let io = |e| Error::io(path, e);
    let mut header = Vec::new();
    put_i32(&mut header, MAGIC);
    put_i32(&mut header, VERSION);
    put_args(&mut header, &args);
    // Dictionary: the words in row order, then the dummy label; no `</s>` (see module doc).
    put_i32(&mut header, as_i32(words.len() + 1, "entries")?);
    put_i32(&mut header, as_i32(words.len(), "words")?);
    put_i32(&mut header, 1);
    // Counts are unknown; fastText uses them only to train (subsampling, hs/ns tables).
    put_i64(&mut header, words.len() as i64 + 1);
    put_i64(&mut header, -1); // not pruned
    for (word, kind) in words
        .iter()
        .map(|w| (w.as_str(), 0i8))
        .chain([(DUMMY_LABEL, 1)])
    {
        header.extend_from_slice(word.as_bytes());
        header.push(0);
        put_i64(&mut header, 1);
        header.push(kind as u8);
    }
    header.push(0); // quant_input = false
    put_i64(&mut header, rows as i64);
    put_i64(&mut header, config.output_dim as i64);
    out.write_all(&header).map_err(io)?;

    let hidden_dim = config.dim;
    let mut hidden = vec![0.0f32; hidden_dim];
    let mut projected = vec![0.0f32; config.output_dim];
    let mut bytes = Vec::with_capacity(config.output_dim * 4);
    let mut adjusted_words = 0;
    let mut bracketed = String::new();
    for row in 0..rows {
        hidden.fill(0.0);
        student
            .table
            .add_row(student.table_row(row), hidden_dim, &mut hidden);
        if let Some(word) = words.get(row) {
            // glossa gives a CJK character token only its word row; fastText adds the n-grams
            // of `<token>` to every known word. Subtracting those rows here makes fastText's
            // sum equal glossa's (its count, and so the vector's length, still differs).
            if is_char_token(word, config.word_rules()) {
                bracketed.clear();
                bracketed.push('<');
                bracketed.push_str(word);
                bracketed.push('>');
                let mut grams = Vec::new();
                char_ngrams(&bracketed, config.minn, config.maxn, |g| {
                    grams.push(words.len() + fasttext_hash(g.as_bytes()) as usize % config.buckets)
                });
                let mut sum = vec![0.0f32; hidden_dim];
                for g in grams {
                    student
                        .table
                        .add_row(student.table_row(g), hidden_dim, &mut sum);
                }
                hidden.iter_mut().zip(&sum).for_each(|(h, s)| *h -= s);
                adjusted_words += 1;
            }
        }
        let values = match &student.projection {
            None => &hidden,
            Some(p) => {
                projected.fill(0.0);
                for (i, &h) in hidden.iter().enumerate() {
                    crate::kernels::axpy(
                        &mut projected,
                        h,
                        &p[i * config.output_dim..(i + 1) * config.output_dim],
                    );
                }
                &projected
            }
        };
        bytes.clear();
        values
            .iter()
            .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
        out.write_all(&bytes).map_err(io)?;
    }
    let mut tail = Vec::new();
    tail.push(0); // qout = false
    put_i64(&mut tail, 1);
    put_i64(&mut tail, config.output_dim as i64);
    tail.resize(tail.len() + config.output_dim * 4, 0);
    out.write_all(&tail).map_err(io)?;
    out.commit()?;
    Ok(ExportSummary {
        words: words.len(),
        buckets: config.buckets,
        dim: config.output_dim,
        adjusted_words,
        warnings,
    })
}

/// Reads a dense fastText `.bin` (quantized `.ftz` models are refused by name).
pub fn read_bin(path: &Path) -> Result<FasttextModel> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut r = Reader {
        inner: std::io::BufReader::new(file),
        path,
        left: len,
    };
    let magic = r.i32("magic")?;
    if magic != MAGIC {
        return Err(Error::invalid(
            path,
            format!("magic {magic} is not fastText's {MAGIC}: not a fastText model"),
        ));
    }
    let version = r.i32("version")?;
    if !(11..=VERSION).contains(&version) {
        return Err(Error::invalid(
            path,
            format!("fastText format version {version}; only 11 and 12 are read"),
        ));
    }
    let args = Args {
        dim: r.i32("dim")?,
        ws: r.i32("ws")?,
        epoch: r.i32("epoch")?,
        min_count: r.i32("minCount")?,
        neg: r.i32("neg")?,
        word_ngrams: r.i32("wordNgrams")?,
        loss: r.i32("loss")?,
        model: r.i32("model")?,
        bucket: r.i32("bucket")?,
        minn: r.i32("minn")?,
        maxn: r.i32("maxn")?,
        lr_update_rate: r.i32("lrUpdateRate")?,
        t: f64::from_le_bytes(r.bytes::<8>("t")?),
    };
    let size = r.i32("dictionary size")?;
    let nwords = r.i32("nwords")?;
    let nlabels = r.i32("nlabels")?;
    if size < 0 || nwords < 0 || nlabels < 0 || nwords.checked_add(nlabels) != Some(size) {
        return Err(Error::invalid(
            path,
            format!(
                "dictionary sizes do not add up: size {size}, nwords {nwords}, nlabels {nlabels}"
            ),
        ));
    }
    let ntokens = r.i64("ntokens")?;
    let pruned = r.i64("pruneidx_size")?;
    let mut entries = Vec::new();
    for i in 0..size {
        let mut word = Vec::new();
        loop {
            let [b] = r.bytes::<1>("dictionary entry")?;
            if b == 0 {
                break;
            }
            word.push(b);
        }
        let word = String::from_utf8(word)
            .map_err(|_| Error::invalid(path, format!("dictionary entry {i} is not UTF-8")))?;
        let count = r.i64("entry count")?;
        let [kind] = r.bytes::<1>("entry type")?;
        entries.push(Entry {
            word,
            count,
            kind: kind as i8,
        });
    }
    if pruned > 0 {
        // Pruned dictionaries only occur in quantized models, whose matrices are not read here.
        return Err(Error::invalid(
            path,
            "pruned (quantized) fastText models are not read",
        ));
    }
    let [quant] = r.bytes::<1>("quant_input")?;
    if quant != 0 {
        return Err(Error::invalid(
            path,
            "quantized fastText models (.ftz) are not read",
        ));
    }
    let (in_rows, in_cols, input) = r.matrix("input matrix")?;
    if in_cols != args.dim as usize || in_rows != nwords as usize + args.bucket.max(0) as usize {
        return Err(Error::invalid(
            path,
            format!(
                "input matrix is {in_rows}×{in_cols}, but the header says {nwords} words + {} \
                 buckets × dim {}",
                args.bucket, args.dim
            ),
        ));
    }
    let [qout] = r.bytes::<1>("qout")?;
    if qout != 0 {
        return Err(Error::invalid(
            path,
            "quantized output matrices are not read",
        ));
    }
    let (output_rows, _, output) = r.matrix("output matrix")?;
    if r.left != 0 {
        return Err(Error::invalid(
            path,
            format!("{} bytes after the output matrix", r.left),
        ));
    }
    Ok(FasttextModel {
        version,
        args,
        nwords: nwords as usize,
        ntokens,
        entries,
        input,
        output,
        output_rows,
    })
}

impl FasttextModel {
    /// fastText's supervised `get_sentence_vector` for one line (no word n-grams): the mean of
    /// the input rows of each whitespace-separated token's features. Here so the Rust tests can
    /// check the exported model's behaviour, not only its bytes.
    pub fn sentence_vector(&self, line: &str) -> Vec<f32> {
        let dim = self.args.dim as usize;
        let (minn, maxn) = (
            self.args.minn.max(0) as usize,
            self.args.maxn.max(0) as usize,
        );
        let buckets = self.args.bucket.max(1) as usize;
        let mut ids = Vec::new();
        for token in line
            .split([' ', '\t', '\r', '\x0b', '\x0c', '\0'])
            .filter(|t| !t.is_empty())
        {
            if token.starts_with("__label__") {
                continue;
            }
            let known = self.entries[..self.nwords]
                .iter()
                .rposition(|e| e.word == token);
            ids.extend(known);
            if maxn == 0 || token == "</s>" {
                continue;
            }
            let bracketed = format!("<{token}>");
            char_ngrams(&bracketed, minn, maxn, |g| {
                // fastText skips one-character n-grams at a word's edges ('<' and '>').
                let at = g.as_ptr() as usize - bracketed.as_ptr() as usize;
                let edge = at == 0 || at + g.len() == bracketed.len();
                if edge && g.chars().count() == 1 {
                    return;
                }
                ids.push(self.nwords + fasttext_hash(g.as_bytes()) as usize % buckets)
            });
        }
        let mut v = vec![0.0; dim];
        for &id in &ids {
            crate::kernels::add(&mut v, &self.input[id * dim..(id + 1) * dim]);
        }
        if !ids.is_empty() {
            v.iter_mut().for_each(|x| *x /= ids.len() as f32);
        }
        v
    }
}

/// Writes text the way fastText must be given it to compute the student's vector: glossa's
/// tokens joined by spaces, except that a CJK bigram glossa does not know is replaced by a
/// *stand-in*, one character whose only n-gram `<c>` falls in the same bucket as the bigram's
/// `<xy>`. (fastText would hash `<xy`, `xy>` and `<xy>`, three rows where glossa has one; a
/// one-character token `<c>` has the single n-gram `<c>` when minn = 3.) Unknown CJK
/// unigrams need none: `<x>` is already their one n-gram.
pub struct FasttextText<'a> {
    student: &'a TableStudent,
    /// One stand-in per bucket, '\0' where no character hashes there; empty when minn != 3.
    stand_ins: Vec<char>,
}

impl<'a> FasttextText<'a> {
    pub fn new(student: &'a TableStudent) -> Self {
        let config = &student.config;
        let mut stand_ins = Vec::new();
        if config.minn == 3 && config.maxn >= 3 {
            stand_ins = vec!['\0'; config.buckets];
            let mut left = config.buckets;
            // Private-use characters first (they mean nothing to anyone), then the rest of
            // Unicode above ASCII (so never one of fastText's separators). A character the
            // vocabulary holds would bring its word row, so those are skipped. With every
            // scalar value tried, a bucket is left without one with probability about
            // exp(-1.1M / buckets): 0.4% of the default student's 200k buckets.
            let order = (0xE000..=0xF8FF)
                .chain(0xF_0000..=0x10_FFFD)
                .chain(0x80..0xE000)
                .chain(0xF900..0xF_0000);
            let mut buf = String::new();
            for c in order.filter_map(char::from_u32) {
                buf.clear();
                buf.push('<');
                buf.push(c);
                buf.push('>');
                let b = fasttext_hash(buf.as_bytes()) as usize % config.buckets;
                if stand_ins[b] == '\0' && student.word_id(&buf[1..buf.len() - 1]).is_none() {
                    stand_ins[b] = c;
                    left -= 1;
                    if left == 0 {
                        break;
                    }
                }
            }
        }
        FasttextText { student, stand_ins }
    }

    /// The line to give fastText for `text` (which must hold no newline: fastText reads one
    /// line per sentence).
    pub fn line(&self, text: &str) -> String {
        let mut tokens = Vec::new();
        tokenize(text, self.student.config.word_rules(), &mut tokens);
        let mut line = String::with_capacity(text.len() + 8);
        for (i, (t, kind)) in tokens.iter().enumerate() {
            if i > 0 {
                line.push(' ');
            }
            let unknown_bigram = *kind == TokenKind::Chars
                && t.chars().count() > 1
                && self.student.word_id(t).is_none();
            let stand_in = if unknown_bigram && !self.stand_ins.is_empty() {
                let b = fasttext_hash(format!("<{t}>").as_bytes()) as usize % self.stand_ins.len();
                Some(self.stand_ins[b]).filter(|&c| c != '\0')
            } else {
                None
            };
            match stand_in {
                Some(c) => line.push(c),
                None => line.push_str(t),
            }
        }
        line
    }
}

/// True for a vocabulary word that glossa's tokenizer (with the student's `rules`) only ever
/// yields as a CJK character unigram or bigram (`TokenKind::Chars`: one row, no n-grams).
fn is_char_token(word: &str, rules: WordRules) -> bool {
    let mut tokens = Vec::new();
    tokenize(word, rules, &mut tokens);
    // A bigram tokenizes into its two characters and itself; a unigram into itself.
    tokens.iter().all(|(_, kind)| *kind == TokenKind::Chars)
        && tokens.last().is_some_and(|(t, _)| t == word)
        && word.chars().count() <= 2
}

struct Reader<'a, R> {
    inner: R,
    path: &'a Path,
    left: u64,
}

impl<R: Read> Reader<'_, R> {
    fn bytes<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        if self.left < N as u64 {
            return Err(Error::invalid(
                self.path,
                format!("file ends inside the {what}"),
            ));
        }
        self.inner
            .read_exact(&mut b)
            .map_err(|e| Error::io(self.path, e))?;
        self.left -= N as u64;
        Ok(b)
    }

    fn i32(&mut self, what: &str) -> Result<i32> {
        Ok(i32::from_le_bytes(self.bytes(what)?))
    }

    fn i64(&mut self, what: &str) -> Result<i64> {
        Ok(i64::from_le_bytes(self.bytes(what)?))
    }

    /// Rows, columns and f32 values; the size is checked against what is left of the file
    /// before anything is allocated.
    fn matrix(&mut self, what: &str) -> Result<(usize, usize, Vec<f32>)> {
        let rows = self.i64(what)?;
        let cols = self.i64(what)?;
        let bytes = u64::try_from(rows)
            .ok()
            .zip(u64::try_from(cols).ok())
            .and_then(|(r, c)| r.checked_mul(c)?.checked_mul(4));
        let Some(bytes) = bytes.filter(|&b| b <= self.left) else {
            return Err(Error::invalid(
                self.path,
                format!("{what} of {rows}×{cols} does not fit in the rest of the file"),
            ));
        };
        let mut raw = vec![0u8; bytes as usize];
        self.inner
            .read_exact(&mut raw)
            .map_err(|e| Error::io(self.path, e))?;
        self.left -= bytes;
        let values = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok((rows as usize, cols as usize, values))
    }
}

fn put_i32(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_args(out: &mut Vec<u8>, a: &Args) {
    for v in [
        a.dim,
        a.ws,
        a.epoch,
        a.min_count,
        a.neg,
        a.word_ngrams,
        a.loss,
        a.model,
        a.bucket,
        a.minn,
        a.maxn,
        a.lr_update_rate,
    ] {
        put_i32(out, v);
    }
    out.extend_from_slice(&a.t.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::cosine;
    use crate::student::features::tokens_line;
    use crate::student::{SubwordConfig, WordRules};

    /// A student with a projection (so folding is tested) and CJK words in its vocabulary.
    fn student() -> TableStudent {
        let config = SubwordConfig::new(6, 4, 37, (3, 5), WordRules::new(true));
        let words = ["the", "cat", "sat", "日", "本", "日本", "on"]
            .map(String::from)
            .to_vec();
        TableStudent::new(config, words, 7).unwrap()
    }

    #[test]
    fn bin_round_trips_and_gives_the_students_sentence_vectors() {
        let s = student();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bin");
        let summary = write_bin(&s, &path).unwrap();
        assert_eq!(summary.adjusted_words, 3, "日, 本, 日本");
        assert!(summary.warnings.is_empty());

        let m = read_bin(&path).unwrap();
        assert_eq!(m.version, VERSION);
        assert_eq!(
            (m.args.dim, m.args.bucket, m.args.minn, m.args.maxn),
            (4, 37, 3, 5)
        );
        assert_eq!((m.args.model, m.args.loss, m.args.word_ngrams), (3, 3, 1));
        assert_eq!(m.nwords, 7);
        let names: Vec<&str> = m.entries.iter().map(|e| e.word.as_str()).collect();
        assert_eq!(
            names,
            ["the", "cat", "sat", "日", "本", "日本", "on", DUMMY_LABEL]
        );
        assert_eq!(m.entries[7].kind, 1);
        assert!(
            !names.contains(&"</s>"),
            "no end-of-line entry: it must add no feature"
        );
        assert_eq!(m.input.len(), (7 + 37) * 4);
        assert_eq!((m.output_rows, m.output.len()), (1, 4));

        // Rows are the table's rows times the projection (word 1 and a bucket row).
        let p = s.projection.as_ref().unwrap();
        for row in [1usize, 7, 7 + 36] {
            for j in 0..4 {
                let want: f32 = (0..6).map(|i| s.table[row * 6 + i] * p[i * 4 + j]).sum();
                assert!((m.input[row * 4 + j] - want).abs() < 1e-6, "row {row}");
            }
        }

        // Spaced text, given as glossa's tokens: the same vector.
        for text in [
            "The cat sat on the mat.",
            "Qu'est-ce que c'est ?",
            "ÉTÉ naïve",
        ] {
            let got = m.sentence_vector(&tokens_line(text, WordRules::new(true)));
            let want = s.embed(text);
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "{text}: {got:?} vs {want:?}");
            }
        }
        // CJK tokens (known and unknown unigrams, a known bigram): same direction.
        let ft = FasttextText::new(&s);
        for text in ["日本", "日本 cat の", "本"] {
            assert_eq!(ft.line(text), tokens_line(text, WordRules::new(true)));
            let got = m.sentence_vector(&ft.line(text));
            let cos = cosine(&got, &s.embed(text));
            assert!(cos > 1.0 - 1e-5, "{text}: cosine {cos}");
        }
        // Unknown bigrams (本の, の猫) are given as stand-ins: fastText would hash three
        // n-grams of each where glossa has one row.
        let text = "日本の猫です";
        let line = ft.line(text);
        assert_ne!(line, tokens_line(text, WordRules::new(true)));
        assert_eq!(
            line.split(' ').count(),
            tokens_line(text, WordRules::new(true)).split(' ').count()
        );
        let cos = cosine(&m.sentence_vector(&line), &s.embed(text));
        assert!(cos > 1.0 - 1e-5, "{line}: cosine {cos}");
    }

    #[test]
    fn unrepresentable_words_and_damaged_files_are_refused_by_name() {
        let mut config = student().config;
        config.output_dim = config.dim;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bin");
        for bad in ["two words", "__label__x", "</s>"] {
            let s = TableStudent::new(config.clone(), vec![bad.to_string()], 1).unwrap();
            let err = write_bin(&s, &path).err().unwrap().to_string();
            assert!(err.contains("vocab.txt") && err.contains("word 1"), "{err}");
        }
        assert!(!path.exists(), "nothing written");
        // Word n-gram rows fastText would not read the same way.
        let pairs = SubwordConfig {
            word_ngrams: 2,
            ..config.clone()
        };
        let s = TableStudent::new(pairs, vec!["a".into()], 1).unwrap();
        let err = write_bin(&s, &path).err().unwrap().to_string();
        assert!(err.contains("word_ngrams = 2"), "{err}");
        assert!(!path.exists(), "nothing written");

        let s = TableStudent::new(config, vec!["a".into()], 1).unwrap();
        write_bin(&s, &path).unwrap();
        let good = std::fs::read(&path).unwrap();
        let err_of = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            read_bin(&path).err().unwrap().to_string()
        };
        assert!(err_of(&good[..3]).contains("ends inside the magic"));
        let mut bad = good.clone();
        bad[0] ^= 1;
        assert!(err_of(&bad).contains("not a fastText model"));
        let err = err_of(&good[..good.len() - 1]);
        assert!(
            err.contains("m.bin") && err.contains("output matrix"),
            "{err}"
        );
        // An input matrix claiming 2^62 rows is refused before any allocation.
        let at = 8 + 12 * 4 + 8 + 4 * 3 + 16 + (2 + 9) + (16 + 9) + 1;
        let mut bad = good.clone();
        bad[at..at + 8].copy_from_slice(&(1i64 << 62).to_le_bytes());
        assert!(err_of(&bad).contains("does not fit"));
        let mut longer = good;
        longer.push(0);
        assert!(err_of(&longer).contains("1 bytes after"));
    }
}
