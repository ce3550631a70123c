//! Distillation objectives as plain functions with their gradients.
//!
//! Embedding distillation uses [`mse`]. The classification path (Hinton et al. 2015) uses
//! soft-label cross-entropy, KL divergence on temperature-softened logits scaled by T², hard-label
//! cross-entropy, and their α-weighted mix. All work on logits through a stable log-softmax
//! (max subtracted; no log(0)), and each returns the gradient with respect to its first argument,
//! the student's output.

use gemm::Parallelism;
use rayon::prelude::*;

use crate::kernels::matmul::{matmul, In, Out};

/// Mean squared error over the vector's elements: (1/n) Σ (y − t)².
pub fn mse(y: &[f32], t: &[f32]) -> f32 {
    assert_eq!(y.len(), t.len());
    y.iter().zip(t).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / y.len() as f32
}

/// MSE and its gradient with respect to `y`, (2/n)(y − t), written into `grad`.
pub fn mse_with_grad(y: &[f32], t: &[f32], grad: &mut [f32]) -> f32 {
    assert_eq!(y.len(), t.len());
    let scale = 2.0 / y.len() as f32;
    let mut sum = 0.0;
    for ((g, a), b) in grad.iter_mut().zip(y).zip(t) {
        let d = a - b;
        sum += d * d;
        *g = scale * d;
    }
    sum / y.len() as f32
}

/// log softmax(z / t), computed stably.
pub fn log_softmax(z: &[f32], t: f32) -> Vec<f32> {
    let max = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max) / t;
    // Shift first, so no large number is added and subtracted again (f32 would lose the digits).
    let shifted: Vec<f32> = z.iter().map(|&x| x / t - max).collect();
    let log_sum = shifted.iter().map(|x| x.exp()).sum::<f32>().ln();
    shifted.into_iter().map(|x| x - log_sum).collect()
}

pub fn softmax(z: &[f32], t: f32) -> Vec<f32> {
    log_softmax(z, t).into_iter().map(f32::exp).collect()
}

/// Cross-entropy −Σ yᵢ log ŷᵢ between target probabilities `y` and predicted probabilities
/// `y_hat` (natural log). Predicted zeros are clamped so the result stays finite.
pub fn cross_entropy_probs(y: &[f32], y_hat: &[f32]) -> f32 {
    assert_eq!(y.len(), y_hat.len());
    -y.iter()
        .zip(y_hat)
        .map(|(&p, &q)| if p == 0.0 { 0.0 } else { p * q.max(1e-12).ln() })
        .sum::<f32>()
}

/// Soft-label cross-entropy of student logits against target probabilities:
/// −Σ yᵢ log softmax(z)ᵢ. Gradient: softmax(z)·Σy − y.
pub fn soft_cross_entropy(logits: &[f32], targets: &[f32], grad: &mut [f32]) -> f32 {
    let log_q = log_softmax(logits, 1.0);
    let mass: f32 = targets.iter().sum();
    for ((g, lq), y) in grad.iter_mut().zip(&log_q).zip(targets) {
        *g = lq.exp() * mass - y;
    }
    -targets
        .iter()
        .zip(&log_q)
        .map(|(y, lq)| y * lq)
        .sum::<f32>()
}

/// Hard-label cross-entropy −log softmax(z)[label]. Gradient: softmax(z) − onehot(label).
pub fn hard_cross_entropy(logits: &[f32], label: usize, grad: &mut [f32]) -> f32 {
    assert!(
        label < logits.len(),
        "label {label} out of range for {} classes",
        logits.len()
    );
    let log_q = log_softmax(logits, 1.0);
    for (i, (g, lq)) in grad.iter_mut().zip(&log_q).enumerate() {
        *g = lq.exp() - if i == label { 1.0 } else { 0.0 };
    }
    -log_q[label]
}

/// Hinton's distillation term for one example: T² · KL(softmax(t/T) ‖ softmax(s/T)), with
/// student logits `s` first and teacher logits `t` second. Averaged over a batch it is PyTorch's
/// `kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean") * T²`.
/// Gradient with respect to `s`: T · (softmax(s/T) − softmax(t/T)).
pub fn kl_distillation(
    student: &[f32],
    teacher: &[f32],
    temperature: f32,
    grad: &mut [f32],
) -> f32 {
    assert_eq!(student.len(), teacher.len());
    let t = temperature;
    let (log_q, log_p) = (log_softmax(student, t), log_softmax(teacher, t));
    let mut kl = 0.0;
    for i in 0..student.len() {
        let p = log_p[i].exp();
        kl += p * (log_p[i] - log_q[i]);
        grad[i] = t * (log_q[i].exp() - p);
    }
    t * t * kl
}

