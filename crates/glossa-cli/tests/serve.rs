//! `glossa serve`, driven as a client drives it: the real binary on a free loopback port, a tiny
//! student made here through the library, and a real HTTP client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};

use serde_json::{json, Value};

mod common;
use common::*;

#[test]
fn string_and_list_inputs_give_the_vectors_glossa_embed_gives() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    let server = Server::start(dir.path(), &[]);
    let expected = embed_with_cli(dir.path(), &strings(SENTENCES));

    let (status, one) = server.embed(&json!({"input": SENTENCES[0], "model": "tiny"}));
    assert_eq!(status, 200, "{one}");
    assert_eq!(vectors(&one), vec![expected[0].clone()]);
    assert_eq!(one["model"], dir.path().display().to_string());
    // The student's tokens: "the cat sat on the mat".
    assert_eq!(one["usage"], json!({"prompt_tokens": 6, "total_tokens": 6}));

    let (status, all) = server.embed(&json!({"input": SENTENCES, "model": "tiny"}));
    assert_eq!(status, 200, "{all}");
    assert_eq!(vectors(&all), expected);
    assert!(vectors(&all).iter().all(|v| v.len() == 12));
    let tokens = all["usage"]["prompt_tokens"].as_u64().unwrap();
    assert_eq!(all["usage"]["total_tokens"].as_u64(), Some(tokens));
    // Words, and for the unspaced Japanese line its 8 characters and 7 bigrams.
    assert_eq!(tokens, 6 + 7 + 7 + (8 + 7) + 5);
}

#[test]
fn base64_vectors_decode_to_exactly_the_float_vectors() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    let server = Server::start(dir.path(), &[]);
    let body = |format: &str| json!({"input": SENTENCES, "model": "m", "encoding_format": format});
    let (status, float) = server.embed(&body("float"));
    assert_eq!(status, 200);
    let (status, b64) = server.embed(&body("base64"));
    assert_eq!(status, 200, "{b64}");
    assert!(b64["data"][0]["embedding"].is_string(), "{b64}");
    assert_eq!(vectors(&b64), vectors(&float));
    assert_eq!(b64["usage"], float["usage"]);
}

#[test]
fn health_names_the_model_and_its_dim() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    let server = Server::start(dir.path(), &[]);
    let (status, content_type, text) = server.get("/health");
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/json");
    let health: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        health,
        json!({"status": "ok", "model": dir.path().display().to_string(), "dim": 12})
    );
}

#[test]
fn metrics_count_requests_inputs_batches_and_latency() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    let server = Server::start(dir.path(), &[]);
    assert_eq!(server.embed(&json!({"input": "one two"})).0, 200);
    assert_eq!(server.embed(&json!({"input": ["a b c", "d"]})).0, 200);
    assert_eq!(
        server
            .post_raw("/v1/embeddings", "application/json", b"{")
            .0,
        400
    );
    assert_eq!(server.get("/health").0, 200);
    assert_eq!(server.get("/no/such/route").0, 404);

    let text = server.metrics();
    let count = |series: &str| sample(&text, series);
    assert_eq!(
        count("glossa_http_requests_total{route=\"/v1/embeddings\",status=\"200\"}"),
        2.0
    );
    assert_eq!(
        count("glossa_http_requests_total{route=\"/v1/embeddings\",status=\"400\"}"),
        1.0
    );
    assert_eq!(
        count("glossa_http_requests_total{route=\"/health\",status=\"200\"}"),
        1.0
    );
    assert_eq!(
        count("glossa_http_requests_total{route=\"other\",status=\"404\"}"),
        1.0
    );
    assert_eq!(
        count("glossa_http_request_duration_seconds_count{route=\"/v1/embeddings\"}"),
        3.0
    );
    assert_eq!(
        count("glossa_http_request_duration_seconds_bucket{route=\"/v1/embeddings\",le=\"+Inf\"}"),
        3.0
    );
    assert!(count("glossa_http_request_duration_seconds_sum{route=\"/v1/embeddings\"}") > 0.0);
    assert_eq!(
        count("glossa_http_requests_in_flight"),
        1.0,
        "the scrape itself"
    );
    assert_eq!(count("glossa_inputs_embedded_total"), 3.0);
    assert_eq!(count("glossa_prompt_tokens_total"), 2.0 + 3.0 + 1.0);
    // One request at a time: one encoder call each, of 1 and 2 inputs.
    assert_eq!(count("glossa_batch_size_count"), 2.0);
    assert_eq!(count("glossa_batch_size_sum"), 3.0);
    assert_eq!(count("glossa_batch_size_bucket{le=\"1\"}"), 1.0);
    assert_eq!(count("glossa_batch_size_bucket{le=\"2\"}"), 2.0);
    assert!(
        text.contains("# TYPE glossa_batch_size histogram"),
        "{text}"
    );
    assert!(text.contains("glossa_model_info{model=\""), "{text}");
}

