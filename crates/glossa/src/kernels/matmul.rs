//! Matrix products on f32 slices through the `gemm` crate (what candle calls underneath), with
//! strides, so an operand can be read transposed or as a column block without a copy, and with
//! accumulation onto the destination (a bias or residual already there costs no extra pass).

use gemm::Parallelism;

/// A matrix operand: `rows × cols` values of `data`, element (r, c) at `r·rs + c·cs`.
pub struct In<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> In<'a> {
    pub fn new(data: &'a [f32], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        // The last element must be inside the slice: gemm reads through raw pointers.
        if rows > 0 && cols > 0 {
            assert!((rows - 1) * rs + (cols - 1) * cs < data.len());
        }
        In {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }
}

/// The destination: row-major with row stride `rs`; `accumulate` adds to what is there.
pub struct Out<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    accumulate: bool,
}

impl<'a> Out<'a> {
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize, rs: usize, accumulate: bool) -> Self {
        if rows > 0 && cols > 0 {
            assert!((rows - 1) * rs + cols - 1 < data.len());
        }
        Out {
            data,
            rows,
            cols,
            rs,
            accumulate,
        }
    }
}

/// dst (+)= scale · lhs·rhs
pub fn matmul(dst: Out, lhs: In, rhs: In, scale: f32, par: Parallelism) {
    assert!(lhs.rows == dst.rows && rhs.cols == dst.cols && lhs.cols == rhs.rows);
    let (m, n, k) = (dst.rows, dst.cols, lhs.cols);
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: every operand's extent was checked against its slice (In::new, Out::new), the
    // destination is borrowed mutably so it aliases no input, and the shapes agree (above).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.data.as_mut_ptr(),
            1,
            dst.rs as isize,
            dst.accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            1.0,
            scale,
            false,
            false,
            false,
            par,
        )
    }
}
