//! Fetching a model from the Hugging Face hub into the standard cache, through hf-hub's
//! blocking client (the same routes, cache layout and variables as the Python libraries):
//! `HF_ENDPOINT` (another hub or a mirror), `HF_TOKEN` (private and gated repos; else the
//! token file under `HF_HOME`), `HF_HUB_OFFLINE=1` (never touch the network), and
//! `HF_HUB_CACHE` / `HF_HOME` for where the cache is.
//!
//! A repo id may pin a revision (branch, tag or commit) as `org/name@revision`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo, RepoType};

use crate::{Error, Result};

/// How to reach the hub: built from the environment by [`Hub::from_env`], or by hand in tests.
#[derive(Debug, Clone)]
pub struct Hub {
    pub cache: Cache,
    /// `None`: hf-hub's default, huggingface.co.
    pub endpoint: Option<String>,
    /// `None`: the token file in the cache's home, if any.
    pub token: Option<String>,
    /// Only the cache is read.
    pub offline: bool,
}

impl Hub {
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Hub {
            cache: crate::hub::hf_cache(),
            endpoint: var("HF_ENDPOINT").map(|e| e.trim_end_matches('/').to_string()),
            token: var("HF_TOKEN"),
            offline: var("HF_HUB_OFFLINE").is_some_and(|v| {
                matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
            }),
        }
    }

    /// The same hub, read from the cache only.
    pub fn offline(mut self) -> Self {
        self.offline = true;
        self
    }

    fn endpoint_name(&self) -> &str {
        self.endpoint.as_deref().unwrap_or("https://huggingface.co")
    }
}

/// `spec` pinned to `revision` (the CLI's `--revision`): `org/name` becomes
/// `org/name@revision`. A spec that already names another revision is refused rather than
/// silently overridden; a directory takes no revision.
pub fn pin_revision(spec: &str, revision: Option<&str>) -> Result<String> {
    let Some(revision) = revision.filter(|r| !r.is_empty()) else {
        return Ok(spec.to_string());
    };
    if Path::new(spec).is_dir() {
        return Err(Error::msg(format!(
            "--revision {revision}: {spec} is a local directory, which has no revisions"
        )));
    }
    match spec.rsplit_once('@') {
        Some((_, named)) if !named.is_empty() && named != revision => Err(Error::msg(format!(
            "--revision {revision} contradicts the revision in {spec}: give one of them"
        ))),
        Some((id, _)) => Ok(format!("{id}@{revision}")),
        None => Ok(format!("{spec}@{revision}")),
    }
}

/// `org/name@revision` → (`org/name`, `revision`); no `@`: the `main` branch.
pub fn split_revision(spec: &str) -> (&str, &str) {
    match spec.rsplit_once('@') {
        Some((id, rev)) if !rev.is_empty() => (id, rev),
        _ => (spec.trim_end_matches('@'), "main"),
    }
}

fn model_repo(id: &str, revision: &str) -> Repo {
    Repo::with_revision(id.to_string(), RepoType::Model, revision.to_string())
}

/// The snapshot folder of `id` at `revision` in the cache: through `refs/<revision>` (what
/// hf-hub and huggingface_hub write for branches and tags), or the revision itself when it is
/// a commit hash the cache holds.
pub fn cached_snapshot(cache: &Cache, id: &str, revision: &str) -> Option<PathBuf> {
    let repo_dir = cache.path().join(model_repo(id, revision).folder_name());
    let commit = std::fs::read_to_string(repo_dir.join("refs").join(revision))
        .map(|c| c.trim().to_string())
        .unwrap_or_else(|_| revision.to_string());
    let snapshot = repo_dir.join("snapshots").join(commit);
    let has_files = std::fs::read_dir(&snapshot).is_ok_and(|mut d| d.next().is_some());
    has_files.then_some(snapshot)
}

