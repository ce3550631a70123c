//! Bring your own soft labels: a "teacher" that is a file of embeddings computed elsewhere (a
//! remote API, a model glossa cannot run), aligned line by line with a text file. It labels
//! exactly the texts it was given; the pipeline trains on those.
//!
//! Vectors come as NumPy `.npy` (2-D, C order, little-endian f32/f16/f64) or safetensors (one
//! 2-D tensor, or the one named `embeddings`; f32/f16).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::{Embeddings, Encoder, Error, Result};

pub struct Precomputed {
    name: String,
    dim: usize,
    vectors: Vec<f32>,
    row_of: HashMap<String, usize>,
    fingerprint: String,
}

impl Precomputed {
    /// Reads `texts` (UTF-8, one text per line) and `vectors` (one row per line, same order).
    pub fn load(texts: &Path, vectors: &Path) -> Result<Self> {
        let text = crate::error::read(texts)?;
        let text = std::str::from_utf8(&text).map_err(|e| {
            let line = text[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            Error::invalid(format!("{}:{line}", texts.display()), "invalid UTF-8")
        })?;
        let lines: Vec<&str> = text.lines().collect();
        let bytes = crate::error::read(vectors)?;
        let (rows, dim, values) = match vectors.extension().and_then(|e| e.to_str()) {
            Some("npy") => read_npy(&bytes, vectors)?,
            Some("safetensors") => read_safetensors(&bytes, vectors)?,
            _ => {
                return Err(Error::invalid(
                    vectors,
                    "unknown vector file type: expected a .npy or .safetensors file",
                ))
            }
        };
        if rows != lines.len() {
            return Err(Error::invalid(
                vectors,
                format!(
                    "{rows} vectors, but {} has {} lines: they must be aligned line by line",
                    texts.display(),
                    lines.len()
                ),
            ));
        }
        if let Some(i) = values.iter().position(|x| !x.is_finite()) {
            return Err(Error::invalid(
                vectors,
                format!("row {} holds a non-finite value", i / dim + 1),
            ));
        }
        let mut row_of = HashMap::with_capacity(rows);
        for (i, line) in lines.iter().enumerate() {
            // A repeated text keeps its first vector.
            row_of.entry(line.to_string()).or_insert(i);
        }
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(text.as_bytes());
        hasher.update(&bytes);
        Ok(Precomputed {
            name: format!("precomputed:{}", vectors.display()),
            dim,
            vectors: values,
            row_of,
            fingerprint: format!("precomputed-{:016x}", hasher.digest()),
        })
    }

    /// Changes whenever either file's content changes: keys the label cache.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// True when the file has a vector for `text`.
    pub fn covers(&self, text: &str) -> bool {
        self.row_of.contains_key(text)
    }
}

impl Encoder for Precomputed {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn encode(&self, texts: &[&str]) -> Result<Embeddings> {
        let mut out = Vec::with_capacity(texts.len() * self.dim);
        for t in texts {
            let Some(&row) = self.row_of.get(*t) else {
                return Err(Error::msg(format!(
                    "{}: no vector for the text {t:?}: a precomputed teacher labels only the \
                     texts of its file",
                    self.name
                )));
            };
            out.extend_from_slice(&self.vectors[row * self.dim..(row + 1) * self.dim]);
        }
        Ok(Embeddings::new(self.dim, out))
    }
}

/// The two files of a precomputed teacher, as a config names them.
#[derive(Debug, Clone, PartialEq)]
pub struct PrecomputedFiles {
    pub texts: PathBuf,
    pub vectors: PathBuf,
}

/// A little-endian f32 `.npy` (format 1.0, C order) of `rows` × `dim` `values`: the file a
/// precomputed teacher reads, as NumPy's `np.save` writes it.
pub fn npy_f32(rows: usize, dim: usize, values: &[f32]) -> Vec<u8> {
    assert_eq!(
        values.len(),
        rows * dim,
        "values do not fill {rows} × {dim}"
    );
    npy_bytes("<f4", &format!("({rows}, {dim})"), &f32_bytes(values))
}

/// A `.npy` of any header fields over raw `data` (header padded to 64 bytes, as NumPy does).
fn npy_bytes(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn read_npy(bytes: &[u8], path: &Path) -> Result<(usize, usize, Vec<f32>)> {
    let bad = |msg: String| Error::invalid(path, format!("not a usable .npy file: {msg}"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("no \\x93NUMPY magic".into()));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(format!("format version {v} is not 1, 2 or 3"))),
    };
    let header = bytes
        .get(start..start.saturating_add(header_len))
        .ok_or_else(|| bad("the header runs past the end of the file".into()))?;
    let header = String::from_utf8_lossy(header);
    let field = |key: &str| -> Option<String> {
        let at = header.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
        let end = if rest.starts_with('(') {
            rest.find(')')? + 1
        } else {
            rest.find([',', '}'])?
        };
        Some(rest[..end].trim().to_string())
    };
    let descr = field("descr").ok_or_else(|| bad("no 'descr' in the header".into()))?;
    let descr = descr.trim_matches(['\'', '"']);
    if field("fortran_order").as_deref() != Some("False") {
        return Err(bad(
            "the array is in Fortran order; save it in C order".into()
        ));
    }
    let shape = field("shape").ok_or_else(|| bad("no 'shape' in the header".into()))?;
    let dims: Vec<usize> = shape
        .trim_matches(['(', ')'])
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad(format!("shape {shape} is not a tuple of sizes")))?;
    let [rows, dim] = dims[..] else {
        return Err(bad(format!(
            "shape {shape}: expected 2 dimensions (texts, width)"
        )));
    };
    let data = &bytes[start + header_len..];
    let width = match descr {
        "<f4" => 4,
        "<f2" => 2,
        "<f8" => 8,
        other => {
            return Err(bad(format!(
                "dtype {other} is not little-endian float32, float16 or float64"
            )))
        }
    };
    let want = rows
        .checked_mul(dim)
        .and_then(|n| n.checked_mul(width))
        .ok_or_else(|| bad(format!("shape {shape} is too large")))?;
    if data.len() != want || dim == 0 {
        return Err(bad(format!(
            "shape {shape} of {descr} needs {want} bytes of data, found {}",
            data.len()
        )));
    }
    Ok((rows, dim, decode(data, width)))
}

