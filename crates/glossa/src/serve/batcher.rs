//! Dynamic batching: the inputs of concurrent requests are merged into one encoder call.
//!
//! Requests queue their texts; one task takes the first job waiting, adds whatever else is
//! queued, and waits up to `max_wait` for more only while some request has arrived but not yet
//! queued its texts (still reading or parsing its body). So a lone client pays no wait, and a
//! busy server fills its batches. The encoders are CPU-bound, so the call runs on a blocking
//! thread; while it runs, new jobs queue and form the next batch.
//!
//! A request announces itself only once its body has arrived, so a client that stalls its
//! upload never makes a batch wait. The queue is bounded and shared fairly between clients
//! ([`super::fair`]): a request that finds it full is refused at once (the server answers 429)
//! rather than waiting without limit, unless its client holds less of the queue than the
//! heaviest one, whose newest request is refused in its place.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rayon::prelude::*;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::fair::{Admitted, ClientId, FairQueue, Inputs};
use super::metrics::Metrics;
use super::model::ModelSlot;
use crate::{Embeddings, Encoder};

#[derive(Debug, Clone, Copy)]
pub struct BatchOptions {
    /// Inputs per encoder call; a single request with more is encoded alone, whole.
    pub max_batch: usize,
    /// How long a batch waits for requests that are on their way.
    pub max_wait: Duration,
    /// Requests that may wait for a batch; one more is refused with [`BatchError::Full`].
    pub max_queue: usize,
}

/// One request's vectors, in input order, and the tokens its texts hold.
#[derive(Debug)]
pub struct Encoded {
    pub embeddings: Embeddings,
    pub tokens: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// The batcher has stopped (the server is shutting down).
    Stopped,
    /// The queue holds `max_queue` requests already, and this client its share: come back
    /// later.
    Full,
    /// The encoder failed or panicked on the batch holding this request.
    Encoder(String),
}

struct Job {
    texts: Vec<String>,
    reply: oneshot::Sender<Result<Encoded, BatchError>>,
}

impl Inputs for Job {
    fn inputs(&self) -> usize {
        self.texts.len()
    }
}

/// The queue and what the batching task watches, shared with every handle.
struct Shared {
    queue: Mutex<Queue>,
    /// Told of each job queued and of the last handle going.
    ready: Notify,
    /// Requests announced whose texts are not queued yet.
    arriving: AtomicUsize,
    /// Every handle is gone: the task finishes what is queued and ends.
    closed: AtomicBool,
}

struct Queue {
    jobs: FairQueue<Job>,
    /// The batching task has ended: nothing queued would ever be answered.
    stopped: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves the queue consistent (every method completes
        // its change before anything that can panic), so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pop_within(&self, room: usize) -> Option<Job> {
        self.lock().jobs.pop_within(room)
    }

    /// The next job within `room` inputs, and whether anything is left queued: one lock.
    fn pop_within_and_rest(&self, room: usize) -> (Option<Job>, bool) {
        let mut queue = self.lock();
        let job = queue.jobs.pop_within(room);
        (job, !queue.jobs.is_empty())
    }
}

/// Closes the queue when the last [`Batcher`] handle goes.
struct Handles(Arc<Shared>);

impl Drop for Handles {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::SeqCst);
        self.0.ready.notify_one();
    }
}

/// Ends the queue with the batching task, however it ends (a panic included): the jobs still
/// queued are dropped, so their requests learn at once that the batcher has stopped.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let orphans = {
            let mut queue = self.0.lock();
            queue.stopped = true;
            queue.jobs.drain()
        };
        drop(orphans);
    }
}

/// The handle requests use; cheap to clone.
#[derive(Clone)]
pub struct Batcher {
    handles: Arc<Handles>,
}

/// A request that will queue texts soon; the batcher waits for it while it lives.
pub struct Arrival {
    shared: Arc<Shared>,
    client: ClientId,
}

