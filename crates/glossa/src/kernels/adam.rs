//! The Adam update on a parameter slice and its moments: the sparse trainer calls it row by
//! row, the classifier head on the whole matrix.

/// One Adam step's constants, computed once per step rather than once per row.
#[derive(Debug, Clone, Copy)]
pub struct AdamStep {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// lr / (1 − β1ᵗ)
    pub step_size: f32,
    /// 1 / sqrt(1 − β2ᵗ)
    pub inv_c2_sqrt: f32,
}

impl AdamStep {
    pub fn new(lr: f32, beta1: f32, beta2: f32, eps: f32, step: u64) -> Self {
        let c1 = 1.0 - beta1.powi(step as i32);
        let c2 = 1.0 - beta2.powi(step as i32);
        AdamStep {
            beta1,
            beta2,
            eps,
            step_size: lr / c1,
            inv_c2_sqrt: 1.0 / c2.sqrt(),
        }
    }
}

dispatched! {
    /// Adam on one parameter slice with its moments.
    fn adam(param: &mut [f32], m: &mut [f32], v: &mut [f32], grad: &[f32], h: &AdamStep) {
        let n = param.len();
        assert!(m.len() == n && v.len() == n && grad.len() == n);
        let (b1, b2, one_b1, one_b2) = (h.beta1, h.beta2, 1.0 - h.beta1, 1.0 - h.beta2);
        for i in 0..n {
            let g = grad[i];
            let mi = b1 * m[i] + one_b1 * g;
            let vi = b2 * v[i] + one_b2 * (g * g);
            m[i] = mi;
            v[i] = vi;
            param[i] -= h.step_size * mi / (vi.sqrt() * h.inv_c2_sqrt + h.eps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
        (0..n).map(|_| rng.normal()).collect()
    }

    /// The dispatched update against the plain loop, bit for bit, on odd sizes.
    #[test]
    fn adam_matches_the_plain_loop_bit_for_bit() {
        let mut rng = Rng::new(5);
        for n in [1, 3, 7, 15, 17, 31, 33, 100, 384, 385] {
            let (a, b) = (random(n, &mut rng), random(n, &mut rng));
            let h = AdamStep::new(0.01, 0.9, 0.999, 1e-8, 3);
            let (mut p, mut m, mut v) = (
                a.clone(),
                random(n, &mut rng),
                random(n, &mut rng)
                    .iter()
                    .map(|x| x.abs())
                    .collect::<Vec<_>>(),
            );
            let (mut p2, mut m2, mut v2) = (p.clone(), m.clone(), v.clone());
            adam(&mut p, &mut m, &mut v, &b, &h);
            for i in 0..n {
                m2[i] = 0.9 * m2[i] + (1.0 - 0.9) * b[i];
                v2[i] = 0.999 * v2[i] + (1.0 - 0.999) * (b[i] * b[i]);
                p2[i] -= h.step_size * m2[i] / (v2[i].sqrt() * h.inv_c2_sqrt + h.eps);
            }
            assert_eq!((p, m, v), (p2, m2, v2), "adam n={n}");
        }
    }
}
