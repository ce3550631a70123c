//! Remote teachers end to end: `glossa serve` instances of the real teacher on loopback label a
//! corpus for `glossa distill` while one dies and another is slow; an interrupted run resumes
//! without relabelling; sharded `teacher encode` + `teacher merge` equals a single run.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::glossa;
use glossa::encoder::cosine;
use glossa::teacher::cache::LabelCache;

const TEACHER: &str = "sentence-transformers/all-MiniLM-L6-v2";
/// Probe texts every endpoint embeds once before it is trusted (written to the cache too).
const PROBES: usize = glossa::teacher::remote::probe::PROBES.len();
/// Bounds waits on things the processes do on their own; never what a test measures.
const PATIENCE: Duration = Duration::from_secs(600);

fn shared() -> PathBuf {
    std::env::var_os("GLOSSA_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

/// A `glossa serve` of the teacher on a free port; killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_glossa"))
            .args(["serve", "--model", TEACHER, "--addr", "127.0.0.1:0"])
            .env("GLOSSA_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("glossa runs");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let addr = first.trim_end().strip_prefix("listening on http://");
        let url = format!("http://{}", addr.expect("the server says where it listens"));
        Server { child, url }
    }

    /// Texts it has embedded (its /metrics counter).
    fn embedded(&self) -> usize {
        let mut stream = TcpStream::connect(self.url.trim_start_matches("http://")).unwrap();
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("glossa_inputs_embedded_total "))
            .expect("the inputs counter");
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback proxy to `upstream` that holds each piece of a request for `delay`: a slow
/// endpoint. Returns its URL.
fn slow_proxy(upstream: &str, delay: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = upstream.trim_start_matches("http://").to_string();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut s_read, mut c_write) = (server, client);
            std::thread::spawn(move || std::io::copy(&mut s_read, &mut c_write));
            std::thread::spawn(move || {
                let mut buf = vec![0; 1 << 16];
                while let Ok(n @ 1..) = c_read.read(&mut buf) {
                    std::thread::sleep(delay);
                    if s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    url
}

/// English texts and two translations each, as gettext catalogs under `root/locale`; returns
/// the English texts.
fn corpus(root: &Path, n: usize) -> Vec<String> {
    let colours = ["red", "green", "blue", "grey", "white", "black", "yellow"];
    let english: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "Open report {i} in the {} window",
                colours[i % colours.len()]
            )
        })
        .collect();
    for (lang, word) in [("de", "Bericht öffnen"), ("fr", "Ouvrir le rapport")] {
        let dir = root.join("locale").join(lang).join("LC_MESSAGES");
        std::fs::create_dir_all(&dir).unwrap();
        let xx: Vec<String> = (0..n).map(|i| format!("{word} {i}")).collect();
        let entries: Vec<(&str, &str)> = english
            .iter()
            .zip(&xx)
            .map(|(e, x)| (e.as_str(), x.as_str()))
            .collect();
        std::fs::write(dir.join("app.mo"), glossa::data::mo::write(&entries)).unwrap();
    }
    english
}

fn config(root: &Path, batch: usize) -> PathBuf {
    let cfg = root.join("remote.toml");
    let text = format!(
        r#"run_dir = "{run}"
eval_dir = "{eval}"
cache_dir = "{cache}"
[teacher]
model = "{TEACHER}"
endpoint_batch_size = {batch}
endpoint_in_flight = 2
endpoint_timeout_s = 60
endpoint_give_up_s = 120
[corpus]
languages = ["de", "fr"]
gettext_roots = ["{locale}"]
help_root = ""
wordnet_dir = ""
dictionary_dirs = []
max_english_only = 0
dev_permille = 0
[student]
buckets = 5000
min_count = 1
[train]
epochs = 1
batch_size = 64
[eval]
tatoeba = []
sts17 = false
stsb = false
random_target_control = false
speed_seconds = 0.0
"#,
        run = root.join("run").display(),
        eval = shared().join("eval").display(),
        cache = root.join("labels").display(),
        locale = root.join("locale").display(),
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// The single teacher cache under `root`.
fn open_cache(root: &Path) -> LabelCache {
    let dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "one teacher cache in {}", root.display());
    let (model, fingerprint, dim) = LabelCache::identity(&dirs[0]).unwrap();
    LabelCache::open(root, &model, &fingerprint, dim).unwrap()
}

/// Rows in the cache under `root` so far (0 before it exists), from the length of keys.bin.
fn rows_so_far(root: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| std::fs::metadata(e.path().join("keys.bin")).map_or(0, |m| m.len() as usize / 16))
        .sum()
}

fn wait_for_rows(root: &Path, rows: usize) {
    let start = Instant::now();
    while rows_so_far(root) < rows {
        assert!(
            start.elapsed() < PATIENCE,
            "the cache never reached {rows} rows"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every text in `remote` equals the local teacher's label of it, and none is there twice.
fn assert_labels_match_local(remote: &LabelCache, english: &[String], local_root: &Path) {
    let local = open_cache(local_root);
    assert_eq!(
        local.dir().file_name(),
        remote.dir().file_name(),
        "one fingerprint"
    );
    let keys = remote.keys();
    let distinct: std::collections::HashSet<u128> = keys.iter().copied().collect();
    assert_eq!(distinct.len(), keys.len(), "a text labelled twice");
    assert_eq!(remote.len(), english.len() + PROBES);
    for text in english {
        let c = cosine(remote.get(text).unwrap(), local.get(text).unwrap());
        assert!(c >= 0.99999, "{text:?}: cosine {c}");
    }
}

fn label_locally(root: &Path, english: &[String]) -> PathBuf {
    let input = root.join("english.txt");
    std::fs::write(&input, english.join("\n") + "\n").unwrap();
    let local = root.join("local-labels");
    glossa(["teacher", "encode", "--model", TEACHER, "--input"])
        .arg(&input)
        .arg("--cache")
        .arg(&local)
        .ok();
    local
}

#[test]
fn a_fleet_with_a_dead_and_a_slow_endpoint_labels_like_the_local_teacher() {
    let dir = tempfile::tempdir().unwrap();
    let english = corpus(dir.path(), 900);
    let cfg = config(dir.path(), 16);
    let (fast, slow, doomed) = (Server::start(), Server::start(), Server::start());
    let mut doomed = doomed;
    let slow_url = slow_proxy(&slow.url, Duration::from_millis(300));
    let distill = glossa(["distill", "--config"])
        .arg(&cfg)
        .args(["--teacher-endpoint", &fast.url])
        .args(["--teacher-endpoint", &slow_url])
        .args(["--teacher-endpoint", &doomed.url])
        .spawn();
    // One endpoint dies once the first labels are in.
    wait_for_rows(&dir.path().join("labels"), PROBES + 1);
    doomed.child.kill().unwrap();
    doomed.child.wait().unwrap();
    let status = wait(distill);
    assert!(status.success(), "distill failed");
    assert!(slow.embedded() > PROBES, "the slow endpoint labelled too");
    let remote = open_cache(&dir.path().join("labels"));
    assert_labels_match_local(&remote, &english, &label_locally(dir.path(), &english));
    assert!(dir.path().join("run/student/student.json").is_file());
}

#[test]
fn an_interrupted_remote_run_resumes_relabelling_only_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let english = corpus(dir.path(), 700);
    let cfg = config(dir.path(), 8);
    let labels = dir.path().join("labels");
    let servers = [Server::start(), Server::start()];
    // Slowed, so the run is still labelling when it is killed.
    let urls: Vec<String> = servers
        .iter()
        .map(|s| slow_proxy(&s.url, Duration::from_millis(100)))
        .collect();
    let run = |resume: bool| {
        let mut cmd = glossa(["distill", "--config"]).arg(&cfg);
        for url in &urls {
            cmd = cmd.args(["--teacher-endpoint", url]);
        }
        if resume {
            cmd = cmd.arg("--resume");
        }
        cmd
    };
    let mut first = run(false).spawn();
    // chunk = 8 texts × 2 in flight × 2 endpoints × 4 = 128: kill after the first chunk.
    wait_for_rows(&labels, PROBES + 128);
    first.kill().unwrap();
    first.wait().unwrap();
    let kept = open_cache(&labels).len();
    assert!(
        kept < english.len() + PROBES,
        "killed after labelling finished"
    );
    // Requests the killed run left in flight still reach the servers: count from when they
    // are done.
    let before = settled_count(&servers);
    run(true).ok();
    let sent: usize = servers.iter().map(Server::embedded).sum::<usize>() - before;
    let cache = open_cache(&labels);
    assert_eq!(cache.len(), english.len() + PROBES);
    // Each endpoint embeds the probe set once to be checked; the rest is what was missing.
    assert_eq!(sent - 2 * PROBES, cache.len() - kept);
    assert_labels_match_local(&cache, &english, &label_locally(dir.path(), &english));
}

#[test]
fn sharded_encode_and_merge_equal_a_single_run() {
    let dir = tempfile::tempdir().unwrap();
    // 600 distinct texts (three chunks of 256, the last short) and a repeat.
    let mut texts: Vec<String> = (0..600)
        .map(|i| format!("Sentence {i} of the shard test"))
        .collect();
    texts.push(texts[5].clone());
    let input = dir.path().join("texts.txt");
    std::fs::write(&input, texts.join("\n") + "\n").unwrap();
    let encode = |cache: &str, shard: Option<&str>| {
        let mut cmd = glossa(["teacher", "encode", "--model", TEACHER, "--input"])
            .arg(&input)
            .arg("--cache")
            .arg(dir.path().join(cache));
        if let Some(s) = shard {
            cmd = cmd.args(["--shard", s]);
        }
        cmd.ok();
    };
    encode("single", None);
    encode("s1", Some("1/2"));
    encode("s2", Some("2/2"));
    let merge = |shards: &[&str]| {
        let mut cmd = glossa(["teacher", "merge", "--cache"]).arg(dir.path().join("merged"));
        for s in shards {
            cmd = cmd.arg("--shard-cache").arg(dir.path().join(s));
        }
        cmd
    };
    merge(&["s2", "s1"]).ok();
    let (single, merged) = (
        open_cache(&dir.path().join("single")),
        open_cache(&dir.path().join("merged")),
    );
    assert_eq!(single.len(), 600);
    for file in ["manifest.json", "keys.bin", "vectors.f32", "sums.bin"] {
        let a = std::fs::read(single.dir().join(file)).unwrap();
        let b = std::fs::read(merged.dir().join(file)).unwrap();
        assert!(
            a == b,
            "{file} differs between the single run and the merge"
        );
    }
    // A missing shard, a shard given twice, and a shard of another split are refused.
    merge(&["s1"]).fails_with(&["shard 2/2 is missing"]);
    merge(&["s1", "s1"]).fails_with(&["shard 1/2 is given twice"]);
    encode("t3", Some("3/3"));
    merge(&["s1", "t3"]).fails_with(&["another corpus or split"]);
}

/// Texts the servers have embedded, once the count has stopped moving for a second.
fn settled_count(servers: &[Server]) -> usize {
    let count = || servers.iter().map(Server::embedded).sum::<usize>();
    let (start, mut last) = (Instant::now(), count());
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = count();
        if now == last {
            return now;
        }
        assert!(start.elapsed() < PATIENCE, "the servers never settled");
        last = now;
    }
}

fn wait(mut child: Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < PATIENCE, "distill did not finish");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn endpoint_settings_that_cannot_work_are_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path(), 10);
    let cfg = config(dir.path(), 8);
    let with_key = dir.path().join("key.toml");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "[teacher]\n",
        "[teacher]\nendpoint_api_key_env = \"GLOSSA_TEST_NO_SUCH_KEY\"\n",
    );
    std::fs::write(&with_key, text).unwrap();
    glossa(["distill", "--config"])
        .arg(&with_key)
        .args(["--teacher-endpoint", "http://127.0.0.1:9"])
        .fails_with(&["GLOSSA_TEST_NO_SUCH_KEY", "which is not set"]);
    glossa(["distill", "--config"])
        .arg(&cfg)
        .args(["--teacher-endpoint", "https://example.com"])
        .fails_with(&["https", "TLS-terminating proxy"]);
}
