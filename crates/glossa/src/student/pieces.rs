//! A cache of token ids per space-delimited piece, in front of the static student's Hugging Face
//! tokenizer.
//!
//! The tokenizers static students use (SentencePiece Unigram behind a Metaspace pre-tokenizer,
//! BERT WordPiece behind BertPreTokenizer) cut the text at spaces before their model sees it and
//! tokenize each part on its own: the ids of `a b c` are the ids of `a`, then of `b`, then of
//! `c`. On real text most pieces have been seen before (word frequencies are Zipfian), so looking
//! a piece's ids up skips the normalizer, the pre-tokenizer, the model and the `Encoding` that
//! `encode_fast` builds for every sentence, which is where the static student spent its time.
//!
//! That holds only while nothing crosses a space, so a text takes the cached path only when:
//! - the tokenizer is one whose steps are known to work piece by piece (`PieceCache::new`
//!   refuses the others);
//! - its pieces are split by single ASCII spaces, with none at either end (an empty piece would
//!   be a `▁` token of its own for Metaspace);
//! - each piece, judged once when first seen (`judge`), keeps its spaces to itself: its
//!   graphemes do not join a neighbouring space (a combining mark after a space is one grapheme,
//!   which the SentencePiece normalizer maps as one), it does not normalize to nothing or to
//!   something starting or ending with whitespace, and it holds no added token (those may strip
//!   the spaces around them).
//!
//! Any other text is encoded whole, exactly as without the cache. The ids are always those of
//! `encode_fast(text, false)`: the tests check that on every Tatoeba file for both tokenizers.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use tokenizers::{
    Model, ModelWrapper, NormalizedString, Normalizer, OffsetReferential, OffsetType,
    PreTokenizedString, PreTokenizer, Tokenizer,
};
use unicode_segmentation::UnicodeSegmentation;

/// Pieces longer than this are used but not kept: memory stays bounded by entries × this.
const MAX_PIECE_BYTES: usize = 64;
/// Entries per shard before it is emptied and starts again (a few MB per shard at most).
const MAX_ENTRIES: usize = 1 << 15;
/// Shards, each behind its own lock; a rayon worker uses the one of its index, so up to this
/// many threads never wait on each other.
const SHARDS: usize = 16;

/// What is known of a piece.
enum Piece {
    /// Its ids (the unknown token already dropped).
    Ids(Box<[u32]>),
    /// It may tokenize differently in context: its text is encoded whole.
    Whole,
}

type Shard = HashMap<Box<str>, Piece, foldhash::fast::RandomState>;

pub struct PieceCache {
    /// Added tokens' contents (special tokens included: `encode_fast` still matches them).
    added: Vec<String>,
    /// What the normalizer makes of each printable ASCII character alone, where that is one
    /// printable ASCII character again (0 otherwise): an ASCII piece is normalized by looking
    /// its bytes up, since no normalizer the cache accepts joins ASCII characters.
    ascii: [u8; 128],
    /// The pre-tokenizer is Metaspace (so an ASCII piece is one pre-token, `▁` + the piece).
    metaspace: bool,
    shards: Box<[Mutex<Shard>]>,
}

impl PieceCache {
    /// A cache for `tokenizer`, or None when its normalizer, pre-tokenizer or model is not one
    /// known to tokenize space-separated pieces independently.
    pub fn new(tokenizer: &Tokenizer) -> Option<PieceCache> {
        fn json(v: impl serde::Serialize) -> serde_json::Value {
            serde_json::to_value(v).unwrap_or_default()
        }
        let normalizer = tokenizer.get_normalizer().map(json);
        let pre_tokenizer = tokenizer.get_pre_tokenizer().map(json);
        if !normalizer.as_ref().is_none_or(normalizer_is_local)
            || !pre_tokenizer.as_ref().is_some_and(splits_at_spaces)
            || !model_is_per_word(tokenizer.get_model())
        {
            return None;
        }
        let added: Vec<String> = tokenizer
            .get_added_tokens_decoder()
            .into_values()
            .map(|t| t.content)
            .collect();
        // An added token with a space in it spans pieces.
        if added.iter().any(|t| t.is_empty() || t.contains(' ')) {
            return None;
        }
        let mut ascii = [0u8; 128];
        for b in 0x21u8..0x7f {
            let mut n = NormalizedString::from((b as char).to_string().as_str());
            let ok = tokenizer
                .get_normalizer()
                .is_none_or(|normalizer| normalizer.normalize(&mut n).is_ok());
            if let (true, &[c]) = (ok, n.get().as_bytes()) {
                if c.is_ascii_graphic() {
                    ascii[b as usize] = c;
                }
            }
        }
        let metaspace = pre_tokenizer
            .as_ref()
            .is_some_and(|p| p["type"] == "Metaspace");
        Some(PieceCache {
            metaspace,
            added,
            ascii,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        })
    }

