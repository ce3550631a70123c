//! The `glossa` binary, driven as a user drives it: real teacher, real files, bad input.

use std::hash::BuildHasher;
use std::path::{Path, PathBuf};

mod common;

use common::{assert_fails_with, glossa, stderr};

const TEACHER: &str = "sentence-transformers/all-MiniLM-L6-v2";

fn shared() -> PathBuf {
    std::env::var_os("GLOSSA_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

fn teacher_dir() -> PathBuf {
    glossa::hub::resolve(TEACHER)
        .expect("teacher in the HF cache: run scripts/fetch-assets.sh teacher")
        .dir
}

/// A JSON file the run wrote.
fn read_json(path: impl AsRef<Path>) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The `name` of each object in a JSON array (a report's rows or models).
fn names_of(rows: &serde_json::Value) -> Vec<&str> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect()
}

fn embeddings(stdout: &[u8]) -> Vec<Vec<f32>> {
    String::from_utf8(stdout.to_vec())
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect()
}

#[test]
fn embed_writes_one_line_per_input_line_in_order() {
    let out = glossa(["embed", "--model"])
        .arg(TEACHER)
        .args(["--batch", "2"])
        .stdin("Hello world\n\n   \nBonjour le monde\r\nlast line without newline".as_bytes())
        .output();
    assert!(out.status.success(), "{}", stderr(&out));
    let vectors = embeddings(&out.stdout);
    assert_eq!(vectors.len(), 5);
    assert!(vectors.iter().all(|v| v.len() == 384));
    // The same sentence alone gives the same vector: order and batching are kept.
    let alone = glossa(["embed", "--model"])
        .arg(TEACHER)
        .stdin(b"Bonjour le monde\n")
        .output();
    assert!(glossa::encoder::cosine(&embeddings(&alone.stdout)[0], &vectors[3]) > 0.9999);
}

#[test]
fn embed_rejects_invalid_utf8_naming_the_line() {
    let out = glossa(["embed", "--model"])
        .arg(TEACHER)
        .stdin(b"fine\nbad \xff\xfe bytes\n")
        .output();
    assert_fails_with(&out, &["stdin:2: invalid UTF-8"]);
}

#[test]
fn a_model_with_a_missing_file_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "tokenizer.json", "modules.json"] {
        std::fs::copy(teacher_dir().join(f), dir.path().join(f)).unwrap();
    }
    let out = glossa(["embed", "--model"])
        .arg(dir.path())
        .stdin(b"x\n")
        .output();
    assert_fails_with(&out, &["missing file", "model.safetensors"]);

    let out = glossa(["embed", "--model", "nobody/no-such-model"])
        .stdin(b"x\n")
        .output();
    assert_fails_with(
        &out,
        &["nobody/no-such-model", "not in the Hugging Face cache"],
    );
}

/// Built without `--features cuda` (as CI builds it), a GPU teacher is refused with how to
/// get one; a device that is no device is refused by clap, naming what it expected.
#[cfg(not(feature = "cuda"))]
#[test]
fn a_gpu_teacher_in_a_cpu_build_is_refused_with_how_to_build_one() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "hello\n").unwrap();
    let encode = |device: &str| {
        glossa(["teacher", "encode", "--device", device, "--model"])
            .arg(teacher_dir())
            .arg("--input")
            .arg(&input)
            .arg("--cache")
            .arg(dir.path().join("labels"))
            .output()
    };
    assert_fails_with(&encode("cuda"), &["cuda:0", "--features cuda"]);
    assert_fails_with(&encode("tpu"), &["tpu", "expected cpu, cuda or cuda:N"]);
    assert!(!dir.path().join("labels").exists(), "nothing is written");
}