impl Drop for Arrival {
    fn drop(&mut self) {
        self.shared.arriving.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Batcher {
    /// Starts the batching task on the current Tokio runtime; it ends when every handle is gone.
    pub fn start(
        model: Arc<ModelSlot>,
        options: BatchOptions,
        metrics: Arc<Metrics>,
    ) -> (Batcher, JoinHandle<()>) {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: FairQueue::new(options.max_queue),
                stopped: false,
            }),
            ready: Notify::new(),
            arriving: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        });
        let task = tokio::spawn(run(shared.clone(), model, options, metrics));
        let handles = Arc::new(Handles(shared));
        (Batcher { handles }, task)
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.handles.0
    }

    /// Call once a request's body has arrived, before parsing it.
    pub fn announce(&self, client: ClientId) -> Arrival {
        let shared = self.shared().clone();
        shared.arriving.fetch_add(1, Ordering::SeqCst);
        Arrival { shared, client }
    }

    /// The vectors of `texts`, encoded together with those of concurrent requests.
    pub async fn embed(&self, texts: Vec<String>, arrival: Arrival) -> Result<Encoded, BatchError> {
        let (reply, answer) = oneshot::channel();
        let client = arrival.client.clone();
        // No longer "on the way" once queued: dropped first so the batcher never waits for a
        // job it may already hold.
        drop(arrival);
        let admitted = {
            let mut queue = self.shared().lock();
            if queue.stopped {
                return Err(BatchError::Stopped);
            }
            queue.jobs.push(client, Job { texts, reply })
        };
        match admitted {
            Admitted::Queued => {}
            Admitted::QueuedDisplacing(job) => {
                // Its request is waiting on the answer; a client that hung up is gone anyway.
                let _ = job.reply.send(Err(BatchError::Full));
            }
            Admitted::Refused(_) => return Err(BatchError::Full),
        }
        self.shared().ready.notify_one();
        answer.await.map_err(|_| BatchError::Stopped)?
    }
}

async fn run(
    shared: Arc<Shared>,
    model: Arc<ModelSlot>,
    options: BatchOptions,
    metrics: Arc<Metrics>,
) {
    let _stop = StopOnDrop(shared.clone());
    while let Some(batch) = next_batch(&shared, &options).await {
        // The model current now; a reload during the call applies from the next batch.
        encode_and_reply(batch, &model.get(), &metrics).await;
    }
}

/// The next job in fair order plus more up to `max_batch` inputs; `None` once every handle is
/// gone and the queue is empty. A job that would overflow the batch stays first in line.
async fn next_batch(shared: &Shared, options: &BatchOptions) -> Option<Vec<Job>> {
    let first = loop {
        if let Some(job) = shared.pop_within(usize::MAX) {
            break job;
        }
        if shared.closed.load(Ordering::SeqCst) {
            return None;
        }
        // One consumer: a notification sent while it was not waiting is kept as a permit.
        shared.ready.notified().await;
    };
    let deadline = Instant::now() + options.max_wait;
    let mut inputs = first.texts.len();
    let mut batch = vec![first];
    while inputs < options.max_batch {
        let (job, rest) = shared.pop_within_and_rest(options.max_batch - inputs);
        if let Some(job) = job {
            inputs += job.texts.len();
            batch.push(job);
            continue;
        }
        // Something queued that does not fit, or nothing on its way: the batch is complete.
        if rest || shared.arriving.load(Ordering::SeqCst) == 0 {
            break;
        }
        if tokio::time::timeout_at(deadline, shared.ready.notified())
            .await
            .is_err()
        {
            break;
        }
    }
    Some(batch)
}

