//! The little dense linear algebra the students need (PCA of a few-hundred-wide covariance),
//! small enough not to warrant a LAPACK dependency.

/// Eigen-decomposition of the symmetric n×n matrix `a` (row-major) by cyclic Jacobi rotations:
/// returns the eigenvalues and the eigenvectors as the columns of an n×n row-major matrix.
/// O(n³) per sweep and a handful of sweeps: well under a second at n = 384.
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(a.len(), n * n, "a is not n×n");
    let mut a = a.to_vec();
    let mut v = vec![0f64; n * n];
    (0..n).for_each(|i| v[i * n + i] = 1.0);
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
    for _sweep in 0..60 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        if off <= 1e-22 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() <= 1e-300 {
                    continue;
                }
                // The rotation that zeroes a[p][q] (Golub & Van Loan, symmetric Schur).
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_diagonalises_random_symmetric_matrices() {
        let mut rng = crate::rng::Rng::new(11);
        for n in [1, 2, 5, 17, 40] {
            let mut a = vec![0f64; n * n];
            for i in 0..n {
                for j in 0..=i {
                    let x = rng.normal() as f64;
                    a[i * n + j] = x;
                    a[j * n + i] = x;
                }
            }
            let (values, v) = symmetric_eigen(&a, n);
            // A·v_k = λ_k·v_k and VᵀV = I.
            for k in 0..n {
                for i in 0..n {
                    let av: f64 = (0..n).map(|j| a[i * n + j] * v[j * n + k]).sum();
                    assert!((av - values[k] * v[i * n + k]).abs() < 1e-8, "n={n} k={k}");
                }
                for l in 0..n {
                    let d: f64 = (0..n).map(|i| v[i * n + k] * v[i * n + l]).sum();
                    let want = if k == l { 1.0 } else { 0.0 };
                    assert!((d - want).abs() < 1e-9, "n={n} columns {k},{l}: {d}");
                }
            }
        }
    }
}
