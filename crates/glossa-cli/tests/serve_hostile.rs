//! `glossa serve` against hostile and careless clients, over real sockets on 127.0.0.1: stalled
//! heads and bodies, clients that never read, idle sockets past the connection cap, a flood
//! past the queue, malformed HTTP. Each case is bounded in count and in time (short server
//! timeouts set by flag); none asserts a speed (throughput under attack is measured by
//! scripts/load-test.sh, figures in docs/serving.md).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::{Arc, Barrier};

use serde_json::{json, Value};

mod common;
use common::*;

/// Short timeouts so that each stall ends within a second.
const FAST: &[&str] = &[
    "--keep-alive-timeout",
    "0.5",
    "--head-timeout",
    "0.5",
    "--body-timeout",
    "0.5",
    "--write-timeout",
    "0.5",
];

fn with(extra: &[&str]) -> Vec<&'static str> {
    FAST.iter()
        .copied()
        .chain(extra.iter().map(|s| &*s.to_string().leak()))
        .collect()
}

fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// Everything the server sends until it closes the connection.
fn read_all(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Status line, lower-cased head, JSON body of a whole answer.
fn parse_answer(answer: &str) -> (String, String, Value) {
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer in {answer:?}"));
    let status = head.lines().next().unwrap().to_string();
    let json =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("body not JSON ({e}): {answer:?}"));
    (status, head.to_ascii_lowercase(), json)
}

fn embed_body(texts: usize) -> Vec<u8> {
    let input: Vec<String> = (0..texts).map(|i| format!("text number {i}")).collect();
    serde_json::to_vec(&json!({ "input": input })).unwrap()
}

fn post_head(addr: &str, length: usize) -> String {
    format!(
        "POST /v1/embeddings HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n\r\n"
    )
}

/// `/health` answers 200 (while whatever the caller set up is going on).
fn assert_healthy(server: &Server) {
    let (status, _, body) = server.get("/health");
    assert_eq!(status, 200, "{body}");
}

fn signal(server: &Server, name: &str) {
    let ok = Command::new("kill")
        .args(["-s", name, &server.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -s {name}");
}

#[test]
fn a_stalled_head_gets_408_and_an_idle_socket_is_closed_while_health_answers() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    let server = Server::start(dir.path(), &with(&[]));
    let mut stalled = connect(&server.addr);
    stalled
        .write_all(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut idle = connect(&server.addr);
    assert_healthy(&server);

    let (status, _, body) = parse_answer(&read_all(&mut stalled));
    assert_eq!(status, "HTTP/1.1 408 Request Timeout");
    assert_eq!(body["error"]["code"], "request_timeout");
    // An idle socket that never sent a byte is closed without an answer.
    assert_eq!(read_all(&mut idle), "");

    let metrics = server.metrics();
    assert_eq!(
        sample(
            &metrics,
            "glossa_connections_closed_total{reason=\"head_timeout\"}"
        ),
        1.0
    );
    assert!(
        sample(
            &metrics,
            "glossa_connections_closed_total{reason=\"keep_alive_timeout\"}"
        ) >= 1.0
    );
    assert_eq!(
        sample(&metrics, "glossa_errors_total{code=\"request_timeout\"}"),
        1.0
    );
    assert_eq!(
        sample(
            &metrics,
            "glossa_http_requests_total{route=\"other\",status=\"408\"}"
        ),
        1.0
    );
}

#[test]
fn a_stalled_body_gets_408_and_never_holds_other_requests() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    // A long body timeout: the stall outlives the requests that must not wait for it.
    let server = Server::start(dir.path(), &["--body-timeout", "3"]);
    let mut stalled = connect(&server.addr);
    stalled
        .write_all(post_head(&server.addr, 100).as_bytes())
        .unwrap();
    stalled.write_all(b"{").unwrap();
    for _ in 0..20 {
        let (status, body) = server.embed(&json!({"input": ["hello there"]}));
        assert_eq!(status, 200, "{body}");
    }
    let (status, _, body) = parse_answer(&read_all(&mut stalled));
    assert_eq!(status, "HTTP/1.1 408 Request Timeout", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("body"),
        "{body}"
    );
    let metrics = server.metrics();
    assert_eq!(
        sample(&metrics, "glossa_errors_total{code=\"request_timeout\"}"),
        1.0
    );
    assert_eq!(
        sample(
            &metrics,
            "glossa_http_requests_total{route=\"/v1/embeddings\",status=\"200\"}"
        ),
        20.0
    );
}

#[test]
fn a_client_that_never_reads_is_dropped_after_the_write_timeout() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    let server = Server::start(dir.path(), &with(&[]));
    // 40 pipelined requests of 2,048 inputs: ~10 MB of answers, more than loopback buffers hold.
    let body = embed_body(2048);
    let mut greedy = connect(&server.addr);
    let mut pipelined = Vec::new();
    for _ in 0..40 {
        pipelined.extend_from_slice(post_head(&server.addr, body.len()).as_bytes());
        pipelined.extend_from_slice(&body);
    }
    greedy.write_all(&pipelined).unwrap();
    wait_until("the write timeout to close the greedy connection", || {
        let metrics = server.metrics();
        metrics.contains("glossa_connections_closed_total{reason=\"write_timeout\"} 1")
    });
    assert_healthy(&server);
    // Only the scrape's own connection is left (the greedy one's memory is released with it).
    wait_until("the connection gauge to drop", || {
        sample(&server.metrics(), "glossa_connections_open") == 1.0
    });
}

