//! `glossa serve`'s model handling and access: a model file truncated under the server, reload
//! (SIGHUP and `POST /admin/reload`), the API key, CORS, TEI's routes against OpenAI's vectors,
//! settings from `GLOSSA_…` variables, JSON logs without colour codes.

use std::process::Command;

use serde_json::{json, Value};

mod common;
use common::*;

fn first_vector(server: &Server, text: &str) -> Vec<f32> {
    let (status, body) = server.embed(&json!({ "input": [text] }));
    assert_eq!(status, 200, "{body}");
    vectors(&body).remove(0)
}

#[test]
fn truncating_the_model_file_does_not_stop_the_server_and_reload_swaps_only_a_good_model() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    let server = Server::start(dir.path(), &[]);
    let before = first_vector(&server, SENTENCES[0]);

    // What a careless `cp` onto the file does first.
    std::fs::File::create(dir.path().join("model.safetensors")).unwrap();
    assert_eq!(first_vector(&server, SENTENCES[0]), before);

    // A reload of the broken directory fails; the old model keeps serving.
    let (status, body) = server.post_raw("/admin/reload", "application/json", b"");
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["code"], "reload_failed");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("still serving"),
        "{body}"
    );
    assert_eq!(first_vector(&server, SENTENCES[0]), before);

    // A good model put in place is swapped in by SIGHUP.
    tiny_student_seeded(dir.path(), 99);
    let expected = embed_with_cli(dir.path(), &strings(&[SENTENCES[0]])).remove(0);
    assert_ne!(expected, before);
    let ok = Command::new("kill")
        .args(["-s", "HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    wait_until("the reload", || {
        server
            .metrics()
            .contains("glossa_reloads_total{outcome=\"ok\"} 1")
    });
    assert_eq!(first_vector(&server, SENTENCES[0]), expected);
    let metrics = server.metrics();
    assert_eq!(
        sample(&metrics, "glossa_reloads_total{outcome=\"failed\"}"),
        1.0
    );
}

#[test]
fn the_api_key_guards_every_route_but_health() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    let server = Server::start_with_env(dir.path(), &[], &[("GLOSSA_API_KEY", "s3cret")]);
    let call = |path: &str, key: Option<&str>| {
        let mut request = server
            .agent
            .post(&server.url(path))
            .header("Content-Type", "application/json");
        if let Some(key) = key {
            request = request.header("Authorization", &format!("Bearer {key}"));
        }
        let body = if path == "/embed" {
            r#"{"inputs": "hello"}"#
        } else {
            r#"{"input": "hello"}"#
        };
        let mut response = request.send(body).unwrap();
        let text = response.body_mut().read_to_string().unwrap();
        (response.status().as_u16(), text)
    };
    let (status, text) = call("/v1/embeddings", None);
    assert_eq!(status, 401, "{text}");
    assert!(
        text.contains("invalid_api_key") && text.contains("Bearer"),
        "{text}"
    );
    assert_eq!(call("/v1/embeddings", Some("s3creT")).0, 401);
    assert_eq!(call("/v1/embeddings", Some("s3cret")).0, 200);
    assert_eq!(call("/embed", None).0, 401);
    assert_eq!(call("/embed", Some("s3cret")).0, 200);
    assert_eq!(
        server
            .agent
            .get(&server.url("/metrics"))
            .call()
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    assert_eq!(server.get("/health").0, 200);

    // Without a key, everything is open.
    let open = Server::start(dir.path(), &[]);
    assert_eq!(open.embed(&json!({"input": "hello"})).0, 200);
}

#[test]
fn tei_routes_give_the_openai_routes_vectors() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    let server = Server::start(dir.path(), &[]);
    let texts = strings(&SENTENCES[..3]);
    let (_, openai) = server.embed(&json!({ "input": texts }));
    let openai = vectors(&openai);

    let tei = |body: Value| {
        let (status, value) = server.post_raw(
            "/embed",
            "application/json",
            &serde_json::to_vec(&body).unwrap(),
        );
        assert_eq!(status, 200, "{value}");
        value
            .as_array()
            .unwrap()
            .iter()
            .map(floats)
            .collect::<Vec<_>>()
    };
    assert_eq!(tei(json!({"inputs": texts, "normalize": false})), openai);
    // TEI normalises by default.
    for (got, raw) in tei(json!({ "inputs": texts })).iter().zip(&openai) {
        let norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt();
        for (g, r) in got.iter().zip(raw) {
            assert!((g - r / norm).abs() < 1e-6, "{g} vs {}", r / norm);
        }
    }
    assert_eq!(
        tei(json!({"inputs": SENTENCES[0], "normalize": false})),
        vec![openai[0].clone()]
    );

    let (status, error) = server.post_raw("/embed", "application/json", br#"{"inputs": []}"#);
    assert_eq!(status, 422);
    assert_eq!(error["error_type"], "Validation");
    assert!(
        error["error"].as_str().unwrap().contains("'inputs'"),
        "{error}"
    );

    let (status, _, info) = server.get("/info");
    assert_eq!(status, 200);
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["model_id"], dir.path().to_str().unwrap());
    assert_eq!(info["max_client_batch_size"], 2048);
    assert_eq!(info["model_type"]["embedding"]["dim"], 12);
}

#[test]
fn cors_is_off_unless_origins_are_given() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    let preflight = |server: &Server| {
        let response = server
            .agent
            .options(&server.url("/v1/embeddings"))
            .header("Origin", "https://app.example")
            .header("Access-Control-Request-Method", "POST")
            .call()
            .unwrap();
        response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_string())
    };
    assert_eq!(preflight(&Server::start(dir.path(), &[])), None);
    let allowed = Server::start_with_env(
        dir.path(),
        &[],
        &[("GLOSSA_CORS_ALLOW_ORIGIN", "https://app.example")],
    );
    assert_eq!(preflight(&allowed).as_deref(), Some("https://app.example"));
}

#[test]
fn flags_come_from_the_environment_and_json_logs_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    let server = Server::start_with_env(
        dir.path(),
        &[],
        &[
            ("GLOSSA_MAX_INPUTS", "2"),
            ("GLOSSA_LOG_FORMAT", "json"),
            ("GLOSSA_LOG", "info"),
        ],
    );
    let (status, body) = server.embed(&json!({"input": ["a", "b", "c"]}));
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 2"),
        "{body}"
    );
    wait_until("a log line", || server.stderr_text().contains("serving"));
    let logs = server.stderr_text();
    assert!(!logs.contains('\u{1b}'), "colour codes in {logs:?}");
    for line in logs.lines() {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(value["level"].is_string(), "{line}");
    }
}

#[test]
fn curl_data_binary_bodies_are_read_as_json() {
    let dir = tempfile::tempdir().unwrap();
    tiny_student(dir.path());
    let server = Server::start(dir.path(), &[]);
    // curl's default Content-Type for --data-binary.
    let (status, body) = server.post_raw(
        "/v1/embeddings",
        "application/x-www-form-urlencoded",
        br#"{"input": "hello"}"#,
    );
    assert_eq!(status, 200, "{body}");
}
