//! The remote teacher against small in-process HTTP servers that speak either API, answer
//! with a toy model, fail on purpose or serve another model.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::teacher::cache::LabelCache;

/// A toy model: a text's vector from its length and bytes. `variant` 1 is "another model".
fn toy(text: &str, variant: u8) -> Vec<f32> {
    let sum: f32 = text.bytes().map(f32::from).sum();
    let len = text.len() as f32;
    match variant {
        0 => vec![len, sum / 100.0, 1.0],
        _ => vec![sum / 100.0, len, 1.0],
    }
}

fn toy_embeddings(texts: &[&str], variant: u8) -> Embeddings {
    Embeddings::new(3, texts.iter().flat_map(|t| toy(t, variant)).collect())
}

#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    Serve { variant: u8, scale: f32 },
    Fail503,
}

/// A fake embedding server on a free loopback port; counts the texts it answered.
struct FakeServer {
    url: String,
    texts: Arc<AtomicUsize>,
}

impl FakeServer {
    fn start(api: Api, behaviour: Behaviour) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let texts = Arc::new(AtomicUsize::new(0));
        let counter = texts.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counter = counter.clone();
                std::thread::spawn(move || serve_connection(stream, api, behaviour, &counter));
            }
        });
        FakeServer { url, texts }
    }

    fn served(&self) -> usize {
        self.texts.load(Ordering::SeqCst)
    }
}

/// Answers requests on one keep-alive connection until the client closes it.
fn serve_connection(stream: TcpStream, api: Api, behaviour: Behaviour, served: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut length = 0;
        let mut line = String::new();
        let mut first = true;
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            assert!(!first || line.starts_with("POST "), "{line}");
            first = false;
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let (status, answer) = answer(&body, api, behaviour, served);
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            answer.len()
        );
        if out.write_all(head.as_bytes()).is_err() || out.write_all(&answer).is_err() {
            return;
        }
    }
}

fn answer(body: &[u8], api: Api, behaviour: Behaviour, served: &AtomicUsize) -> (String, Vec<u8>) {
    let Behaviour::Serve { variant, scale } = behaviour else {
        return (
            "503 Busy".into(),
            br#"{"error":{"message":"overloaded"}}"#.to_vec(),
        );
    };
    let request: serde_json::Value = serde_json::from_slice(body).unwrap();
    let field = if api == Api::OpenAi {
        "input"
    } else {
        "inputs"
    };
    let texts: Vec<&str> = request[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    served.fetch_add(texts.len(), Ordering::SeqCst);
    let rows: Vec<Vec<f32>> = texts
        .iter()
        .map(|t| toy(t, variant).iter().map(|x| x * scale).collect())
        .collect();
    let json = match api {
        // Answered last to first: the client must put them back in order by index.
        Api::OpenAi => serde_json::json!({"data": rows.iter().enumerate().rev()
            .map(|(i, r)| serde_json::json!({"index": i, "embedding": r})).collect::<Vec<_>>()}),
        Api::Tei => serde_json::json!(rows),
    };
    ("200 OK".into(), serde_json::to_vec(&json).unwrap())
}

const GOOD: Behaviour = Behaviour::Serve {
    variant: 0,
    scale: 1.0,
};

fn options(api: Api, endpoints: &[&FakeServer]) -> RemoteOptions {
    RemoteOptions {
        endpoints: endpoints.iter().map(|s| s.url.clone()).collect(),
        api,
        model: "toy".into(),
        api_key: None,
        batch_size: 4,
        in_flight: 2,
        timeout: Duration::from_secs(10),
        give_up: Duration::from_secs(5),
        min_cosine: 0.9999,
    }
}

fn remote(options: RemoteOptions) -> RemoteTeacher {
    let reference = toy_embeddings(probe::PROBES, 0);
    RemoteTeacher::standing_for(options, "toy", "toy-1", reference).unwrap()
}

fn texts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("sentence number {i}")).collect()
}

#[test]
fn both_apis_answer_like_the_teacher_over_several_endpoints() {
    for api in [Api::OpenAi, Api::Tei] {
        let (a, b) = (FakeServer::start(api, GOOD), FakeServer::start(api, GOOD));
        let teacher = remote(options(api, &[&a, &b]));
        let owned = texts(41);
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        assert_eq!(teacher.encode(&refs).unwrap(), toy_embeddings(&refs, 0));
        // Each endpoint embedded the probe set once, and between them every text once.
        let probes = 2 * probe::PROBES.len();
        assert_eq!(a.served() + b.served(), 41 + probes);
        assert!(a.served() > probe::PROBES.len() && b.served() > probe::PROBES.len());
    }
}

