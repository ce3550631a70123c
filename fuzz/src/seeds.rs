//! Small valid inputs for every target, and the fixed files the directory readers' targets put
//! beside the fuzzed one. Made with glossa's own writers where it has one (`.mo`, pair TSV,
//! students, label caches, heads); written out by hand where glossa only reads the format.

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use glossa::teacher::cache::LabelCache;
use glossa::recipes::classify::LinearHead;
use glossa::data::{mo, Pair};
use glossa::student::{Marks, SubwordConfig, TableStudent};
use glossa::Embeddings;

use crate::join;

type Seeds = Vec<(&'static str, Vec<u8>)>;

fn in_temp_dir<T>(f: impl FnOnce(&Path) -> T) -> T {
    let dir = tempfile::tempdir().expect("temp dir");
    f(dir.path())
}

pub fn mo() -> Seeds {
    let catalog = mo::write(&[
        ("", "Content-Type: text/plain; charset=UTF-8\n"),
        ("Open file", "Datei öffnen"),
        ("menu\u{4}Quit", "Beenden"),
        ("%d file\0%d files", "%d Datei\0%d Dateien"),
    ]);
    // The same catalog big-endian: the 7 header words and both tables (4 entries of two words
    // each) reversed word by word.
    let tables = 28 + 2 * 4 * 8;
    let mut big: Vec<u8> = catalog[..tables]
        .chunks(4)
        .flat_map(|w| w.iter().rev().copied().collect::<Vec<_>>())
        .collect();
    big.extend_from_slice(&catalog[tables..]);
    vec![
        ("catalog", catalog),
        ("big-endian", big),
        ("empty", mo::write(&[])),
        ("one", mo::write(&[("Hello", "Hallo")])),
    ]
}

pub fn pairs_tsv() -> Seeds {
    let pairs = [
        ("Open the file", "Datei öffnen"),
        ("Save as…", "Speichern unter …"),
        ("日本語", "Japanese"),
    ]
    .map(|(en, xx)| Pair {
        en: en.into(),
        xx: xx.into(),
    });
    let bytes = in_temp_dir(|dir| {
        let path = dir.join("de.tsv");
        glossa::data::write_pairs(&path, &pairs).expect("write pairs");
        std::fs::read(path).expect("read pairs")
    });
    vec![("pairs", bytes), ("crlf", b"a\tb\r\nc\td\r\n".to_vec())]
}

pub fn labelled_tsv() -> Seeds {
    vec![
        (
            "texts",
            b"\x00de\tfood\tBrot\n\nes\tmoney\tdinero\r\nen\tfood\tbread\n".to_vec(),
        ),
        ("known", b"\x01de\tfood\tBrot\nen\tmoney\tcash\n".to_vec()),
    ]
}

pub fn chatterbot_yaml() -> Seeds {
    vec![
        (
            "food",
            b"categories:\n- food\nconversations:\n- - Do you eat?\n  - yes\n- - 1.0\n  - ~\n  - \"  \"\n"
                .to_vec(),
        ),
        ("loose", b"conversations:\n- - a\n- just text\n".to_vec()),
        (
            "flow",
            b"conversations: [[\"What is AI?\", 'A field of computer science'], [x, y]]\n".to_vec(),
        ),
    ]
}

/// dictd's base64 number.
fn dictd_number(n: usize) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut n, mut s) = (n, Vec::new());
    loop {
        s.push(alphabet[n % 64]);
        n /= 64;
        if n == 0 {
            break;
        }
    }
    s.reverse();
    String::from_utf8(s).expect("ASCII")
}

/// A `dictd_index` input: a flag byte (bit 0: the body is gzip), the index, a NUL, the body.
pub fn dictd_input(index: &str, body: &[u8], gzip: bool) -> Vec<u8> {
    let body = if gzip {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(body).expect("gzip");
        gz.finish().expect("gzip")
    } else {
        body.to_vec()
    };
    [&[gzip as u8][..], index.as_bytes(), b"\0", &body].concat()
}

pub fn dictd_index() -> Seeds {
    let body = "00-database-info\nA test\nHund /hʊnt/ <masc, n>\n1. dog\n2. hound <n>\n   Synonyms: {Köter}\nKatze /ˈkat͡sə/\ncat\n";
    let (h, k) = (body.find("Hund").unwrap(), body.find("Katze").unwrap());
    let index = format!(
        "00-database-info\tA\t{}\nHund\t{}\t{}\nKatze\t{}\t{}\n",
        dictd_number(h),
        dictd_number(h),
        dictd_number(k - h),
        dictd_number(k),
        dictd_number(body.len() - k)
    );
    vec![
        ("plain", dictd_input(&index, body.as_bytes(), false)),
        ("gzip", dictd_input(&index, body.as_bytes(), true)),
    ]
}