#[test]
fn memory_returns_to_its_baseline_after_clients_that_never_read_go() {
    const CLIENTS: usize = 64;
    let dir = tempfile::tempdir().unwrap();
    // 256-wide vectors: one answer to 2,048 inputs is ~6 MB of JSON, more than loopback's
    // socket buffers take off the server's hands, so held answers show in its memory.
    student_of_width(dir.path(), 256, 7);
    // A long write timeout: the clients, not the timeout, decide when the answers are let go.
    let server = Server::start(dir.path(), &["--write-timeout", "600"]);
    let body = embed_body(2048);
    // Warm: the allocator has served answers of this size before the baseline is read.
    let answer_len = (0..3)
        .map(|_| {
            let (status, answer) = server.post_raw("/v1/embeddings", "application/json", &body);
            assert_eq!(status, 200);
            serde_json::to_vec(&answer).unwrap().len()
        })
        .max()
        .unwrap();
    let baseline = server.resident_bytes();
    let embedded = |server: &Server| sample(&server.metrics(), "glossa_inputs_embedded_total");
    let before = embedded(&server);

    let mut request = post_head(&server.addr, body.len()).into_bytes();
    request.extend_from_slice(&body);
    let greedy: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| {
            let mut s = connect(&server.addr);
            s.write_all(&request).unwrap();
            s
        })
        .collect();
    wait_until("every greedy request embedded", || {
        embedded(&server) >= before + (CLIENTS * 2048) as f64
    });
    // The answers are serialised after the embedding: the peak of a few readings.
    let during = (0..20)
        .map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            server.resident_bytes()
        })
        .max()
        .unwrap();
    assert_healthy(&server);
    // Not vacuous: a quarter of what the answers weigh (the rest may sit in socket buffers).
    let held = (CLIENTS * answer_len / 4) as u64;
    let mib = |b: u64| b >> 20;
    assert!(
        during > baseline + held,
        "held answers did not show: baseline {} MiB, during {} MiB, answers {answer_len} B each",
        mib(baseline),
        mib(during)
    );

    drop(greedy);
    wait_until("the greedy connections closed", || {
        sample(&server.metrics(), "glossa_connections_open") == 1.0
    });
    // Allocator slack allowed: half the baseline again, or 64 MiB, whichever is more.
    let bound = baseline + (baseline / 2).max(64 << 20);
    let start = std::time::Instant::now();
    let mut after = server.resident_bytes();
    while after > bound && start.elapsed() < PATIENCE {
        std::thread::sleep(std::time::Duration::from_millis(100));
        after = server.resident_bytes();
    }
    // Shown with --nocapture: the figures docs/serving.md quotes.
    eprintln!(
        "VmRSS: baseline {} MiB, during {} MiB, after {} MiB",
        mib(baseline),
        mib(during),
        mib(after)
    );
    assert!(
        after <= bound,
        "VmRSS stayed at {} MiB after the clients went (baseline {} MiB, during {} MiB)",
        mib(after),
        mib(baseline),
        mib(during)
    );
    assert_healthy(&server);
}

