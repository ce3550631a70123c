//! A teacher that runs elsewhere: a fleet of embedding servers speaking OpenAI's
//! `POST /v1/embeddings` or Text Embeddings Inference's `POST /embed` (glossa serve speaks
//! both), used as one [`Encoder`].
//!
//! - Texts go out in batches, several requests in flight per endpoint. Each endpoint's workers
//!   take the next batch when they are free, so every endpoint gets work at the rate it answers
//!   (its observed throughput), and a slow one holds back only the batches it took.
//! - A failed batch goes back to the queue for any endpoint; its worker waits (exponential
//!   backoff with jitter). After a few failures in a row an endpoint is set aside, longer each
//!   time, then tried again. Encoding fails only when no endpoint has answered for
//!   `give_up`, or every endpoint was refused.
//! - Before its first batch, each endpoint embeds a fixed probe set ([`probe::PROBES`]), compared
//!   with the teacher's own vectors of it (the local teacher, the label cache's rows, or —
//!   failing both — the first endpoint that answered): one that differs is refused with the
//!   cosine found, before any of its vectors are used.

mod endpoint;
pub mod probe;
pub mod protocol;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use endpoint::{Endpoint, Failure, Trust};
pub use protocol::Api;

use crate::teacher::cache::LabelCache;
use crate::{Embeddings, Encoder, Error, Result};

/// How to reach the fleet.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// `http://host:port` (the API's path is appended) or a full URL.
    pub endpoints: Vec<String>,
    pub api: Api,
    /// The model name sent with each request (OpenAI's `model`).
    pub model: String,
    /// Sent as `Authorization: Bearer …`.
    pub api_key: Option<String>,
    /// Texts per request.
    pub batch_size: usize,
    /// Requests in flight per endpoint.
    pub in_flight: usize,
    /// Per request, connection to last byte.
    pub timeout: Duration,
    /// Encoding fails when no endpoint has answered for this long.
    pub give_up: Duration,
    /// Probe vectors must be at least this close to the teacher's.
    pub min_cosine: f32,
}

/// Where the vectors the endpoints are checked against came from.
struct Reference {
    vectors: Embeddings,
    from: String,
    /// True when they came from an endpoint: a cache holding the probe set replaces them.
    provisional: bool,
}

pub struct RemoteTeacher {
    name: String,
    fingerprint: String,
    dim: usize,
    options: RemoteOptions,
    endpoints: Vec<Endpoint>,
    agent: ureq::Agent,
    reference: Mutex<Reference>,
}

impl RemoteTeacher {
    /// Endpoints standing for a teacher glossa can run here: they label under its name and
    /// fingerprint (into its label cache), once their probe vectors match `reference`, its own.
    pub fn standing_for(
        options: RemoteOptions,
        name: &str,
        fingerprint: &str,
        reference: Embeddings,
    ) -> Result<Self> {
        let from = format!("the local teacher {name}");
        let mut teacher = Self::new(options, name, fingerprint, reference.dim())?;
        teacher.reference = Mutex::new(Reference {
            vectors: reference,
            from,
            provisional: false,
        });
        Ok(teacher)
    }

    /// Endpoints with no local teacher to compare with: named by the requested model, keyed by
    /// `fingerprint` (by default one made from the API and model name). The first endpoint to
    /// answer gives the dimension and, until [`RemoteTeacher::settle`] finds the probe set in
    /// the label cache, the reference vectors.
    pub fn unverified(options: RemoteOptions, fingerprint: Option<String>) -> Result<Self> {
        let fingerprint = fingerprint.unwrap_or_else(|| {
            let key = format!("{:?}:{}", options.api, options.model);
            format!("remote-{:016x}", xxhash_rust::xxh3::xxh3_64(key.as_bytes()))
        });
        let name = options.model.clone();
        let mut teacher = Self::new(options, &name, &fingerprint, 1)?;
        let (at, vectors) = teacher.first_probe_answer()?;
        teacher.dim = vectors.dim();
        let from = format!("the first answer of {}", teacher.endpoints[at].base);
        teacher.reference = Mutex::new(Reference {
            vectors,
            from,
            provisional: true,
        });
        Ok(teacher)
    }