/// `--revision` pins a repo id's revision; it cannot apply to a directory, nor contradict one
/// already written as `org/name@revision` (both refused before anything is read).
#[test]
fn a_revision_flag_is_refused_where_it_cannot_apply() {
    let out = glossa(["embed", "--revision", "v2", "--model"])
        .arg(teacher_dir())
        .stdin(b"x\n")
        .output();
    assert_fails_with(&out, &["--revision v2", "local directory"]);
    let out = glossa(["embed", "--model", "org/m@v1", "--revision", "v2"])
        .stdin(b"x\n")
        .output();
    assert_fails_with(&out, &["contradicts", "org/m@v1"]);
}

/// What a directory that holds no model must be told: what a model directory holds, by kind.
const KINDS: &[&str] = &[
    "not a glossa model",
    "student.json (a glossa student)",
    "config.json + model.safetensors + tokenizer.json",
    "Model2Vec",
    "sentence-transformers",
];

#[test]
fn a_directory_without_a_model_says_what_a_model_directory_holds() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |command: &str, why: &str| {
        let mut want = KINDS.to_vec();
        want.push(why);
        let err = glossa([command, "--model"])
            .arg(dir.path())
            .stdin(b"x\n")
            .fails_with(&want);
        assert!(!err.contains("missing file"), "{err}");
        err
    };
    for command in ["embed", "serve"] {
        refused(command, "the directory is empty");
    }

    std::fs::write(dir.path().join("README.md"), "notes").unwrap();
    std::fs::write(dir.path().join("vectors.bin"), "x").unwrap();
    refused("embed", "it holds only README.md, vectors.bin");

    let student = dir.path().join("student.json");
    std::os::unix::fs::symlink(&student, &student).unwrap();
    let err = refused("embed", "student.json: ");
    let os = std::fs::metadata(&student).unwrap_err().to_string();
    assert_eq!(err.matches(&os).count(), 1, "the OS error once: {err}");
}

#[test]
fn an_unknown_architecture_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"model_type": "gpt2", "n_layer": 2}"#,
    )
    .unwrap();
    let out = glossa(["embed", "--model"])
        .arg(dir.path())
        .stdin(b"x\n")
        .output();
    assert_fails_with(&out, &["config.json", "unknown architecture 'gpt2'"]);
}

#[test]
fn malformed_and_empty_corpora_are_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.tsv");
    let cache = dir.path().join("cache");
    let encode_fails_with = |content: &[u8], want: &[&str]| {
        std::fs::write(&bad, content).unwrap();
        let args = [
            "teacher",
            "encode",
            "--input",
            bad.to_str().unwrap(),
            "--cache",
            cache.to_str().unwrap(),
        ];
        assert_fails_with(&glossa(args).output(), want);
    };
    encode_fails_with(
        "Open the file\tDatei öffnen\nno tab on this line\n".as_bytes(),
        &["bad.tsv:2: expected 2 tab-separated fields"],
    );
    encode_fails_with(b"ok\tok\nbad\t\xc3\x28\n", &["bad.tsv:2: invalid UTF-8"]);
    encode_fails_with(b"", &["bad.tsv", "the corpus is empty"]);
}

#[test]
fn a_config_typo_is_reported_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[train]\nepochs = 1\nlearning_rate = 0.1\n").unwrap();
    let out = glossa(["distill", "--config"]).arg(&cfg).output();
    assert_fails_with(&out, &["c.toml:3", "learning_rate"]);
}

#[test]
fn settings_that_cannot_apply_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    for term in ["contrastive_weight", "pair_ranking_weight"] {
        let cfg = tiny_config(
            dir.path(),
            term,
            &run,
            &format!("[student]\nkind = \"transformer\"\n[train]\n{term} = 0.1\n"),
        );
        let out = glossa(["distill", "--config"]).arg(&cfg).output();
        assert_fails_with(&out, &[&format!("train.{term}"), "Transformer student"]);
    }
    // A per-language setting whose asset folder is missing.
    for (name, dir_key, count_key, folder) in [
        (
            "words",
            "wordfreq_dir",
            "words_per_language",
            "no-such-lists",
        ),
        (
            "fortunes",
            "fortunes_dir",
            "fortunes_per_language",
            "no-such-fortunes",
        ),
    ] {
        let missing = dir.path().join(folder);
        let rest = format!("{dir_key} = \"{}\"\n{count_key} = 100\n", missing.display());
        let cfg = tiny_config(dir.path(), name, &run, &rest);
        let out = glossa(["distill", "--config"]).arg(&cfg).output();
        assert_fails_with(&out, &[folder, &format!("fetch-assets.sh {name}")]);
    }
}