    /// Appends the ids of `text` to `out` from the cache and returns true, or returns false
    /// (leaving `out` as it was) when `text` must be encoded whole.
    pub fn ids(
        &self,
        tokenizer: &Tokenizer,
        unknown: Option<u32>,
        text: &str,
        out: &mut Vec<u32>,
    ) -> bool {
        let start = out.len();
        let mut shard = self.shard();
        for piece in text.split(' ') {
            if let Some(known) = shard.get(piece) {
                match known {
                    Piece::Ids(ids) => out.extend_from_slice(ids),
                    Piece::Whole => {
                        out.truncate(start);
                        return false;
                    }
                }
                continue;
            }
            // Also covers a space at either end or two in a row: the empty piece is never kept.
            let judged = self.judge(tokenizer, unknown, piece);
            let whole = matches!(judged, Piece::Whole);
            if let Piece::Ids(ids) = &judged {
                out.extend_from_slice(ids);
            }
            if !piece.is_empty() && piece.len() <= MAX_PIECE_BYTES {
                if shard.len() >= MAX_ENTRIES {
                    shard.clear();
                }
                shard.insert(piece.into(), judged);
            }
            if whole {
                out.truncate(start);
                return false;
            }
        }
        true
    }

    /// Empties the cache (benchmarks time the cold state with it).
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            lock(shard).clear();
        }
    }

    /// Entries held, over all shards.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self) -> MutexGuard<'_, Shard> {
        let i = rayon::current_thread_index().unwrap_or(0) % self.shards.len();
        lock(&self.shards[i])
    }

    /// The ids of `piece` if it tokenizes the same alone as between spaces. They come from the
    /// tokenizer's own normalizer, pre-tokenizer and model, the steps `encode_fast` takes, without
    /// the `Encoding` it builds (and, for ASCII, without the normalizer's bookkeeping).
    fn judge(&self, tokenizer: &Tokenizer, unknown: Option<u32>, piece: &str) -> Piece {
        if piece.is_empty() || self.holds_added(piece) {
            return Piece::Whole;
        }
        let ascii = self.ascii_normalized(piece);
        if let (Some(n), true) = (&ascii, self.metaspace) {
            // Metaspace makes an ASCII piece (no space, no ▁) the one pre-token `▁piece`: the
            // model alone, without the normalized strings' bookkeeping.
            if self.holds_added(n) {
                return Piece::Whole;
            }
            return match tokenizer.get_model().tokenize(&format!("▁{n}")) {
                Ok(tokens) => Piece::Ids(
                    tokens
                        .iter()
                        .map(|t| t.id)
                        .filter(|&id| Some(id) != unknown)
                        .collect(),
                ),
                Err(_) => Piece::Whole,
            };
        }
        let normalized = match ascii {
            Some(n) => NormalizedString::from(n),
            None => {
                if !keeps_to_itself(piece) {
                    return Piece::Whole;
                }
                let mut n = NormalizedString::from(piece);
                if let Some(normalizer) = tokenizer.get_normalizer() {
                    if normalizer.normalize(&mut n).is_err() {
                        return Piece::Whole;
                    }
                }
                // A piece starting with ▁ (or a space, once normalized) would not get the ▁
                // Metaspace prepends, and one normalized to nothing would lose the ▁ its space
                // makes in context.
                let s = n.get();
                let edge = |c: Option<char>| c.is_none_or(|c| c.is_whitespace() || c == '▁');
                if edge(s.chars().next()) || edge(s.chars().next_back()) {
                    return Piece::Whole;
                }
                n
            }
        };
        if self.holds_added(normalized.get()) {
            return Piece::Whole;
        }
        let mut pre = PreTokenizedString::from(normalized);
        let model = tokenizer.get_model();
        let tokenized = tokenizer
            .get_pre_tokenizer()
            .is_none_or(|p| p.pre_tokenize(&mut pre).is_ok())
            && pre.tokenize(|n| model.tokenize(n.get())).is_ok();
        if !tokenized {
            return Piece::Whole;
        }
        let ids: Vec<u32> = pre
            .get_splits(OffsetReferential::Original, OffsetType::Byte)
            .into_iter()
            .flat_map(|(_, _, tokens)| tokens.iter().flatten().map(|t| t.id))
            .filter(|&id| Some(id) != unknown)
            .collect();
        Piece::Ids(ids.into())
    }

    /// `piece` normalized through the ASCII table, when all of it is in there.
    fn ascii_normalized(&self, piece: &str) -> Option<String> {
        let bytes: Option<Vec<u8>> = piece
            .bytes()
            .map(|b| Some(*self.ascii.get(b as usize)?).filter(|&c| c != 0))
            .collect();
        // All printable ASCII, so valid UTF-8.
        String::from_utf8(bytes?).ok()
    }

    fn holds_added(&self, s: &str) -> bool {
        self.added.iter().any(|t| s.contains(t.as_str()))
    }
}

