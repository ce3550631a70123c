//! The student's hot loops, compiled for the widest vector unit the CPU has (AVX-512, AVX2 or
//! baseline SSE2), chosen once at run time: a binary built for any x86-64 still uses the machine
//! it runs on. Every kernel is element-wise (no reordered sums), so all paths give bit-identical
//! results and training stays reproducible across machines.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Avx512,
    Avx2,
    Baseline,
}

/// The instruction set the kernels use on this machine.
pub fn level() -> Level {
    static LEVEL: std::sync::OnceLock<Level> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                return Level::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Level::Avx2;
            }
        }
        Level::Baseline
    })
}

/// Defines `pub fn $name` that runs `$body` compiled for the best available instruction set.
macro_rules! dispatched {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident : $ty:ty),*) $(-> $ret:ty)? $body:block) => {
        $(#[$doc])*
        pub fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn generic($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? { generic($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? { generic($($arg),*) }
                match $crate::kernels::level() {
                    // SAFETY: level() checked that the CPU has these features.
                    $crate::kernels::Level::Avx512 => return unsafe { avx512($($arg),*) },
                    $crate::kernels::Level::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::kernels::Level::Baseline => {}
                }
            }
            generic($($arg),*)
        }
    };
}
pub(crate) use dispatched;

dispatched! {
    /// `dst += src`
    fn add(dst: &mut [f32], src: &[f32]) {
        assert_eq!(dst.len(), src.len());
        for (d, s) in dst.iter_mut().zip(src) {
            *d += *s;
        }
    }
}

dispatched! {
    /// `Σ a_i·b_i`, accumulated in 16 lanes summed in a fixed order at the end, so it
    /// vectorises (a serial sum cannot be reordered by the compiler). The result is the same on
    /// every instruction set, and within rounding of the serial sum.
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        let mut lanes = [0.0f32; 16];
        let (xs, ys) = (a.chunks_exact(16), b.chunks_exact(16));
        let tail: f32 = xs.remainder().iter().zip(ys.remainder()).map(|(x, y)| x * y).sum();
        for (x, y) in xs.zip(ys) {
            for i in 0..16 {
                lanes[i] += x[i] * y[i];
            }
        }
        lanes.iter().sum::<f32>() + tail
    }
}

dispatched! {
    /// `dst += a * src`
    fn axpy(dst: &mut [f32], a: f32, src: &[f32]) {
        assert_eq!(dst.len(), src.len());
        for (d, s) in dst.iter_mut().zip(src) {
            *d += a * *s;
        }
    }
}

dispatched! {
    /// `dst += scale * q` for int8 values `q` stored as bytes (a quantized table row).
    fn add_i8(dst: &mut [f32], scale: f32, q: &[u8]) {
        assert_eq!(dst.len(), q.len());
        for (d, &b) in dst.iter_mut().zip(q) {
            *d += scale * (b as i8 as f32);
        }
    }
}

/// `dst += h` for little-endian f16 values `h` stored as bytes (a quantized table row). Uses
/// the F16C conversion instruction where the CPU has it; f16 → f32 is exact either way.
pub fn add_f16(dst: &mut [f32], h: &[u8]) {
    assert_eq!(dst.len() * 2, h.len());
    #[cfg(target_arch = "x86_64")]
    {
        static F16C: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        let f16c = *F16C.get_or_init(|| {
            std::is_x86_feature_detected!("f16c") && std::is_x86_feature_detected!("avx")
        });
        if f16c {
            // SAFETY: the CPU has F16C and AVX (checked above); loads are unaligned, in bounds.
            unsafe { add_f16_f16c(dst, h) };
            return;
        }
    }
    add_f16_scalar(dst, h);
}

fn add_f16_scalar(dst: &mut [f32], h: &[u8]) {
    for (d, b) in dst.iter_mut().zip(h.chunks_exact(2)) {
        *d += half::f16::from_le_bytes([b[0], b[1]]).to_f32();
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,f16c")]
unsafe fn add_f16_f16c(dst: &mut [f32], h: &[u8]) {
    use std::arch::x86_64::*;
    let full = dst.len() / 8 * 8;
    for i in (0..full).step_by(8) {
        let halves = _mm_loadu_si128(h.as_ptr().add(2 * i) as *const __m128i);
        let sum = _mm256_add_ps(
            _mm256_loadu_ps(dst.as_ptr().add(i)),
            _mm256_cvtph_ps(halves),
        );
        _mm256_storeu_ps(dst.as_mut_ptr().add(i), sum);
    }
    add_f16_scalar(&mut dst[full..], &h[2 * full..]);
}

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

    /// The dispatched kernels against plain scalar loops, on odd sizes (tails, sub-vector).
    #[test]
    fn kernels_match_plain_loops_bit_for_bit() {
        let mut rng = Rng::new(5);
        for n in [1, 3, 7, 15, 17, 31, 33, 100, 384, 385] {
            let (a, b) = (random(n, &mut rng), random(n, &mut rng));
            let mut got = a.clone();
            add(&mut got, &b);
            let want: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
            assert_eq!(got, want, "add n={n}");

            let serial: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            let scale: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (*x as f64 * *y as f64).abs())
                .sum();
            assert!(
                (dot(&a, &b) as f64 - serial).abs() <= 1e-5 * scale,
                "dot n={n}"
            );
            let lanes_in_order = {
                let mut lanes = [0.0f32; 16];
                let whole = n / 16 * 16;
                for i in 0..whole {
                    lanes[i % 16] += a[i] * b[i];
                }
                let tail: f32 = (whole..n).map(|i| a[i] * b[i]).sum();
                lanes.iter().sum::<f32>() + tail
            };
            assert_eq!(
                dot(&a, &b),
                lanes_in_order,
                "dot n={n}: same on every level"
            );

            let mut got = a.clone();
            axpy(&mut got, 0.37, &b);
            let want: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + 0.37 * y).collect();
            assert_eq!(got, want, "axpy n={n}");

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

            let q: Vec<u8> = (0..n).map(|i| (i * 37 % 256) as u8).collect();
            let mut got = a.clone();
            add_i8(&mut got, 0.01, &q);
            let want: Vec<f32> = a
                .iter()
                .zip(&q)
                .map(|(x, &b)| x + 0.01 * (b as i8 as f32))
                .collect();
            assert_eq!(got, want, "add_i8 n={n}");

            let h: Vec<u8> = b
                .iter()
                .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
                .collect();
            let mut got = a.clone();
            add_f16(&mut got, &h);
            let mut want = a.clone();
            add_f16_scalar(&mut want, &h);
            assert_eq!(got, want, "add_f16 n={n}");
        }
    }
}
