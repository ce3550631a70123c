//! Counters for `GET /metrics`, written in Prometheus' text format by hand: a handful of
//! counters and histograms do not justify a metrics crate and its dependencies.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Seconds from a request's head arriving to its response being ready.
const LATENCY_BOUNDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Inputs per encoder call: powers of two up to past the default request limit.
const BATCH_BOUNDS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0,
];

/// The routes the server knows; any other path is counted as "other", so a scan of random
/// URLs cannot grow the label set without bound.
pub const ROUTES: &[&str] = &[
    "/v1/embeddings",
    "/embed",
    "/info",
    "/health",
    "/metrics",
    "/admin/reload",
];

pub fn route_label(path: &str) -> &'static str {
    ROUTES
        .iter()
        .find(|&&r| r == path)
        .copied()
        .unwrap_or("other")
}

#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); the last one is +Inf.
    counts: Vec<u64>,
    sum: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    fn observe(&mut self, value: f64) {
        let bucket = self.bounds.partition_point(|&b| b < value);
        self.counts[bucket] += 1;
        self.sum += value;
    }

    /// `_bucket` (cumulative), `_sum` and `_count` lines; `labels` is `k="v",` or empty.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count;
            let le = match self.bounds.get(i) {
                Some(b) => b.to_string(),
                None => "+Inf".to_string(),
            };
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{le}\"}} {cumulative}");
        }
        let labels = match labels.trim_end_matches(',') {
            "" => String::new(),
            l => format!("{{{l}}}"),
        };
        let _ = writeln!(out, "{name}_sum{labels} {}", self.sum);
        let _ = writeln!(out, "{name}_count{labels} {cumulative}");
    }
}

/// Everything `/metrics` reports. Shared by the HTTP layer and the batcher.
#[derive(Debug)]
pub struct Metrics {
    /// The model served and its vector length (a reload may change the name).
    model: Mutex<(String, usize)>,
    /// (route, status) → responses.
    responses: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// Error code (`input_too_long`, `headers_too_large`, …) → error responses.
    errors: Mutex<BTreeMap<&'static str, u64>>,
    /// Why the server closed connections (timeouts, eviction, over capacity).
    closed: Mutex<BTreeMap<&'static str, u64>>,
    connections_open: AtomicUsize,
    connections_accepted: AtomicU64,
    reloads: Mutex<BTreeMap<&'static str, u64>>,
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    in_flight: AtomicUsize,
    inputs: AtomicU64,
    tokens: AtomicU64,
    batches: Mutex<Histogram>,
}

