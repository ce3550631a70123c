//! Text → feature ids for the fastText-style student.
//!
//! Words come from splitting on anything that is not a letter, mark or digit. Each word gives
//! its own row (when it is in the vocabulary) plus the character n-grams of `<word>`
//! (minn..=maxn characters), hashed with fastText's FNV-1a into a bucket table.
//!
//! Scripts written without spaces (Chinese, Japanese, Thai…) would make a whole sentence one
//! unseen word. Ideographs and kana are morphemes, so their runs become character unigrams and
//! bigrams, each a token of its own: 日本語 → 日, 本, 語, 日本, 本語. Thai, Lao, Khmer and
//! Myanmar runs are cut the same way by default, or read as one word through its character
//! n-grams (`UnspacedLetters`).
//!
//! How words are cut is part of a student (`WordRules`, saved in its `student.json`): a student
//! reads text with the rules it was trained with.

use crate::data::lang::{is_han, is_kana, is_unspaced_letter};
use serde::{Deserialize, Serialize};
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

/// Which combining marks stay inside the word they follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Marks {
    /// Every combining mark (Unicode category M). The default for new students.
    All,
    /// Letters and digits, and only the Latin, Arabic and Devanagari marks `is_listed_mark`
    /// names: a mark that is neither alphabetic nor listed, such as the virama or nukta of
    /// Bengali, Tamil, Telugu, Kannada, Gujarati or Gurmukhi, cuts its word in two (স্কুলে →
    /// স, কুলে). The rule of students saved before `marks` existed, kept so that they read text
    /// as they were trained to.
    Listed,
}

impl Marks {
    /// What a `student.json` without `marks` was trained with.
    pub fn before_marks_were_saved() -> Marks {
        Marks::Listed
    }
}

/// How runs of Thai, Lao, Khmer and Myanmar letters (scripts written without spaces between
/// words) are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnspacedLetters {
    /// A run is cut into character unigrams and bigrams, as Chinese and Japanese are. The
    /// default, and the rule of students saved before `unspaced_letters` existed: on Thai's dev
    /// pairs it retrieves better than `Ngrams` (docs/students.md, the lever table).
    Chars,
    /// A run is one word, read through its character n-grams (minn..=maxn), as a Latin word is:
    /// n-grams of 3–6 letters reach the syllables and short words a run is made of.
    Ngrams,
}

impl UnspacedLetters {
    /// What a `student.json` without `unspaced_letters` was trained with.
    pub fn before_it_was_saved() -> UnspacedLetters {
        UnspacedLetters::Chars
    }
}

/// How a student turns text into words; saved with it (`SubwordConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WordRules {
    pub lowercase: bool,
    pub marks: Marks,
    /// Fold Arabic spelling variants before cutting words (`fold_arabic`).
    pub fold_arabic: bool,
    pub unspaced_letters: UnspacedLetters,
}

impl WordRules {
    /// Lowercased or not, every mark inside its word, no folding, Thai runs cut into
    /// characters: the rules of a new student.
    pub fn new(lowercase: bool) -> WordRules {
        WordRules {
            lowercase,
            marks: Marks::All,
            fold_arabic: false,
            unspaced_letters: UnspacedLetters::Chars,
        }
    }

    /// True when `c` is cut into character unigrams and bigrams (`TokenKind::Chars`).
    fn is_char_token_script(&self, c: char) -> bool {
        is_han(c)
            || is_kana(c)
            || (self.unspaced_letters == UnspacedLetters::Chars && is_unspaced_letter(c))
    }

    /// `c` as these rules read it: folded when Arabic is folded, None when dropped.
    fn fold(&self, c: char) -> Option<char> {
        match self.fold_arabic {
            true => fold_arabic(c),
            false => Some(c),
        }
    }

    fn joins_word(&self, c: char) -> bool {
        c.is_alphanumeric()
            || match self.marks {
                Marks::All => is_listed_mark(c) || is_any_mark(c),
                Marks::Listed => is_listed_mark(c),
            }
    }
}