fn read_safetensors(bytes: &[u8], path: &Path) -> Result<(usize, usize, Vec<f32>)> {
    let bad = |msg: String| Error::invalid(path, msg);
    let tensors = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let names = tensors.names();
    let name = if names.contains(&"embeddings") {
        "embeddings".to_string()
    } else if names.len() == 1 {
        names[0].to_string()
    } else {
        return Err(bad(format!(
            "{} tensors and none named 'embeddings': which one holds the vectors?",
            names.len()
        )));
    };
    let t = tensors.tensor(&name).expect("listed");
    let [rows, dim] = t.shape()[..] else {
        return Err(bad(format!(
            "tensor '{name}' has shape {:?}: expected [texts, width]",
            t.shape()
        )));
    };
    let width = match t.dtype() {
        safetensors::Dtype::F32 => 4,
        safetensors::Dtype::F16 => 2,
        other => {
            return Err(bad(format!(
                "tensor '{name}' is {other:?}, expected F32 or F16"
            )))
        }
    };
    if dim == 0 {
        return Err(bad(format!("tensor '{name}' has width 0")));
    }
    Ok((rows, dim, decode(t.data(), width)))
}

fn decode(data: &[u8], width: usize) -> Vec<f32> {
    match width {
        4 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        2 => data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        _ => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        npy_bytes(descr, shape, data)
    }

    fn f32s(v: &[f32]) -> Vec<u8> {
        f32_bytes(v)
    }

    #[test]
    fn npy_and_safetensors_files_teach_their_texts() {
        let dir = tempfile::tempdir().unwrap();
        let texts = dir.path().join("texts.txt");
        std::fs::write(&texts, "hello\nworld\nhello\n").unwrap();
        let npy_path = dir.path().join("v.npy");
        std::fs::write(
            &npy_path,
            npy("<f4", "(3, 2)", &f32s(&[1., 2., 3., 4., 5., 6.])),
        )
        .unwrap();
        let t = Precomputed::load(&texts, &npy_path).unwrap();
        assert_eq!(t.dim(), 2);
        let e = t.encode(&["world", "hello"]).unwrap();
        assert_eq!(
            e.as_slice(),
            &[3., 4., 1., 2.],
            "a repeated text keeps its first row"
        );
        let err = t.encode(&["unknown"]).unwrap_err().to_string();
        assert!(err.contains("no vector for the text \"unknown\""), "{err}");

        let st = dir.path().join("v.safetensors");
        let data = f32s(&[1., 2., 3., 4., 5., 6.]);
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![3, 2], &data)
            .unwrap();
        std::fs::write(
            &st,
            safetensors::serialize([("x".to_string(), view)], None).unwrap(),
        )
        .unwrap();
        let s = Precomputed::load(&texts, &st).unwrap();
        assert_eq!(s.encode(&["world"]).unwrap().as_slice(), &[3., 4.]);
        assert_ne!(s.fingerprint(), t.fingerprint());
    }

    #[test]
    fn misaligned_or_malformed_vector_files_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let texts = dir.path().join("texts.txt");
        std::fs::write(&texts, "a\nb\n").unwrap();
        let path = dir.path().join("v.npy");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (npy("<f4", "(3, 2)", &f32s(&[0.; 6])), "3 vectors, but"),
            (npy("<i4", "(2, 2)", &[0; 16]), "dtype <i4"),
            (npy("<f4", "(4,)", &f32s(&[0.; 4])), "expected 2 dimensions"),
            (npy("<f4", "(2, 2)", &f32s(&[0.; 3])), "needs 16 bytes"),
            (
                npy("<f4", "(2, 1)", &f32s(&[0., f32::NAN])),
                "row 2 holds a non-finite",
            ),
            (b"not numpy".to_vec(), "magic"),
        ];
        for (bytes, want) in cases {
            std::fs::write(&path, bytes).unwrap();
            let err = Precomputed::load(&texts, &path).err().unwrap().to_string();
            assert!(err.contains("v.npy") && err.contains(want), "{want}: {err}");
        }
        let err = Precomputed::load(&texts, &dir.path().join("v.csv"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("v.csv"), "{err}");
        std::fs::write(&texts, b"a\n\xff\n").unwrap();
        std::fs::write(&path, npy("<f4", "(2, 1)", &f32s(&[0., 1.]))).unwrap();
        let err = Precomputed::load(&texts, &path).err().unwrap().to_string();
        assert!(
            err.contains("texts.txt:2") && err.contains("UTF-8"),
            "{err}"
        );
    }
}
