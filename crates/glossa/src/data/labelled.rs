//! Labelled text for the classification path.
//!
//! Two sources: the chatterbot corpus (PyPI `chatterbot-corpus`), laid out as
//! `<language>/<topic>.yml`, whose topic (the file name) is the label of every utterance in the
//! file; and plain `lang<TAB>label<TAB>text` files for a user's own data.
//!
//! The YAML is read as events rather than through a typed loader, so every utterance stays the
//! text its author wrote (`yes`, `1.0` and `~` are sentences here, not a boolean, a float and
//! null) and every error can name its line.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use crate::{Error, Result};

/// One labelled text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledText {
    pub lang: String,
    pub label: String,
    pub text: String,
}

/// File names that name the same topic in another language or spelling. The corpus's folders
/// were written by different contributors, and without this Spanish `dinero.yml` would be a
/// different class from English `money.yml`.
const TOPIC_ALIASES: &[(&str, &str)] = &[
    ("IA", "ai"),
    ("coversations", "conversations"),
    ("computer", "computers"),
    ("dinero", "money"),
    ("emociones", "emotion"),
    ("emotions", "emotion"),
    ("greeting", "greetings"),
    ("perfilbot", "botprofile"),
    ("profile", "botprofile"),
    ("psicologia", "psychology"),
    ("sport", "sports"),
];

/// The label a chatterbot file name stands for.
pub fn topic_of(file_stem: &str) -> &str {
    TOPIC_ALIASES
        .iter()
        .find(|(alias, _)| *alias == file_stem)
        .map_or(file_stem, |(_, topic)| topic)
}

/// The language code of a chatterbot folder name; an unknown name is kept as it is.
pub fn language_code(folder: &str) -> &str {
    match folder {
        "bengali" => "bn",
        "chinese" => "zh",
        "dutch" => "nl",
        "english" => "en",
        "french" => "fr",
        "german" => "de",
        "hebrew" => "he",
        "hindi" => "hi",
        "hinglish" => "hi-Latn",
        "indonesian" => "id",
        "italian" => "it",
        "japanese" => "ja",
        "korean" => "ko",
        "marathi" => "mr",
        "oriya" => "or",
        "persian" => "fa",
        "portuguese" => "pt",
        "russian" => "ru",
        "spanish" => "es",
        "swedish" => "sv",
        "tamil" => "ta",
        "telugu" => "te",
        "thai" => "th",
        "traditionalchinese" => "zh-Hant",
        "turkish" => "tr",
        "ukrainian" => "uk",
        "urdu" => "ur",
        "yoruba" => "yo",
        other => other,
    }
}

/// A YAML node with the line it starts on.
#[derive(Debug)]
enum Node {
    Scalar(String, usize),
    Seq(Vec<Node>, usize),
    Map(Vec<(Node, Node)>, usize),
    /// An alias (`*name`): never used by the corpus, refused where a text is expected.
    Alias(usize),
}

impl Node {
    fn line(&self) -> usize {
        match self {
            Node::Scalar(_, l) | Node::Seq(_, l) | Node::Map(_, l) | Node::Alias(l) => *l,
        }
    }
}

/// Builds [`Node`] trees from parser events.
#[derive(Default)]
struct TreeBuilder {
    stack: Vec<Node>,
    documents: Vec<Node>,
    /// A mapping's key waiting for its value, per open mapping.
    keys: Vec<Option<Node>>,
    /// The input's last line. At the end of the input the scanner may count one line past it
    /// (an implicit final line break); what it places there is on the last line.
    last_line: usize,
}

impl TreeBuilder {
    fn push_value(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.documents.push(node),
            Some(Node::Seq(items, _)) => items.push(node),
            Some(Node::Map(entries, _)) => {
                let key = self.keys.last_mut().expect("a key slot per open mapping");
                match key.take() {
                    None => *key = Some(node),
                    Some(k) => entries.push((k, node)),
                }
            }
            Some(_) => unreachable!("only collections are pushed on the stack"),
        }
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let line = mark.line().min(self.last_line);
        match event {
            Event::Scalar(value, ..) => self.push_value(Node::Scalar(value, line)),
            Event::Alias(_) => self.push_value(Node::Alias(line)),
            Event::SequenceStart(..) => self.stack.push(Node::Seq(Vec::new(), line)),
            Event::MappingStart(..) => {
                self.stack.push(Node::Map(Vec::new(), line));
                self.keys.push(None);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = self.stack.pop().expect("balanced events");
                if matches!(node, Node::Map(..)) {
                    self.keys.pop();
                }
                self.push_value(node);
            }
            _ => {}
        }
    }
}

