#!/usr/bin/env bash
# Interop check: a glossa static token student, exported with `glossa export model2vec`, loads in
# Python `model2vec` (StaticModel.from_pretrained) and gives the same vectors as `glossa embed`.
# Prints min / mean cosine over real sentences in several languages; PASS at >= MIN_COS (0.999).
# Usage: scripts/check-model2vec-export.sh [STATIC_STUDENT_DIR]   (default runs/e5-static/student)
set -euo pipefail
cd "$(dirname "$0")/.."
STUDENT=${1:-runs/e5-static/student}
MIN_COS=${MIN_COS:-0.999}
SHARED=${GLOSSA_SHARED:-../shared}
M2V=model2vec==0.10.0
if [ ! -f "$STUDENT/student.json" ]; then
  echo "no static student at $STUDENT: train one with target/release/glossa distill --config configs/e5-static.toml" >&2
  exit 2
fi
. scripts/pyenv.sh
pyenv_setup model2vec "$M2V"
cargo build --release --quiet
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
target/release/glossa export model2vec --model "$STUDENT" --out "$work/m2v"
# 50 lines each from Tatoeba files of six languages (both sides): real sentences, several scripts.
for f in "$SHARED"/eval/tatoeba/tatoeba.{deu,jpn,rus,ara,cmn,tur}-eng.*; do
  [ -f "$f" ] && head -n 50 "$f"
done > "$work/sentences.txt"
target/release/glossa embed --model "$STUDENT" < "$work/sentences.txt" > "$work/glossa.jsonl"
"$PY" scripts/check_model2vec_export.py "$work/m2v" "$work/sentences.txt" "$work/glossa.jsonl" "$MIN_COS"
