#!/usr/bin/env bash
# Regenerate the tiny BERT fixture (crates/glossa/tests/data/tiny-bert/): random weights, a
# word-level tokenizer and reference vectors from an independent float64 numpy forward pass
# (scripts/make_tiny_bert.py). Run once; the output is committed and the tests read it. Not on
# the test path. numpy comes from a private environment (scripts/pyenv.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/pyenv.sh
. scripts/pyenv.sh
pyenv_setup fixtures numpy==2.4.6
"$PY" scripts/make_tiny_bert.py crates/glossa/tests/data/tiny-bert
