//! `model2vec-rs-bench MODEL_DIR INPUT_FILE BATCH SECONDS`: loads the model (untimed), encodes
//! one warm-up batch, then whole batches of the input's lines, in order and round again, until
//! SECONDS have passed (stopping at a batch boundary), and prints
//! `{"sentences_per_second": N}`. Threads: RAYON_NUM_THREADS, as for glossa.
use std::time::Instant;

use model2vec_rs::model::StaticModel;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, model, input, batch, seconds] = &args[..] else {
        eprintln!("usage: model2vec-rs-bench MODEL_DIR INPUT_FILE BATCH SECONDS");
        std::process::exit(2);
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