#[test]
fn twice_the_cap_of_idle_sockets_cannot_lock_out_health_and_busy_ones_get_503() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    // Long idle timeouts, so only the cap can free the sockets.
    let server = Server::start(
        dir.path(),
        &[
            "--max-connections",
            "8",
            "--keep-alive-timeout",
            "60",
            "--head-timeout",
            "60",
            "--body-timeout",
            "60",
        ],
    );
    let idle: Vec<TcpStream> = (0..16).map(|_| connect(&server.addr)).collect();
    for _ in 0..5 {
        assert_healthy(&server);
    }
    let closed = |metrics: &str, reason: &str| {
        let series = format!("glossa_connections_closed_total{{reason=\"{reason}\"}}");
        if metrics.contains(&series) {
            sample(metrics, &series)
        } else {
            0.0
        }
    };
    // Each socket past the cap takes an idle one's place, or (when the idle ones had not yet been
    // read dry on a busy machine) is refused with 503. On a loaded machine the server may still
    // be accepting the last of the sixteen, so wait for all eight to be dealt with.
    wait_until("eight sockets over the cap evicted or refused", || {
        let m = server.metrics();
        closed(&m, "evicted_idle") + closed(&m, "over_capacity") >= 8.0
    });
    let metrics = server.metrics();
    assert!(closed(&metrics, "evicted_idle") >= 1.0, "{metrics}");
    assert!(sample(&metrics, "glossa_connections_open") <= 8.0);
    drop(idle);

    // Eight connections busy uploading: the ninth is answered 503 with Retry-After.
    let start_upload = || {
        let mut s = connect(&server.addr);
        s.write_all(post_head(&server.addr, 100).as_bytes())
            .unwrap();
        s.write_all(b"{").unwrap();
        s
    };
    let mut busy: Vec<TcpStream> = (0..8).map(|_| start_upload()).collect();
    // On a loaded machine an upload can be turned away while the server still holds the idle
    // sockets dropped above, and then no probe would ever find the server full: a probe that is
    // served means fewer than eight uploads are in flight, so one more is started.
    wait_until("eight uploads in flight", || {
        let mut probe = connect(&server.addr);
        probe
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let full = read_all(&mut probe).contains("HTTP/1.1 503");
        if !full {
            busy.push(start_upload());
        }
        full
    });
    let mut refused = connect(&server.addr);
    refused
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (status, head, body) = parse_answer(&read_all(&mut refused));
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
    assert!(head.contains("retry-after: 1"), "{head}");
    assert_eq!(body["error"]["code"], "too_many_connections");
    drop(busy);
}

#[test]
fn at_the_cap_the_socket_idle_longest_goes_not_an_older_keep_alive_client() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    // Room for the client, three silent sockets and the metrics scrapes' keep-alive connection.
    let server = Server::start(
        dir.path(),
        &["--max-connections", "5", "--keep-alive-timeout", "60"],
    );
    // The keep-alive client connects first, so it is the oldest connection...
    let mut client = connect(&server.addr);
    let silent: Vec<TcpStream> = (0..3).map(|_| connect(&server.addr)).collect();
    let body = embed_body(1);
    let mut request = post_head(&server.addr, body.len()).into_bytes();
    request.extend_from_slice(&body);
    let ask = |client: &mut TcpStream| {
        client.write_all(&request).unwrap();
        let (status, _, _) = parse_answer(&read_until_complete(client));
        assert_eq!(status, "HTTP/1.1 200 OK");
    };
    // ...but it has waited on its client for less time than any silent socket.
    wait_until("the silent sockets admitted", || {
        sample(&server.metrics(), "glossa_connections_accepted_total") >= 5.0
    });
    ask(&mut client);
    let mut newcomer = connect(&server.addr);
    wait_until("one connection evicted", || {
        let m = server.metrics();
        m.contains("glossa_connections_closed_total{reason=\"evicted_idle\"} 1")
    });
    // Still open: another request on the same connection is answered.
    ask(&mut client);
    newcomer.write_all(&request).unwrap();
    let (status, _, _) = parse_answer(&read_until_complete(&mut newcomer));
    assert_eq!(status, "HTTP/1.1 200 OK");
    drop(silent);
}