/// Writes a little-endian .mo catalog.
fn mo(entries: &[(&str, &str)]) -> Vec<u8> {
    glossa::data::mo::write(entries)
}

fn tiny_sources(root: &Path) {
    let pairs: &[(&str, &str, &str)] = &[
        (
            "Open the document in a new window",
            "Das Dokument in einem neuen Fenster öffnen",
            "Ouvrir le document dans une nouvelle fenêtre",
        ),
        (
            "Save the changes before closing",
            "Änderungen vor dem Schließen speichern",
            "Enregistrer les modifications avant de fermer",
        ),
        (
            "The file could not be found",
            "Die Datei wurde nicht gefunden",
            "Le fichier est introuvable",
        ),
        (
            "Insert a table into the text",
            "Eine Tabelle in den Text einfügen",
            "Insérer un tableau dans le texte",
        ),
        (
            "Print the current page",
            "Die aktuelle Seite drucken",
            "Imprimer la page actuelle",
        ),
        (
            "Delete the selected rows",
            "Die ausgewählten Zeilen löschen",
            "Supprimer les lignes sélectionnées",
        ),
        (
            "Check the spelling of the document",
            "Die Rechtschreibung des Dokuments prüfen",
            "Vérifier l'orthographe du document",
        ),
        (
            "Choose a color for the background",
            "Eine Farbe für den Hintergrund wählen",
            "Choisir une couleur pour l'arrière-plan",
        ),
    ];
    for (lang, col) in [("de", 1), ("fr", 2)] {
        let dir = root.join("locale").join(lang).join("LC_MESSAGES");
        std::fs::create_dir_all(&dir).unwrap();
        let entries: Vec<(&str, &str)> = pairs
            .iter()
            .map(|p| (p.0, if col == 1 { p.1 } else { p.2 }))
            .collect();
        std::fs::write(dir.join("app.mo"), mo(&entries)).unwrap();
    }
}

/// Writes `<dir>/<name>.toml`: a run over the tiny corpus of `tiny_sources(dir)` into `run`,
/// labels cached in `<dir>/labels`, then the test's own sections (`rest`).
fn tiny_config(dir: &Path, name: &str, run: &Path, rest: &str) -> PathBuf {
    let cfg = dir.join(format!("{name}.toml"));
    let head = format!(
        r#"run_dir = "{run}"
eval_dir = "{eval}"
cache_dir = "{cache}"
[corpus]
languages = ["de", "fr"]
gettext_roots = ["{locale}"]
help_root = ""
wordnet_dir = ""
dictionary_dirs = []
dev_permille = 0
"#,
        run = run.display(),
        eval = shared().join("eval").display(),
        cache = dir.join("labels").display(),
        locale = dir.join("locale").display()
    );
    std::fs::write(&cfg, head + rest).unwrap();
    cfg
}