fn parse_yaml(path: &Path, text: &str) -> Result<Vec<Node>> {
    let last_line = text.split('\n').count();
    let mut builder = TreeBuilder {
        last_line,
        ..Default::default()
    };
    Parser::new_from_str(text)
        .load(&mut builder, true)
        .map_err(|e| {
            Error::parse(
                path,
                e.marker().line().min(last_line),
                format!("malformed YAML: {}", e.info()),
            )
        })?;
    Ok(builder.documents)
}

/// The utterances of one chatterbot file, with their lines: every string of every conversation
/// under the top-level `conversations:` key.
pub fn read_chatterbot_file(path: &Path) -> Result<Vec<(String, usize)>> {
    let text = crate::error::read_to_string(path)?;
    parse_chatterbot(&text, path)
}

/// The utterances of a chatterbot file's text; `path` is only used to name the file in errors.
pub fn parse_chatterbot(text: &str, path: &Path) -> Result<Vec<(String, usize)>> {
    let documents = parse_yaml(path, text)?;
    let expected =
        "expected a mapping with a `conversations:` list of conversations (lists of texts)";
    let root = match documents.as_slice() {
        [] => return Err(Error::invalid(path, format!("empty file: {expected}"))),
        [root] => root,
        [_, second, ..] => {
            return Err(Error::parse(
                path,
                second.line(),
                format!("a second YAML document: {expected}"),
            ))
        }
    };
    let Node::Map(entries, _) = root else {
        return Err(Error::parse(path, root.line(), expected));
    };
    let conversations = entries
        .iter()
        .find(|(k, _)| matches!(k, Node::Scalar(key, _) if key == "conversations"))
        .map(|(_, v)| v)
        .ok_or_else(|| Error::invalid(path, format!("no `conversations:` key: {expected}")))?;
    let Node::Seq(conversations, line) = conversations else {
        return Err(Error::parse(
            path,
            conversations.line(),
            format!("`conversations:` is not a list: {expected}"),
        ));
    };
    let mut utterances = Vec::new();
    for conversation in conversations {
        let items = match conversation {
            Node::Seq(items, _) => items.as_slice(),
            // The published corpus has such slips (english/trivia.yml:35, a question whose
            // `- ` was lost): still one labelled text, so kept, with a warning.
            Node::Scalar(_, line) => {
                tracing::warn!(
                    "{}:{line}: a conversation that is a single text, not a list; kept as one text",
                    path.display()
                );
                std::slice::from_ref(conversation)
            }
            _ => {
                return Err(Error::parse(
                    path,
                    conversation.line(),
                    "a conversation must be a list of texts (`- - question` / `  - answer`)",
                ))
            }
        };
        for item in items {
            match item {
                Node::Scalar(s, line) => {
                    let s = s.trim();
                    if !s.is_empty() {
                        utterances.push((s.to_string(), *line));
                    }
                }
                other => {
                    return Err(Error::parse(
                        path,
                        other.line(),
                        "expected a text in the conversation, found a list, mapping or alias",
                    ))
                }
            }
        }
    }
    if utterances.is_empty() {
        return Err(Error::parse(
            path,
            *line,
            "`conversations:` holds no text: an empty file teaches nothing",
        ));
    }
    Ok(utterances)
}

/// How a labelled set was assembled: what was kept and what was left out, and why.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LabelledReport {
    pub files: usize,
    /// The labels kept (topics in enough languages), in class order.
    pub labels: Vec<String>,
    /// Topics left out, with the number of languages that have them.
    pub rare_topics: BTreeMap<String, usize>,
    /// Distinct texts per language and label.
    pub counts: BTreeMap<String, BTreeMap<String, usize>>,
    /// Texts dropped per language because the same text carries two kept labels.
    pub ambiguous: BTreeMap<String, usize>,
}

/// A labelled set: its texts (distinct within a language) and its labels in class order.
#[derive(Debug, Clone)]
pub struct LabelledSet {
    pub texts: Vec<LabelledText>,
    pub report: LabelledReport,
}

