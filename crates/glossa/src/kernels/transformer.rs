//! The BERT encoder's element-wise and row kernels on plain f32 slices ([`crate::bert::fast`]),
//! each one pass over memory and allocation-free, under the run-time dispatch of this module.
//!
//! Why not candle's ops: on this project's machine candle's `gelu_erf` (a scalar f64 `erf` per
//! value) cost as much as the largest matmul, and each of softmax, layer norm, bias and residual
//! adds was its own pass with its own fresh tensor. Here `erf` and `exp` are branch-free
//! polynomials the compiler vectorises, and reductions keep 16 partial sums so they vectorise too
//! (Rust does not reorder float sums on its own). They are tested against the plain f64 loops
//! below, and the encoder built on them against its autodiff form (`bert::autodiff`).

/// Partial sums kept by the reductions: one AVX-512 register, or two AVX2 ones.
const LANES: usize = 16;

/// erf(x), absolute error under 1e-6 (measured in the tests: ~2e-7), branch-free.
///
/// The rational approximation of Eigen's / XLA's `erf` for f32: x·P(x²)/Q(x²) on x clamped to
/// [-4, 4] (outside it erf is ±1 in f32).
#[inline(always)]
#[allow(clippy::excessive_precision)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.72614225801306e-10 + 2.77068142495902e-08;
    p = x2 * p + -2.10102402082508e-06;
    p = x2 * p + -5.69250639462346e-05;
    p = x2 * p + -7.34990630326855e-04;
    p = x2 * p + -2.95459980854025e-03;
    p = x2 * p + -1.60960333262415e-02;
    let mut q = x2 * -1.45660718464996e-05 + -2.13374055278905e-04;
    q = x2 * q + -1.68282697438203e-03;
    q = x2 * q + -7.37332916720468e-03;
    q = x2 * q + -1.42647390514189e-02;
    x * p / q
}

/// e^x for x ≤ 88, relative error ~1e-7, branch-free: 2^n · e^r with n = round(x / ln 2) and a
/// degree-6 polynomial (Cephes' `expf`) on r ∈ [-ln2/2, ln2/2]. Inputs under -87 give 0 (as
/// a masked attention score must), over 88 give e^88.
#[inline(always)]
pub fn exp(input: f32) -> f32 {
    let x = input.clamp(-87.0, 88.0);
    // Round to nearest by adding and removing 1.5·2^23 (no call to `round`, so it vectorises).
    const MAGIC: f32 = 12_582_912.0;
    let n = (x * std::f32::consts::LOG2_E + MAGIC) - MAGIC;
    // ln 2 split in two, so r = x - n·ln2 keeps its low bits.
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    let e = y * f32::from_bits(((n as i32 + 127) << 23) as u32);
    // A select, not a branch: it vectorises as a blend.
    if input < -87.0 {
        0.0
    } else {
        e
    }
}

#[inline(always)]
fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + tail.iter().sum::<f32>()
}

#[inline(always)]
fn sum_sq_dev(xs: &[f32], mean: f32) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            let d = c[i] - mean;
            acc[i] += d * d;
        }
    }
    acc.iter().sum::<f32>() + tail.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>()
}

#[inline(always)]
fn max(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            // `if` rather than f32::max: max's NaN rules keep it from vectorising.
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    acc.iter()
        .chain(tail)
        .fold(f32::NEG_INFINITY, |m, &x| m.max(x))
}