#[test]
fn distill_runs_end_to_end_on_a_tiny_corpus_and_the_student_embeds() {
    let dir = tempfile::tempdir().unwrap();
    tiny_sources(dir.path());
    let run = dir.path().join("run");
    let eval_dir = shared().join("eval");
    let cfg = tiny_config(
        dir.path(),
        "tiny",
        &run,
        r#"[student]
buckets = 5000
min_count = 1
[train]
epochs = 3
batch_size = 4
[eval]
tatoeba = ["deu"]
sts17 = false
stsb = true
speed_seconds = 0.2
"#,
    );
    let out = glossa(["distill", "--config"]).arg(&cfg).ok();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("tatoeba deu acc %") && stdout.contains("stsb-test spearman"),
        "{stdout}"
    );
    let report: serde_json::Value = read_json(run.join("report.json"));
    assert_eq!(
        report["models"].as_array().unwrap().len(),
        3,
        "teacher, student and control"
    );
    assert_eq!(report["examples"]["de"], 8);
    assert_eq!(
        report["ranking_pairs"], 0,
        "the pair ranking term is off by default"
    );
    // Every speed figure carries its method, glossa bench's defaults, once under the table.
    let method = report["models"][1]["speed_method"].as_str().unwrap();
    assert!(
        method.contains("input short")
            && method.contains("1 thread,")
            && method.contains("batch 32"),
        "{method}"
    );
    let text = std::fs::read_to_string(run.join("report.txt")).unwrap();
    assert_eq!(
        text.matches(&format!("sentences/s: {method}")).count(),
        1,
        "{text}"
    );
    let page = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        page.contains("<svg") && page.contains("tatoeba deu acc %"),
        "report.html lacks its charts or table"
    );

    let student = run.join("student");
    let out = glossa(["embed", "--model"])
        .arg(&student)
        .stdin("Datei öffnen\n\n".as_bytes())
        .output();
    assert!(out.status.success(), "{}", stderr(&out));
    let vectors = embeddings(&out.stdout);
    assert_eq!(vectors.len(), 2);
    assert_eq!(vectors[0].len(), 384);

    // STS-benchmark dev, the English set settings are chosen on, beside a Tatoeba language.
    let out = glossa(["eval", "--model"])
        .arg(&student)
        .args(["--tatoeba", "deu", "--stsb-dev", "--eval-dir"])
        .arg(&eval_dir)
        .args(["--speed-seconds", "0"])
        .ok();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("tatoeba deu acc %")
            && stdout.contains("stsb-dev spearman")
            && !stdout.contains("stsb-test"),
        "{stdout}"
    );

    let bench_json = dir.path().join("bench.json");
    glossa(["bench", "--model"])
        .arg(&student)
        .args([
            "--threads",
            "1,2",
            "--input",
            "short,long",
            "--batch",
            "32",
            "--seconds",
            "0.2",
            "--eval-dir",
        ])
        .arg(&eval_dir)
        .arg("--json")
        .arg(&bench_json)
        .ok();
    let cases: serde_json::Value = read_json(&bench_json);
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 4, "2 thread counts × 2 inputs");
    assert!(cases
        .iter()
        .all(|c| c["sentences_per_second"].as_f64().unwrap() > 0.0
            && c["peak_rss_mb"].as_f64().unwrap() > 0.0));
    assert_eq!(cases[1]["threads"], 1);
    assert_eq!(cases[3]["threads"], 2);
    let out = glossa(["bench", "--model"])
        .arg(&student)
        .args(["--input", "medium", "--eval-dir"])
        .arg(&eval_dir)
        .output();
    assert_fails_with(&out, &["unknown input kind 'medium'"]);

    // A second run finds every teacher label in the cache.
    let again = glossa(["distill", "--config"]).arg(&cfg).output();
    assert!(again.status.success());

    // Every pair teaches through the pair ranking term: another student from the same labels.
    let weights = std::fs::read(student.join("model.safetensors")).unwrap();
    let cfg_text = std::fs::read_to_string(&cfg).unwrap();
    let ranked = cfg_text.replace("epochs = 3", "epochs = 3\npair_ranking_weight = 0.5");
    std::fs::write(&cfg, &ranked).unwrap();
    let out = glossa(["distill", "--config"]).arg(&cfg).output();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = read_json(run.join("report.json"));
    let read = report["ranking_pairs"].as_u64().unwrap();
    let pairs = report["corpus"]["languages"]["de"]["train"]
        .as_u64()
        .unwrap()
        + report["corpus"]["languages"]["fr"]["train"]
            .as_u64()
            .unwrap();
    assert_eq!(read, pairs, "every training pair, labelled or not");
    assert_ne!(
        std::fs::read(student.join("model.safetensors")).unwrap(),
        weights
    );
    std::fs::write(&cfg, cfg_text).unwrap();

    // The empty corpus is an error, not an empty model.
    let cfg_text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(r#"languages = ["de", "fr"]"#, r#"languages = ["sv"]"#);
    std::fs::write(&cfg, cfg_text).unwrap();
    let out = glossa(["distill", "--config"]).arg(&cfg).output();
    assert_fails_with(&out, &["the corpus is empty"]);
}