impl LabelledSet {
    pub fn labels(&self) -> &[String] {
        &self.report.labels
    }

    pub fn languages(&self) -> Vec<String> {
        self.report.counts.keys().cloned().collect()
    }

    /// The class index of each text, in the order of `labels()`.
    pub fn class_of(&self, text: &LabelledText) -> usize {
        self.labels()
            .iter()
            .position(|l| *l == text.label)
            .expect("texts carry kept labels only")
    }
}

/// Reads a chatterbot `data/` folder and keeps the topics present in at least `min_languages`
/// languages. Texts are deduplicated within a language; one that appears under two kept topics
/// in the same language is dropped as ambiguous (and counted in the report).
pub fn load_chatterbot(root: &Path, min_languages: usize) -> Result<LabelledSet> {
    let files = chatterbot_files(root)?;
    let mut languages_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (lang, topic, _) in &files {
        languages_of.entry(topic).or_default().insert(lang);
    }
    let kept: BTreeSet<&str> = languages_of
        .iter()
        .filter(|(_, langs)| langs.len() >= min_languages)
        .map(|(topic, _)| *topic)
        .collect();
    if kept.is_empty() {
        return Err(Error::invalid(
            root,
            format!("no topic is present in {min_languages} or more languages"),
        ));
    }
    let (seen, order) = topics_of_texts(&files, &kept)?;
    let mut report = LabelledReport {
        files: files.len(),
        labels: kept.iter().map(|t| t.to_string()).collect(),
        rare_topics: languages_of
            .iter()
            .filter(|(t, _)| !kept.contains(*t))
            .map(|(t, l)| (t.to_string(), l.len()))
            .collect(),
        ..Default::default()
    };
    let mut texts = Vec::new();
    for key in order {
        let topics = &seen[&key];
        let (lang, text) = key;
        if topics.len() > 1 {
            *report.ambiguous.entry(lang).or_default() += 1;
            continue;
        }
        let label = topics.iter().next().expect("non-empty").clone();
        *report
            .counts
            .entry(lang.clone())
            .or_default()
            .entry(label.clone())
            .or_default() += 1;
        texts.push(LabelledText { lang, label, text });
    }
    Ok(LabelledSet { texts, report })
}

/// Every `<language>/<topic>.yml` under `root` as (language code, topic, path), sorted.
fn chatterbot_files(root: &Path) -> Result<Vec<(String, String, PathBuf)>> {
    let mut files = Vec::new();
    for lang_dir in sorted_entries(root)? {
        if !lang_dir.is_dir() {
            continue;
        }
        let folder = file_name(&lang_dir);
        for file in sorted_entries(&lang_dir)? {
            if file.extension().and_then(|e| e.to_str()) != Some("yml") {
                continue;
            }
            let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            files.push((
                language_code(&folder).to_string(),
                topic_of(stem).to_string(),
                file,
            ));
        }
    }
    if files.is_empty() {
        return Err(Error::invalid(
            root,
            "no `<language>/<topic>.yml` files: expected the chatterbot corpus's data folder \
             (run scripts/fetch-assets.sh classify)",
        ));
    }
    Ok(files)
}

/// (language, text) → the kept topics it appears under, and the keys in first-seen order.
#[allow(clippy::type_complexity)]
fn topics_of_texts(
    files: &[(String, String, PathBuf)],
    kept: &BTreeSet<&str>,
) -> Result<(
    BTreeMap<(String, String), BTreeSet<String>>,
    Vec<(String, String)>,
)> {
    let mut seen: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut order: Vec<(String, String)> = Vec::new();
    for (lang, topic, path) in files {
        // Every file is read, kept topic or not, so a broken file is reported either way.
        let utterances = read_chatterbot_file(path)?;
        if !kept.contains(topic.as_str()) {
            continue;
        }
        for (text, _) in utterances {
            let key = (lang.clone(), text);
            let topics = seen.entry(key.clone()).or_default();
            if topics.is_empty() {
                order.push(key);
            }
            topics.insert(topic.clone());
        }
    }
    Ok((seen, order))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|e| Error::io(dir, e)))
        .collect::<Result<_>>()?;
    entries.sort();
    Ok(entries)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Reads `lang<TAB>label<TAB>text` lines. With `known` labels, a label outside them is an