/// 1 − cos(a, b): the cosine-embedding loss for a pair that should point the same way.
/// Gradient with respect to `a`. Zero vectors give loss 1 and no gradient.
pub fn cosine_loss(a: &[f32], b: &[f32], grad: &mut [f32]) -> f32 {
    let (na, nb) = (
        crate::encoder::dot(a, a).sqrt(),
        crate::encoder::dot(b, b).sqrt(),
    );
    if na == 0.0 || nb == 0.0 {
        grad.iter_mut().for_each(|g| *g = 0.0);
        return 1.0;
    }
    let cos = crate::encoder::dot(a, b) / (na * nb);
    // d cos / d a = b / (|a||b|) − cos · a / |a|²
    for ((g, &x), &y) in grad.iter_mut().zip(a).zip(b) {
        *g = -(y / (na * nb) - cos * x / (na * na));
    }
    1.0 - cos
}

/// The translation-ranking (InfoNCE) loss against fixed targets: with u = y/|y| and the
/// unit-length candidates c_j (rows of `candidates`, `dim` wide), the cross-entropy of
/// softmax_j(u·c_j / τ) at `positive`. It asks the student's vector to be nearer its own target
/// than to the batch's other targets, which is what retrieval scores, where MSE only asks it
/// to be near. Gradient with respect to `y` *added* to `grad`, times `weight`; a zero `y` gives
/// no gradient.
pub fn info_nce(
    y: &[f32],
    candidates: &[f32],
    positive: usize,
    temperature: f32,
    weight: f32,
    grad: &mut [f32],
) -> f32 {
    let dim = y.len();
    assert_eq!(candidates.len() % dim, 0);
    assert!(positive < candidates.len() / dim);
    let norm = crate::encoder::dot(y, y).sqrt();
    let logits: Vec<f32> = candidates
        .chunks_exact(dim)
        .map(|c| crate::kernels::dot(y, c) / (norm.max(f32::MIN_POSITIVE) * temperature))
        .collect();
    let log_p = log_softmax(&logits, 1.0);
    let loss = -log_p[positive];
    if norm == 0.0 {
        return loss;
    }
    // dL/dlogit_j = p_j − [j = positive]; dlogit_j/du = c_j / τ; then through u = y/|y|:
    // dL/dy = (g − (g·u) u) / |y| with g = dL/du.
    let mut g = vec![0.0; dim];
    for (j, c) in candidates.chunks_exact(dim).enumerate() {
        let d = log_p[j].exp() - f32::from(j == positive);
        crate::kernels::axpy(&mut g, d / temperature, c);
    }
    let g_dot_u = crate::encoder::dot(&g, y) / norm;
    for ((out, &gi), &yi) in grad.iter_mut().zip(&g).zip(y) {
        *out += weight * (gi - g_dot_u * yi / norm) / norm;
    }
    loss
}