#[test]
fn teacher_encode_resumes_after_being_killed() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("texts.txt");
    let texts: Vec<String> = (0..3000)
        .map(|i| {
            format!(
                "Sentence number {i} talks about item {} in a longer text to encode.",
                i * 7
            )
        })
        .collect();
    std::fs::write(&input, texts.join("\n")).unwrap();
    let cache = dir.path().join("cache");
    let args = [
        "teacher",
        "encode",
        "--input",
        input.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
    ];
    let mut child = glossa(args).spawn();
    // Kill it once some chunks are on disk, but long before all 3000 texts are.
    let keys = || {
        std::fs::read_dir(&cache)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| std::fs::metadata(e.ok()?.path().join("keys.bin")).ok())
            .map_or(0, |m| m.len() / 16)
    };
    let start = std::time::Instant::now();
    while keys() < 256 && start.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before = keys();
    assert!(
        (256..3000).contains(&done_before),
        "killed after {done_before} rows"
    );

    let out = glossa(args).output();
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let encoded: u64 = stdout.split_whitespace().next().unwrap().parse().unwrap();
    assert_eq!(
        encoded + done_before,
        3000,
        "the resumed run encodes only what was missing: {stdout}"
    );
    assert!(stdout.contains("3000 in the cache"), "{stdout}");
}

/// A tiny chatterbot-style corpus: three topics in English, German and French.
fn tiny_chatterbot(root: &Path) {
    let topics: &[(&str, &str, &[&str])] = &[
        (
            "english",
            "food",
            &[
                "I like bread and cheese",
                "What is for dinner?",
                "The soup is hot",
            ],
        ),
        (
            "english",
            "money",
            &[
                "How much does it cost?",
                "I need to pay the bill",
                "The bank is closed",
            ],
        ),
        (
            "english",
            "greetings",
            &["Hello there", "Good morning", "Nice to meet you"],
        ),
        (
            "german",
            "food",
            &["Ich mag Brot und Käse", "Die Suppe ist heiß"],
        ),
        (
            "german",
            "money",
            &["Wie viel kostet das?", "Die Bank ist geschlossen"],
        ),
        ("german", "greetings", &["Hallo", "Guten Morgen"]),
        ("french", "food", &["J'aime le pain et le fromage"]),
        ("french", "greeting", &["Bonjour"]),
    ];
    for (lang, topic, texts) in topics {
        let dir = root.join(lang);
        std::fs::create_dir_all(&dir).unwrap();
        let mut yml = format!("categories:\n- {topic}\nconversations:\n");
        for pair in texts.chunks(2) {
            yml += &format!("- - {}\n", pair[0]);
            for t in &pair[1..] {
                yml += &format!("  - {t}\n");
            }
        }
        std::fs::write(dir.join(format!("{topic}.yml")), yml).unwrap();
    }
}