/// error naming the file and line (a classifier cannot be scored on a class it never learnt).
pub fn read_labelled_tsv(path: &Path, known: Option<&[String]>) -> Result<Vec<LabelledText>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    labelled_tsv_from(BufReader::new(file), path, known)
}

/// Parses the bytes of a `lang<TAB>label<TAB>text` file; `path` is only used to name the file in
/// errors.
pub fn parse_labelled_tsv(
    bytes: &[u8],
    path: &Path,
    known: Option<&[String]>,
) -> Result<Vec<LabelledText>> {
    labelled_tsv_from(bytes, path, known)
}

fn labelled_tsv_from(
    reader: impl BufRead,
    path: &Path,
    known: Option<&[String]>,
) -> Result<Vec<LabelledText>> {
    let mut texts = Vec::new();
    for (i, line) in reader.split(b'\n').enumerate() {
        let line_no = i + 1;
        let bytes = line.map_err(|e| Error::io(path, e))?;
        let line = std::str::from_utf8(&bytes)
            .map_err(|_| Error::parse(path, line_no, "invalid UTF-8"))?;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
        let [lang, label, text] = fields[..] else {
            return Err(Error::parse(
                path,
                line_no,
                format!(
                    "expected 3 tab-separated fields (language<TAB>label<TAB>text), found {}",
                    fields.len()
                ),
            ));
        };
        if lang.is_empty() || label.is_empty() || text.is_empty() {
            return Err(Error::parse(
                path,
                line_no,
                "empty field: language, label and text are all required",
            ));
        }
        if let Some(known) = known {
            if !known.iter().any(|k| k == label) {
                return Err(Error::parse(
                    path,
                    line_no,
                    format!(
                        "unknown label '{label}': the classifier knows {}",
                        known.join(", ")
                    ),
                ));
            }
        }
        texts.push(LabelledText {
            lang: lang.to_string(),
            label: label.to_string(),
            text: text.to_string(),
        });
    }
    if texts.is_empty() {
        return Err(Error::invalid(path, "empty file: no labelled texts"));
    }
    Ok(texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn utterances_keep_their_text_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "english/food.yml",
            "categories:\n- food\nconversations:\n- - Do you eat?\n  - yes\n- - 1.0\n  - ~\n  - \"  \"\n",
        );
        let got = read_chatterbot_file(&path).unwrap();
        let texts: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, ["Do you eat?", "yes", "1.0", "~"]);
        assert_eq!(got[0].1, 4);
        assert_eq!(got[3].1, 7);
        let loose = write(
            dir.path(),
            "loose.yml",
            "conversations:\n- - a\n- just text\n",
        );
        let got = read_chatterbot_file(&loose).unwrap();
        assert_eq!(got, [("a".to_string(), 2), ("just text".to_string(), 3)]);
    }

    #[test]
    fn bad_files_are_named_with_what_was_expected() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("empty.yml", "", "empty.yml: empty file"),
            ("comment.yml", "# nothing\n", "comment.yml: empty file"),
            (
                "malformed.yml",
                "conversations:\n- - \"unclosed\n  - b\n",
                "malformed.yml:",
            ),
            (
                "nolist.yml",
                "conversations: hello\n",
                "nolist.yml:1: `conversations:` is not a list",
            ),
            (
                "nokey.yml",
                "categories:\n- food\n",
                "nokey.yml: no `conversations:` key",
            ),
            (
                "mapping.yml",
                "conversations:\n- q: a\n",
                "mapping.yml:2: a conversation must be a list",
            ),
            (
                "nested.yml",
                "conversations:\n- - a\n  - - b\n",
                "nested.yml:3: expected a text",
            ),
            (
                "blank.yml",
                "conversations: []\n",
                "blank.yml:1: `conversations:` holds no text",
            ),
        ];
        for (name, text, want) in cases {
            let path = write(dir.path(), name, text);
            let err = read_chatterbot_file(&path).unwrap_err().to_string();
            assert!(err.contains(want), "{name}: {err}");
        }
        let err = read_chatterbot_file(&dir.path().join("malformed.yml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("malformed YAML"), "{err}");
    }

    #[test]
    fn an_error_at_the_end_of_the_input_names_its_last_line() {
        // Found by fuzzing (chatterbot_yaml): without a final newline the YAML scanner placed
        // these one line past the end ("fuzz.yml:4" for a 3-line file, "fuzz.yml:2" for "!").
        let path = Path::new("fuzz.yml");
        let cases: [(&[u8], &str); 4] = [
            (
                b"cat+gories:\n- fococd\nconvaeyt",
                "fuzz.yml:3: malformed YAML: simple key expected",
            ),
            (b"x: [a", "fuzz.yml:1: malformed YAML"),
            (
                b"conversations:\n- - \"unclosed",
                "fuzz.yml:2: malformed YAML",
            ),
            // Also found by fuzzing: a lone tag is an empty scalar placed past the end.
            (b"!", "fuzz.yml:1: expected a mapping"),
        ];
        for (bytes, want) in cases {
            let text = std::str::from_utf8(bytes).unwrap();
            let err = parse_chatterbot(text, path).unwrap_err().to_string();
            assert!(err.starts_with(want), "want {want:?}, got {err:?}");
        }
    }

    #[test]
    fn topics_in_enough_languages_are_kept_and_aliases_merge() {
        let dir = tempfile::tempdir().unwrap();
        let conv = |a: &str, b: &str| format!("conversations:\n- - {a}\n  - {b}\n");
        write(dir.path(), "english/money.yml", &conv("cash", "coins"));
        write(dir.path(), "english/food.yml", &conv("bread", "cash"));
        write(dir.path(), "spanish/dinero.yml", &conv("dinero", "dinero"));
        write(dir.path(), "spanish/food.yml", &conv("pan", "queso"));
        write(dir.path(), "english/music.yml", &conv("song", "tune"));
        let set = load_chatterbot(dir.path(), 2).unwrap();
        assert_eq!(set.labels(), ["food", "money"]);
        assert_eq!(set.report.rare_topics["music"], 1);
        // "cash" is under two kept topics in English: dropped; "dinero" deduplicated.
        assert_eq!(set.report.ambiguous["en"], 1);
        let es: Vec<(&str, &str)> = set
            .texts
            .iter()
            .filter(|t| t.lang == "es")
            .map(|t| (t.label.as_str(), t.text.as_str()))
            .collect();
        assert_eq!(
            es,
            [("money", "dinero"), ("food", "pan"), ("food", "queso")]
        );
        assert_eq!(set.report.counts["en"]["food"], 1);
        assert!(load_chatterbot(dir.path(), 3).is_err());
    }

    #[test]
    fn a_bad_file_stops_the_load_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "english/food.yml",
            "conversations:\n- - a\n  - b\n",
        );
        write(dir.path(), "german/food.yml", "conversations:\n  - - [a\n");
        let err = load_chatterbot(dir.path(), 1).unwrap_err().to_string();
        assert!(err.contains("german/food.yml"), "{err}");
    }

    #[test]
    fn tsv_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let known = vec!["food".to_string(), "money".to_string()];
        let ok = write(
            dir.path(),
            "ok.tsv",
            "de\tfood\tBrot\n\nes\tmoney\tdinero\r\n",
        );
        let texts = read_labelled_tsv(&ok, Some(&known)).unwrap();
        assert_eq!(texts.len(), 2);
        assert_eq!(texts[1].text, "dinero");
        let cases = [
            (
                "unknown.tsv",
                "de\tfood\tBrot\nde\tsport\tFußball\n",
                "unknown.tsv:2: unknown label 'sport'",
            ),
            (
                "fields.tsv",
                "de\tBrot\n",
                "fields.tsv:1: expected 3 tab-separated fields",
            ),
            (
                "emptyfield.tsv",
                "de\t\tBrot\n",
                "emptyfield.tsv:1: empty field",
            ),
            ("empty.tsv", "", "empty.tsv: empty file"),
        ];
        for (name, text, want) in cases {
            let path = write(dir.path(), name, text);
            let err = read_labelled_tsv(&path, Some(&known))
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{name}: {err}");
        }
        let bad = write(dir.path(), "bad.tsv", "de\tfood\tBrot\n");
        std::fs::write(&bad, b"de\tfood\t\xff\n").unwrap();
        let err = read_labelled_tsv(&bad, None).unwrap_err().to_string();
        assert!(err.contains("bad.tsv:1: invalid UTF-8"), "{err}");
    }
}
