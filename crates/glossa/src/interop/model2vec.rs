//! The Model2Vec format, both ways: a static student is written as a directory Python
//! `model2vec` (`StaticModel.from_pretrained`), `model2vec-rs` and sentence-transformers'
//! `StaticEmbedding` load; and such a directory loads in glossa as a static student, so either
//! tool can run the other's models.
//!
//! A Model2Vec directory holds `model.safetensors` (tensor `embeddings`, vocabulary × width;
//! optional `weights`, one per token), `tokenizer.json`, `config.json` (`model_type:
//! "model2vec"`, `normalize`) and `modules.json`. A sentence's vector is the mean of its tokens'
//! rows (special tokens not added, the unknown token dropped), normalised when `normalize`.

use std::path::Path;

use serde_json::json;

use crate::io::write_atomic;
use crate::student::{Precision, TableStudent};
use crate::{Error, Result};

/// True when `dir` looks like a Model2Vec model (its `config.json` says `model2vec`).
pub fn is_model2vec_dir(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v["model_type"] == "model2vec")
}

/// Each row of the student's table as it contributes to the output: through the projection
/// when there is one, so the Model2Vec table alone gives the student's vectors.
fn output_rows(student: &TableStudent) -> Vec<f32> {
    let (dim, out_dim) = (student.config.dim, student.config.output_dim);
    let mut rows = vec![0f32; student.rows() * out_dim];
    let mut row = vec![0f32; dim];
    for (r, out) in rows.chunks_exact_mut(out_dim).enumerate() {
        row.fill(0.0);
        student.table.add_row(r, dim, &mut row);
        match &student.projection {
            None => out.copy_from_slice(&row),
            Some(p) => {
                for (i, &x) in row.iter().enumerate() {
                    crate::kernels::axpy(out, x, &p[i * out_dim..(i + 1) * out_dim]);
                }
            }
        }
    }
    rows
}

/// Writes a static student as a Model2Vec directory with f32 rows.
pub fn write(student: &TableStudent, dir: &Path) -> Result<()> {
    write_as(student, dir, Precision::F32)
}