#[test]
fn classify_distills_a_classifier_that_predicts_and_is_scored() {
    let dir = tempfile::tempdir().unwrap();
    tiny_sources(dir.path());
    let data = dir.path().join("chatterbot");
    tiny_chatterbot(&data);
    let run = dir.path().join("run");
    let cfg = tiny_config(
        dir.path(),
        "classify",
        &run,
        &format!(
            r#"[student]
buckets = 5000
min_count = 1
dim = 16
[classify]
data_dir = "{data}"
min_languages = 2
min_texts = 1
init_student = ""
ablation_temperatures = [2.0]
ablation_alphas = [1.0]
temperature = 2.0
alpha = 0.5
[classify.train]
epochs = 2
batch_size = 4
"#,
            data = data.display()
        ),
    );
    let out = glossa(["classify", "distill", "--config"]).arg(&cfg).ok();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("labels: food, greetings, money"),
        "{stdout}"
    );
    let report: serde_json::Value = read_json(run.join("classify.json"));
    let names = names_of(&report["rows"]);
    assert_eq!(
        names,
        [
            "teacher + en head",
            "student, gold labels only (no teacher)",
            "student, teacher's hard labels (α=0)",
            "student, KD T=2 α=1",
            "student, KD T=2 α=0.5"
        ]
    );
    // English trains the head (its texts are split); German and French are zero-shot.
    let teacher = &report["rows"][0]["by_language"];
    assert_eq!(teacher["de"]["n"], 6);
    assert_eq!(teacher["fr"]["n"], 2);
    assert!(run.join("teacher-head/head.safetensors").is_file());

    let student = run.join("student");
    let out = glossa(["classify", "predict", "--model"])
        .arg(&student)
        .stdin("Guten Morgen\nDie Suppe ist heiß\n".as_bytes())
        .output();
    assert!(out.status.success(), "{}", stderr(&out));
    let labels: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(labels.len(), 2);
    assert!(labels
        .iter()
        .all(|l| ["food", "greetings", "money"].contains(&l.as_str())));

    let tsv = dir.path().join("test.tsv");
    std::fs::write(&tsv, "de\tfood\tBrot\nde\tgreetings\tHallo\n").unwrap();
    let classify_eval = || {
        glossa(["classify", "eval", "--model"])
            .arg(&student)
            .arg("--data")
            .arg(&tsv)
            .output()
    };
    let out = classify_eval();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("accuracy"));
    std::fs::write(&tsv, "de\tfood\tBrot\nde\tweather\tRegen\n").unwrap();
    let out = classify_eval();
    assert_fails_with(&out, &["test.tsv:2: unknown label 'weather'"]);

    // Bad labelled data stops the run with the file's name.
    std::fs::write(
        data.join("german/food.yml"),
        "conversations:\n- - [unclosed\n",
    )
    .unwrap();
    let out = glossa(["classify", "train-teacher", "--config"])
        .arg(&cfg)
        .output();
    assert_fails_with(&out, &["german/food.yml:", "malformed YAML"]);
    std::fs::write(data.join("german/food.yml"), "").unwrap();
    let out = glossa(["classify", "train-teacher", "--config"])
        .arg(&cfg)
        .output();
    assert_fails_with(&out, &["german/food.yml: empty file"]);
    let out = glossa(["classify", "predict", "--model"])
        .arg(run.join("teacher-head"))
        .output();
    assert_fails_with(&out, &["no labels.json: not a classifier"]);
}

fn resume_config(dir: &Path, run: &Path) -> PathBuf {
    let name = run.file_name().unwrap().to_string_lossy().into_owned();
    tiny_config(
        dir,
        &name,
        run,
        r#"[student]
buckets = 3000
min_count = 1
dim = 16
[train]
epochs = 80
batch_size = 2
checkpoint_every = 1
[eval]
tatoeba = ["deu"]
sts17 = false
stsb = false
random_target_control = false
speed_seconds = 0.1
"#,
    )
}

