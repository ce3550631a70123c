//! `glossa._glossa`: the Python module behind `import glossa`.
//!
//! `load(path_or_repo_id)` returns a [`Model`] whose `encode` mirrors sentence-transformers'
//! `SentenceTransformer.encode` for the arguments that mean something here: a list of texts
//! gives a 2-D float32 array, one text a 1-D one. Encoding releases the GIL, so Python threads
//! can encode in parallel.

use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyString;

/// A loaded glossa model (student or teacher).
#[pyclass(module = "glossa", frozen)]
struct Model {
    encoder: Box<dyn glossa::Encoder>,
    spec: String,
}

/// Loads a glossa student directory, a Model2Vec directory, a teacher directory, or a Hugging
/// Face repo id (`org/name` or `org/name@revision`; from the cache, else downloaded unless
/// HF_HUB_OFFLINE=1).
#[pyfunction]
fn load(py: Python<'_>, path_or_repo_id: std::path::PathBuf) -> PyResult<Model> {
    let spec = path_or_repo_id
        .to_str()
        .ok_or_else(|| PyValueError::new_err("the model path is not valid UTF-8"))?
        .to_string();
    let encoder = py
        .detach(|| glossa::interop::load_encoder(&spec))
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(Model { encoder, spec })
}

/// The texts of `sentences`: one string, or a sequence of strings.
fn texts_of(sentences: &Bound<'_, PyAny>) -> PyResult<(Vec<String>, bool)> {
    if let Ok(s) = sentences.cast::<PyString>() {
        return Ok((vec![s.to_str()?.to_string()], true));
    }
    let list: Vec<String> = sentences.extract().map_err(|_| {
        PyTypeError::new_err("encode takes a string or a list of strings")
    })?;
    Ok((list, false))
}

#[pymethods]
impl Model {
    /// Length of each vector.
    #[getter]
    fn dim(&self) -> usize {
        self.encoder.dim()
    }

    /// sentence-transformers' name for `dim`.
    fn get_sentence_embedding_dimension(&self) -> usize {
        self.encoder.dim()
    }

    /// Encodes `sentences` (a string, or a list of strings) into a float32 numpy array of
    /// shape (len(sentences), dim), or (dim,) for one string. `batch_size` texts are encoded
    /// at a time; `normalize_embeddings` scales each vector to unit length. `show_progress_bar`
    /// and `convert_to_numpy` are accepted for sentence-transformers compatibility (there is
    /// no progress bar; the result is always numpy).
    #[pyo3(signature = (sentences, batch_size=32, normalize_embeddings=false, show_progress_bar=None, convert_to_numpy=true))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        sentences: &Bound<'py, PyAny>,
        batch_size: usize,
        normalize_embeddings: bool,
        show_progress_bar: Option<bool>,
        convert_to_numpy: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = show_progress_bar;
        if !convert_to_numpy {
            return Err(PyValueError::new_err(
                "convert_to_numpy=False is not supported: glossa returns numpy arrays",
            ));
        }
        if batch_size == 0 {
            return Err(PyValueError::new_err("batch_size must be at least 1"));
        }
        let (texts, single) = texts_of(sentences)?;
        let dim = self.encoder.dim();
        let data = py
            .detach(|| self.encode_batches(&texts, batch_size, normalize_embeddings))
            .map_err(|e| PyValueError::new_err(format!("{}: {e}", self.spec)))?;
        let flat = PyArray1::from_vec(py, data);
        if single {
            return Ok(flat.into_any());
        }
        Ok(flat.reshape([texts.len(), dim])?.into_any())
    }

    fn __repr__(&self) -> String {
        format!("glossa.Model({:?}, dim={})", self.spec, self.encoder.dim())
    }
}

impl Model {
    fn encode_batches(
        &self,
        texts: &[String],
        batch_size: usize,
        normalize: bool,
    ) -> glossa::Result<Vec<f32>> {
        let mut out = Vec::with_capacity(texts.len() * self.encoder.dim());
        for chunk in texts.chunks(batch_size) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let mut vectors = self.encoder.encode(&refs)?;
            if normalize {
                vectors.normalize();
            }
            out.extend_from_slice(vectors.as_slice());
        }
        Ok(out)
    }
}

#[pymodule]
fn _glossa(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_class::<Model>()?;
    Ok(())
}