/// Writes a static student as a Model2Vec directory with its rows at `precision`. Int8 stores
/// each row's scale as the per-token `weights` tensor, which Model2Vec multiplies into the row
/// (model2vec 0.10 `StaticModel._encode_helper`), so the vectors are the int8 student's exactly.
pub fn write_as(student: &TableStudent, dir: &Path, precision: Precision) -> Result<()> {
    let Some(tokenizer) = student.tokenizer() else {
        return Err(Error::msg(format!(
            "{}: only a static token student can be written in Model2Vec format (this one is \
             fastText-style: export it with `glossa export fasttext` or `export vec`)",
            crate::Encoder::name(student)
        )));
    };
    if precision == Precision::Int4 {
        return Err(Error::msg(
            "Model2Vec has no 4-bit format: export as f32, f16 or int8",
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let out_dim = student.config.output_dim;
    let rows = output_rows(student);
    let (bytes, scales) = crate::student::table::quantize(&rows, out_dim, precision);
    let dtype = match precision {
        Precision::F32 => safetensors::Dtype::F32,
        Precision::F16 => safetensors::Dtype::F16,
        Precision::Int8 | Precision::Int4 => safetensors::Dtype::I8,
    };
    let view = safetensors::tensor::TensorView::new(dtype, vec![student.rows(), out_dim], &bytes)
        .expect("shape matches");
    let scale_bytes: Vec<u8> = scales.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut tensors = vec![("embeddings".to_string(), view)];
    if precision == Precision::Int8 {
        let w = safetensors::tensor::TensorView::new(
            safetensors::Dtype::F32,
            vec![student.rows()],
            &scale_bytes,
        )
        .expect("shape matches");
        tensors.push(("weights".to_string(), w));
    }
    let blob = safetensors::serialize(tensors, None)
        .map_err(|e| Error::msg(format!("serialising weights: {e}")))?;
    write_atomic(dir.join("model.safetensors"), &blob)?;
    let json = tokenizer
        .to_string(false)
        .map_err(|e| Error::msg(format!("serialising the tokenizer: {e}")))?;
    write_atomic(dir.join("tokenizer.json"), json.as_bytes())?;
    let config = json!({
        "model_type": "model2vec",
        "architectures": ["StaticModel"],
        "tokenizer_name": student.teacher,
        "apply_pca": student.config.dim,
        "hidden_dim": out_dim,
        "seq_length": 1_000_000,
        "normalize": true,
        "pooling": "mean",
        "embedding_dtype": match precision {
            Precision::F32 => "float32",
            Precision::F16 => "float16",
            Precision::Int8 | Precision::Int4 => "int8",
        },
        "distilled_with": "glossa",
    });
    write_atomic(
        dir.join("config.json"),
        &serde_json::to_vec_pretty(&config).expect("json"),
    )?;
    let modules = json!([
        {"idx": 0, "name": "0", "path": ".", "type": "sentence_transformers.models.StaticEmbedding"},
        {"idx": 1, "name": "1", "path": "1_Normalize", "type": "sentence_transformers.models.Normalize"}
    ]);
    std::fs::create_dir_all(dir.join("1_Normalize")).map_err(|e| Error::io(dir, e))?;
    write_atomic(
        dir.join("modules.json"),
        &serde_json::to_vec_pretty(&modules).expect("json"),
    )
}

/// Loads a Model2Vec directory as a static student (f32, f16 or int8 embeddings; per-token
/// `weights` are folded into the rows). Vocabulary-quantized models (a `mapping` tensor) are
/// refused: their rows are shared between tokens.
pub fn read(dir: &Path) -> Result<TableStudent> {
    let config_path = dir.join("config.json");
    let config: serde_json::Value = crate::error::read_json(&config_path)?;
    if config["model_type"] != "model2vec" {
        return Err(Error::invalid(
            &config_path,
            "model_type is not \"model2vec\"",
        ));
    }
    let tokenizer_path = dir.join("tokenizer.json");
    if !tokenizer_path.is_file() {
        return Err(Error::invalid(
            &tokenizer_path,
            "missing: a Model2Vec model needs its tokenizer",
        ));
    }
    let tokenizer = tokenizers::Tokenizer::from_file(&tokenizer_path)
        .map_err(|e| Error::invalid(&tokenizer_path, format!("cannot load tokenizer: {e}")))?;
    let weights_path = dir.join("model.safetensors");
    let bytes = crate::error::read(&weights_path)?;
    let tensors = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::invalid(&weights_path, format!("not a safetensors file: {e}")))?;
    if tensors.names().contains(&"mapping") {
        return Err(Error::invalid(
            &weights_path,
            "has a 'mapping' tensor (vocabulary quantization): not supported; export the model \
             without vocabulary quantization",
        ));
    }
    let embeddings = tensors
        .tensor("embeddings")
        .map_err(|_| Error::invalid(&weights_path, "no tensor 'embeddings'"))?;
    let [rows, width] = embeddings.shape()[..] else {
        return Err(Error::invalid(
            &weights_path,
            format!(
                "tensor 'embeddings' has shape {:?}, expected [vocabulary, width]",
                embeddings.shape()
            ),
        ));
    };
    let vocab = tokenizer.get_vocab_size(true);
    if rows != vocab || width == 0 {
        return Err(Error::invalid(
            &weights_path,
            format!(
                "tensor 'embeddings' has {rows} rows of {width}, but {} has {vocab} tokens",
                tokenizer_path.display()
            ),
        ));
    }
    let mut table = to_f32(
        embeddings.dtype(),
        embeddings.data(),
        "embeddings",
        &weights_path,
    )?;
    if let Ok(w) = tensors.tensor("weights") {
        let w = to_f32(w.dtype(), w.data(), "weights", &weights_path)?;
        if w.len() != rows {
            return Err(Error::invalid(
                &weights_path,
                format!(
                    "tensor 'weights' has {} values, expected one per token ({rows})",
                    w.len()
                ),
            ));
        }
        for (row, &w) in table.chunks_exact_mut(width).zip(&w) {
            row.iter_mut().for_each(|x| *x *= w);
        }
    }
    let mut student = TableStudent::from_tokenizer(tokenizer, width, width, table, None)?;
    student.teacher = config["tokenizer_name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    student.set_source(dir);
    Ok(student)
}

fn to_f32(dtype: safetensors::Dtype, data: &[u8], name: &str, path: &Path) -> Result<Vec<f32>> {
    match dtype {
        safetensors::Dtype::F32 => Ok(data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()),
        safetensors::Dtype::F16 => Ok(data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect()),
        safetensors::Dtype::I8 => Ok(data.iter().map(|&b| b as i8 as f32).collect()),
        other => Err(Error::invalid(
            path,
            format!("tensor '{name}' is {other:?}, expected F32, F16 or I8"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::student::token_init::build_static;

    fn tiny() -> TableStudent {
        let t = crate::student::token_init::tests::word_tokenizer(&[
            "[PAD]", "[UNK]", "the", "cat", "dog",
        ]);
        let v = [0.5f32, 1.0, -1.0, 2.0, 0.25, 3.0, 1.0, -2.0, 0.0];
        let vectors: Vec<Option<&[f32]>> =
            vec![None, None, Some(&v[0..3]), Some(&v[3..6]), Some(&v[6..9])];
        // Width 2 < teacher 3: the projection must be folded into the exported rows.
        build_static(t, &vectors, 3, 2, &[1.0, 1.0, 0.3, 1.0, 1.0]).unwrap()
    }

    #[test]
    fn a_written_model_reads_back_with_the_same_vectors() {
        let s = tiny();
        let dir = tempfile::tempdir().unwrap();
        write(&s, dir.path()).unwrap();
        assert!(is_model2vec_dir(dir.path()));
        for f in [
            "model.safetensors",
            "tokenizer.json",
            "config.json",
            "modules.json",
        ] {
            assert!(dir.path().join(f).is_file(), "{f}");
        }
        let back = read(dir.path()).unwrap();
        assert_eq!(back.config.output_dim, 3);
        for text in ["the cat", "dog dog the", "zebra cat"] {
            let (a, b) = (s.embed(text), back.embed(text));
            let diff = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(diff < 1e-6, "{text}: {a:?} vs {b:?}");
        }
    }

    #[test]
    fn an_int8_model_stores_row_scales_as_weights_and_reads_back_within_int8() {
        let s = tiny();
        let (f32_dir, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        write(&s, f32_dir.path()).unwrap();
        write_as(&s, dir.path(), Precision::Int8).unwrap();
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap())
                .unwrap();
        assert_eq!(config["embedding_dtype"], "int8");
        let bytes = std::fs::read(dir.path().join("model.safetensors")).unwrap();
        let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(
            tensors.tensor("embeddings").unwrap().dtype(),
            safetensors::Dtype::I8
        );
        assert_eq!(tensors.tensor("weights").unwrap().shape(), &[s.rows()]);
        let back = read(dir.path()).unwrap();
        for text in ["the cat", "dog dog the", "zebra cat"] {
            let cos = crate::encoder::cosine(&s.embed(text), &back.embed(text));
            assert!(cos > 0.999, "{text}: cosine {cos}");
        }
    }

    #[test]
    fn inconsistent_model2vec_directories_are_refused_by_name() {
        let s = tiny();
        let dir = tempfile::tempdir().unwrap();
        write(&s, dir.path()).unwrap();
        // A tokenizer of another size than the table.
        let small = crate::student::token_init::tests::word_tokenizer(&["[PAD]", "[UNK]", "the"]);
        let saved = std::fs::read(dir.path().join("tokenizer.json")).unwrap();
        small
            .save(dir.path().join("tokenizer.json"), false)
            .unwrap();
        let err = read(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("model.safetensors") && err.contains("5 rows") && err.contains("3 tokens"),
            "{err}"
        );
        std::fs::write(dir.path().join("tokenizer.json"), saved).unwrap();

        // Wrong dtype.
        let data = vec![0u8; 5 * 3 * 8];
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F64, vec![5, 3], &data)
            .unwrap();
        let blob = safetensors::serialize([("embeddings".to_string(), view)], None).unwrap();
        std::fs::write(dir.path().join("model.safetensors"), blob).unwrap();
        let err = read(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("model.safetensors") && err.contains("F64"),
            "{err}"
        );

        // Missing tokenizer; missing weights.
        std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
        let err = read(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("tokenizer.json") && err.contains("missing"),
            "{err}"
        );
        write(&s, dir.path()).unwrap();
        std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
        let err = read(dir.path()).err().unwrap().to_string();
        assert!(err.contains("model.safetensors"), "{err}");
    }

    #[test]
    fn a_fasttext_style_student_is_not_written_as_model2vec() {
        let config = crate::student::SubwordConfig::new(
            2,
            2,
            4,
            (3, 3),
            crate::student::WordRules::new(true),
        );
        let s = TableStudent::new(config, vec!["a".into()], 1).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = write(&s, dir.path()).err().unwrap().to_string();
        assert!(err.contains("static"), "{err}");
    }
}
