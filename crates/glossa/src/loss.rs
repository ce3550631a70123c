//! Distillation objectives as plain functions with their gradients.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mse_matches_the_design_documents_example() {
        // §4 of the design document: MSE([0.1,0.6,0.3], [0.2,0.5,0.3]) ≈ 0.0067.
        assert!((mse(&[0.1, 0.6, 0.3], &[0.2, 0.5, 0.3]) - 0.00667).abs() < 1e-4);
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