/// The one spelling of `c` that Arabic text written in different hands agrees on, None for a
/// character that is dropped: tatweel and the harakat (vowel marks, shadda, sukun, superscript
/// alef) go, hamzated and madda alef forms and alef wasla become bare alef, alef maqsura becomes
/// yeh, teh marbuta becomes heh, Arabic-Indic digits become 0–9. This is the "light"
/// normalisation of Arabic retrieval (Larkey, Ballesteros & Connell 2002): the same word arrives
/// vowelled or not, with or without its hamza, and each spelling would otherwise be a word and
/// n-grams of its own. Other characters are returned unchanged.
pub fn fold_arabic(c: char) -> Option<char> {
    match c {
        '\u{0640}' | '\u{064B}'..='\u{065F}' | '\u{0670}' => None,
        '\u{0622}' | '\u{0623}' | '\u{0625}' | '\u{0671}' => Some('\u{0627}'),
        '\u{0649}' => Some('\u{064A}'),
        '\u{0629}' => Some('\u{0647}'),
        '\u{0660}'..='\u{0669}' => char::from_digit(c as u32 - 0x0660, 10),
        '\u{06F0}'..='\u{06F9}' => char::from_digit(c as u32 - 0x06F0, 10),
        _ => Some(c),
    }
}

/// fastText's multiplier when it chains word hashes into a word n-gram's (`addWordNgrams`).
const WORD_NGRAM_MULTIPLIER: u64 = 116_049_371;

/// Calls `f` with the hash of each word n-gram (2 ≤ n ≤ `max_n`) that ends at the last of
/// `hashes` (the `fasttext_hash` of each word of a run, in order), chained as fastText's
/// supervised models chain them: h = h · 116049371 + next, over each word's hash taken as a
/// sign-extended i32. Called once per word, it reaches every n-gram of the run once.
pub fn word_ngram_hashes(hashes: &[u32], max_n: usize, mut f: impl FnMut(u64)) {
    let widen = |h: u32| h as i32 as i64 as u64;
    let last = hashes.len();
    for n in 2..=max_n.min(last) {
        let h = hashes[last - n..]
            .iter()
            .skip(1)
            .fold(widen(hashes[last - n]), |h, &next| {
                h.wrapping_mul(WORD_NGRAM_MULTIPLIER)
                    .wrapping_add(widen(next))
            });
        f(h);
    }
}

/// fastText's hash: FNV-1a over the bytes, each byte taken as a *signed* char and sign-extended,
/// so ids match fastText's own for non-ASCII text.
pub fn fasttext_hash(bytes: &[u8]) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for &b in bytes {
        h ^= b as i8 as i32 as u32;
        h = h.wrapping_mul(16_777_619);
    }
    h
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A word from a space-delimited script: word row + character n-grams.
    Word,
    /// A character unigram or bigram from an unspaced script: one row (word or hashed).
    Chars,
}

/// Splits text into tokens by `rules`.
pub fn tokenize(text: &str, rules: WordRules, out: &mut Vec<(String, TokenKind)>) {
    for_each_token(text, rules, &mut TokenBuffers::default(), |t, kind| {
        out.push((t.to_string(), kind))
    });
}

/// Buffers `for_each_token` and `char_ngrams_in` reuse, so that a caller featurizing many texts
/// with one `Scratch` allocates nothing once they have grown.
#[derive(Debug, Default)]
pub struct Scratch {
    pub tokens: TokenBuffers,
    /// `<token>`, for the caller's n-grams.
    pub bracketed: String,
    /// Character offsets, for `char_ngrams_in`.
    pub starts: Vec<usize>,
    /// fastText hashes of the words read so far in the current run of words, for
    /// `word_ngram_hashes`.
    pub word_hashes: Vec<u32>,
}