/// Status, OpenAI error object, and the words its message must hold.
fn assert_error(
    response: &(u16, Value),
    status: u16,
    code: &str,
    param: Option<&str>,
    words: &[&str],
) {
    let (got, body) = response;
    assert_eq!(*got, status, "{body}");
    let error = &body["error"];
    assert_eq!(error["code"], code, "{body}");
    let kind = if status >= 500 {
        "server_error"
    } else {
        "invalid_request_error"
    };
    assert_eq!(error["type"], kind, "{body}");
    assert_eq!(error["param"].as_str(), param, "{body}");
    let message = error["message"].as_str().unwrap();
    for w in words {
        assert!(message.contains(w), "message {message:?} lacks {w:?}");
    }
}

#[test]
fn bad_requests_get_openai_errors_that_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    let limits = ["--max-inputs", "4", "--max-input-chars", "20"];
    let server = Server::start(dir.path(), &limits);
    let json = "application/json";

    let malformed = server.post_raw("/v1/embeddings", json, br#"{"input": ["a", }"#);
    assert_error(
        &malformed,
        400,
        "invalid_json",
        None,
        &["not valid JSON", "line 1 column"],
    );
    let not_utf8 = server.post_raw("/v1/embeddings", json, b"{\"input\": \"caf\xe9\"}");
    assert_error(
        &not_utf8,
        400,
        "invalid_utf8",
        None,
        &["not valid UTF-8", "offset 14"],
    );
    let not_object = server.embed(&json!(["a"]));
    assert_error(&not_object, 400, "invalid_type", None, &["JSON object"]);

    let cases = [
        (
            json!({"model": "m"}),
            "missing_required_parameter",
            "input",
            "'input' is required",
        ),
        (
            json!({"input": 42}),
            "invalid_type",
            "input",
            "got a number",
        ),
        (
            json!({"input": {"text": "a"}}),
            "invalid_type",
            "input",
            "got an object",
        ),
        (
            json!({"input": ["ok", 3]}),
            "invalid_type",
            "input[1]",
            "'input[1]' must be a string",
        ),
        (
            json!({"input": [[101, 102]]}),
            "invalid_type",
            "input[0]",
            "token ids",
        ),
        (
            json!({"input": "a", "model": 7}),
            "invalid_type",
            "model",
            "'model' must be a string",
        ),
        (
            json!({"input": "a", "encoding_format": "int8"}),
            "invalid_value",
            "encoding_format",
            "'int8'",
        ),
        (
            json!({"input": "a", "encoding_format": 1}),
            "invalid_type",
            "encoding_format",
            "got a number",
        ),
        (
            json!({"input": "a", "dimensions": 3}),
            "invalid_value",
            "dimensions",
            "12 dimensions",
        ),
        (json!({"input": []}), "empty_input", "input", "empty array"),
        (json!({"input": ""}), "empty_input", "input", "empty string"),
        (
            json!({"input": ["a", ""]}),
            "empty_input",
            "input[1]",
            "empty string",
        ),
        (
            json!({"input": ["a", "b", "c", "d", "e"]}),
            "too_many_inputs",
            "input",
            "5 items",
        ),
        (
            json!({"input": ["short", "x".repeat(21)]}),
            "input_too_long",
            "input[1]",
            "more than 20",
        ),
    ];
    for (body, code, param, words) in cases {
        assert_error(&server.embed(&body), 400, code, Some(param), &[words]);
    }
    // The limits are inclusive: 4 inputs of 20 characters (multi-byte ones too) pass.
    let at_limit = json!({"input": ["é".repeat(20), "a", "b", "c"]});
    assert_eq!(server.embed(&at_limit).0, 200);

    let text_plain = server.post_raw("/v1/embeddings", "text/plain", br#"{"input": "a"}"#);
    assert_error(
        &text_plain,
        415,
        "unsupported_media_type",
        None,
        &["application/json", "text/plain"],
    );
    let charset = server.post_raw(
        "/v1/embeddings",
        "application/json; charset=utf-8",
        br#"{"input": "a"}"#,
    );
    assert_eq!(charset.0, 200, "{}", charset.1);

    let unknown = server.post_raw("/v2/embeddings", json, br#"{"input": "a"}"#);
    assert_error(
        &unknown,
        404,
        "not_found",
        None,
        &["/v2/embeddings", "POST /v1/embeddings"],
    );
    let (status, _, text) = server.get("/v1/embeddings");
    let wrong_method = (status, serde_json::from_str(&text).unwrap());
    assert_error(&wrong_method, 405, "method_not_allowed", None, &["GET"]);
    assert!(
        !server.stderr_text().contains("panicked"),
        "{}",
        server.stderr_text()
    );
}

#[test]
fn an_oversized_body_is_refused_with_413_and_the_server_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    let server = Server::start(dir.path(), &[]);
    // 5 MiB against the default 4 MiB limit, sent whole before the client reads.
    let big = json!({"input": ["word ".repeat(1 << 20)]});
    let too_big = server.embed(&big);
    assert_error(&too_big, 413, "request_too_large", None, &["4194304 bytes"]);

    // A declared length far past the limit is refused before any of the body is sent.
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    write!(
        stream,
        "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 1000000000\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains("\"code\":\"request_too_large\""), "{reply}");

    assert_eq!(server.embed(&json!({"input": "still here"})).0, 200);
}

