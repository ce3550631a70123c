//! Every hot loop of the library in one place, compiled for the widest vector unit the CPU has
//! (AVX-512, AVX2 or baseline SSE2), chosen once at run time: a binary built for any x86-64
//! still uses the machine it runs on.
//!
//! - [`rows`]: sums of table rows (f32, f16, int8), dot, axpy: the static students, the sparse
//!   trainer, the losses.
//! - [`adam`]: the Adam update, dense or row by row.
//! - [`transformer`]: GELU, softmax, layer norm and bias rows of the BERT encoder's fast path.
//! - [`matmul`]: the encoder's matrix products (the `gemm` crate on strided slices).
//!
//! The element-wise kernels reorder no sums, and the reductions keep 16 partial sums in a fixed
//! order, so every instruction set gives bit-identical results and training stays reproducible
//! across machines. Only gemm's microkernels (AVX-512 or AVX2, its own run-time choice) round
//! differently from one machine to another.
//!
//! This is the bottom layer: it imports nothing else of the crate.

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

// After the macro: the kernel modules use it.
pub mod adam;
pub mod matmul;
pub mod rows;
pub mod transformer;

pub use adam::{adam, AdamStep};
pub use rows::{add, add_f16, add_i4, add_i8, axpy, dot};