    fn new(options: RemoteOptions, name: &str, fingerprint: &str, dim: usize) -> Result<Self> {
        if options.endpoints.is_empty() {
            return Err(Error::msg("a remote teacher needs at least one endpoint"));
        }
        if options.batch_size == 0 || options.in_flight == 0 {
            return Err(Error::msg(
                "teacher.endpoint_batch_size and teacher.endpoint_in_flight must be at least 1",
            ));
        }
        let endpoints = options
            .endpoints
            .iter()
            .map(|e| Endpoint::new(e, options.api).map_err(Error::msg))
            .collect::<Result<Vec<_>>>()?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(options.timeout))
            .max_idle_connections_per_host(options.in_flight * 2)
            .build()
            .into();
        Ok(RemoteTeacher {
            name: name.to_string(),
            fingerprint: fingerprint.to_string(),
            dim,
            options,
            endpoints,
            agent,
            reference: Mutex::new(Reference {
                vectors: Embeddings::zeros(0, dim),
                from: String::new(),
                provisional: true,
            }),
        })
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Texts per call of `encode` that keep every endpoint's requests busy.
    pub fn chunk(&self) -> usize {
        self.options.batch_size * self.options.in_flight * self.endpoints.len() * 4
    }

    /// Agrees with the label cache of this teacher on the probe set: the cache's rows replace
    /// an endpoint's provisional reference; otherwise the reference's rows are written, so a
    /// later run without a local teacher checks its endpoints against them.
    pub fn settle(&self, cache: &mut LabelCache) -> Result<()> {
        let mut reference = self.reference.lock().unwrap();
        if cache.missing(probe::PROBES.iter().copied()).is_empty() {
            let cached = cache.lookup(probe::PROBES)?;
            if reference.provisional {
                *reference = Reference {
                    vectors: cached,
                    from: format!("the label cache {}", cache.dir().display()),
                    provisional: false,
                };
                // The endpoint that gave the provisional vectors is checked again, like any other.
                self.endpoints
                    .iter()
                    .for_each(|e| e.set_trust(Trust::Unchecked));
            } else if let Some(why) =
                probe::mismatch(&cached, &reference.vectors, self.options.min_cosine)
            {
                return Err(Error::msg(format!(
                    "the label cache {} does not hold this teacher's vectors of the probe set \
                     ({why}); delete it and label again",
                    cache.dir().display()
                )));
            }
            return Ok(());
        }
        if reference.provisional {
            tracing::warn!(
                "no local teacher and no probe rows in {}: the endpoints are checked against {} \
                 (run once with the teacher available here to check them against its own vectors)",
                cache.dir().display(),
                reference.from
            );
        }
        cache.append(probe::PROBES, &reference.vectors)
    }

    /// Each endpoint's texts answered so far and texts per second per request in flight, for
    /// logs and reports.
    pub fn throughput(&self) -> Vec<(String, u64, Option<f64>)> {
        self.endpoints
            .iter()
            .map(|e| {
                let (texts, rate) = e.throughput();
                (e.base.clone(), texts, rate)
            })
            .collect()
    }