#[test]
fn distill_killed_at_a_random_point_resumes_to_the_same_student() {
    let dir = tempfile::tempdir().unwrap();
    tiny_sources(dir.path());
    let whole = dir.path().join("whole");
    glossa(["distill", "--config"])
        .arg(resume_config(dir.path(), &whole))
        .ok();
    assert!(
        !whole.join("checkpoints").exists(),
        "a finished run removes its checkpoints"
    );

    let run = dir.path().join("killed");
    let cfg = resume_config(dir.path(), &run);
    let checkpoint = run.join("checkpoints/student.ckpt");
    // A different point on every test run; printed so a failure can be replayed.
    let delay_ms =
        std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now()) % 600;
    eprintln!("killing {delay_ms} ms after the first checkpoint");
    let mut child = glossa(["distill", "--config"]).arg(&cfg).spawn();
    let started = std::time::Instant::now();
    while !checkpoint.exists() {
        assert!(
            started.elapsed().as_secs() < 120,
            "no checkpoint after 120 s"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before a checkpoint"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(delay_ms));
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run was killed mid-training");
    assert!(
        !run.join("student").exists(),
        "killed before the student was saved"
    );

    glossa(["distill", "--config"])
        .arg(&cfg)
        .arg("--resume")
        .ok();
    let read = |d: &Path| std::fs::read(d.join("student/model.safetensors")).unwrap();
    assert!(
        read(&run) == read(&whole),
        "the resumed run ends with the same student as the uninterrupted one"
    );

    // A damaged checkpoint is refused by name, not used.
    let out = glossa(["distill", "--config"]).arg(&cfg).output();
    assert!(out.status.success());
    std::fs::create_dir_all(run.join("checkpoints")).unwrap();
    std::fs::write(&checkpoint, b"not a checkpoint").unwrap();
    let out = glossa(["distill", "--config"])
        .arg(&cfg)
        .arg("--resume")
        .output();
    assert_fails_with(&out, &["student.ckpt", "not a usable checkpoint"]);
}

#[test]
fn a_static_student_distils_exports_to_model2vec_and_quantizes() {
    let dir = tempfile::tempdir().unwrap();
    tiny_sources(dir.path());
    let run = dir.path().join("run");
    let cfg = tiny_config(
        dir.path(),
        "static",
        &run,
        r#"[student]
kind = "static"
dim = 16
max_tokens = 300
[train]
epochs = 2
batch_size = 4
lr = 0.002
[eval]
tatoeba = ["deu"]
sts17 = false
stsb = false
random_target_control = false
speed_seconds = 0.1
"#,
    );
    glossa(["distill", "--config"]).arg(&cfg).ok();
    let report: serde_json::Value = read_json(run.join("report.json"));
    let names = names_of(&report["models"]);
    assert_eq!(names, ["teacher", "student, init only", "student"]);
    let student = run.join("student");
    let json: serde_json::Value = read_json(student.join("student.json"));
    assert_eq!(json["format"], "glossa-static/1");
    assert!(student.join("tokenizer.json").is_file());

    let text = "Datei öffnen\nDer Hund schläft.\n\n";
    let embed = |model: &Path| {
        let out = glossa(["embed", "--model"])
            .arg(model)
            .stdin(text.as_bytes())
            .output();
        assert!(out.status.success(), "{}", stderr(&out));
        embeddings(&out.stdout)
    };
    let ours = embed(&student);
    assert_eq!((ours.len(), ours[0].len()), (3, 384));

    // Model2Vec export in f32: the directory loads back (as Python's model2vec would read it)
    // with the same vectors.
    let m2v = dir.path().join("m2v");
    glossa(["export", "model2vec", "--precision", "f32", "--model"])
        .arg(&student)
        .arg("--out")
        .arg(&m2v)
        .ok();
    for (a, b) in ours.iter().zip(embed(&m2v)) {
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-5, "model2vec round trip differs by {diff}");
    }
    // By default the export is int8 (row scales as Model2Vec's weights): nearly the same.
    let m2v8 = dir.path().join("m2v-int8");
    glossa(["export", "model2vec", "--model"])
        .arg(&student)
        .arg("--out")
        .arg(&m2v8)
        .ok();
    for (a, b) in ours.iter().zip(embed(&m2v8)).take(2) {
        let cos = glossa::encoder::cosine(a, &b);
        assert!(cos > 0.99, "int8 Model2Vec export: cosine {cos}");
    }

    // Quantized to int8, it still embeds nearly the same.
    let q = dir.path().join("int8");
    glossa(["quantize", "--model"])
        .arg(&student)
        .args(["--precision", "int8", "--out"])
        .arg(&q)
        .ok();
    for (a, b) in ours.iter().zip(embed(&q)).take(2) {
        let cos = glossa::encoder::cosine(a, &b);
        assert!(cos > 0.99, "int8 static student: cosine {cos}");
    }

    // A fastText export is refused with the reason.
    let out = glossa(["export", "fasttext", "--model"])
        .arg(&student)
        .arg("--out")
        .arg(dir.path().join("x.bin"))
        .output();
    assert_fails_with(&out, &["static token student", "model2vec"]);
}