pub fn help_page() -> Seeds {
    vec![(
        "page",
        br#"<html><body><p dir="auto">no id</p>
<h2 id="hd_1" dir="auto">To Insert a Frame</h2>
<p id="par_1" class="paragraph">Choose <span class="emph">Insert - Frame</span>, and click OK.</p>
<h1 id="hd_2">
<a name="x"></a>Frames &amp; Columns</h1><p class="x" id="par_2">Tom&#39;s &lt;file&gt;&nbsp;here &#x263A;</p>
<pre id="code">not a block</pre>"#
            .to_vec(),
    )]
}

pub fn wordnet_data() -> Seeds {
    vec![(
        "data",
        b"  1 This software and database is being provided\n00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that which is perceived; \"the dog barked all night\"; \"a dog's life\" - Anon  \n"
            .to_vec(),
    )]
}

/// The files of a tiny saved student: `student.json`, `vocab.txt`, `model.safetensors`.
pub struct StudentFiles {
    pub json: Vec<u8>,
    pub vocab: Vec<u8>,
    pub weights: Vec<u8>,
}

/// A tiny student saved by glossa (dim 4, output 6: it has a projection), made once.
pub fn student_files() -> &'static StudentFiles {
    static FILES: OnceLock<StudentFiles> = OnceLock::new();
    FILES.get_or_init(|| {
        let config = SubwordConfig {
            dim: 4,
            output_dim: 6,
            buckets: 16,
            minn: 3,
            maxn: 4,
            lowercase: true,
            marks: Marks::All,
            fold_arabic: true,
        };
        let words = vec!["the".to_string(), "cat".to_string(), "日本".to_string()];
        let student = TableStudent::new(config, words, 1).expect("a valid student");
        in_temp_dir(|dir| {
            student.save(dir).expect("save student");
            let read = |name: &str| std::fs::read(dir.join(name)).expect("student file");
            StudentFiles {
                json: read("student.json"),
                vocab: read("vocab.txt"),
                weights: read("model.safetensors"),
            }
        })
    })
}

pub fn student_json() -> Seeds {
    vec![("student", student_files().json.clone())]
}

pub fn student_safetensors() -> Seeds {
    vec![("student", student_files().weights.clone())]
}

/// The model, fingerprint and dimension the `label_cache_manifest` target opens its cache with.
pub const CACHE_MODEL: &str = "toy";
pub const CACHE_FINGERPRINT: &str = "toy-1";
pub const CACHE_DIM: usize = 2;
pub const CACHE_TEXTS: [&str; 3] = ["a", "bb", "ccc"];

/// A `label_cache_manifest` input: manifest.json, keys.bin and vectors.f32 joined.
pub fn label_cache_manifest() -> Seeds {
    let cache = in_temp_dir(|root| {
        let mut cache =
            LabelCache::open(root, CACHE_MODEL, CACHE_FINGERPRINT, CACHE_DIM).expect("cache");
        let vectors = Embeddings::new(CACHE_DIM, vec![1.0, 97.0, 2.0, 196.0, 3.0, 297.0]);
        cache.append(&CACHE_TEXTS, &vectors).expect("append");
        let read = |name: &str| std::fs::read(cache.dir().join(name)).expect("cache file");
        join(&[
            &read("manifest.json"),
            &read("keys.bin"),
            &read("vectors.f32"),
        ])
    });
    vec![("cache", cache)]
}

pub fn linear_head() -> Seeds {
    let head = LinearHead {
        labels: ["food", "money", "greetings"].map(String::from).to_vec(),
        dim: 2,
        weight: vec![0.5, -1.0, 0.25, 2.0, 0.0, -0.75],
    };
    let bytes = in_temp_dir(|dir| {
        let path = dir.join("head.safetensors");
        head.save(&path).expect("save head");
        std::fs::read(path).expect("read head")
    });
    vec![("head", bytes)]
}