    /// The index of the first endpoint that answers the probe set, and its answer.
    fn first_probe_answer(&self) -> Result<(usize, Embeddings)> {
        let start = Instant::now();
        loop {
            for (i, e) in self.endpoints.iter().enumerate() {
                match e.embed(&self.agent, &self.options.model, self.key(), probe::PROBES) {
                    Ok(v) => return Ok((i, v)),
                    Err(Failure::Transient(why)) | Err(Failure::Refused(why)) => e.failed(&why),
                }
            }
            if start.elapsed() > self.options.give_up {
                return Err(self.nobody_answers());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn key(&self) -> Option<&str> {
        self.options.api_key.as_deref()
    }

    fn nobody_answers(&self) -> Error {
        let each: Vec<String> = self.endpoints.iter().map(Endpoint::describe).collect();
        Error::msg(format!(
            "no teacher endpoint answered for {:.0} s: {} (start the servers, or check \
             teacher.endpoints)",
            self.options.give_up.as_secs_f64(),
            each.join("; ")
        ))
    }

    /// Whether `endpoint` may be used: compares its probe vectors with the reference the first
    /// time. `Ok(false)`: it was refused.
    fn check(&self, endpoint: &Endpoint) -> std::result::Result<bool, Failure> {
        let _one_at_a_time = endpoint.checking.lock().unwrap();
        match endpoint.trust() {
            Trust::Trusted => return Ok(true),
            Trust::Distrusted(_) => return Ok(false),
            Trust::Unchecked => {}
        }
        let found =
            match endpoint.embed(&self.agent, &self.options.model, self.key(), probe::PROBES) {
                Err(Failure::Refused(why)) => {
                    endpoint.set_trust(Trust::Distrusted(format!(
                        "it refused the probe set: {why}"
                    )));
                    return Ok(false);
                }
                other => other?,
            };
        let reference = self.reference.lock().unwrap();
        match probe::mismatch(&reference.vectors, &found, self.options.min_cosine) {
            None => {
                tracing::info!(
                    "teacher endpoint {} checked against {}",
                    endpoint.base,
                    reference.from
                );
                endpoint.set_trust(Trust::Trusted);
                Ok(true)
            }
            Some(why) => {
                tracing::warn!(
                    "teacher endpoint {} refused: {why} (compared with {})",
                    endpoint.base,
                    reference.from
                );
                endpoint.set_trust(Trust::Distrusted(why));
                Ok(false)
            }
        }
    }
}

impl Encoder for RemoteTeacher {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn encode(&self, texts: &[&str]) -> Result<Embeddings> {
        if let Some(i) = texts.iter().position(|t| t.is_empty()) {
            return Err(Error::msg(format!(
                "text {i} is empty: embedding servers refuse empty inputs (drop empty lines)"
            )));
        }
        if texts.is_empty() {
            return Ok(Embeddings::zeros(0, self.dim));
        }
        let batches: Vec<&[&str]> = texts.chunks(self.options.batch_size).collect();
        let board = Board::new(batches.len());
        std::thread::scope(|s| {
            for endpoint in &self.endpoints {
                for _ in 0..self.options.in_flight {
                    s.spawn(|| self.work(endpoint, &batches, &board));
                }
            }
        });
        board.finish(self.dim)
    }
}

/// The batches of one `encode` call: which wait, their vectors, and why it stopped.
struct Board {
    state: Mutex<BoardState>,
    changed: Condvar,
}

struct BoardState {
    pending: VecDeque<usize>,
    results: Vec<Option<Embeddings>>,
    left: usize,
    fatal: Option<String>,
    last_answer: Instant,
}

/// How long an idle worker sleeps before it looks at the board again.
const POLL: Duration = Duration::from_millis(200);

impl Board {
    fn new(batches: usize) -> Self {
        Board {
            state: Mutex::new(BoardState {
                pending: (0..batches).collect(),
                results: vec![None; batches],
                left: batches,
                fatal: None,
                last_answer: Instant::now(),
            }),
            changed: Condvar::new(),
        }
    }

    fn put_back(&self, batch: usize) {
        self.state.lock().unwrap().pending.push_front(batch);
        self.changed.notify_all();
    }

    fn fail(&self, why: String) {
        self.state.lock().unwrap().fatal.get_or_insert(why);
        self.changed.notify_all();
    }

    fn finish(self, dim: usize) -> Result<Embeddings> {
        let state = self.state.into_inner().unwrap();
        if let Some(why) = state.fatal {
            return Err(Error::msg(why));
        }
        let mut data = Vec::new();
        for rows in state.results {
            data.extend(rows.expect("every batch answered").into_vec());
        }
        Ok(Embeddings::new(dim, data))
    }
}

impl RemoteTeacher {
    /// One worker of `endpoint`: takes batches until none is left or the call fails.
    fn work(&self, endpoint: &Endpoint, batches: &[&[&str]], board: &Board) {
        let mut jitter = crate::rng::Rng::new(jitter_seed());
        while let Some(batch) = self.next_batch(endpoint, board) {
            let answer = match self.check(endpoint) {
                Ok(true) => {
                    endpoint.embed(&self.agent, &self.options.model, self.key(), batches[batch])
                }
                Ok(false) => {
                    board.put_back(batch);
                    self.fail_if_all_refused(board);
                    return;
                }
                Err(failure) => Err(failure),
            };
            match answer {
                Ok(vectors) if vectors.dim() == self.dim => {
                    endpoint.succeeded();
                    let mut state = board.state.lock().unwrap();
                    state.results[batch] = Some(vectors);
                    state.left -= 1;
                    state.last_answer = Instant::now();
                    drop(state);
                    board.changed.notify_all();
                }
                Ok(vectors) => {
                    let why = format!(
                        "{}-wide vectors, the teacher's are {}",
                        vectors.dim(),
                        self.dim
                    );
                    self.retry_later(endpoint, batch, board, &why, &mut jitter);
                }
                Err(Failure::Transient(why)) => {
                    self.retry_later(endpoint, batch, board, &why, &mut jitter)
                }
                Err(Failure::Refused(why)) => board.fail(format!(
                    "teacher endpoint {} refused a batch of {} texts: {why} (if it limits inputs \
                     per request, lower teacher.endpoint_batch_size)",
                    endpoint.base,
                    batches[batch].len()
                )),
            }
        }
    }

    fn retry_later(
        &self,
        endpoint: &Endpoint,
        batch: usize,
        board: &Board,
        why: &str,
        jitter: &mut crate::rng::Rng,
    ) {
        tracing::debug!("teacher endpoint {}: {why}", endpoint.base);
        endpoint.failed(why);
        board.put_back(batch);
        let tries = endpoint.health.lock().unwrap().failures_in_a_row.min(5);
        let backoff = Duration::from_millis(50 << tries).mul_f32(0.5 + jitter.next_f32());
        std::thread::sleep(backoff);
    }

    /// The next batch for `endpoint`, waiting while it rests or while every batch is out;
    /// `None` when the call is over (done, failed) or the endpoint was refused.
    fn next_batch(&self, endpoint: &Endpoint, board: &Board) -> Option<usize> {
        let mut state = board.state.lock().unwrap();
        loop {
            if state.fatal.is_some() || state.left == 0 {
                return None;
            }
            if is_refused(endpoint) {
                return None;
            }
            let resting = endpoint.resting(Instant::now());
            if resting.is_none() {
                if let Some(batch) = state.pending.pop_front() {
                    return Some(batch);
                }
            }
            if state.last_answer.elapsed() > self.options.give_up
                && self.endpoints.iter().all(|e| e.failing() || is_refused(e))
            {
                state.fatal = Some(self.nobody_answers().to_string());
                board.changed.notify_all();
                return None;
            }
            let wait = resting.unwrap_or(POLL).min(POLL);
            state = board.changed.wait_timeout(state, wait).unwrap().0;
        }
    }

    fn fail_if_all_refused(&self, board: &Board) {
        if self.endpoints.iter().all(is_refused) {
            let each: Vec<String> = self.endpoints.iter().map(Endpoint::describe).collect();
            board.fail(format!(
                "every teacher endpoint was refused: {}",
                each.join("; ")
            ));
        }
    }
}

fn is_refused(endpoint: &Endpoint) -> bool {
    matches!(endpoint.trust(), Trust::Distrusted(_))
}

/// Workers must not back off in step: each gets its own seed.
fn jitter_seed() -> u64 {
    let id = format!("{:?}{:?}", std::thread::current().id(), Instant::now());
    xxhash_rust::xxh3::xxh3_64(id.as_bytes())
}
