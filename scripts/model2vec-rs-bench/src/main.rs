//! `model2vec-rs-bench MODEL_DIR INPUT_FILE BATCH SECONDS`: loads the model (untimed), encodes
//! one warm-up batch, then whole batches of the input's lines, in order and round again, until
//! SECONDS have passed (stopping at a batch boundary), and prints
//! `{"sentences_per_second": N}`. Threads: RAYON_NUM_THREADS, as for glossa.
//! `model2vec-rs-bench MODEL_DIR INPUT_FILE BATCH 0 N` is the plain run scripts/bench_reference.py
//! checks the timer against: after the warm-up batch, the input's lines repeated to N texts,
//! one `encode_with_args` call per BATCH of them (one call over all N would also time keeping
//! N vectors alive: about half the speed, from allocation alone).
use std::time::Instant;

use model2vec_rs::model::StaticModel;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (model, input, batch, seconds) = match &args[..] {
        [_, m, i, b, s] | [_, m, i, b, s, _] => (m, i, b, s),
        _ => {
            eprintln!("usage: model2vec-rs-bench MODEL_DIR INPUT_FILE BATCH SECONDS [N]");
            std::process::exit(2);
        }
    };
    let batch: usize = batch.parse().expect("BATCH is a number");
    let seconds: f64 = seconds.parse().expect("SECONDS is a number");
    let model = StaticModel::from_pretrained(model, None, None, None).expect("model loads");
    let texts: Vec<String> = std::fs::read_to_string(input)
        .expect("input file")
        .lines()
        .map(str::to_string)
        .collect();
    // model2vec-rs' own defaults: at most 512 tokens per text.
    let encode = |chunk: &[String]| model.encode_with_args(chunk, Some(512), chunk.len());
    encode(&texts[..batch.min(texts.len())]);
    if seconds == 0.0 {
        let n: usize = args.get(5).map_or(texts.len(), |n| n.parse().expect("N is a number"));
        let all: Vec<String> = texts.iter().cycle().take(n).cloned().collect();
        let start = Instant::now();
        for chunk in all.chunks(batch) {
            std::hint::black_box(model.encode_with_args(chunk, Some(512), batch));
        }
        let rate = n as f64 / start.elapsed().as_secs_f64();
        println!("{{\"sentences_per_second\": {rate}}}");
        return;
    }
    let start = Instant::now();
    let mut done = 0usize;
    'outer: loop {
        for chunk in texts.chunks(batch) {
            std::hint::black_box(encode(chunk));
            done += chunk.len();
            if start.elapsed().as_secs_f64() >= seconds {
                break 'outer;
            }
        }
    }
    println!(
        "{{\"sentences_per_second\": {}}}",
        done as f64 / start.elapsed().as_secs_f64()
    );
}