/// A little-endian f32 `.npy` file of `rows` × `dim`.
fn write_npy(path: &Path, rows: usize, dim: usize, values: &[f32]) {
    std::fs::write(
        path,
        glossa::teacher::precomputed::npy_f32(rows, dim, values),
    )
    .unwrap();
}

#[test]
fn precomputed_embeddings_can_teach() {
    let dir = tempfile::tempdir().unwrap();
    tiny_sources(dir.path());
    let run = dir.path().join("run");
    let rest = r#"[student]
buckets = 500
min_count = 1
[train]
epochs = 2
batch_size = 4
[eval]
tatoeba = ["deu"]
sts17 = false
stsb = false
random_target_control = false
speed_seconds = 0.1
"#;
    let cfg = tiny_config(dir.path(), "corpus", &run, rest);
    let corpus = dir.path().join("corpus");
    glossa(["corpus", "build", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&corpus)
        .ok();
    // "Another model" embedded the English side of the corpus (all but one text, which the
    // run must then leave out): 8 dimensions of arbitrary values.
    let mut english: Vec<String> = std::fs::read_dir(corpus.join("train"))
        .unwrap()
        .flat_map(|e| {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            text.lines()
                .map(|l| l.split('\t').next().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    english.sort();
    english.dedup();
    english.pop();
    let texts = dir.path().join("texts.txt");
    std::fs::write(&texts, english.join("\n") + "\n").unwrap();
    let values: Vec<f32> = (0..english.len() * 8)
        .map(|i| ((i * 7919) % 13) as f32 - 6.0)
        .collect();
    let vectors = dir.path().join("vectors.npy");
    write_npy(&vectors, english.len(), 8, &values);

    let head = format!(
        "[teacher]\nembeddings = \"{}\"\ntexts = \"{}\"\n",
        vectors.display(),
        texts.display()
    );
    let cfg = tiny_config(dir.path(), "byo", &run, &(head + rest));
    let out = glossa(["distill", "--config"]).arg(&cfg).ok();
    let log = stderr(&out);
    let report: serde_json::Value = read_json(run.join("report.json"));
    assert_eq!(
        report["english_texts"].as_u64().unwrap() as usize,
        english.len(),
        "trained on exactly the texts with vectors"
    );
    assert!(log.contains("the teacher is not scored"), "{log}");
    let out = glossa(["embed", "--model"])
        .arg(run.join("student"))
        .stdin(b"Datei\n")
        .output();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(embeddings(&out.stdout)[0].len(), 8);

    // Vectors that do not line up with the texts are refused, naming both files.
    write_npy(
        &vectors,
        english.len() + 1,
        8,
        &vec![0.0; (english.len() + 1) * 8],
    );
    let out = glossa(["distill", "--config"]).arg(&cfg).output();
    assert_fails_with(&out, &["vectors.npy", "texts.txt", "aligned line by line"]);
}