/// Counts a request as in flight until dropped, so a request whose client hangs up (its
/// future dropped mid-way) still leaves the gauge.
pub struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a connection as open until dropped.
pub struct OpenConnection(std::sync::Arc<Metrics>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    pub fn new(model: impl Into<String>, dim: usize) -> Self {
        Metrics {
            model: Mutex::new((model.into(), dim)),
            responses: Mutex::default(),
            errors: Mutex::default(),
            closed: Mutex::default(),
            connections_open: AtomicUsize::new(0),
            connections_accepted: AtomicU64::new(0),
            reloads: Mutex::default(),
            latency: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            inputs: AtomicU64::new(0),
            tokens: AtomicU64::new(0),
            batches: Mutex::new(Histogram::new(BATCH_BOUNDS)),
        }
    }

    pub fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn record_response(&self, route: &'static str, status: u16, elapsed: Duration) {
        *lock(&self.responses).entry((route, status)).or_default() += 1;
        lock(&self.latency)
            .entry(route)
            .or_insert_with(|| Histogram::new(LATENCY_BOUNDS))
            .observe(elapsed.as_secs_f64());
    }

    /// An error response with machine-readable `code` (counted besides its status).
    pub fn record_error_code(&self, code: &'static str) {
        *lock(&self.errors).entry(code).or_default() += 1;
    }

    /// An error answered below the router (a head hyper could not parse, a stalled head, a
    /// connection over the cap): counted as a response and as an error.
    pub fn record_error(&self, route: &'static str, status: u16, code: &'static str) {
        *lock(&self.responses).entry((route, status)).or_default() += 1;
        self.record_error_code(code);
    }

    pub fn record_connection_closed(&self, reason: &'static str) {
        *lock(&self.closed).entry(reason).or_default() += 1;
    }

    /// Counts an open connection until the guard is dropped.
    pub fn connection_opened(self: &std::sync::Arc<Self>) -> OpenConnection {
        self.connections_accepted.fetch_add(1, Ordering::Relaxed);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self.clone())
    }

    pub fn connections_open(&self) -> usize {
        self.connections_open.load(Ordering::Relaxed)
    }

    /// A reload attempt: `outcome` is `ok` or `failed`.
    pub fn record_reload(&self, outcome: &'static str, model: Option<(String, usize)>) {
        *lock(&self.reloads).entry(outcome).or_default() += 1;
        if let Some(model) = model {
            *lock(&self.model) = model;
        }
    }

    /// One encoder call of `inputs` texts holding `tokens` tokens.
    pub fn record_batch(&self, inputs: usize, tokens: usize) {
        self.inputs.fetch_add(inputs as u64, Ordering::Relaxed);
        self.tokens.fetch_add(tokens as u64, Ordering::Relaxed);
        lock(&self.batches).observe(inputs as f64);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "glossa_model_info",
            "gauge",
            "The model being served.",
        );
        let (model, dim) = lock(&self.model).clone();
        let _ = writeln!(
            out,
            "glossa_model_info{{model=\"{}\",dim=\"{dim}\"}} 1",
            escape_label(&model),
        );
        header(
            &mut out,
            "glossa_http_requests_total",
            "counter",
            "HTTP responses sent, by route and status.",
        );
        for ((route, status), n) in lock(&self.responses).iter() {
            let _ = writeln!(
                out,
                "glossa_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        header(
            &mut out,
            "glossa_http_requests_in_flight",
            "gauge",
            "Requests being handled now, this scrape included.",
        );
        let _ = writeln!(out, "glossa_http_requests_in_flight {}", self.in_flight());
        header(
            &mut out,
            "glossa_http_request_duration_seconds",
            "histogram",
            "Time from a request's head arriving to its response being ready, by route.",
        );
        for (route, histogram) in lock(&self.latency).iter() {
            histogram.render(
                &mut out,
                "glossa_http_request_duration_seconds",
                &format!("route=\"{route}\","),
            );
        }
        header(
            &mut out,
            "glossa_inputs_embedded_total",
            "counter",
            "Texts encoded.",
        );
        let _ = writeln!(
            out,
            "glossa_inputs_embedded_total {}",
            self.inputs.load(Ordering::Relaxed)
        );
        header(
            &mut out,
            "glossa_prompt_tokens_total",
            "counter",
            "Tokens in the texts encoded, as reported in `usage`.",
        );
        let _ = writeln!(
            out,
            "glossa_prompt_tokens_total {}",
            self.tokens.load(Ordering::Relaxed)
        );
        header(
            &mut out,
            "glossa_batch_size",
            "histogram",
            "Texts per encoder call, after merging concurrent requests.",
        );
        lock(&self.batches).render(&mut out, "glossa_batch_size", "");
        self.render_errors_and_connections(&mut out);
        out
    }

    fn render_errors_and_connections(&self, out: &mut String) {
        let labelled = [
            ("glossa_errors_total", "code", "Error responses, by error code.", &self.errors),
            (
                "glossa_connections_closed_total",
                "reason",
                "Connections the server closed: timeouts, eviction of idle ones at the cap, refusals over it.",
                &self.closed,
            ),
            ("glossa_reloads_total", "outcome", "Model reloads (SIGHUP or POST /admin/reload).", &self.reloads),
        ];
        for (name, label, help, counts) in labelled {
            header(out, name, "counter", help);
            for (value, n) in lock(counts).iter() {
                let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {n}");
            }
        }
        header(
            out,
            "glossa_connections_open",
            "gauge",
            "Open client connections.",
        );
        let _ = writeln!(out, "glossa_connections_open {}", self.connections_open());
        header(
            out,
            "glossa_connections_accepted_total",
            "counter",
            "Client connections accepted.",
        );
        let _ = writeln!(
            out,
            "glossa_connections_accepted_total {}",
            self.connections_accepted.load(Ordering::Relaxed)
        );
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Label values escape backslash, double quote and newline.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A poisoned lock only means another request panicked while counting; the counts are
/// still usable, and metrics must not take the server down.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_inclusive() {
        let mut h = Histogram::new(&[1.0, 2.0]);
        for v in [0.5, 1.0, 1.5, 3.0] {
            h.observe(v);
        }
        let mut out = String::new();
        h.render(&mut out, "x", "a=\"b\",");
        assert_eq!(
            out,
            "x_bucket{a=\"b\",le=\"1\"} 2\nx_bucket{a=\"b\",le=\"2\"} 3\n\
             x_bucket{a=\"b\",le=\"+Inf\"} 4\nx_sum{a=\"b\"} 6\nx_count{a=\"b\"} 4\n"
        );
    }

    #[test]
    fn render_reports_requests_batches_and_in_flight() {
        let m = Metrics::new("dir \"q\"", 8);
        m.record_response("/health", 200, Duration::from_millis(3));
        m.record_response("/health", 200, Duration::from_millis(1));
        m.record_response("other", 404, Duration::from_millis(1));
        m.record_batch(3, 7);
        let guard = m.enter();
        let text = m.render();
        drop(guard);
        for line in [
            "glossa_model_info{model=\"dir \\\"q\\\"\",dim=\"8\"} 1",
            "glossa_http_requests_total{route=\"/health\",status=\"200\"} 2",
            "glossa_http_requests_total{route=\"other\",status=\"404\"} 1",
            "glossa_http_requests_in_flight 1",
            "glossa_http_request_duration_seconds_count{route=\"/health\"} 2",
            "glossa_inputs_embedded_total 3",
            "glossa_prompt_tokens_total 7",
            "glossa_batch_size_bucket{le=\"2\"} 0",
            "glossa_batch_size_bucket{le=\"4\"} 1",
            "glossa_batch_size_count 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in\n{text}"
            );
        }
        assert_eq!(m.in_flight(), 0);
    }

    #[test]
    fn unknown_paths_share_one_label() {
        assert_eq!(route_label("/v1/embeddings"), "/v1/embeddings");
        assert_eq!(route_label("/v1/embeddings/"), "other");
        assert_eq!(route_label("/admin"), "other");
    }
}