/// The translation-ranking loss between two sides of a batch of pairs, both the student's (the
/// multiple-negatives ranking loss of LaBSE and the static sentence-transformers models, taken
/// both ways): with u_i = a_i/|a_i|, v_j = b_j/|b_j| and S_ij = u_i·v_j / τ, the mean of the
/// cross-entropy of softmax_j(S_i·) at i and of softmax_i(S_·j) at j. It needs no teacher label:
/// each pair's other side is its positive, the batch's other pairs its negatives. A pair that
/// shares a text with pair i (`ids`: the texts' ids, side a and side b) is no negative of i.
/// Gradients with respect to `a` and `b` (rows of `dim`) are written to `grad_a`, `grad_b`.
pub fn pair_ranking(
    a: &[f32],
    b: &[f32],
    dim: usize,
    ids: &[(u32, u32)],
    temperature: f32,
    grad_a: &mut [f32],
    grad_b: &mut [f32],
) -> f32 {
    let n = ids.len();
    assert!(a.len() == n * dim && b.len() == n * dim);
    let (u, norm_a) = unit_rows(a, dim);
    let (v, norm_b) = unit_rows(b, dim);
    let negative = |i: usize, j: usize| ids[i].0 != ids[j].0 && ids[i].1 != ids[j].1;
    // S = U·Vᵀ / τ, and later dL/dU = dS·V / τ and dL/dV = dSᵀ·U / τ: three matrix products,
    // through gemm (a dot product per pair of rows cost ~5× more).
    let mut logits = vec![0.0f32; n * n];
    matmul(
        Out::new(&mut logits, n, n, n, false),
        In::new(&u, n, dim, dim, 1),
        In::new(&v, dim, n, 1, dim),
        1.0 / temperature,
        Parallelism::None,
    );
    let scale = 1.0 / (2 * n) as f32;
    // For each i, row i (which b is a_i's translation) and column i (which a is b_i's): the
    // loss and dL/dS of each.
    let lines: Vec<(f32, Vec<f32>, Vec<f32>)> = (0..n)
        .into_par_iter()
        .map(|i| {
            let row: Vec<f32> = (0..n)
                .map(|j| masked(logits[i * n + j], i == j || negative(i, j)))
                .collect();
            let col: Vec<f32> = (0..n)
                .map(|j| masked(logits[j * n + i], i == j || negative(i, j)))
                .collect();
            let (log_row, log_col) = (log_softmax(&row, 1.0), log_softmax(&col, 1.0));
            let d = |log_p: &[f32]| -> Vec<f32> {
                (0..n)
                    .map(|j| (log_p[j].exp() - f32::from(j == i)) * scale)
                    .collect()
            };
            ((log_row[i] + log_col[i]) * scale, d(&log_row), d(&log_col))
        })
        .collect();
    let loss = lines.iter().fold(0.0, |loss, line| loss - line.0);
    // dL/dS_ij: row i's part plus column j's.
    let d_s: Vec<f32> = (0..n * n)
        .map(|k| lines[k / n].1[k % n] + lines[k % n].2[k / n])
        .collect();
    matmul(
        Out::new(grad_a, n, dim, dim, false),
        In::new(&d_s, n, n, n, 1),
        In::new(&v, n, dim, dim, 1),
        1.0 / temperature,
        Parallelism::None,
    );
    matmul(
        Out::new(grad_b, n, dim, dim, false),
        In::new(&d_s, n, n, 1, n),
        In::new(&u, n, dim, dim, 1),
        1.0 / temperature,
        Parallelism::None,
    );
    through_normalisation(grad_a, &u, &norm_a, dim);
    through_normalisation(grad_b, &v, &norm_b, dim);
    loss
}

/// The similarity-matching term over a batch of texts: with u_i = y_i/|y_i| the student's unit
/// rows and `teacher` the targets' unit rows, the mean over pairs i ≠ j of (u_i·u_j − t_i·t_j)².
/// MSE fits each vector alone and the ranking terms ask each only to be nearest its own; this
/// asks the student's graded similarities, which STS reads, to be the teacher's. Gradient with
/// respect to `y` (rows of `dim`) written to `grad`.
pub fn similarity_matching(y: &[f32], teacher: &[f32], dim: usize, grad: &mut [f32]) -> f32 {
    let n = y.len() / dim;
    assert!(y.len() == n * dim && teacher.len() == n * dim && grad.len() == n * dim);
    if n < 2 {
        grad.iter_mut().for_each(|g| *g = 0.0);
        return 0.0;
    }
    let (u, norms) = unit_rows(y, dim);
    let gram = |rows: &[f32]| {
        let mut out = vec![0.0f32; n * n];
        matmul(
            Out::new(&mut out, n, n, n, false),
            In::new(rows, n, dim, dim, 1),
            In::new(rows, dim, n, 1, dim),
            1.0,
            Parallelism::None,
        );
        out
    };
    let (student, target) = (gram(&u), gram(teacher));
    let pairs = (n * (n - 1)) as f32;
    // D_ij = S_ij − T_ij off the diagonal; L = Σ D² / pairs and, S being symmetric,
    // dL/dU = 4·D·U / pairs.
    let diff: Vec<f32> = (0..n * n)
        .map(|k| {
            if k / n == k % n {
                0.0
            } else {
                student[k] - target[k]
            }
        })
        .collect();
    let loss = diff.iter().map(|d| d * d).sum::<f32>() / pairs;
    matmul(
        Out::new(grad, n, dim, dim, false),
        In::new(&diff, n, n, n, 1),
        In::new(&u, n, dim, dim, 1),
        4.0 / pairs,
        Parallelism::None,
    );
    through_normalisation(grad, &u, &norms, dim);
    loss
}