#[test]
fn a_flood_past_the_queue_gets_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    let server = Arc::new(Server::start(
        dir.path(),
        &["--max-queue", "1", "--max-batch", "1"],
    ));
    let body = embed_body(2048);
    let mut statuses = Vec::new();
    // Bounded: at most three rounds of 32 concurrent requests.
    for _ in 0..3 {
        let barrier = Arc::new(Barrier::new(32));
        let handles: Vec<_> = (0..32)
            .map(|_| {
                let (server, barrier, body) = (server.clone(), barrier.clone(), body.clone());
                std::thread::spawn(move || {
                    let mut stream = connect(&server.addr);
                    let mut request = post_head(&server.addr, body.len()).into_bytes();
                    request.extend_from_slice(&body);
                    barrier.wait();
                    stream.write_all(&request).unwrap();
                    let answer = read_until_complete(&mut stream);
                    let (status, head, value) = parse_answer(&answer);
                    (status, head, value["error"]["code"].clone())
                })
            })
            .collect();
        statuses.extend(handles.into_iter().map(|h| h.join().unwrap()));
        if statuses.iter().any(|(s, _, _)| s.contains(" 429 ")) {
            break;
        }
    }
    let mut refused = 0;
    for (status, head, code) in &statuses {
        if status.contains(" 429 ") {
            refused += 1;
            assert!(head.contains("retry-after: 1"), "{head}");
            assert_eq!(code, "queue_full");
        } else {
            assert_eq!(status, "HTTP/1.1 200 OK");
        }
    }
    assert!(refused > 0, "no request was refused: {statuses:?}");
    let metrics = server.metrics();
    assert_eq!(
        sample(&metrics, "glossa_errors_total{code=\"queue_full\"}"),
        refused as f64
    );
    assert_healthy(&server);
}

/// A connection to `addr` from another loopback address: a second client, as the server sees
/// it (Linux routes all of 127.0.0.0/8 to the loopback interface).
fn connect_from(local: &str, addr: &str) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let local: std::net::SocketAddr = format!("{local}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    let target: std::net::SocketAddr = addr.parse().unwrap();
    socket.connect(&target.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// Sixteen flooding connections from one client keep the queue full (requests back to back,
/// ignoring 429), while another client sends requests one at a time: every one of the other
/// client's requests is answered 200, and the flood gets 429s. `flood` and `polite` open the
/// two clients' connections; `flood_header` and `polite_header` are extra head lines.
fn polite_client_is_served_through_a_flood(
    server: &Server,
    flood: impl Fn() -> TcpStream + Send + Sync + 'static,
    flood_header: &'static str,
    polite: impl Fn() -> TcpStream,
    polite_header: &str,
) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let request = |header: &str| {
        let body = embed_body(2048);
        let mut request = post_head(&server.addr, body.len());
        request.insert_str(request.len() - 2, header);
        let mut request = request.into_bytes();
        request.extend_from_slice(&body);
        request
    };
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicUsize::new(0));
    let flood = Arc::new(flood);
    let flooding: Vec<_> = (0..16)
        .map(|_| {
            let (stop, refused, flood) = (stop.clone(), refused.clone(), flood.clone());
            let request = request(flood_header);
            std::thread::spawn(move || {
                let mut stream = flood();
                while !stop.load(Ordering::SeqCst) {
                    stream.write_all(&request).unwrap();
                    let answer = read_until_complete(&mut stream);
                    if answer.starts_with("HTTP/1.1 429") {
                        refused.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    wait_until("the flood to fill the queue", || {
        refused.load(Ordering::SeqCst) > 0
    });
    let mut stream = polite();
    let request = request(polite_header);
    for _ in 0..10 {
        stream.write_all(&request).unwrap();
        let answer = read_until_complete(&mut stream);
        let (status, _, body) = parse_answer(&answer);
        assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
        assert_eq!(body["data"].as_array().unwrap().len(), 2048);
    }
    let refused_during = refused.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    for thread in flooding {
        thread.join().unwrap();
    }
    assert!(refused_during > 0);
}

#[test]
fn a_flood_from_one_address_cannot_crowd_out_a_client_from_another() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    let server = Server::start(dir.path(), &["--max-queue", "8", "--max-batch", "64"]);
    let addr = server.addr.clone();
    polite_client_is_served_through_a_flood(
        &server,
        move || connect_from("127.0.0.2", &addr),
        "",
        || connect(&server.addr),
        "",
    );
    assert_healthy(&server);
}

#[test]
fn behind_a_proxy_the_client_id_header_tells_clients_apart() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    let server = Server::start(
        dir.path(),
        &[
            "--max-queue",
            "8",
            "--max-batch",
            "64",
            "--client-id-header",
            "X-Client-Id",
        ],
    );
    let addr = server.addr.clone();
    // Both from 127.0.0.1, as through a proxy: only the header differs.
    polite_client_is_served_through_a_flood(
        &server,
        move || connect(&addr),
        "X-Client-Id: flood\r\n",
        || connect(&server.addr),
        "X-Client-Id: polite\r\n",
    );
}

/// One keep-alive answer, read up to its Content-Length.
fn read_until_complete(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let n = stream.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "connection closed mid-answer: {:?}",
            String::from_utf8_lossy(&bytes)
        );
        bytes.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&bytes);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("content-length");
            if body.len() >= length {
                return text.into_owned();
            }
        }
    }
}