/// The word and the unspaced run `for_each_token` is building.
#[derive(Debug, Default)]
pub struct TokenBuffers {
    word: String,
    run: Vec<char>,
}

/// Calls `f` with each token of `text` (cut by `rules`) and its kind, in `tokenize`'s order,
/// borrowing the token from `buffers` instead of allocating it.
pub fn for_each_token(
    text: &str,
    rules: WordRules,
    buffers: &mut TokenBuffers,
    mut f: impl FnMut(&str, TokenKind),
) {
    let TokenBuffers { word, run } = buffers;
    word.clear();
    run.clear();
    let flush_word = |word: &mut String, f: &mut dyn FnMut(&str, TokenKind)| {
        if !word.is_empty() {
            f(word, TokenKind::Word);
            word.clear();
        }
    };
    let flush_run = |run: &mut Vec<char>, f: &mut dyn FnMut(&str, TokenKind)| {
        let mut buf = [0u8; 8];
        for &c in run.iter() {
            f(c.encode_utf8(&mut buf), TokenKind::Chars);
        }
        for pair in run.windows(2) {
            let n = pair[0].encode_utf8(&mut buf).len();
            let m = pair[1].encode_utf8(&mut buf[n..]).len();
            let bigram = std::str::from_utf8(&buf[..n + m]).expect("two encoded chars");
            f(bigram, TokenKind::Chars);
        }
        run.clear();
    };
    for c in text.chars() {
        let Some(c) = rules.fold(c) else { continue };
        if rules.is_char_token_script(c) {
            flush_word(word, &mut f);
            run.push(c);
        } else if rules.joins_word(c) {
            flush_run(run, &mut f);
            if !rules.lowercase {
                word.push(c);
            } else if c.is_ascii() {
                word.push(c.to_ascii_lowercase());
            } else {
                word.extend(c.to_lowercase());
            }
        } else {
            flush_word(word, &mut f);
            flush_run(run, &mut f);
        }
    }
    flush_word(word, &mut f);
    flush_run(run, &mut f);
}

/// The tokens of `text` joined by single spaces: the text as a whitespace-splitting tool
/// (fastText) must be given it to see the words glossa sees.
pub fn tokens_line(text: &str, rules: WordRules) -> String {
    let mut tokens = Vec::new();
    tokenize(text, rules, &mut tokens);
    let mut line = String::with_capacity(text.len() + 8);
    for (i, (t, _)) in tokens.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        line.push_str(t);
    }
    line
}

/// The combining marks `Marks::Listed` keeps inside words (Latin accents, Arabic harakat,
/// Devanagari signs), and the zero-width joiners.
fn is_listed_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{0610}'..='\u{061A}' | '\u{064B}'..='\u{065F}' | '\u{0900}'..='\u{0903}' | '\u{093A}'..='\u{094F}' | '\u{200C}' | '\u{200D}')
}

/// Any combining mark: every script's vowel signs, viramas and nuktas belong to their word.
fn is_any_mark(c: char) -> bool {
    !c.is_ascii() && c.general_category_group() == GeneralCategoryGroup::Mark
}

/// Calls `f` with the byte range of each character n-gram of `<word>`, n in minn..=maxn, the way
/// fastText enumerates them (n counts UTF-8 characters, not bytes).
pub fn char_ngrams(bracketed: &str, minn: usize, maxn: usize, f: impl FnMut(&str)) {
    char_ngrams_in(bracketed, minn, maxn, &mut Vec::new(), f)
}