/// Appends the ids `encode_fast(text, false)` gives, less the unknown token; false when the
/// tokenizer fails on `text`.
pub fn encode_ids(
    tokenizer: &Tokenizer,
    unknown: Option<u32>,
    text: &str,
    out: &mut Vec<u32>,
) -> bool {
    match tokenizer.encode_fast(text, false) {
        Ok(encoding) => {
            out.extend(
                encoding
                    .get_ids()
                    .iter()
                    .copied()
                    .filter(|&id| Some(id) != unknown),
            );
            true
        }
        Err(_) => false,
    }
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // A panic while holding a shard leaves at worst a missing entry, never a wrong one.
    shard.lock().unwrap_or_else(|e| e.into_inner())
}

/// True when, between two spaces, `piece`'s graphemes do not take in either space (a combining
/// mark or ZWJ at its start, a prepended concatenation mark at its end, would).
fn keeps_to_itself(piece: &str) -> bool {
    let spaced = format!(" {piece} ");
    let mut graphemes = spaced.graphemes(true);
    graphemes.next() == Some(" ") && graphemes.next_back() == Some(" ")
}

/// Normalizers that map characters (or graphemes) without looking past a space.
fn normalizer_is_local(n: &serde_json::Value) -> bool {
    match n["type"].as_str() {
        Some("Sequence") => n["normalizers"]
            .as_array()
            .is_some_and(|all| all.iter().all(normalizer_is_local)),
        Some(
            "Precompiled" | "NFC" | "NFD" | "NFKC" | "NFKD" | "Lowercase" | "StripAccents"
            | "BertNormalizer",
        ) => true,
        // XLM-R's: runs of spaces become one. A run only spans a piece's edge when the piece
        // normalizes to something starting or ending with a space, which `judge` refuses.
        Some("Replace") => n["pattern"]["Regex"] == " {2,}" && n["content"] == " ",
        _ => false,
    }
}

/// Pre-tokenizers that cut at every space and never join across one.
fn splits_at_spaces(p: &serde_json::Value) -> bool {
    match p["type"].as_str() {
        // "never" would leave the first piece without its ▁; without split, one pre-token.
        Some("Metaspace") => {
            p["split"] == true
                && matches!(p["prepend_scheme"].as_str(), Some("always" | "first"))
                && p["replacement"] == "▁"
        }
        Some("BertPreTokenizer" | "Whitespace" | "WhitespaceSplit") => true,
        _ => false,
    }
}