/// A logit left out of a softmax (−∞) unless `kept`.
fn masked(logit: f32, kept: bool) -> f32 {
    if kept {
        logit
    } else {
        f32::NEG_INFINITY
    }
}

/// Each row divided by its length (zero rows stay zero), and the lengths.
fn unit_rows(x: &[f32], dim: usize) -> (Vec<f32>, Vec<f32>) {
    let mut unit = x.to_vec();
    let norms = unit
        .chunks_exact_mut(dim)
        .map(|row| {
            let norm = crate::encoder::dot(row, row).sqrt();
            crate::encoder::normalize(row);
            norm
        })
        .collect();
    (unit, norms)
}

/// Turns gradients with respect to unit rows u = y/|y| into gradients with respect to y:
/// (g − (g·u) u) / |y|; a zero row gets none.
fn through_normalisation(grad: &mut [f32], unit: &[f32], norms: &[f32], dim: usize) {
    for ((g, u), &norm) in grad
        .chunks_exact_mut(dim)
        .zip(unit.chunks_exact(dim))
        .zip(norms)
    {
        if norm == 0.0 {
            g.iter_mut().for_each(|v| *v = 0.0);
            continue;
        }
        let g_dot_u = crate::encoder::dot(g, u);
        for (gi, &ui) in g.iter_mut().zip(u) {
            *gi = (*gi - g_dot_u * ui) / norm;
        }
    }
}

