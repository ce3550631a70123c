//! What the server's integration tests share: a tiny student, the server process, a client.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use glossa::student::table_student::build_vocab;
use glossa::student::{SubwordConfig, TableStudent, WordRules};
use serde_json::Value;

pub const SENTENCES: &[&str] = &[
    "The cat sat on the mat.",
    "Open the document in a new window",
    "Das Dokument in einem neuen Fenster öffnen",
    "日本語の文章です",
    "Save the changes before closing",
];

/// Waits for things the server does on its own (exit, stop accepting) are bounded by this; it
/// only turns a hang into a failure and is never what a test measures.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A small student (8-wide rows projected to 12) saved into `dir`.
pub fn tiny_student(dir: &Path) {
    tiny_student_seeded(dir, 7);
}

/// [`tiny_student`] from another seed: the same shape, other vectors.
pub fn tiny_student_seeded(dir: &Path, seed: u64) {
    student_of_width(dir, 12, seed);
}

/// A small student whose vectors are `output_dim` wide (8-wide rows projected), for answers
/// large enough to show in the server's memory.
pub fn student_of_width(dir: &Path, output_dim: usize, seed: u64) {
    let config = SubwordConfig::new(8, output_dim, 1000, (2, 4), WordRules::new(true));
    let words = build_vocab(SENTENCES.iter().copied(), WordRules::new(true), 1, 100);
    TableStudent::new(config, words, seed)
        .unwrap()
        .save(dir)
        .unwrap();
}

/// The server process; killed when dropped, whatever the test's path.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub stderr: tempfile::NamedTempFile,
    pub agent: ureq::Agent,
}

impl Server {
    pub fn start(model: &Path, extra: &[&str]) -> Server {
        Server::start_with_env(model, extra, &[])
    }

    /// As [`Server::start`], with environment variables set for the server.
    pub fn start_with_env(model: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let stderr = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_glossa"))
            .args([
                "serve",
                "--model",
                model.to_str().unwrap(),
                "--addr",
                "127.0.0.1:0",
            ])
            .args(extra)
            .env("GLOSSA_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr.reopen().unwrap())
            .spawn()
            .expect("glossa runs");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let addr = first
            .trim_end()
            .strip_prefix("listening on http://")
            .map(str::to_owned);
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut server = Server {
            child,
            addr: String::new(),
            stderr,
            agent,
        };
        match addr {
            Some(addr) => server.addr = addr,
            None => panic!(
                "first stdout line is {first:?}, not 'listening on http://ADDR'; stderr: {}",
                server.stderr_text()
            ),
        }
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }

    /// Status and JSON body of a POST to /v1/embeddings.
    pub fn embed(&self, body: &Value) -> (u16, Value) {
        self.post_raw(
            "/v1/embeddings",
            "application/json",
            &serde_json::to_vec(body).unwrap(),
        )
    }

    pub fn post_raw(&self, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
        let mut response = self
            .agent
            .post(&self.url(path))
            .header("Content-Type", content_type)
            .send(body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}; server stderr: {}", self.stderr_text()));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{status} body is not JSON ({e}): {text}"));
        (status, value)
    }

    /// Status, Content-Type and body of a GET.
    pub fn get(&self, path: &str) -> (u16, String, String) {
        let mut response = self.agent.get(&self.url(path)).call().unwrap();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = response.body_mut().read_to_string().unwrap();
        (response.status().as_u16(), content_type, text)
    }

    pub fn metrics(&self) -> String {
        let (status, content_type, text) = self.get("/metrics");
        assert_eq!(status, 200);
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        text
    }
}

impl Server {
    /// The server process's resident memory (VmRSS in /proc/PID/status), in bytes.
    pub fn resident_bytes(&self) -> u64 {
        let path = format!("/proc/{}/status", self.child.id());
        let status = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .unwrap_or_else(|| panic!("no VmRSS in {path}"))
            .trim()
            .parse()
            .unwrap();
        kib * 1024
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the sample `series` (name and labels exactly as written) in Prometheus text.
pub fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {series} in\n{metrics}"))
        .parse()
        .unwrap()
}

/// What `glossa embed` writes for `texts`, one vector per text.
pub fn embed_with_cli(model: &Path, texts: &[String]) -> Vec<Vec<f32>> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_glossa"))
        .args(["embed", "--model", model.to_str().unwrap()])
        .env("GLOSSA_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input: String = texts.iter().map(|t| format!("{t}\n")).collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| floats(&serde_json::from_str::<Value>(l).unwrap()["embedding"]))
        .collect()
}

pub fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// The vectors of a successful response, checking the list's shape on the way.
pub fn vectors(response: &Value) -> Vec<Vec<f32>> {
    assert_eq!(response["object"], "list", "{response}");
    let data = response["data"].as_array().unwrap();
    data.iter()
        .enumerate()
        .map(|(i, item)| {
            assert_eq!(item["object"], "embedding");
            assert_eq!(item["index"], i);
            match &item["embedding"] {
                Value::String(b64) => decode_base64_f32(b64),
                other => floats(other),
            }
        })
        .collect()
}

pub fn decode_base64_f32(text: &str) -> Vec<f32> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap();
    assert_eq!(bytes.len() % 4, 0);
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

pub fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
