//! The user's corpora end to end: a corpus built from the built-in readers, exported in every
//! format glossa writes, read back as the user's files, gives the same corpus; and every kind
//! of bad input stops the build with an error that names the file.

use std::collections::BTreeMap;
use std::path::Path;

use glossa::data::clean::{Drop, Limits};
use glossa::data::corpus::{build_corpus, BuildOptions, Corpus, CorpusSources};
use glossa::data::testsets::TestSetIndex;
use glossa::data::user::open::Compression;
use glossa::data::user::write::{write_corpus_as, Format};
use glossa::data::user::SourceSpec;
use glossa::data::{mo, Pair};

fn options(languages: &[&str]) -> BuildOptions {
    BuildOptions {
        languages: languages.iter().map(|l| l.to_string()).collect(),
        all_languages: languages.is_empty(),
        pivot: "en".into(),
        limits: Limits {
            min_chars: 2,
            max_chars: 300,
        },
        dev_permille: 300,
    }
}

fn no_builtin(parallel: Vec<SourceSpec>, monolingual: Vec<SourceSpec>) -> CorpusSources {
    CorpusSources {
        gettext_roots: vec![],
        help_root: None,
        dictionary_dirs: vec![],
        parallel,
        monolingual,
    }
}

/// A gettext tree with texts that test every format's escaping: XML and JSON specials,
/// quotes, non-Latin scripts.
fn builtin_corpus(root: &Path) -> Corpus {
    let catalogs: [(&str, &[(&str, &str)]); 3] = [
        (
            "de",
            &[
                ("Open the <b> file & save", "Datei <b> öffnen & speichern"),
                ("Say \"hello\" to them", "Sag \"hallo\" zu ihnen"),
                ("Back slash \\ here", "Rück \\ strich"),
            ],
        ),
        (
            "ja",
            &[
                ("Open the document", "文書を開く"),
                ("Close the window", "ウィンドウを閉じる"),
            ],
        ),
        (
            "ru",
            &[
                ("Open the document", "Открыть документ"),
                ("It's 'quoted'", "Это «цитата»"),
            ],
        ),
    ];
    for (lang, entries) in catalogs {
        let dir = root.join("gettext").join(lang).join("LC_MESSAGES");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("app.mo"), mo::write(entries)).unwrap();
    }
    let sources = CorpusSources {
        gettext_roots: vec![root.join("gettext")],
        ..no_builtin(vec![], vec![])
    };
    let (corpus, _) = build_corpus(
        &sources,
        &options(&["de", "ja", "ru"]),
        &TestSetIndex::default(),
    )
    .unwrap();
    assert!(
        !corpus.dev.is_empty() && !corpus.train.is_empty(),
        "the fixture has both splits"
    );
    corpus
}

fn all_pairs(corpus: &Corpus) -> BTreeMap<String, Vec<Pair>> {
    let mut pairs = corpus.train.clone();
    for (lang, dev) in &corpus.dev {
        pairs
            .entry(lang.clone())
            .or_default()
            .extend(dev.iter().cloned());
    }
    pairs
}

#[test]
fn the_builtin_corpus_exported_in_every_format_reads_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = builtin_corpus(dir.path());
    let pairs = all_pairs(&corpus);
    let formats = [Format::Tsv, Format::Moses, Format::Tmx, Format::Jsonl];
    let compressions = [
        Compression::None,
        Compression::Gzip,
        Compression::Zstd,
        Compression::Xz,
    ];
    for (i, format) in formats.iter().enumerate() {
        for compression in compressions {
            let out = dir
                .path()
                .join(format!("export-{i}-{}", compression.extension()));
            let written = write_corpus_as(&out, *format, compression, "en", &pairs).unwrap();
            assert!(written.iter().all(|p| p.is_file()), "{written:?}");
            let glob = format!("{}/*", out.display());
            let sources = no_builtin(vec![SourceSpec::from(glob.as_str())], vec![]);
            let (back, report) =
                build_corpus(&sources, &options(&[]), &TestSetIndex::default()).unwrap();
            let what = format!("{format:?} {compression:?}");
            assert_eq!(back.train, corpus.train, "{what}");
            assert_eq!(back.dev, corpus.dev, "{what}");
            assert!(
                report.languages.values().all(|r| r.dropped.is_empty()),
                "{what}: {report:?}"
            );
        }
    }
}