#[test]
fn requests_hyper_refuses_get_json_errors_that_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    let server = Server::start(dir.path(), &with(&[]));
    let many_headers: String = (0..2000).map(|i| format!("x-h{i}: v\r\n")).collect();
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            b"GET /health\r\n\r\n".to_vec(),
            "HTTP/1.1 400",
            "malformed_request",
        ),
        (
            b"BAD REQUEST LINE\r\n\r\n".to_vec(),
            "HTTP/1.1 400",
            "malformed_request",
        ),
        (
            format!(
                "GET /health HTTP/1.1\r\nx-big: {}\r\n\r\n",
                "a".repeat(1 << 20)
            )
            .into_bytes(),
            "HTTP/1.1 431",
            "headers_too_large",
        ),
        (
            format!("GET /health HTTP/1.1\r\n{many_headers}\r\n").into_bytes(),
            "HTTP/1.1 431",
            "headers_too_large",
        ),
    ];
    for (request, want_status, want_code) in &cases {
        let mut stream = connect(&server.addr);
        let _ = stream.write_all(request);
        let (status, head, body) = parse_answer(&read_all(&mut stream));
        assert!(
            status.starts_with(want_status),
            "{status} for {:?}",
            &request[..20]
        );
        assert!(head.contains("content-type: application/json"), "{head}");
        assert_eq!(body["error"]["code"], *want_code, "{body}");
    }
    let metrics = server.metrics();
    assert_eq!(
        sample(&metrics, "glossa_errors_total{code=\"malformed_request\"}"),
        2.0
    );
    assert_eq!(
        sample(&metrics, "glossa_errors_total{code=\"headers_too_large\"}"),
        2.0
    );
    assert_eq!(
        sample(
            &metrics,
            "glossa_http_requests_total{route=\"other\",status=\"431\"}"
        ),
        2.0
    );
    assert_healthy(&server);
}

#[test]
fn shutdown_stops_at_its_deadline_and_a_second_signal_stops_at_once() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    for (deadline, signals, log) in [
        ("1", 1, "shutdown deadline passed"),
        ("600", 2, "second stop signal"),
    ] {
        let mut server = Server::start_with_env(
            dir.path(),
            &["--shutdown-timeout", deadline, "--body-timeout", "600"],
            &[("GLOSSA_LOG", "info")],
        );
        let mut stalled = connect(&server.addr);
        stalled
            .write_all(post_head(&server.addr, 100).as_bytes())
            .unwrap();
        stalled.write_all(b"{").unwrap();
        wait_until("the upload in flight", || {
            sample(&server.metrics(), "glossa_http_requests_in_flight") >= 2.0
        });
        signal(&server, "TERM");
        if signals == 2 {
            wait_until("the drain to start", || {
                server.stderr_text().contains("stop signal")
            });
            signal(&server, "INT");
        }
        let mut exit = None;
        wait_until("the server to exit", || {
            exit = server.child.try_wait().unwrap();
            exit.is_some()
        });
        assert!(exit.unwrap().success(), "{}", server.stderr_text());
        assert!(
            server.stderr_text().contains(log),
            "{}",
            server.stderr_text()
        );
        // The stalled client sees its connection closed, without an answer.
        assert_eq!(read_all(&mut stalled), "");
    }
}