dispatched! {
    /// GELU with the exact (erf) form, in place: x · ½(1 + erf(x/√2)), as BERT's "gelu".
    fn gelu_erf(xs: &mut [f32]) {
        for x in xs.iter_mut() {
            let v = *x;
            *x = 0.5 * v * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

dispatched! {
    /// Each row of `xs` (rows of `bias.len()` values) plus `bias`.
    fn add_rows(xs: &mut [f32], bias: &[f32]) {
        assert!(!bias.is_empty() && xs.len().is_multiple_of(bias.len()));
        for row in xs.chunks_exact_mut(bias.len()) {
            for (x, b) in row.iter_mut().zip(bias) {
                *x += *b;
            }
        }
    }
}

dispatched! {
    /// Layer norm of each row of `xs` (rows of `weight.len()` values) in place:
    /// (x − mean) / sqrt(var + eps) · weight + bias, variance with 1/n as PyTorch's.
    fn layer_norm(xs: &mut [f32], weight: &[f32], bias: &[f32], eps: f32) {
        let n = weight.len();
        assert!(n > 0 && bias.len() == n && xs.len().is_multiple_of(n));
        for row in xs.chunks_exact_mut(n) {
            let mean = sum(row) / n as f32;
            let var = sum_sq_dev(row, mean) / n as f32;
            let inv = 1.0 / (var + eps).sqrt();
            for ((x, w), b) in row.iter_mut().zip(weight).zip(bias) {
                *x = (*x - mean) * inv * *w + *b;
            }
        }
    }
}

dispatched! {
    /// Softmax of each row of `xs` (rows of `n` values) in place.
    fn softmax_rows(xs: &mut [f32], n: usize) {
        assert!(n > 0 && xs.len().is_multiple_of(n));
        for row in xs.chunks_exact_mut(n) {
            let m = max(row);
            for x in row.iter_mut() {
                *x = exp(*x - m);
            }
            let inv = 1.0 / sum(row);
            for x in row.iter_mut() {
                *x *= inv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn random(n: usize, scale: f32, rng: &mut Rng) -> Vec<f32> {
        (0..n).map(|_| rng.normal() * scale).collect()
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn erf_and_exp_match_f64_references() {
        let mut worst_erf = 0f64;
        let mut worst_exp = 0f64;
        for i in -200_000..=200_000 {
            let x = i as f32 * 5e-5; // [-10, 10]
            let want = candle_core::cpu::erf::erf_f64(x as f64);
            worst_erf = worst_erf.max((erf(x) as f64 - want).abs());
            let y = x * 8.0; // [-80, 80]
            let want = (y as f64).exp();
            worst_exp = worst_exp.max(((exp(y) as f64 - want) / want).abs());
        }
        assert!(worst_erf < 1e-6, "erf abs error {worst_erf}");
        assert!(worst_exp < 5e-7, "exp rel error {worst_exp}");
        for x in [f32::INFINITY, 1e30, 4.0] {
            assert!((erf(x) - 1.0).abs() <= 1e-7 && erf(-x) == -erf(x));
        }
        assert_eq!(exp(-1e30), 0.0);
        assert!(exp(-87.0) > 0.0 && exp(-87.0) < 2e-38);
    }

    /// The dispatched kernels against plain f64 loops, on odd sizes (vector tails, rows shorter
    /// than a vector).
    #[test]
    fn row_kernels_match_plain_loops() {
        let mut rng = Rng::new(11);
        for (rows, n) in [
            (1, 1),
            (3, 7),
            (2, 15),
            (5, 17),
            (4, 33),
            (3, 100),
            (2, 385),
        ] {
            let xs = random(rows * n, 3.0, &mut rng);
            let (w, b) = (random(n, 1.0, &mut rng), random(n, 1.0, &mut rng));

            let mut got = xs.clone();
            gelu_erf(&mut got);
            let want: Vec<f32> = xs
                .iter()
                .map(|&x| {
                    let x = x as f64;
                    (0.5 * x * (1.0 + candle_core::cpu::erf::erf_f64(x / 2f64.sqrt()))) as f32
                })
                .collect();
            assert!(max_abs_diff(&got, &want) < 4e-6, "gelu {rows}x{n}");

            let mut got = xs.clone();
            add_rows(&mut got, &b);
            let want: Vec<f32> = xs.iter().enumerate().map(|(i, x)| x + b[i % n]).collect();
            assert_eq!(got, want, "add_rows {rows}x{n}");

            let mut got = xs.clone();
            layer_norm(&mut got, &w, &b, 1e-12);
            let mut want = Vec::new();
            for row in xs.chunks(n) {
                let mean = row.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
                let var = row.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n as f64;
                for (j, &x) in row.iter().enumerate() {
                    let y = (x as f64 - mean) / (var + 1e-12).sqrt() * w[j] as f64 + b[j] as f64;
                    want.push(y as f32);
                }
            }
            // A one-value row has variance 0: 0/sqrt(eps) · w + b = b in both.
            assert!(max_abs_diff(&got, &want) < 1e-4, "layer_norm {rows}x{n}");

            let mut got = xs.clone();
            softmax_rows(&mut got, n);
            let mut want = Vec::new();
            for row in xs.chunks(n) {
                let m = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) as f64;
                let e: Vec<f64> = row.iter().map(|&x| (x as f64 - m).exp()).collect();
                let s: f64 = e.iter().sum();
                want.extend(e.iter().map(|v| (v / s) as f32));
            }
            assert!(max_abs_diff(&got, &want) < 1e-6, "softmax {rows}x{n}");
        }
    }

    /// Masked scores (a large negative number, as the autodiff path adds for padding) get
    /// probability 0, and a row of equal values is uniform.
    #[test]
    fn softmax_handles_masked_and_flat_rows() {
        let mut row = vec![1.0, -1e30, 2.0, -1e30, 0.5];
        softmax_rows(&mut row, 5);
        assert_eq!((row[1], row[3]), (0.0, 0.0));
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let mut flat = vec![3.0f32; 19];
        softmax_rows(&mut flat, 19);
        assert!(flat.iter().all(|&p| (p - 1.0 / 19.0).abs() < 1e-7));
    }
}