/// Files glossa reads (configs, tokenizers, safetensors weights, cards); other frameworks'
/// weights (`.bin`, `.onnx`, `.h5`, `openvino/`…) can be many times the model and are skipped.
fn wanted(file: &str) -> bool {
    let path = Path::new(file);
    let other_framework = path
        .components()
        .any(|c| matches!(c.as_os_str().to_str(), Some("onnx" | "openvino" | "coreml")));
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    !other_framework && matches!(ext, "json" | "txt" | "safetensors" | "model" | "md")
}

/// Downloads `id` at `revision` into the cache and returns its snapshot folder. A failed
/// download leaves no `refs/<revision>` behind, so the cache never offers half a model as
/// the revision; the files it completed are kept as blobs.
pub fn download(hub: &Hub, id: &str, revision: &str) -> Result<PathBuf> {
    let repo_dir = hub
        .cache
        .path()
        .join(model_repo(id, revision).folder_name());
    let ref_path = repo_dir.join("refs").join(revision);
    let had_ref = ref_path.exists();
    let result = fetch_files(hub, id, revision, &repo_dir);
    if result.is_err() && !had_ref {
        let _ = std::fs::remove_file(&ref_path);
    }
    result
}

fn fetch_files(hub: &Hub, id: &str, revision: &str, repo_dir: &Path) -> Result<PathBuf> {
    let spec = format!("{id}@{revision}");
    let fail = |what: String, e: hf_hub::api::sync::ApiError| {
        Error::model(
            &spec,
            format!(
                "{what} from {}: {e} (check the repo id and revision; HF_TOKEN for a private or \
                 gated repo; HF_HUB_OFFLINE=1 to use the cache only)",
                hub.endpoint_name()
            ),
        )
    };
    let mut builder =
        ApiBuilder::from_cache(hub.cache.clone()).with_progress(std::io::stderr().is_terminal());
    if let Some(endpoint) = &hub.endpoint {
        builder = builder.with_endpoint(endpoint.clone());
    }
    if hub.token.is_some() {
        builder = builder.with_token(hub.token.clone());
    }
    let api = builder
        .build()
        .map_err(|e| fail("setting up the client".into(), e))?;
    let repo = api.repo(model_repo(id, revision));
    let info = repo
        .info()
        .map_err(|e| fail("listing the repo's files".into(), e))?;
    let files: Vec<&str> = info
        .siblings
        .iter()
        .map(|s| s.rfilename.as_str())
        .filter(|f| wanted(f))
        .collect();
    if files.is_empty() {
        return Err(Error::model(
            &spec,
            "the repo has no config, tokenizer or safetensors files",
        ));
    }
    tracing::info!(
        "downloading {} files of {spec} from {}",
        files.len(),
        hub.endpoint_name()
    );
    for file in &files {
        repo.download(file)
            .map_err(|e| fail(format!("downloading {file}"), e))?;
    }
    Ok(repo_dir.join("snapshots").join(&info.sha))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_revision_flag_pins_a_repo_id_and_refuses_contradictions() {
        assert_eq!(pin_revision("org/m", None).unwrap(), "org/m");
        assert_eq!(pin_revision("org/m", Some("v2")).unwrap(), "org/m@v2");
        assert_eq!(pin_revision("org/m@v2", Some("v2")).unwrap(), "org/m@v2");
        let err = pin_revision("org/m@v1", Some("v2"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("contradicts") && err.contains("org/m@v1"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().to_str().unwrap();
        let err = pin_revision(local, Some("v2")).unwrap_err().to_string();
        assert!(err.contains("local directory"), "{err}");
    }
    use crate::Encoder;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
    const TOKEN: &str = "hf_test_token";

    /// A fake hub on 127.0.0.1: the routes hf-hub's blocking client calls (repo info; file
    /// metadata by a one-byte range; the file from an offset), for one repo at one revision,
    /// answering only requests that carry the token. Stops when dropped.
    struct FakeHub {
        url: String,
        requests: Arc<AtomicUsize>,
        stop: Arc<AtomicBool>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl FakeHub {
        fn serve(repo: &str, revision: &str, files: BTreeMap<String, Vec<u8>>) -> FakeHub {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let (requests, stop) = (
                Arc::new(AtomicUsize::new(0)),
                Arc::new(AtomicBool::new(false)),
            );
            let (r, s) = (requests.clone(), stop.clone());
            let (repo, revision) = (repo.to_string(), revision.to_string());
            let thread = std::thread::spawn(move || {
                // Bounded: the test drops the server within seconds; 60 s is a safety net.
                let deadline = std::time::Instant::now() + Duration::from_secs(60);
                while !s.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            r.fetch_add(1, Ordering::SeqCst);
                            answer(stream, &repo, &revision, &files);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            });
            FakeHub {
                url,
                requests,
                stop,
                thread: Some(thread),
            }
        }
    }

    impl Drop for FakeHub {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(t) = self.thread.take() {
                t.join().unwrap();
            }
        }
    }

    fn answer(stream: TcpStream, repo: &str, revision: &str, files: &BTreeMap<String, Vec<u8>>) {
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut reader = BufReader::new(&stream);
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut headers = BTreeMap::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let path = request_line.split(' ').nth(1).unwrap_or("").to_string();
        let (status, extra, body) = route(&path, &headers, repo, revision, files);
        let mut out = &stream;
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
            body.len()
        );
        out.write_all(head.as_bytes()).unwrap();
        out.write_all(&body).unwrap();
    }

    fn route(
        path: &str,
        headers: &BTreeMap<String, String>,
        repo: &str,
        revision: &str,
        files: &BTreeMap<String, Vec<u8>>,
    ) -> (&'static str, String, Vec<u8>) {
        if headers.get("authorization").map(String::as_str) != Some(&format!("Bearer {TOKEN}")) {
            return ("401 Unauthorized", String::new(), b"no token".to_vec());
        }
        if path == format!("/api/models/{repo}/revision/{revision}") {
            let siblings: Vec<_> = files
                .keys()
                .map(|f| serde_json::json!({ "rfilename": f }))
                .collect();
            let info = serde_json::json!({ "id": repo, "sha": SHA, "siblings": siblings });
            return (
                "200 OK",
                "Content-Type: application/json\r\n".into(),
                info.to_string().into_bytes(),
            );
        }
        let prefix = format!("/{repo}/resolve/{revision}/");
        let Some(bytes) = path.strip_prefix(&prefix).and_then(|f| files.get(f)) else {
            return ("404 Not Found", String::new(), b"not found".to_vec());
        };
        let start: usize = headers
            .get("range")
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.split('-').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let one_byte = headers.get("range").is_some_and(|r| r == "bytes=0-0");
        let end = if one_byte { 1 } else { bytes.len() };
        let etag = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes));
        let extra = format!(
            "ETag: \"{etag}\"\r\nX-Repo-Commit: {SHA}\r\nContent-Range: bytes {start}-{}/{}\r\n",
            end.max(1) - 1,
            bytes.len()
        );
        (
            "206 Partial Content",
            extra,
            bytes[start.min(end)..end].to_vec(),
        )
    }

    /// The files of a tiny BERT teacher, plus an ONNX copy that must not be downloaded.
    fn teacher_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        crate::student::transformer::tests_support::tiny_teacher(dir, 1);
        let mut files = BTreeMap::new();
        for name in ["config.json", "model.safetensors", "tokenizer.json"] {
            files.insert(name.to_string(), std::fs::read(dir.join(name)).unwrap());
        }
        files.insert("onnx/model.onnx".into(), b"not for glossa".to_vec());
        files
    }

    fn hub(cache: &Path, endpoint: &str) -> Hub {
        Hub {
            cache: Cache::new(cache.to_path_buf()),
            endpoint: Some(endpoint.to_string()),
            token: Some(TOKEN.into()),
            offline: false,
        }
    }

    #[test]
    fn a_repo_id_is_downloaded_into_the_cache_then_used_offline() {
        let tmp = tempfile::tempdir().unwrap();
        let original = tmp.path().join("original");
        std::fs::create_dir_all(&original).unwrap();
        let files = teacher_files(&original);
        let cache = tmp.path().join("hub");
        let server = FakeHub::serve("glossa-test/tiny-bert", "v1", files);
        let spec = "glossa-test/tiny-bert@v1";
        let first = crate::hub::resolve_with(spec, &hub(&cache, &server.url)).unwrap();
        let served = server.requests.load(Ordering::SeqCst);
        drop(server);

        let repo_dir = cache.join("models--glossa-test--tiny-bert");
        assert_eq!(first.dir, repo_dir.join("snapshots").join(SHA));
        assert_eq!(
            std::fs::read_to_string(repo_dir.join("refs/v1")).unwrap(),
            SHA
        );
        for name in ["config.json", "model.safetensors", "tokenizer.json"] {
            assert_eq!(
                std::fs::read(first.dir.join(name)).unwrap(),
                std::fs::read(original.join(name)).unwrap(),
                "{name} arrived whole"
            );
        }
        assert!(
            !first.dir.join("onnx").exists(),
            "other frameworks' weights are skipped"
        );
        assert!(
            served >= 7,
            "info + metadata and body of 3 files, got {served} requests"
        );

        // The server is gone: a second run, offline, finds the same snapshot in the cache.
        let offline = hub(&cache, "http://127.0.0.1:9").offline();
        let second = crate::hub::resolve_with(spec, &offline).unwrap();
        assert_eq!(second.dir, first.dir);
        let texts = ["hello world", "d c b"];
        let downloaded = crate::teacher::Teacher::from_dir(second).unwrap();
        let local = crate::teacher::Teacher::from_dir(crate::hub::ModelDir {
            name: "original".into(),
            dir: original,
        })
        .unwrap();
        assert_eq!(
            downloaded.encode(&texts).unwrap(),
            local.encode(&texts).unwrap()
        );
        // Online again with the server gone, the cache still answers without a request.
        assert_eq!(
            crate::hub::resolve_with(spec, &hub(&cache, "http://127.0.0.1:9"))
                .unwrap()
                .dir,
            first.dir
        );
    }

    #[test]
    fn a_refused_download_explains_and_leaves_no_ref() {
        let tmp = tempfile::tempdir().unwrap();
        let original = tmp.path().join("original");
        std::fs::create_dir_all(&original).unwrap();
        let server = FakeHub::serve("glossa-test/tiny-bert", "main", teacher_files(&original));
        let cache = tmp.path().join("hub");
        let mut no_token = hub(&cache, &server.url);
        no_token.token = None;
        let err = crate::hub::resolve_with("glossa-test/tiny-bert", &no_token)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("download failed") && err.contains("HF_TOKEN"),
            "{err}"
        );
        let err = crate::hub::resolve_with("glossa-test/other", &hub(&cache, &server.url))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("glossa-test/other") && err.contains("listing"),
            "{err}"
        );
        assert!(!cache
            .join("models--glossa-test--tiny-bert/refs/main")
            .exists());
        assert!(cached_snapshot(&Cache::new(cache), "glossa-test/tiny-bert", "main").is_none());
    }

    #[test]
    fn revisions_split_off_repo_ids_and_only_glossas_files_are_wanted() {
        assert_eq!(split_revision("org/name"), ("org/name", "main"));
        assert_eq!(split_revision("org/name@v1.0"), ("org/name", "v1.0"));
        assert_eq!(split_revision("org/name@"), ("org/name", "main"));
        assert!(wanted("1_Pooling/config.json") && wanted("model.safetensors"));
        assert!(
            !wanted("pytorch_model.bin") && !wanted("onnx/model.json") && !wanted("tf_model.h5")
        );
    }
}