async fn encode_and_reply(batch: Vec<Job>, encoder: &Arc<dyn Encoder>, metrics: &Metrics) {
    let mut sizes = Vec::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());
    let mut texts = Vec::new();
    for job in batch {
        sizes.push(job.texts.len());
        replies.push(job.reply);
        texts.extend(job.texts);
    }
    let encoder = encoder.clone();
    let outcome = tokio::task::spawn_blocking(move || encode_counting_tokens(&*encoder, &texts))
        .await
        .unwrap_or_else(|panic| {
            Err(BatchError::Encoder(format!(
                "the encoder panicked: {panic}"
            )))
        });
    match outcome {
        Ok((embeddings, tokens)) => {
            metrics.record_batch(embeddings.len(), tokens.iter().sum());
            let mut start = 0;
            for (size, reply) in sizes.into_iter().zip(replies) {
                let rows = rows_of(&embeddings, start, size);
                let tokens = tokens[start..start + size].iter().sum();
                start += size;
                // A client that hung up has dropped its receiver: nothing to do.
                let _ = reply.send(Ok(Encoded {
                    embeddings: rows,
                    tokens,
                }));
            }
        }
        Err(e) => {
            tracing::error!(
                "encoding a batch of {} texts failed: {e:?}",
                sizes.iter().sum::<usize>()
            );
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// Vectors and token counts of `texts`, checked to hold one row per text.
fn encode_counting_tokens(
    encoder: &dyn Encoder,
    texts: &[String],
) -> Result<(Embeddings, Vec<usize>), BatchError> {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let embeddings = encoder
        .encode(&refs)
        .map_err(|e| BatchError::Encoder(e.to_string()))?;
    if embeddings.len() != refs.len() {
        return Err(BatchError::Encoder(format!(
            "the encoder returned {} vectors for {} texts",
            embeddings.len(),
            refs.len()
        )));
    }
    let tokens = refs
        .par_iter()
        .with_min_len(64)
        .map(|t| encoder.count_tokens(t))
        .collect();
    Ok((embeddings, tokens))
}

fn rows_of(embeddings: &Embeddings, start: usize, count: usize) -> Embeddings {
    let dim = embeddings.dim();
    Embeddings::new(
        dim,
        embeddings.as_slice()[start * dim..(start + count) * dim].to_vec(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Encodes each text as [its length, its first byte]; records batch sizes; the first call
    /// blocks until `gate` opens, so jobs queue up behind it.
    struct Gated {
        calls: Mutex<Vec<usize>>,
        gate: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    }

    impl Encoder for Gated {
        fn name(&self) -> String {
            "gated".into()
        }
        fn dim(&self) -> usize {
            2
        }
        fn encode(&self, texts: &[&str]) -> crate::Result<Embeddings> {
            // Taken first: the lock must not be held while blocked on the gate.
            let gate = self.gate.lock().unwrap().take();
            if let Some(gate) = gate {
                gate.recv().unwrap();
            }
            if texts.contains(&"fail") {
                return Err(crate::Error::msg("cannot encode 'fail'"));
            }
            self.calls.lock().unwrap().push(texts.len());
            let data = texts
                .iter()
                .flat_map(|t| [t.len() as f32, t.as_bytes()[0] as f32])
                .collect();
            Ok(Embeddings::new(2, data))
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    fn texts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn queued_requests_share_one_encoder_call_and_get_their_own_rows() {
        let (open, gate) = std::sync::mpsc::channel();
        let encoder = Arc::new(Gated {
            calls: Mutex::default(),
            gate: Mutex::new(Some(gate)),
        });
        let metrics = Arc::new(Metrics::new("gated", 2));
        runtime().block_on(async {
            let options = BatchOptions {
                max_batch: 5,
                max_wait: Duration::from_millis(1),
                max_queue: 16,
            };
            let (batcher, task) = Batcher::start(slot(encoder.clone()), options, metrics.clone());
            // The first request occupies the encoder until the gate opens...
            let first = tokio::spawn({
                let b = batcher.clone();
                async move { b.embed(texts(&["a"]), b.announce(client())).await }
            });
            while encoder.gate.lock().unwrap().is_some() {
                tokio::task::yield_now().await;
            }
            // ...while three more queue: 2 + 2 inputs fit in one batch of 5, the third waits.
            let mut later = Vec::new();
            for list in [&["bb", "ccc"][..], &["dddd", "e"], &["ff", "g", "h"]] {
                let b = batcher.clone();
                let list = texts(list);
                later.push(tokio::spawn(async move {
                    b.embed(list, b.announce(client())).await
                }));
                while queued_jobs(&batcher) < later.len() {
                    tokio::task::yield_now().await;
                }
            }
            open.send(()).unwrap();
            let first = first.await.unwrap().unwrap();
            assert_eq!(first.embeddings.as_slice(), &[1.0, 97.0]);
            let mut answers = Vec::new();
            for handle in later {
                answers.push(handle.await.unwrap().unwrap());
            }
            assert_eq!(answers[0].embeddings.as_slice(), &[2.0, 98.0, 3.0, 99.0]);
            assert_eq!(answers[1].embeddings.as_slice(), &[4.0, 100.0, 1.0, 101.0]);
            assert_eq!(answers[2].embeddings.len(), 3);
            assert_eq!(answers[2].tokens, 3);
            drop(batcher);
            task.await.unwrap();
        });
        assert_eq!(*encoder.calls.lock().unwrap(), vec![1, 4, 3]);
        let text = metrics.render();
        assert!(text.contains("glossa_inputs_embedded_total 8\n"), "{text}");
        assert!(text.contains("glossa_batch_size_count 3\n"), "{text}");
    }

    fn queued_jobs(batcher: &Batcher) -> usize {
        batcher.shared().lock().jobs.len()
    }

    fn client() -> ClientId {
        ClientId::Unknown
    }

    fn slot(encoder: Arc<Gated>) -> Arc<ModelSlot> {
        Arc::new(ModelSlot::new(encoder, None))
    }

    #[test]
    fn a_full_queue_refuses_at_once_and_the_queued_requests_still_finish() {
        let (open, gate) = std::sync::mpsc::channel();
        let encoder = Arc::new(Gated {
            calls: Mutex::default(),
            gate: Mutex::new(Some(gate)),
        });
        let metrics = Arc::new(Metrics::new("gated", 2));
        runtime().block_on(async {
            let options = BatchOptions {
                max_batch: 1,
                max_wait: Duration::from_millis(1),
                max_queue: 2,
            };
            let (batcher, _task) = Batcher::start(slot(encoder.clone()), options, metrics);
            let spawn = |text: &'static str| {
                let b = batcher.clone();
                tokio::spawn(async move { b.embed(texts(&[text]), b.announce(client())).await })
            };
            // One request holds the encoder; two fill the queue behind it.
            let first = spawn("a");
            while encoder.gate.lock().unwrap().is_some() {
                tokio::task::yield_now().await;
            }
            let queued = [spawn("b"), spawn("c")];
            while queued_jobs(&batcher) < 2 {
                tokio::task::yield_now().await;
            }
            let refused = batcher
                .embed(texts(&["d"]), batcher.announce(client()))
                .await;
            assert_eq!(refused.unwrap_err(), BatchError::Full);
            open.send(()).unwrap();
            assert_eq!(first.await.unwrap().unwrap().embeddings.len(), 1);
            for handle in queued {
                assert_eq!(handle.await.unwrap().unwrap().embeddings.len(), 1);
            }
        });
        assert_eq!(*encoder.calls.lock().unwrap(), vec![1, 1, 1]);
    }

    #[test]
    fn an_encoder_error_reaches_every_request_of_its_batch_and_the_next_batch_works() {
        let encoder = Arc::new(Gated {
            calls: Mutex::default(),
            gate: Mutex::new(None),
        });
        let metrics = Arc::new(Metrics::new("gated", 2));
        runtime().block_on(async {
            let options = BatchOptions {
                max_batch: 64,
                max_wait: Duration::from_millis(1),
                max_queue: 16,
            };
            let (batcher, _task) = Batcher::start(slot(encoder), options, metrics);
            let err = batcher
                .embed(texts(&["ok", "fail"]), batcher.announce(client()))
                .await
                .unwrap_err();
            assert_eq!(err, BatchError::Encoder("cannot encode 'fail'".into()));
            let fine = batcher
                .embed(texts(&["ok"]), batcher.announce(client()))
                .await
                .unwrap();
            assert_eq!(fine.embeddings.as_slice(), &[2.0, 111.0]);
        });
    }
}
