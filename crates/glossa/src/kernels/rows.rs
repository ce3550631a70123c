//! Row kernels: a row added, scaled or dotted into another, from f32, f16, int8 or int4 storage.

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

dispatched! {
    /// `dst += scale * q` for 4-bit values `q` packed two a byte, the first in the low nibble,
    /// each a two's-complement nibble (a quantized table row; an odd row's last high nibble is
    /// padding).
    fn add_i4(dst: &mut [f32], scale: f32, q: &[u8]) {
        assert_eq!(dst.len().div_ceil(2), q.len());
        for (d, &b) in dst.chunks_mut(2).zip(q) {
            // Shifting the nibble to the top and back sign-extends it.
            d[0] += scale * (((b << 4) as i8) >> 4) as f32;
            if let Some(hi) = d.get_mut(1) {
                *hi += scale * ((b as i8) >> 4) as f32;
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
        (0..n).map(|_| rng.normal()).collect()
    }

    #[test]
    fn int4_nibbles_are_signed_and_low_first() {
        // Bytes 0x9F: low nibble 0xF = −1, high 0x9 = −7; 0x07: 7 then 0; 0x08: −8 then padding.
        let mut out = vec![0.5; 5];
        add_i4(&mut out, 2.0, &[0x9F, 0x07, 0x08]);
        assert_eq!(out, [0.5 - 2.0, 0.5 - 14.0, 0.5 + 14.0, 0.5, 0.5 - 16.0]);
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