/// The tiny BERT the `teacher_config` target loads: its shape, as `config.json` says it.
pub const TEACHER_CONFIG: &str = r#"{
  "architectures": ["BertModel"],
  "hidden_act": "gelu",
  "hidden_size": 4,
  "intermediate_size": 8,
  "layer_norm_eps": 1e-12,
  "max_position_embeddings": 16,
  "model_type": "bert",
  "num_attention_heads": 2,
  "num_hidden_layers": 1,
  "pad_token_id": 0,
  "type_vocab_size": 2,
  "vocab_size": 8
}"#;
pub const TEACHER_MODULES: &str = r#"[
  {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
  {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
  {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
]"#;
pub const TEACHER_POOLING: &str = r#"{"word_embedding_dimension": 4, "pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": false}"#;
pub const TEACHER_SBERT: &str = r#"{"max_seq_length": 12, "do_lower_case": false}"#;

/// A word-level tokenizer for the tiny BERT's 8 ids.
pub const TEACHER_TOKENIZER: &str = r#"{
  "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
  "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
  "decoder": null,
  "model": {"type": "WordLevel", "unk_token": "[UNK]",
            "vocab": {"[PAD]": 0, "[UNK]": 1, "hello": 2, "world": 3, "the": 4, "cat": 5, ".": 6, "!": 7}}
}"#;

/// `model.safetensors` of the tiny BERT of [`TEACHER_CONFIG`] (sentence-transformers names).
pub fn teacher_weights() -> &'static [u8] {
    static WEIGHTS: OnceLock<Vec<u8>> = OnceLock::new();
    WEIGHTS.get_or_init(|| {
        let (v, h, i, p, t) = (8, 4, 8, 16, 2);
        let shapes = glossa::bert::tensor_shapes(v, p, t, h, i, 1);
        let data: Vec<Vec<u8>> = shapes
            .iter()
            .enumerate()
            .map(|(k, (_, shape))| {
                let n: usize = shape.iter().product();
                (0..n)
                    .flat_map(|j| (((k * 31 + j * 7) % 13) as f32 / 13.0 - 0.4).to_le_bytes())
                    .collect()
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView)> = shapes
            .iter()
            .zip(&data)
            .map(|((name, shape), bytes)| {
                let view = safetensors::tensor::TensorView::new(
                    safetensors::Dtype::F32,
                    shape.clone(),
                    bytes,
                )
                .expect("shape matches");
                (name.clone(), view)
            })
            .collect();
        safetensors::serialize(views, None).expect("serialise")
    })
}

/// A `teacher_config` input: config.json, modules.json, 1_Pooling/config.json and
/// sentence_bert_config.json joined.
pub fn teacher_config() -> Seeds {
    vec![
        (
            "minilm-like",
            join(&[
                TEACHER_CONFIG.as_bytes(),
                TEACHER_MODULES.as_bytes(),
                TEACHER_POOLING.as_bytes(),
                TEACHER_SBERT.as_bytes(),
            ]),
        ),
        ("plain-hf", TEACHER_CONFIG.as_bytes().to_vec()),
    ]
}

/// The texts file the `precomputed_npy` target's vectors must line up with.
pub const PRECOMPUTED_TEXTS: &str = "hello\nworld\n";

/// A valid `.npy` of 2 × 3 little-endian f32, as NumPy writes it (format 1.0).
pub fn precomputed_npy() -> Seeds {
    let out = glossa::teacher::precomputed::npy_f32(2, 3, &[1., 2., 3., 4., 5., 6.]);
    vec![("npy", out)]
}

/// A word-level `tokenizer.json` of 4 tokens and the `config.json` of a Model2Vec model, the
/// fixed files beside the fuzzed `model.safetensors` of the `model2vec_dir` target.
pub const MODEL2VEC_TOKENIZER: &str = r#"{"version":"1.0","truncation":null,"padding":null,
"added_tokens":[{"id":0,"content":"[UNK]","single_word":false,"lstrip":false,"rstrip":false,
"normalized":false,"special":true}],"normalizer":{"type":"Lowercase"},
"pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,
"model":{"type":"WordLevel","vocab":{"[UNK]":0,"the":1,"cat":2,"dog":3},"unk_token":"[UNK]"}}"#;
pub const MODEL2VEC_CONFIG: &str = r#"{"model_type": "model2vec", "normalize": true}"#;

/// A valid Model2Vec `model.safetensors`: embeddings 4 × 2 f32.
pub fn model2vec_weights() -> Seeds {
    let data: Vec<u8> = [0f32, 0., 1., 2., 3., 4., 5., 6.]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![4, 2], &data).unwrap();
    let blob = safetensors::serialize([("embeddings".to_string(), view)], None).unwrap();
    vec![("m2v", blob)]
}