#[test]
fn drops_are_counted_by_reason_and_languages_found_with_all() {
    let dir = tempfile::tempdir().unwrap();
    let tsv = dir.path().join("talks-en-de.tsv");
    std::fs::write(&tsv, "Good morning\tGuten Morgen\nGood morning\tGuten Morgen\nI love you.\tIch liebe dich.\nCopy %s\t%s kopieren\n").unwrap();
    let jsonl = dir.path().join("m.jsonl");
    std::fs::write(&jsonl, "{\"en\": \"Good morning\", \"de\": \"Guten Morgen\", \"sw\": \"Habari za asubuhi\", \"fr\": \"Bonjour\"}\n").unwrap();
    let news = dir.path().join("news.de.txt");
    std::fs::write(
        &news,
        "Das Wetter ist schön.\nDas Wetter ist schön.\nX\nich liebe dich\n",
    )
    .unwrap();
    let tests = TestSetIndex::from_texts(["I love you", "Ich liebe dich!"]);
    let parallel = vec![
        SourceSpec::from(tsv.to_str().unwrap()),
        SourceSpec::from(jsonl.to_str().unwrap()),
    ];
    let monolingual = vec![SourceSpec::from(news.to_str().unwrap())];
    let sources = no_builtin(parallel, monolingual);
    let (corpus, report) = build_corpus(&sources, &options(&[]), &tests).unwrap();
    let langs: Vec<&String> = report.languages.keys().collect();
    assert_eq!(
        langs,
        ["de", "fr", "sw"],
        "languages = all takes what the files hold"
    );
    let de = &report.languages["de"].dropped;
    assert_eq!(
        (
            de[&Drop::Duplicate],
            de[&Drop::InTestSet],
            de[&Drop::Placeholder]
        ),
        (2, 1, 1)
    );
    let mono = &report.monolingual["de"];
    assert_eq!(mono.dropped[&Drop::Duplicate], 1);
    assert_eq!(mono.dropped[&Drop::TooShort], 1);
    assert_eq!(mono.dropped[&Drop::InTestSet], 1);
    assert_eq!(corpus.monolingual.len() + mono.dev, 1);
    assert_eq!(report.user_files_read.len(), 3);
    // A chosen list: the other languages are counted, not silently lost.
    let (_, report) = build_corpus(&sources, &options(&["de"]), &tests).unwrap();
    assert_eq!(
        (report.not_selected["sw"], report.not_selected["fr"]),
        (1, 1)
    );
}

fn build_error(sources: CorpusSources) -> String {
    build_corpus(&sources, &options(&[]), &TestSetIndex::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_input_is_an_error_naming_the_file_before_any_teacher_time() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name);
    let spec = |name: &str| SourceSpec::from(at(name).to_str().unwrap());
    // A glob that matches nothing.
    let err = build_error(no_builtin(vec![spec("nothing-*.tsv")], vec![]));
    assert!(
        err.contains("nothing-*.tsv") && err.contains("matches no file"),
        "{err}"
    );
    // Moses sides of different lengths: both files and both counts.
    std::fs::write(at("c.en"), "Hello\nBye\n").unwrap();
    std::fs::write(at("c.de"), "Hallo\n").unwrap();
    let err = build_error(no_builtin(vec![spec("c.*")], vec![]));
    assert!(
        err.contains("c.de: has 1 lines") && err.contains("c.en has 2"),
        "{err}"
    );
    // A TMX unit without the pivot, with the offset of the unit.
    std::fs::write(
        at("m.tmx"),
        "<tmx><body><tu><tuv xml:lang=\"de\"><seg>Hallo</seg></tuv></tu></body></tmx>",
    )
    .unwrap();
    let err = build_error(no_builtin(vec![spec("m.tmx")], vec![]));
    assert!(
        err.contains("m.tmx: byte offset 15") && err.contains("no `en` variant"),
        "{err}"
    );
    // A malformed JSON line.
    std::fs::write(at("p.jsonl"), "{\"en\": \"a\", \"de\": \"b\"}\n{\"en\": \n").unwrap();
    let err = build_error(no_builtin(vec![spec("p.jsonl")], vec![]));
    assert!(err.contains("p.jsonl:2: not a JSON object"), "{err}");
    // A truncated compressed file.
    let text = "Good morning\tGuten Morgen\n".repeat(500);
    let zst = zstd::encode_all(text.as_bytes(), 3).unwrap();
    std::fs::write(at("en-de.tsv.zst"), &zst[..zst.len() / 2]).unwrap();
    let err = build_error(no_builtin(vec![spec("en-de.tsv.zst")], vec![]));
    assert!(
        err.contains("en-de.tsv.zst:") && err.contains("truncated"),
        "{err}"
    );
    // An unknown language code, in a table and in a file name.
    let table = SourceSpec::Table(glossa::data::user::SourceTable {
        path: at("memory.tsv").display().to_string(),
        languages: vec!["en".into(), "xq".into()],
    });
    std::fs::write(at("memory.tsv"), "a\tb\n").unwrap();
    let err = build_error(no_builtin(vec![table], vec![]));
    assert!(
        err.contains("memory.tsv") && err.contains("unknown language code `xq`"),
        "{err}"
    );
    std::fs::write(at("notes.txt"), "Hallo\n").unwrap();
    let err = build_error(no_builtin(vec![], vec![spec("notes.txt")]));
    assert!(
        err.contains("notes.txt") && err.contains("cannot tell the language"),
        "{err}"
    );
    // A file in another encoding.
    std::fs::write(at("latin-en-de.tsv"), b"Greetings\tGr\xfc\xdfe\n").unwrap();
    let err = build_error(no_builtin(vec![spec("latin-en-de.tsv")], vec![]));
    assert!(
        err.contains("latin-en-de.tsv:1: not UTF-8 (byte offset 12)"),
        "{err}"
    );
    // A file whose format the name does not tell.
    std::fs::write(at("data.csv"), "a,b\n").unwrap();
    let err = build_error(no_builtin(vec![spec("data.csv")], vec![]));
    assert!(
        err.contains("data.csv") && err.contains("cannot tell the format"),
        "{err}"
    );
}
