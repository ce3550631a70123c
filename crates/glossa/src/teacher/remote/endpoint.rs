//! One embedding server: its HTTP calls, whether it may be trusted, and its health (failures in
//! a row, set aside until when, texts answered and the time they took).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::protocol::{error_message, Api};
use crate::Embeddings;

/// Failures in a row after which an endpoint is set aside for a while.
const FAILURES_BEFORE_REST: u32 = 3;
/// The first rest; each further one doubles, up to `MAX_REST`.
const FIRST_REST: Duration = Duration::from_secs(1);
const MAX_REST: Duration = Duration::from_secs(60);
/// Bytes an answer may have (a batch of 1024-wide vectors as JSON text is a few MB).
const MAX_ANSWER_BYTES: u64 = 512 << 20;

/// Why a request failed, and so what to do next.
#[derive(Debug)]
pub enum Failure {
    /// Connection refused or reset, timeout, 5xx, 429, a garbled answer: try again, maybe
    /// elsewhere.
    Transient(String),
    /// The server understood and refused the request (4xx): sending it again cannot help.
    Refused(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Trust {
    /// Not yet compared with the reference vectors.
    Unchecked,
    Trusted,
    /// Its vectors differ from the teacher's: never used.
    Distrusted(String),
}

#[derive(Debug)]
pub struct Health {
    pub trust: Trust,
    pub failures_in_a_row: u32,
    pub resting_until: Option<Instant>,
    rests: u32,
    pub last_error: Option<String>,
    pub texts: u64,
    pub busy_seconds: f64,
}

pub struct Endpoint {
    /// What the user wrote, for messages.
    pub base: String,
    url: String,
    api: Api,
    pub health: Mutex<Health>,
    /// Held while the probe set is compared, so one worker checks and the others wait.
    pub checking: Mutex<()>,
}

impl Endpoint {
    /// `base` is `http://host:port`, an OpenAI base URL (`…/v1`), or a full URL ending in the
    /// API's path.
    pub fn new(base: &str, api: Api) -> Result<Self, String> {
        let base = base.trim_end_matches('/');
        if base.starts_with("https://") {
            return Err(format!(
                "{base}: https is not built into glossa's client; use http:// on a trusted \
                 network, or a local TLS-terminating proxy in front of the endpoint"
            ));
        }
        if !base.starts_with("http://") || base.len() <= "http://".len() {
            return Err(format!("{base}: an endpoint is written http://host:port"));
        }
        let url = if base.ends_with(api.path()) {
            base.to_string()
        } else if api == Api::OpenAi && base.ends_with("/v1") {
            // OpenAI's clients take a base URL that ends in /v1.
            format!("{base}/embeddings")
        } else {
            format!("{base}{}", api.path())
        };
        Ok(Endpoint {
            base: base.to_string(),
            url,
            api,
            health: Mutex::new(Health {
                trust: Trust::Unchecked,
                failures_in_a_row: 0,
                resting_until: None,
                rests: 0,
                last_error: None,
                texts: 0,
                busy_seconds: 0.0,
            }),
            checking: Mutex::new(()),
        })
    }

    /// One request for the vectors of `texts`.
    pub fn embed(
        &self,
        agent: &ureq::Agent,
        model: &str,
        api_key: Option<&str>,
        texts: &[&str],
    ) -> Result<Embeddings, Failure> {
        let start = Instant::now();
        let mut request = agent
            .post(&self.url)
            .header("Content-Type", "application/json");
        if let Some(key) = api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let body = self.api.request(model, texts);
        let mut response = request
            .send(&body[..])
            .map_err(|e| Failure::Transient(e.to_string()))?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(|e| Failure::Transient(format!("reading the answer: {e}")))?;
        match status {
            200..=299 => {}
            408 | 429 | 500..=599 => {
                return Err(Failure::Transient(format!(
                    "HTTP {status}: {}",
                    error_message(&bytes)
                )))
            }
            _ => {
                return Err(Failure::Refused(format!(
                    "HTTP {status}: {}",
                    error_message(&bytes)
                )))
            }
        }
        let vectors = self
            .api
            .parse(&bytes, texts.len())
            .map_err(Failure::Transient)?;
        let mut health = self.health.lock().unwrap();
        health.texts += texts.len() as u64;
        health.busy_seconds += start.elapsed().as_secs_f64();
        Ok(vectors)
    }

    pub fn succeeded(&self) {
        let mut health = self.health.lock().unwrap();
        health.failures_in_a_row = 0;
        health.rests = 0;
        health.resting_until = None;
    }

    /// Records a failure; after a few in a row the endpoint rests, longer each time.
    pub fn failed(&self, why: &str) {
        let mut health = self.health.lock().unwrap();
        health.failures_in_a_row += 1;
        health.last_error = Some(why.to_string());
        if health.failures_in_a_row >= FAILURES_BEFORE_REST {
            let rest = FIRST_REST
                .saturating_mul(1 << health.rests.min(6))
                .min(MAX_REST);
            health.rests += 1;
            health.failures_in_a_row = 0;
            health.resting_until = Some(Instant::now() + rest);
            tracing::warn!(
                "teacher endpoint {} set aside for {:.0} s after {FAILURES_BEFORE_REST} \
                 failures in a row (last: {why})",
                self.base,
                rest.as_secs_f64()
            );
        }
    }

    /// How long it still rests, if it does.
    pub fn resting(&self, now: Instant) -> Option<Duration> {
        let health = self.health.lock().unwrap();
        health
            .resting_until
            .filter(|&until| until > now)
            .map(|until| until - now)
    }

    /// True when its last request failed (or it rests): it is not answering now.
    pub fn failing(&self) -> bool {
        let health = self.health.lock().unwrap();
        health.failures_in_a_row > 0 || health.rests > 0
    }

    pub fn trust(&self) -> Trust {
        self.health.lock().unwrap().trust.clone()
    }

    pub fn set_trust(&self, trust: Trust) {
        self.health.lock().unwrap().trust = trust;
    }

    /// Texts answered so far, and texts per second of one request in flight (the observed
    /// throughput).
    pub fn throughput(&self) -> (u64, Option<f64>) {
        let health = self.health.lock().unwrap();
        let rate = (health.busy_seconds > 0.0).then(|| health.texts as f64 / health.busy_seconds);
        (health.texts, rate)
    }

    /// `base: last error`, for the message when no endpoint answers.
    pub fn describe(&self) -> String {
        let health = self.health.lock().unwrap();
        match (&health.trust, &health.last_error) {
            (Trust::Distrusted(why), _) => format!("{}: refused ({why})", self.base),
            (_, Some(e)) => format!("{}: {e}", self.base),
            (_, None) => format!("{}: no answer yet", self.base),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_the_api_path_once() {
        let url = |base, api| Endpoint::new(base, api).unwrap().url;
        assert_eq!(url("http://h:1", Api::OpenAi), "http://h:1/v1/embeddings");
        assert_eq!(
            url("http://h:1/v1/", Api::OpenAi),
            "http://h:1/v1/embeddings"
        );
        assert_eq!(
            url("http://h:1/v1/embeddings", Api::OpenAi),
            "http://h:1/v1/embeddings"
        );
        assert_eq!(url("http://h:1/", Api::Tei), "http://h:1/embed");
        assert!(Endpoint::new("h:1", Api::Tei)
            .err()
            .unwrap()
            .contains("http://host:port"));
    }
}
