//! The C ABI of glossa: `include/glossa.h` declares these functions.
//!
//! Every entry point takes raw pointers from C, so each one checks them (NULL, invalid UTF-8,
//! a too-small output buffer) and reports through [`glossa_last_error`] instead of crashing.
//! Each body runs inside `catch_unwind`: a Rust panic becomes an error return, never an unwind
//! into C (which would be undefined behaviour).

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use glossa::Encoder;

/// A loaded model, opaque to C.
pub struct GlossaModel {
    encoder: Box<dyn Encoder>,
}

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

fn set_error(msg: impl Into<String>) {
    // An interior NUL would cut the message short in C: show it instead.
    let text = msg.into().replace('\0', "\\0");
    let c = CString::new(text).expect("NULs were replaced");
    LAST_ERROR.with(|e| *e.borrow_mut() = Some(c));
}

fn clear_error() {
    LAST_ERROR.with(|e| *e.borrow_mut() = None);
}

/// Runs `body`, turning an `Err` or a panic into `on_error` plus a message for
/// `glossa_last_error`.
fn guarded<T>(what: &str, on_error: T, body: impl FnOnce() -> Result<T, String>) -> T {
    clear_error();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(msg)) => {
            set_error(format!("{what}: {msg}"));
            on_error
        }
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_error(format!(
                "{what}: internal error (please report it): {detail}"
            ));
            on_error
        }
    }
}

/// Reads a NUL-terminated UTF-8 string from C; `what` names it in the error.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives the call.
unsafe fn utf8<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, String> {
    if ptr.is_null() {
        return Err(format!("{what} is NULL"));
    }
    CStr::from_ptr(ptr).to_str().map_err(|e| {
        format!(
            "{what} is not valid UTF-8 (invalid byte at offset {}); pass UTF-8 text",
            e.valid_up_to()
        )
    })
}

/// Loads a model directory or Hugging Face repo id. NULL on failure.
///
/// # Safety
/// `spec` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn glossa_load(spec: *const c_char) -> *mut GlossaModel {
    guarded("glossa_load", std::ptr::null_mut(), || {
        let spec = utf8(spec, "the model path")?;
        let encoder = glossa::interop::load_encoder(spec).map_err(|e| e.to_string())?;
        Ok(Box::into_raw(Box::new(GlossaModel { encoder })))
    })
}

/// The model's vector length; 0 for NULL.
///
/// # Safety
/// `model` is NULL or a pointer from `glossa_load` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn glossa_dim(model: *const GlossaModel) -> usize {
    guarded("glossa_dim", 0, || match model.as_ref() {
        Some(m) => Ok(m.encoder.dim()),
        None => Err("the model is NULL".into()),
    })
}

/// Encodes `count` texts into `out` (row-major, `count × dim` floats). 0 on success, -1 on
/// failure.
///
/// # Safety
/// `model` is NULL or live; `texts` is NULL or points to `count` pointers, each NULL or a
/// NUL-terminated string; `out` is NULL or has room for `out_len` floats.
#[no_mangle]
pub unsafe extern "C" fn glossa_encode(
    model: *const GlossaModel,
    texts: *const *const c_char,
    count: usize,
    out: *mut f32,
    out_len: usize,
) -> c_int {
    guarded("glossa_encode", -1, || {
        let model = model.as_ref().ok_or("the model is NULL")?;
        if count == 0 {
            return Ok(0);
        }
        if texts.is_null() || out.is_null() {
            return Err(format!(
                "texts or out is NULL (with count {count}); pass arrays of count texts and \
                 count × dim floats"
            ));
        }
        let dim = model.encoder.dim();
        let needed = count.checked_mul(dim).ok_or("count × dim overflows")?;
        if out_len < needed {
            return Err(format!(
                "out has room for {out_len} floats, {count} texts × {dim} need {needed}"
            ));
        }
        let strs = std::slice::from_raw_parts(texts, count)
            .iter()
            .enumerate()
            .map(|(i, &p)| utf8(p, &format!("text {i}")))
            .collect::<Result<Vec<&str>, String>>()?;
        let vectors = model.encoder.encode(&strs).map_err(|e| e.to_string())?;
        std::slice::from_raw_parts_mut(out, needed).copy_from_slice(vectors.as_slice());
        Ok(0)
    })
}

/// Frees a model; NULL is ignored.
///
/// # Safety
/// `model` is NULL or a pointer from `glossa_load`, freed at most once.
#[no_mangle]
pub unsafe extern "C" fn glossa_free(model: *mut GlossaModel) {
    guarded("glossa_free", (), || {
        if !model.is_null() {
            drop(Box::from_raw(model));
        }
        Ok(())
    })
}

/// This thread's last error message, or NULL.
#[no_mangle]
pub extern "C" fn glossa_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ref().map_or(std::ptr::null(), |c| c.as_ptr()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_error() -> String {
        let p = glossa_last_error();
        assert!(!p.is_null(), "an error was expected");
        unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string()
    }

    #[test]
    fn null_pointers_are_errors_not_crashes() {
        unsafe {
            assert!(glossa_load(std::ptr::null()).is_null());
            assert!(last_error().contains("the model path is NULL"));
            assert_eq!(glossa_dim(std::ptr::null()), 0);
            assert!(last_error().contains("model is NULL"));
            let mut out = [0f32; 4];
            let rc = glossa_encode(std::ptr::null(), std::ptr::null(), 1, out.as_mut_ptr(), 4);
            assert_eq!(rc, -1);
            assert!(last_error().contains("model is NULL"));
            glossa_free(std::ptr::null_mut());
            assert!(
                glossa_last_error().is_null(),
                "freeing NULL is not an error"
            );
        }
    }

    #[test]
    fn invalid_utf8_and_missing_models_explain_themselves() {
        let bad = CString::new(vec![b'a', 0xff, b'b']).unwrap();
        unsafe {
            assert!(glossa_load(bad.as_ptr()).is_null());
            let err = last_error();
            assert!(
                err.contains("not valid UTF-8") && err.contains("offset 1"),
                "{err}"
            );
            let missing = CString::new("./no-such-model-dir").unwrap();
            assert!(glossa_load(missing.as_ptr()).is_null());
            assert!(last_error().contains("no-such-model-dir"));
        }
    }

    #[test]
    fn interior_nul_in_a_message_is_shown_not_truncated() {
        set_error("a\0b");
        assert_eq!(last_error(), "a\\0b");
    }
}
