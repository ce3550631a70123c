//! The library's modules are layers: a module may use the layers below it and its own, never one
//! above (docs/design.md). This test reads every `crate::…` path in the sources (up to a file's
//! `#[cfg(test)]` unit tests, which may build fixtures with any layer), so the picture in the
//! docs stays true as the code changes.

use std::path::{Path, PathBuf};

/// Top-level modules, lowest layer first; modules on one line share a layer.
const LAYERS: &[&[&str]] = &[
    &["kernels", "linalg", "rng"],
    &["error", "io", "progress", "encoder", "hub"],
    &["data"],
    &["bert"],
    &["teacher"],
    &["student"],
    &["train"],
    &["eval"],
    &["interop"],
    &["recipes"],
    &["serve"],
];

/// Names `lib.rs` re-exports at the crate root, and the module each comes from.
const ROOT_NAMES: &[(&str, &str)] = &[
    ("Embeddings", "encoder"),
    ("Encoder", "encoder"),
    ("Error", "error"),
    ("Result", "error"),
];

fn layer_of(module: &str) -> Option<usize> {
    let module = ROOT_NAMES
        .iter()
        .find(|(name, _)| *name == module)
        .map_or(module, |(_, from)| from);
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module names that follow `crate::` in `line`, and those listed in `use crate::{a, b::c}`.
fn used_modules(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in line.match_indices("crate::") {
        let rest = &line[i + "crate::".len()..];
        if let Some(list) = rest.strip_prefix('{') {
            let list = &list[..list.find('}').unwrap_or(list.len())];
            for item in list.split(',') {
                let name = item.trim().split("::").next().unwrap_or("").trim();
                if !name.is_empty() {
                    out.push(name.to_string());
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push(name);
        }
    }
    out
}

#[test]
fn no_module_imports_a_higher_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut upward = Vec::new();
    let mut checked = 0;
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = top.trim_end_matches(".rs");
        if module == "lib" {
            continue;
        }
        let own = layer_of(module).unwrap_or_else(|| {
            panic!(
                "{}: module '{module}' has no layer in LAYERS",
                rel.display()
            )
        });
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            // A file's unit tests (at its end) may build fixtures with higher layers.
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            let code = line.split("//").next().unwrap_or("");
            for used in used_modules(code) {
                let layer = layer_of(&used).unwrap_or_else(|| {
                    panic!(
                        "{}:{}: crate::{used} has no layer in LAYERS",
                        rel.display(),
                        n + 1
                    )
                });
                checked += 1;
                if layer > own {
                    upward.push(format!(
                        "{}:{}: {module} uses crate::{used}",
                        rel.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} crate:: paths found: is the parser broken?"
    );
    assert!(
        upward.is_empty(),
        "imports that point up a layer:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_parser_sees_plain_grouped_and_inline_paths() {
    assert_eq!(used_modules("use crate::teacher::Teacher;"), ["teacher"]);
    assert_eq!(
        used_modules("use crate::{Embeddings, eval::x, Error};"),
        ["Embeddings", "eval", "Error"]
    );
    assert_eq!(
        used_modules("    let y = crate::kernels::add(a, b);"),
        ["kernels"]
    );
    assert_eq!(layer_of("Result"), layer_of("error"));
    assert!(layer_of("serve") > layer_of("recipes"));
}
