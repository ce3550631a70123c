//! `glossa serve`: flags (each also read from a `GLOSSA_…` environment variable, as TEI does),
//! then the library's server.

use std::time::Duration;

use anyhow::{bail, Result};

/// Serve a model over HTTP: OpenAI-compatible POST /v1/embeddings, TEI's POST /embed and GET
/// /info, GET /health, GET /metrics, POST /admin/reload. Prints `listening on http://ADDR`
/// first; SIGTERM or Ctrl-C drains and stops (a second one stops at once); SIGHUP reloads the
/// model. Every flag can also be set by the environment variable shown.
#[derive(clap::Args)]
pub struct Args {
    /// Student dir, teacher dir or HF repo id, as `embed` takes.
    #[arg(long, env = "GLOSSA_MODEL")]
    model: String,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "GLOSSA_ADDR", default_value = "127.0.0.1:8080")]
    addr: String,
    /// Inputs per encoder call, merged across concurrent requests.
    #[arg(long, env = "GLOSSA_MAX_BATCH", default_value_t = 256)]
    max_batch: usize,
    /// Milliseconds a batch waits for requests that are already arriving.
    #[arg(long, env = "GLOSSA_BATCH_WAIT_MS", default_value_t = 1.0)]
    batch_wait_ms: f64,
    /// Inputs per request.
    #[arg(long, env = "GLOSSA_MAX_INPUTS", default_value_t = 2048)]
    max_inputs: usize,
    /// Characters per input.
    #[arg(long, env = "GLOSSA_MAX_INPUT_CHARS", default_value_t = 8192)]
    max_input_chars: usize,
    /// Bytes per request body (default 4 MiB).
    #[arg(long, env = "GLOSSA_MAX_BODY_BYTES", default_value_t = 4 << 20)]
    max_body_bytes: usize,
    /// Requests waiting for a batch, shared fairly between clients; more are answered 429 with
    /// Retry-After. When full, a client holding less of it than the heaviest client takes that
    /// client's newest place.
    #[arg(long, env = "GLOSSA_MAX_QUEUE", default_value_t = 1024)]
    max_queue: usize,
    /// Behind a proxy: the header that names the client for the fair queue (e.g.
    /// X-Forwarded-For, X-Client-Id). Only with a proxy that sets it: clients could otherwise
    /// claim many names. Without it, or when a request lacks it, the peer's address.
    #[arg(long, env = "GLOSSA_CLIENT_ID_HEADER", value_parser = header_name)]
    client_id_header: Option<glossa::serve::HeaderName>,
    /// Milliseconds a request refused for a full queue waits before its 429 is sent, so a client
    /// that ignores Retry-After cannot keep the server busy refusing it; 0: at once.
    #[arg(long, env = "GLOSSA_REFUSAL_DELAY_MS", default_value_t = 100.0)]
    refusal_delay_ms: f64,
    /// Open connections; at the cap a new one replaces the oldest idle one, or is answered 503
    /// when all are busy. Lowered to fit the open-file limit.
    #[arg(long, env = "GLOSSA_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// Seconds a connection may wait for a request with nothing received.
    #[arg(long, env = "GLOSSA_KEEP_ALIVE_TIMEOUT", default_value_t = 15.0)]
    keep_alive_timeout: f64,
    /// Seconds from a request head's first byte to its end (then 408).
    #[arg(long, env = "GLOSSA_HEAD_TIMEOUT", default_value_t = 10.0)]
    head_timeout: f64,
    /// Seconds from a request's head to the end of its body (then 408).
    #[arg(long, env = "GLOSSA_BODY_TIMEOUT", default_value_t = 30.0)]
    body_timeout: f64,
    /// Seconds a response write may make no progress before the connection is dropped.
    #[arg(long, env = "GLOSSA_WRITE_TIMEOUT", default_value_t = 15.0)]
    write_timeout: f64,
    /// Seconds shutdown waits for requests in flight before closing what is left.
    #[arg(long, env = "GLOSSA_SHUTDOWN_TIMEOUT", default_value_t = 10.0)]
    shutdown_timeout: f64,
    /// Require `Authorization: Bearer KEY` on every route but /health. Prefer the environment
    /// variable: a flag shows in `ps`.
    #[arg(long, env = "GLOSSA_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Allow browsers on these origins (CORS), comma-separated, or `*`; off when not given.
    #[arg(long, env = "GLOSSA_CORS_ALLOW_ORIGIN", value_delimiter = ',')]
    cors_allow_origin: Vec<String>,
}