/// A wordfreq "cB" list of two bins, written out by hand (glossa only reads the format).
pub fn wordfreq_list() -> Seeds {
    let mut list = vec![0x93, 0x82, 0xa6];
    list.extend_from_slice(b"format");
    list.push(0xa2);
    list.extend_from_slice(b"cB");
    list.push(0xa7);
    list.extend_from_slice(b"version");
    list.push(1);
    list.extend_from_slice(&[0x92, 0xa3]);
    list.extend_from_slice(b"the");
    list.push(0xa2);
    list.extend_from_slice(b"of");
    list.extend_from_slice(&[0xdc, 0, 1, 0xd9, 3]);
    list.extend_from_slice("犬".as_bytes());
    vec![("small_en", list)]
}

/// A fortune database: two entries, one with an attribution, one over CRLF lines.
pub fn fortune_db() -> Seeds {
    let db = "Wer zuletzt lacht,\nlacht am besten.\n  -- Sprichwort\n%\r\nЕщё одна\r\nшутка.\r\n%\n";
    vec![("de", db.as_bytes().to_vec())]
}

/// Files in every format glossa writes, made by `data::user::write`, keyed by file name.
fn user_files(compression: glossa::data::user::open::Compression) -> Vec<(String, Vec<u8>)> {
    use glossa::data::user::write::{write_corpus_as, Format};
    let mut pairs = std::collections::BTreeMap::new();
    pairs.insert(
        "de".to_string(),
        vec![
            Pair { en: "Open the <b> file & save".into(), xx: "Datei öffnen & speichern".into() },
            Pair { en: "Say \"hi\"".into(), xx: "Sag \"hallo\"".into() },
        ],
    );
    pairs.insert("ja".to_string(), vec![Pair { en: "Close".into(), xx: "閉じる".into() }]);
    in_temp_dir(|dir| {
        let mut out = Vec::new();
        for format in [Format::Tsv, Format::Moses, Format::Tmx, Format::Jsonl] {
            for path in write_corpus_as(dir, format, compression, "en", &pairs).expect("export") {
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                out.push((name, std::fs::read(&path).expect("read export")));
            }
        }
        out
    })
}

fn user_file(name: &str) -> Vec<u8> {
    let files = user_files(glossa::data::user::open::Compression::None);
    files.into_iter().find(|(n, _)| n == name).expect("exported file").1
}

pub fn user_tsv() -> Seeds {
    vec![("en-de", user_file("en-de.tsv")), ("three-columns", b"a\tb\tc\n\nd\te\n".to_vec())]
}

pub fn user_moses() -> Seeds {
    let (en, de) = (user_file("corpus.de-en.en"), user_file("corpus.de-en.de"));
    vec![("aligned", crate::join(&[&en, &de])), ("short", crate::join(&[&en, b"eins\n"]))]
}

pub fn user_tmx() -> Seeds {
    let tmx = br#"<tmx version="1.4"><body><tu><tuv lang="en"><seg>A <bpt i="1">&lt;b&gt;</bpt>b<ept i="1"/> &#169;</seg></tuv><tuv xml:lang="pt-BR"><seg><![CDATA[c & d]]></seg></tuv></tu></body></tmx>"#;
    vec![("export", user_file("corpus.tmx")), ("inline", tmx.to_vec())]
}

pub fn user_jsonl() -> Seeds {
    let many = b"{\"en\": \"Hello\", \"de\": \"Hallo\", \"zh-Hans\": \"\\u4f60\\u597d\"}\n".to_vec();
    vec![("export", user_file("corpus.jsonl")), ("many", many)]
}

/// A flag byte (0 gzip, 1 zstd, 2 xz) and a compressed TSV file.
pub fn user_compressed() -> Seeds {
    use glossa::data::user::open::Compression;
    let mut seeds = Vec::new();
    for (flag, compression, name) in [
        (0u8, Compression::Gzip, "gzip"),
        (1, Compression::Zstd, "zstd"),
        (2, Compression::Xz, "xz"),
    ] {
        let file = format!("en-de.tsv{}", compression.extension());
        let bytes = user_files(compression).into_iter().find(|(n, _)| *n == file).expect("file").1;
        seeds.push((name, [&[flag][..], &bytes].concat()));
    }
    seeds
}