#[test]
fn a_failing_endpoint_is_set_aside_and_the_others_finish() {
    let (bad, good) = (
        FakeServer::start(Api::OpenAi, Behaviour::Fail503),
        FakeServer::start(Api::OpenAi, GOOD),
    );
    let teacher = remote(options(Api::OpenAi, &[&bad, &good]));
    let owned = texts(60);
    let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
    assert_eq!(teacher.encode(&refs).unwrap(), toy_embeddings(&refs, 0));
    assert_eq!(good.served(), 60 + probe::PROBES.len());
    let bad_health = teacher.endpoints[0].health.lock().unwrap();
    assert!(bad_health
        .last_error
        .as_deref()
        .unwrap()
        .contains("overloaded"));
    assert!(
        bad_health.resting_until.is_some(),
        "set aside after failures in a row"
    );
}

#[test]
fn no_endpoint_answering_is_a_clear_error_naming_each() {
    // A port that was free a moment ago: connections are refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}");
    let mut opts = options(Api::OpenAi, &[]);
    opts.endpoints = vec![dead.clone()];
    opts.give_up = Duration::from_millis(600);
    let err = remote(opts).encode(&["hello"]).unwrap_err().to_string();
    assert!(
        err.contains("no teacher endpoint answered") && err.contains(&dead),
        "{err}"
    );
    let err = RemoteTeacher::unverified(
        RemoteOptions {
            endpoints: vec![dead.clone()],
            give_up: Duration::from_millis(300),
            ..options(Api::Tei, &[])
        },
        None,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("no teacher endpoint answered") && err.contains(&dead),
        "{err}"
    );
}

#[test]
fn an_endpoint_serving_another_model_is_refused_before_its_vectors_enter_the_cache() {
    let other = FakeServer::start(
        Api::OpenAi,
        Behaviour::Serve {
            variant: 1,
            scale: 1.0,
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let mut cache = LabelCache::open(dir.path(), "toy", "toy-1", 3).unwrap();
    let teacher = remote(options(Api::OpenAi, &[&other]));
    teacher.settle(&mut cache).unwrap();
    let owned = texts(10);
    let err = cache
        .fill(&teacher, owned.iter().map(String::as_str), 256, &|_, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("every teacher endpoint was refused") && err.contains("cosine 0."),
        "{err}"
    );
    assert_eq!(
        other.served(),
        probe::PROBES.len(),
        "only the probe set was sent"
    );
    // The cache holds the probe set (the local teacher's vectors) and nothing else.
    assert_eq!(cache.len(), probe::PROBES.len());
    assert!(owned.iter().all(|t| !cache.contains(t)));
    // Beside a good endpoint, the run goes on and the refused one gets no batch.
    let good = FakeServer::start(Api::OpenAi, GOOD);
    let teacher = remote(options(Api::OpenAi, &[&other, &good]));
    let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
    assert_eq!(teacher.encode(&refs).unwrap(), toy_embeddings(&refs, 0));
    assert_eq!(other.served(), 2 * probe::PROBES.len());
}

#[test]
fn another_normalisation_is_refused_with_the_lengths_found() {
    let scaled = FakeServer::start(
        Api::Tei,
        Behaviour::Serve {
            variant: 0,
            scale: 2.0,
        },
    );
    let err = remote(options(Api::Tei, &[&scaled]))
        .encode(&["hello"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("another normalisation"), "{err}");
}

#[test]
fn without_a_local_teacher_the_cache_rows_are_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let good = FakeServer::start(Api::OpenAi, GOOD);
    // First run: the first endpoint's answer is the reference, and is written to the cache.
    let teacher = RemoteTeacher::unverified(options(Api::OpenAi, &[&good]), None).unwrap();
    assert_eq!(teacher.dim(), 3);
    assert!(teacher.fingerprint().starts_with("remote-"));
    let mut cache = LabelCache::open(dir.path(), "toy", teacher.fingerprint(), 3).unwrap();
    teacher.settle(&mut cache).unwrap();
    assert_eq!(cache.len(), probe::PROBES.len());
    drop(cache);
    // A later run where the only endpoint serves another model: refused against the cache.
    let other = FakeServer::start(
        Api::OpenAi,
        Behaviour::Serve {
            variant: 1,
            scale: 1.0,
        },
    );
    let teacher = RemoteTeacher::unverified(options(Api::OpenAi, &[&other]), None).unwrap();
    let mut cache = LabelCache::open(dir.path(), "toy", teacher.fingerprint(), 3).unwrap();
    teacher.settle(&mut cache).unwrap();
    let err = teacher.encode(&["hello"]).unwrap_err().to_string();
    assert!(err.contains("refused") && err.contains("cosine"), "{err}");
}

#[test]
fn https_and_empty_texts_are_refused_with_what_to_do() {
    let mut opts = options(Api::OpenAi, &[]);
    opts.endpoints = vec!["https://example.com".into()];
    let err = RemoteTeacher::standing_for(opts, "toy", "t", toy_embeddings(probe::PROBES, 0))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("https") && err.contains("proxy"), "{err}");
    let good = FakeServer::start(Api::OpenAi, GOOD);
    let err = remote(options(Api::OpenAi, &[&good]))
        .encode(&["a", ""])
        .unwrap_err()
        .to_string();
    assert!(err.contains("text 1 is empty"), "{err}");
}