/// `char_ngrams` with the character offsets kept in `starts` (a reused buffer).
pub fn char_ngrams_in(
    bracketed: &str,
    minn: usize,
    maxn: usize,
    starts: &mut Vec<usize>,
    mut f: impl FnMut(&str),
) {
    starts.clear();
    starts.extend(bracketed.char_indices().map(|(i, _)| i));
    starts.push(bracketed.len());
    let chars = starts.len() - 1;
    for i in 0..chars {
        for n in minn..=maxn {
            // `n > chars - i`, not `i + n > chars`: n comes from student.json and may be huge.
            if n > chars - i {
                break;
            }
            f(&bracketed[starts[i]..starts[i + n]]);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `tokenize` as it was before `for_each_token` (a String per token, a Vec per run): the
    /// reference the allocation-free path must equal.
    pub(crate) fn tokenize_reference(text: &str, rules: WordRules) -> Vec<(String, TokenKind)> {
        let mut out = Vec::new();
        let mut word = String::new();
        let mut run: Vec<char> = Vec::new();
        let flush_word = |word: &mut String, out: &mut Vec<(String, TokenKind)>| {
            if !word.is_empty() {
                out.push((std::mem::take(word), TokenKind::Word));
            }
        };
        let flush_run = |run: &mut Vec<char>, out: &mut Vec<(String, TokenKind)>| {
            for c in run.iter() {
                out.push((c.to_string(), TokenKind::Chars));
            }
            for pair in run.windows(2) {
                out.push((pair.iter().collect(), TokenKind::Chars));
            }
            run.clear();
        };
        let chars = text.chars().filter_map(|c| {
            if rules.fold_arabic {
                fold_arabic(c)
            } else {
                Some(c)
            }
        });
        for c in chars {
            if rules.is_char_token_script(c) {
                flush_word(&mut word, &mut out);
                run.push(c);
            } else if rules.joins_word(c) {
                flush_run(&mut run, &mut out);
                if rules.lowercase {
                    word.extend(c.to_lowercase());
                } else {
                    word.push(c);
                }
            } else {
                flush_word(&mut word, &mut out);
                flush_run(&mut run, &mut out);
            }
        }
        flush_word(&mut word, &mut out);
        flush_run(&mut run, &mut out);
        out
    }

    /// Multilingual test text: every `step`-th line of every Tatoeba file (both sides of 112
    /// language pairs) when ../shared/eval is there, and always a few lines of many scripts.
    pub(crate) fn multilingual_lines(step: usize) -> Vec<String> {
        let mut lines: Vec<String> = [
            "Hello, 日本語 World! é-e",
            "ÀÉÎÕÜ straße İstanbul ΣΊΣΥΦΟΣ",
            "नमस्ते दुनिया",
            "مرحبا بالعالم",
            "Привет, мир",
            "ภาษาไทย ง่าย",
            "한국어 문장",
            "a\u{200d}b c\u{301}",
            "x1 2y __ --",
            "",
            "  ",
            "ǅemal ﬁne Ⅻ",
            "আমি বাংলায় গান গাই। স্কুলে யாழ்ப்பாணம் ಕನ್ನಡ",
            "الْعَرَبِيَّة أحمد إلى مدرسة ـــ ٣٤",
        ]
        .map(String::from)
        .to_vec();
        let eval = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/eval");
        // The evaluation sets are required (as for the reference tests): without them these
        // tests would pass on the dozen lines above alone.
        let dir = eval.join("tatoeba");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_else(|e| {
                panic!("{}: {e} (the evaluation sets are required)", dir.display())
            });
        files.sort();
        for f in files {
            let text =
                std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            lines.extend(text.lines().step_by(step).map(str::to_owned));
        }
        lines
    }

    #[test]
    fn word_ngrams_chain_each_words_hash_as_fasttext_does() {
        let hashes: Vec<u32> = ["new", "york", "city"]
            .iter()
            .map(|w| fasttext_hash(w.as_bytes()))
            .collect();
        let widen = |h: u32| h as i32 as i64 as u64;
        let chain = |a: u64, b: u32| a.wrapping_mul(116_049_371).wrapping_add(widen(b));
        let mut got = Vec::new();
        word_ngram_hashes(&hashes, 3, |h| got.push(h));
        // Ending at "city": the bigram "york city" and the trigram "new york city".
        let bigram = chain(widen(hashes[1]), hashes[2]);
        let trigram = chain(chain(widen(hashes[0]), hashes[1]), hashes[2]);
        assert_eq!(got, vec![bigram, trigram]);
        // A first word ends no n-gram; n = 1 asks for none.
        let mut none = Vec::new();
        word_ngram_hashes(&hashes[..1], 3, |h| none.push(h));
        word_ngram_hashes(&hashes, 1, |h| none.push(h));
        assert!(none.is_empty());
        // "new york" and "york new" are different rows.
        let (mut ab, mut ba) = (Vec::new(), Vec::new());
        word_ngram_hashes(&hashes[..2], 2, |h| ab.push(h));
        word_ngram_hashes(&[hashes[1], hashes[0]], 2, |h| ba.push(h));
        assert_ne!(ab, ba);
    }

    #[test]
    fn for_each_token_equals_the_allocating_tokenizer_on_multilingual_text() {
        let lines = multilingual_lines(5);
        let mut buffers = TokenBuffers::default();
        for lowercase in [true, false] {
            for marks in [Marks::All, Marks::Listed] {
                for fold_arabic in [true, false] {
                    for unspaced_letters in [UnspacedLetters::Ngrams, UnspacedLetters::Chars] {
                        let rules = WordRules {
                            lowercase,
                            marks,
                            fold_arabic,
                            unspaced_letters,
                        };
                        for line in &lines {
                            let mut got = Vec::new();
                            for_each_token(line, rules, &mut buffers, |t, k| {
                                got.push((t.to_string(), k))
                            });
                            assert_eq!(got, tokenize_reference(line, rules), "{line:?}");
                        }
                    }
                }
            }
        }
        println!("{} lines", lines.len());
    }

    #[test]
    fn ngrams_with_a_reused_buffer_are_the_same() {
        let mut starts = vec![99; 3];
        for word in ["<né>", "<a>", "<日本語ab>", "<>"] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            char_ngrams(word, 2, 5, |g| a.push(g.to_string()));
            char_ngrams_in(word, 2, 5, &mut starts, |g| b.push(g.to_string()));
            assert_eq!(a, b);
        }
    }

    #[test]
    fn hash_matches_fasttext_including_signed_bytes() {
        // Values from fastText's Dictionary::hash (FNV-1a 32 with int8 sign extension).
        assert_eq!(fasttext_hash(b""), 2_166_136_261);
        assert_eq!(fasttext_hash(b"a"), 0xe40c292c);
        assert_eq!(fasttext_hash("é".as_bytes()), 0x3cfa68c1);
        // Unsigned bytes would give another id for any non-ASCII text.
        let unsigned = {
            let mut h: u32 = 2_166_136_261;
            for &b in "é".as_bytes() {
                h ^= b as u32;
                h = h.wrapping_mul(16_777_619);
            }
            h
        };
        assert_ne!(fasttext_hash("é".as_bytes()), unsigned);
    }

    #[test]
    fn ngrams_count_characters() {
        let mut grams = Vec::new();
        char_ngrams("<né>", 3, 6, |g| grams.push(g.to_string()));
        assert_eq!(grams, vec!["<né", "<né>", "né>"]);
        // Lengths from a hostile student.json: none that long, and no overflow.
        char_ngrams("<né>", usize::MAX, usize::MAX, |_| panic!("no n-gram"));
        char_ngrams("<né>", usize::MAX - 1, usize::MAX, |_| panic!("no n-gram"));
    }

    #[test]
    fn unspaced_scripts_become_unigrams_and_bigrams() {
        let mut out = Vec::new();
        tokenize("Hello, 日本語 World! é-e", WordRules::new(true), &mut out);
        let words: Vec<&str> = out.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            words,
            vec!["hello", "日", "本", "語", "日本", "本語", "world", "é", "e"]
        );
        assert_eq!(out[1].1, TokenKind::Chars);
        out.clear();
        tokenize("  ", WordRules::new(true), &mut out);
        assert!(out.is_empty());
    }

    fn words(text: &str, rules: WordRules) -> Vec<String> {
        let mut out = Vec::new();
        tokenize(text, rules, &mut out);
        out.into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn a_virama_or_nukta_stays_inside_its_word_in_every_indic_script() {
        // Bengali (virama, nukta), Tamil (pulli), Kannada, Gujarati, Gurmukhi, Malayalam.
        let text = "স্কুলে বাংলায় பள்ளிக்கு ಕನ್ನಡ ક્ષ ਕ੍ਰ ക്ഷ";
        assert_eq!(
            words(text, WordRules::new(false)),
            ["স্কুলে", "বাংলায়", "பள்ளிக்கு", "ಕನ್ನಡ", "ક્ષ", "ਕ੍ਰ", "ക്ഷ"]
        );
        // The rule of students saved before `marks` cut those words (and read them so still).
        let listed = WordRules {
            marks: Marks::Listed,
            ..WordRules::new(false)
        };
        assert_eq!(words("স্কুলে", listed), ["স", "কুলে"]);
        // Devanagari, Arabic and Latin marks joined their words under both rules.
        for rules in [listed, WordRules::new(false)] {
            assert_eq!(words("क्षमा e\u{301}tat", rules), ["क्षमा", "e\u{301}tat"]);
        }
    }

    #[test]
    fn arabic_spelling_variants_fold_to_one_word_when_asked() {
        let fold = WordRules {
            fold_arabic: true,
            ..WordRules::new(false)
        };
        // Vowelled and bare, hamza above, below or none, tatweel, alef maqsura, teh marbuta.
        let spellings = ["مَدْرَسَة", "مدرسة", "مدرســـة", "مدرسه"];
        for s in spellings {
            assert_eq!(words(s, fold), ["مدرسه"], "{s}");
        }
        assert_eq!(words("أحمد إلى آخر", fold), ["احمد", "الي", "اخر"]);
        assert_eq!(words("٣٤ ۵", fold), ["34", "5"]);
        // Without the flag every spelling is its own word, and other scripts never change.
        assert_eq!(words("مَدْرَسَة", WordRules::new(false)), ["مَدْرَسَة"]);
        assert_eq!(words("Größe שלום", fold), ["Größe", "שלום"]);
    }

    #[test]
    fn a_thai_run_is_cut_into_characters_or_read_as_a_word_with_ngrams() {
        let ngrams = WordRules {
            unspaced_letters: UnspacedLetters::Ngrams,
            ..WordRules::new(false)
        };
        // ภาษาไทย ง่าย ("the Thai language [is] easy"): a tone mark (U+0E48) inside ง่าย.
        let text = "ภาษาไทย ง่าย";
        let mut tokens = Vec::new();
        tokenize(text, ngrams, &mut tokens);
        assert_eq!(
            tokens,
            [
                ("ภาษาไทย".to_string(), TokenKind::Word),
                ("ง่าย".to_string(), TokenKind::Word)
            ]
        );
        // Lao, Khmer and Myanmar runs are read the same way.
        assert_eq!(words("ພາສາລາວ ភាសាខ្មែរ", ngrams).len(), 2);
        // The default, and the rule of students saved before `unspaced_letters`: unigrams and
        // bigrams.
        let chars = WordRules::new(false);
        let mut tokens = Vec::new();
        tokenize("ง่าย", chars, &mut tokens);
        let expected = ["ง", "\u{0E48}", "า", "ย", "ง\u{0E48}", "\u{0E48}า", "าย"];
        assert_eq!(tokens.len(), expected.len());
        for ((t, kind), e) in tokens.iter().zip(expected) {
            assert_eq!((t.as_str(), *kind), (e, TokenKind::Chars));
        }
        // Chinese and Japanese stay characters under both rules.
        for rules in [chars, ngrams] {
            assert_eq!(words("日本", rules), ["日", "本", "日本"]);
        }
    }
}