/// Models that tokenize each pre-token on its own, deterministically (BPE dropout is random).
/// Matched, not serialized: a vocabulary of 250,000 would cost a JSON copy at every load.
fn model_is_per_word(m: &ModelWrapper) -> bool {
    match m {
        ModelWrapper::Unigram(_) | ModelWrapper::WordPiece(_) => true,
        ModelWrapper::BPE(bpe) => bpe.dropout.is_none(),
        ModelWrapper::WordLevel(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the cache must equal.
    fn plain(tokenizer: &Tokenizer, unknown: Option<u32>, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        encode_ids(tokenizer, unknown, text, &mut ids);
        ids
    }

    fn cached(
        cache: &PieceCache,
        tokenizer: &Tokenizer,
        unknown: Option<u32>,
        text: &str,
    ) -> Vec<u32> {
        let mut ids = vec![7];
        if !cache.ids(tokenizer, unknown, text, &mut ids) {
            assert_eq!(ids, vec![7], "a refused text leaves the output as it was");
            encode_ids(tokenizer, unknown, text, &mut ids);
        }
        ids.remove(0);
        ids
    }

    /// A tokenizer as the static students have: a normalizer, a pre-tokenizer, a small model.
    fn tokenizer(json: &str) -> Tokenizer {
        json.parse().unwrap()
    }

    fn unigram(normalizer: &str) -> Tokenizer {
        tokenizer(&format!(
            r#"{{"version":"1.0","truncation":null,"padding":null,
            "added_tokens":[{{"id":0,"content":"<unk>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}},
                            {{"id":9,"content":"<mask>","single_word":false,"lstrip":true,"rstrip":false,"normalized":false,"special":true}}],
            "normalizer":{normalizer},
            "pre_tokenizer":{{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true}},
            "post_processor":null,"decoder":null,
            "model":{{"type":"Unigram","unk_id":0,"byte_fallback":false,"vocab":[
                ["<unk>",0.0],["▁",-2.0],["▁a",-1.0],["▁b",-1.0],["b",-2.5],["▁ab",-1.5],["c",-3.0],["é",-3.0],["\u0301",-3.0],["<mask>",0.0]]}}}}"#
        ))
    }

    fn wordpiece() -> Tokenizer {
        tokenizer(
            r###"{"version":"1.0","truncation":null,"padding":null,
            "added_tokens":[{"id":0,"content":"[UNK]","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
            "normalizer":{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":null,"lowercase":true},
            "pre_tokenizer":{"type":"BertPreTokenizer"},"post_processor":null,"decoder":null,
            "model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##","max_input_chars_per_word":100,
                     "vocab":{"[UNK]":0,"a":1,"b":2,"##b":3,"ab":4,"!":5,"中":6,"e":7,"##e":8}}}"###,
        )
    }

    /// Texts where pieces meet spaces in every way the module comment lists.
    fn awkward_texts() -> Vec<String> {
        let mut texts: Vec<String> = [
            "",
            " ",
            "a",
            "a b",
            "a\u{3000}\u{3000}b",
            "a  \u{3000}b",
            "a\u{3000} b ab",
            " a b",
            "a b ",
            "a  b",
            "ab ab ab",
            "ab\u{a0}b",
            "a \u{a0}b",
            "a\u{a0} b",
            "a \u{301}b",
            "e\u{301} b",
            "a \u{200d}b",
            "a\u{3000}b",
            "a \u{3000} b",
            "a\tb",
            "a \tb",
            "a\u{0}b",
            "a \u{0} b",
            "中 ab",
            "中ab中",
            "a<mask> b",
            "a <mask>",
            "a▁b",
            "a ▁b",
            "▁ a",
            "AB Ab",
            "ab!",
            "a !b",
            "\u{600} a",
            "a\u{600} b",
            "🇫🇷 a",
        ]
        .map(String::from)
        .to_vec();
        // A piece longer than the cache keeps, and many pieces.
        texts.push(format!("{} a", "ab".repeat(100)));
        texts.push(vec!["ab b"; 200].join(" "));
        texts
    }

    #[test]
    fn cached_ids_are_the_tokenizers_on_awkward_text() {
        // As XLM-R's: NFKC-like mapping (U+3000 becomes a space), then runs of spaces as one.
        let precompiled_like = r#"{"type":"Sequence","normalizers":[{"type":"NFKC"},
            {"type":"Replace","pattern":{"Regex":" {2,}"},"content":" "}]}"#;
        let tokenizers = [
            (unigram(precompiled_like), Some(0)),
            (unigram("null"), Some(0)),
            (wordpiece(), Some(0)),
        ];
        for (t, unknown) in &tokenizers {
            let cache = PieceCache::new(t).expect("a tokenizer the cache knows");
            // Twice: the first pass fills the cache, the second reads it.
            for pass in 0..2 {
                for text in awkward_texts() {
                    assert_eq!(
                        cached(&cache, t, *unknown, &text),
                        plain(t, *unknown, &text),
                        "pass {pass}: {text:?}"
                    );
                }
            }
            assert!(!cache.is_empty());
            cache.clear();
            assert!(cache.is_empty());
        }
    }

    #[test]
    fn unknown_tokenizer_steps_turn_the_cache_off() {
        let with_replace = unigram(r#"{"type":"Replace","pattern":{"String":"a"},"content":" "}"#);
        assert!(PieceCache::new(&with_replace).is_none());
        let mut never = unigram("null");
        let meta: tokenizers::PreTokenizerWrapper = serde_json::from_str(
            r#"{"type":"Metaspace","replacement":"▁","prepend_scheme":"never","split":true}"#,
        )
        .unwrap();
        never.with_pre_tokenizer(Some(meta));
        assert!(PieceCache::new(&never).is_none());
        let mut none = unigram("null");
        none.with_pre_tokenizer(None::<tokenizers::PreTokenizerWrapper>);
        assert!(PieceCache::new(&none).is_none());
    }

    #[test]
    fn memory_is_bounded() {
        let t = wordpiece();
        let cache = PieceCache::new(&t).unwrap();
        let mut ids = Vec::new();
        for i in 0..(MAX_ENTRIES + 10) {
            assert!(cache.ids(&t, Some(0), &format!("a{i}"), &mut ids));
        }
        assert!(cache.len() <= MAX_ENTRIES);
    }
}