#[test]
fn a_thousand_concurrent_requests_all_get_the_vectors_glossa_embed_gives() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    let server = Arc::new(Server::start(dir.path(), &[]));
    let texts: Vec<String> = (0..1000)
        .map(|i| format!("{} number {i}", SENTENCES[i % SENTENCES.len()]))
        .collect();
    let expected = Arc::new(embed_with_cli(dir.path(), &texts));

    let start = Arc::new(Barrier::new(texts.len()));
    let threads: Vec<_> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let (server, start, expected) = (server.clone(), start.clone(), expected.clone());
            let body = json!({"input": text, "model": "m"});
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    start.wait();
                    let (status, response) = server.embed(&body);
                    assert_eq!(status, 200, "request {i}: {response}");
                    assert_eq!(vectors(&response), vec![expected[i].clone()], "request {i}");
                })
                .unwrap()
        })
        .collect();
    let failures = threads.into_iter().filter_map(|t| t.join().err()).count();
    assert_eq!(
        failures,
        0,
        "requests failed; server stderr: {}",
        server.stderr_text()
    );

    let text = server.metrics();
    assert_eq!(
        sample(
            &text,
            "glossa_http_requests_total{route=\"/v1/embeddings\",status=\"200\"}"
        ),
        1000.0
    );
    assert_eq!(sample(&text, "glossa_inputs_embedded_total"), 1000.0);
    assert_eq!(sample(&text, "glossa_batch_size_sum"), 1000.0);
}

/// Sends the head and half of the body of a request, holding it in flight.
fn start_slow_request(addr: &str, body: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /v1/embeddings HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(&body[..body.len() / 2]).unwrap();
    stream.flush().unwrap();
    stream
}

/// Sends the rest of the body; the status line and JSON body of the answer.
fn finish_slow_request(mut stream: TcpStream, body: &[u8]) -> (String, Value) {
    stream.write_all(&body[body.len() / 2..]).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let (head, json) = reply.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.lines().next().unwrap().to_string();
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

#[test]
fn sigterm_lets_requests_in_flight_finish_then_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    let mut server = Server::start(dir.path(), &[]);
    let bodies: Vec<Vec<u8>> = SENTENCES[..3]
        .iter()
        .map(|s| serde_json::to_vec(&json!({"input": [s, "and more"], "model": "m"})).unwrap())
        .collect();
    let streams: Vec<TcpStream> = bodies
        .iter()
        .map(|b| start_slow_request(&server.addr, b))
        .collect();
    // The server holds all three (and the scrape asking).
    wait_until("three requests in flight", || {
        sample(&server.metrics(), "glossa_http_requests_in_flight") >= 4.0
    });

    let kill = Command::new("kill")
        .args(["-s", "TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    wait_until("the listener to close", || {
        TcpStream::connect(&server.addr).is_err()
    });

    let expected = embed_with_cli(dir.path(), &strings(&[SENTENCES[0], "and more"]));
    for (i, (stream, body)) in streams.into_iter().zip(&bodies).enumerate() {
        let (status, response) = finish_slow_request(stream, body);
        assert_eq!(status, "HTTP/1.1 200 OK", "request {i}: {response}");
        assert_eq!(vectors(&response).len(), 2);
        if i == 0 {
            assert_eq!(vectors(&response), expected);
        }
    }
    let mut exit = None;
    wait_until("the server to exit", || {
        exit = server.child.try_wait().unwrap();
        exit.is_some()
    });
    let exit = exit.unwrap();
    assert!(
        exit.success(),
        "exit {exit:?}; stderr: {}",
        server.stderr_text()
    );
}

#[test]
fn bad_flags_and_addresses_are_refused_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    let model = dir.path().to_str().unwrap();
    let refused = |extra: &[&str], want: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_glossa"))
            .args(["serve", "--model", model])
            .args(extra)
            .env("GLOSSA_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra:?} was accepted");
        assert!(
            out.stdout.is_empty(),
            "{extra:?} printed {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            stderr.contains(want) && !stderr.contains("panicked"),
            "{extra:?}: {stderr}"
        );
    };
    refused(
        &["--addr", "127.0.0.1:0", "--max-batch", "0"],
        "max batch must be at least 1",
    );
    refused(
        &["--addr", "127.0.0.1:0", "--batch-wait-ms", "20000"],
        "--batch-wait-ms",
    );
    refused(
        &["--addr", "no-such-host.invalid:0"],
        "cannot listen on no-such-host.invalid:0",
    );
    let taken = Server::start(dir.path(), &[]);
    refused(
        &["--addr", &taken.addr],
        &format!("cannot listen on {}", taken.addr),
    );
}
