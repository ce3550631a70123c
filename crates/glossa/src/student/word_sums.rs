//! A cache of each word's summed rows, for encoding with the fastText-style student.
//!
//! A word brings its own row and ~10-20 hashed n-gram rows, scattered over a table of hundreds
//! of MB: summing them is a cache miss per row and was most of the encoding time. Words repeat
//! (Zipf), so the sum of a word's rows is kept the first time and added as one vector after.
//!
//! The sentence is then the sum over its tokens of each word's sum, where the plain path
//! (`TableStudent::forward`) adds the rows one by one: the same rows, the same count, the
//! float rounding of another order (well within 1e-6 of the vector). A word's sum is always
//! computed the same way, from zero in feature order, so a vector does not depend on what the
//! cache held.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Words longer than this are summed but not kept.
const MAX_WORD_BYTES: usize = 64;
/// Floats kept per shard (16 MB) before it is emptied and starts again.
const MAX_FLOATS: usize = 1 << 22;
/// As in `pieces`: a rayon worker uses the shard of its index.
const SHARDS: usize = 16;

pub struct WordSums {
    dim: usize,
    shards: Box<[Mutex<Shard>]>,
}

#[derive(Default)]
pub struct Shard {
    /// Word → (its slot in `sums`, its number of rows).
    index: HashMap<Box<str>, (u32, u32), foldhash::fast::RandomState>,
    /// Slot-major sums, `dim` each.
    sums: Vec<f32>,
    /// The sum of a word too long to keep.
    spare: Vec<f32>,
}

impl WordSums {
    pub fn new(dim: usize) -> Self {
        WordSums {
            dim,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// The calling thread's shard, locked (once per text).
    pub fn shard(&self) -> MutexGuard<'_, Shard> {
        let i = rayon::current_thread_index().unwrap_or(0) % self.shards.len();
        lock(&self.shards[i])
    }

    pub fn clear(&self) {
        for s in self.shards.iter() {
            let mut s = lock(s);
            s.index.clear();
            s.sums.clear();
        }
    }

    /// Words held, over all shards.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).index.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds the summed rows of `word` to `hidden` and returns how many rows they are. `sum`
    /// adds the word's rows, in feature order, to the zeroed slice it is given and returns
    /// their number; it runs when the word is not held.
    pub fn add(
        &self,
        shard: &mut Shard,
        word: &str,
        hidden: &mut [f32],
        sum: impl FnOnce(&mut [f32]) -> usize,
    ) -> usize {
        let dim = self.dim;
        if let Some(&(slot, count)) = shard.index.get(word) {
            let at = slot as usize * dim;
            crate::kernels::add(hidden, &shard.sums[at..at + dim]);
            return count as usize;
        }
        if word.len() > MAX_WORD_BYTES || dim > MAX_FLOATS {
            shard.spare.clear();
            shard.spare.resize(dim, 0.0);
            let count = sum(&mut shard.spare);
            crate::kernels::add(hidden, &shard.spare);
            return count;
        }
        if shard.sums.len() + dim > MAX_FLOATS {
            shard.index.clear();
            shard.sums.clear();
        }
        let at = shard.sums.len();
        shard.sums.resize(at + dim, 0.0);
        let count = sum(&mut shard.sums[at..]);
        crate::kernels::add(hidden, &shard.sums[at..]);
        shard
            .index
            .insert(word.into(), ((at / dim) as u32, count as u32));
        count
    }
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // A panic while holding a shard can leave a slot half summed: start that shard afresh.
    shard.lock().unwrap_or_else(|e| {
        let mut s = e.into_inner();
        s.index.clear();
        s.sums.clear();
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_adds_the_same_sum_cached_or_not_and_memory_is_bounded() {
        let sums = WordSums::new(2);
        let calls = std::cell::Cell::new(0);
        let add = |word: &str, hidden: &mut [f32]| {
            let mut shard = sums.shard();
            sums.add(&mut shard, word, hidden, |s| {
                calls.set(calls.get() + 1);
                s[0] += word.len() as f32;
                s[1] += 0.5;
                3
            })
        };
        let (mut a, mut b) = ([1.0, 1.0], [1.0, 1.0]);
        assert_eq!(add("word", &mut a), 3);
        assert_eq!(add("word", &mut b), 3);
        assert_eq!((a, b), ([5.0, 1.5], [5.0, 1.5]));
        let long = "x".repeat(MAX_WORD_BYTES + 1);
        add(&long, &mut a);
        add(&long, &mut a);
        assert_eq!(calls.get(), 3, "held once, the long word never");
        for i in 0..MAX_FLOATS {
            add(&format!("w{i}"), &mut a);
        }
        assert!(sums.len() * 2 <= MAX_FLOATS);
        sums.clear();
        assert!(sums.is_empty());
    }
}