fn header_name(value: &str) -> Result<glossa::serve::HeaderName, String> {
    glossa::serve::HeaderName::try_from(value)
        .map_err(|_| format!("{value:?} is not an HTTP header name (e.g. X-Forwarded-For)"))
}

/// Seconds from a flag, checked to be a usable duration.
fn seconds(flag: &str, value: f64) -> Result<Duration> {
    if !(value > 0.0 && value <= 86_400.0) {
        bail!("--{flag} must be more than 0 and at most 86400 seconds, got {value}");
    }
    Ok(Duration::from_secs_f64(value))
}

/// Allocations of 1 MiB and more (answers to large batches, request bodies) are mapped on their
/// own and unmapped when freed. glibc's default raises this threshold to the largest block freed
/// so far, after which such blocks come from per-thread arenas that keep the memory: 64 clients
/// that never read made the server grow from 32 to 509 MiB and stay at 151 MiB after they left
/// (serve_hostile.rs measures it). Not lower: at 128 KiB every answer of 32 384-wide vectors is
/// mapped on its own, which cost throughput (docs/serving.md, "Memory after bad clients").
fn return_large_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before the server's threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Milliseconds from a flag that may be 0, checked to be at most 10 s.
fn milliseconds(flag: &str, value: f64) -> Result<Duration> {
    if !(0.0..=10_000.0).contains(&value) {
        bail!("--{flag} must be between 0 and 10000, got {value}");
    }
    Ok(Duration::from_secs_f64(value / 1000.0))
}

pub fn run(args: Args) -> Result<()> {
    let options = glossa::serve::Options {
        max_batch: args.max_batch,
        max_wait: milliseconds("batch-wait-ms", args.batch_wait_ms)?,
        max_inputs: args.max_inputs,
        max_input_chars: args.max_input_chars,
        max_body_bytes: args.max_body_bytes,
        max_queue: args.max_queue,
        client_id_header: args.client_id_header,
        refusal_delay: milliseconds("refusal-delay-ms", args.refusal_delay_ms)?,
        max_connections: args.max_connections,
        keep_alive_timeout: seconds("keep-alive-timeout", args.keep_alive_timeout)?,
        head_timeout: seconds("head-timeout", args.head_timeout)?,
        body_timeout: seconds("body-timeout", args.body_timeout)?,
        write_timeout: seconds("write-timeout", args.write_timeout)?,
        shutdown_timeout: seconds("shutdown-timeout", args.shutdown_timeout)?,
        api_key: args.api_key,
        cors_origins: args.cors_allow_origin,
    };
    // Tables are read into memory rather than mapped: a model file replaced or truncated while
    // serving must not take the server down (docs/serving.md).
    glossa::student::table::load_into_memory(true);
    return_large_buffers_to_the_os();
    let model = args.model;
    let spec = model.clone();
    let loader: glossa::serve::Loader =
        std::sync::Arc::new(move || glossa::interop::load_encoder(&spec).map(Into::into));
    glossa::serve::run(loader, &args.addr, options, |bound| {
        // The first stdout line, flushed: scripts and tests read the port from it.
        println!("listening on http://{bound}");
        let _ = std::io::Write::flush(&mut std::io::stdout());
        tracing::info!("serving {model} on http://{bound}");
    })?;
    Ok(())
}