/// The classification objective: α · T²·KL(teacher ‖ student) + (1 − α) · hard cross-entropy.
pub fn distillation(
    student: &[f32],
    teacher: &[f32],
    label: Option<usize>,
    temperature: f32,
    alpha: f32,
    grad: &mut [f32],
) -> f32 {
    let mut soft_grad = vec![0.0; student.len()];
    let soft = kl_distillation(student, teacher, temperature, &mut soft_grad);
    let (hard, hard_grad) = match label {
        Some(label) => {
            let mut g = vec![0.0; student.len()];
            (hard_cross_entropy(student, label, &mut g), g)
        }
        None => (0.0, vec![0.0; student.len()]),
    };
    let beta = if label.is_some() { 1.0 - alpha } else { 0.0 };
    let a = if label.is_some() { alpha } else { 1.0 };
    for ((g, s), h) in grad.iter_mut().zip(&soft_grad).zip(&hard_grad) {
        *g = a * s + beta * h;
    }
    a * soft + beta * hard
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mse_matches_the_design_documents_example() {
        // §4 of the design document: MSE([0.1,0.6,0.3], [0.2,0.5,0.3]) ≈ 0.0067.
        assert!((mse(&[0.1, 0.6, 0.3], &[0.2, 0.5, 0.3]) - 0.00667).abs() < 1e-4);
    }

    #[test]
    fn cross_entropy_matches_the_design_documents_example_and_argument_order_matters() {
        // §4: CE([0.1,0.6,0.3], [0.2,0.5,0.3]) = 0.938 (natural log)
        let ce = cross_entropy_probs(&[0.1, 0.6, 0.3], &[0.2, 0.5, 0.3]);
        assert!((ce - 0.938).abs() < 5e-4, "{ce}");
        // Swapped, it is another number: a swapped call cannot pass.
        assert!((cross_entropy_probs(&[0.2, 0.5, 0.3], &[0.1, 0.6, 0.3]) - ce).abs() > 0.1);
        // The logits version agrees: logits ln(ŷ) have softmax ŷ.
        let logits: Vec<f32> = [0.2f32, 0.5, 0.3].iter().map(|p| p.ln()).collect();
        let mut g = [0.0; 3];
        assert!((soft_cross_entropy(&logits, &[0.1, 0.6, 0.3], &mut g) - ce).abs() < 1e-5);
        assert!(
            cross_entropy_probs(&[0.5, 0.5], &[1.0, 0.0]).is_finite(),
            "no log(0)"
        );
    }

    #[test]
    fn softmax_is_stable_for_huge_logits() {
        let p = softmax(&[1000.0, 1000.0, -1000.0], 1.0);
        assert!((p[0] - 0.5).abs() < 1e-6 && p[2] == 0.0);
        let mut g = [0.0; 3];
        assert!(hard_cross_entropy(&[1000.0, -1000.0, 0.0], 1, &mut g).is_finite());
    }

    #[test]
    fn kl_is_zero_for_equal_logits_and_scales_with_t_squared() {
        let mut g = [0.0; 3];
        assert!(kl_distillation(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0], 2.0, &mut g).abs() < 1e-7);
        assert!(g.iter().all(|x| x.abs() < 1e-7));
        // Hand-computed: p = softmax([2,0]/T), q = softmax([0,0]/T) at T = 2.
        let (s, t) = ([0.0f32, 0.0], [2.0f32, 0.0]);
        let p1 = 1.0 / (1.0 + (-1.0f32).exp());
        let kl = p1 * (p1 / 0.5).ln() + (1.0 - p1) * ((1.0 - p1) / 0.5).ln();
        let got = kl_distillation(&s, &t, 2.0, &mut [0.0; 2]);
        assert!(
            (got - 4.0 * kl).abs() < 1e-6,
            "T² factor: {got} vs {}",
            4.0 * kl
        );
        // KL is asymmetric: swapping student and teacher changes the value.
        let swapped = kl_distillation(&[2.0, 0.0, 1.0], &[0.0, 0.0, 0.0], 2.0, &mut [0.0; 3]);
        let right = kl_distillation(&[0.0, 0.0, 0.0], &[2.0, 0.0, 1.0], 2.0, &mut [0.0; 3]);
        assert!((swapped - right).abs() > 1e-3);
    }

    /// Central differences of `f` at `x` against the analytic gradient.
    fn check_gradient(name: &str, x: &[f32], f: &dyn Fn(&[f32], &mut [f32]) -> f32) {
        let mut grad = vec![0.0; x.len()];
        f(x, &mut grad);
        for i in 0..x.len() {
            let h = 1e-2;
            let (mut up, mut down) = (x.to_vec(), x.to_vec());
            up[i] += h;
            down[i] -= h;
            let mut scratch = vec![0.0; x.len()];
            let numeric = (f(&up, &mut scratch) - f(&down, &mut scratch)) / (2.0 * h);
            assert!(
                (numeric - grad[i]).abs() < 2e-3,
                "{name}[{i}]: numeric {numeric} vs analytic {}",
                grad[i]
            );
        }
    }

    #[test]
    fn every_objective_gradient_matches_finite_differences() {
        let z = [0.3f32, -1.2, 0.7, 2.0];
        let teacher = [1.0f32, 0.5, -0.5, 0.2];
        let y = softmax(&teacher, 1.0);
        check_gradient("soft_ce", &z, &|x, g| soft_cross_entropy(x, &y, g));
        check_gradient("hard_ce", &z, &|x, g| hard_cross_entropy(x, 2, g));
        for t in [1.0, 2.0, 4.0] {
            check_gradient("kl", &z, &|x, g| kl_distillation(x, &teacher, t, g));
            check_gradient("mix", &z, &|x, g| {
                distillation(x, &teacher, Some(1), t, 0.5, g)
            });
        }
        check_gradient("cosine", &z, &|x, g| cosine_loss(x, &teacher, g));
        check_gradient("mse", &z, &|x, g| mse_with_grad(x, &teacher, g));
        let unit = |v: [f32; 4]| {
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.map(|x| x / n)
        };
        let candidates: Vec<f32> = [teacher, [0.1, 0.9, 0.3, -0.4], [-1.0, 0.2, 0.0, 0.5]]
            .into_iter()
            .flat_map(unit)
            .collect();
        for positive in 0..3 {
            check_gradient("info_nce", &z, &|x, g| {
                g.iter_mut().for_each(|v| *v = 0.0);
                info_nce(x, &candidates, positive, 0.5, 1.0, g)
            });
        }
        // Three texts of 4 (the gradient check's input, twice more, shifted) against three
        // unit targets.
        let texts: Vec<f32> = z
            .iter()
            .chain(&[0.5f32, 0.1, -0.3, 0.9])
            .chain(&[-0.2f32, 0.4, 1.1, 0.0])
            .copied()
            .collect();
        check_gradient("similarity_matching", &texts, &|x, g| {
            similarity_matching(x, &candidates, 4, g)
        });
        // Both sides of a batch of three pairs; pairs 0 and 2 share side a's text, so neither
        // is the other's negative.
        let ids = [(0, 10), (1, 11), (0, 12)];
        let b: Vec<f32> = candidates.iter().map(|x| x * 2.0 + 0.1).collect();
        let a: Vec<f32> = z
            .iter()
            .chain(&teacher)
            .chain(&[0.5f32, 0.5, -1.0, 0.0])
            .copied()
            .collect();
        check_gradient("pair_ranking a", &a, &|x, g| {
            pair_ranking(x, &b, 4, &ids, 0.5, g, &mut [0.0; 12])
        });
        check_gradient("pair_ranking b", &b, &|x, g| {
            pair_ranking(&a, x, 4, &ids, 0.5, &mut [0.0; 12], g)
        });
        // The gradient is added to what is there, times the weight.
        let mut once = vec![0.0; 4];
        info_nce(&z, &candidates, 1, 0.5, 1.0, &mut once);
        let mut twice = vec![1.0; 4];
        info_nce(&z, &candidates, 1, 0.5, 2.0, &mut twice);
        for (a, b) in once.iter().zip(&twice) {
            assert!((1.0 + 2.0 * a - b).abs() < 1e-6);
        }
    }

    /// The same objectives written with candle's differentiable ops give the same gradients
    /// through candle's autodiff.
    #[test]
    fn gradients_match_candle_autodiff() -> candle_core::Result<()> {
        use candle_core::{Device, Tensor, Var};
        let z = [0.3f32, -1.2, 0.7, 2.0];
        let teacher = [1.0f32, 0.5, -0.5, 0.2];
        let dev = Device::Cpu;
        let log_sm = |x: &Tensor, t: f64| -> candle_core::Result<Tensor> {
            let x = (x / t)?;
            let max = x.max_keepdim(0)?;
            let shifted = x.broadcast_sub(&max)?;
            shifted.broadcast_sub(&shifted.exp()?.sum_keepdim(0)?.log()?)
        };
        let check = |name: &str,
                     ours: &[f32],
                     loss: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>|
         -> candle_core::Result<()> {
            let var = Var::new(&z[..], &dev)?;
            let grads = loss(var.as_tensor())?.backward()?;
            let theirs = grads
                .get(var.as_tensor())
                .expect("gradient")
                .to_vec1::<f32>()?;
            for (a, b) in ours.iter().zip(&theirs) {
                assert!(
                    (a - b).abs() < 1e-5,
                    "{name}: ours {ours:?} vs candle {theirs:?}"
                );
            }
            Ok(())
        };
        let t_logits = Tensor::new(&teacher[..], &dev)?;
        for t in [1.0f32, 2.0, 4.0] {
            let mut g = [0.0; 4];
            kl_distillation(&z, &teacher, t, &mut g);
            check("kl", &g, &|s| {
                let (lq, lp) = (log_sm(s, t as f64)?, log_sm(&t_logits, t as f64)?);
                (lp.exp()? * (lp - lq)?)?.sum_all()? * (t * t) as f64
            })?;
        }
        let mut g = [0.0; 4];
        hard_cross_entropy(&z, 2, &mut g);
        check("hard_ce", &g, &|s| {
            log_sm(s, 1.0)?.narrow(0, 2, 1)?.sum_all()?.neg()
        })?;
        let y = softmax(&teacher, 1.0);
        let y_t = Tensor::new(&y[..], &dev)?;
        soft_cross_entropy(&z, &y, &mut g);
        check("soft_ce", &g, &|s| {
            (log_sm(s, 1.0)? * &y_t)?.sum_all()?.neg()
        })?;
        mse_with_grad(&z, &teacher, &mut g);
        check("mse", &g, &|s| (s - &t_logits)?.sqr()?.mean_all())?;
        Ok(())
    }

    #[test]
    fn mse_gradient_matches_finite_differences() {
        let y = [0.3f32, -1.2, 0.7, 2.0];
        let t = [0.1f32, -1.0, 1.5, 0.0];
        let mut grad = [0.0; 4];
        let loss = mse_with_grad(&y, &t, &mut grad);
        assert!((loss - mse(&y, &t)).abs() < 1e-7);
        for i in 0..4 {
            let h = 1e-3;
            let (mut up, mut down) = (y, y);
            up[i] += h;
            down[i] -= h;
            let numeric = (mse(&up, &t) - mse(&down, &t)) / (2.0 * h);
            assert!(
                (numeric - grad[i]).abs() < 1e-3,
                "{i}: {numeric} vs {}",
                grad[i]
            );
        }
    }
}
