#!/usr/bin/env bash
# Builds the Python wheel (python/, PyO3 + maturin), installs it in a private venv and checks
# that `glossa.load(model).encode(texts)` gives the vectors of `glossa embed --model model` on
# Tatoeba sentences in 12 languages (cosine >= 0.99999), for each MODEL. Exits non-zero on
# failure.
#   scripts/check-python.sh [MODEL...]
# Default models: the teacher sentence-transformers/all-MiniLM-L6-v2 by repo id (from the HF
# cache: scripts/fetch-assets.sh teacher), and every runs/*/student that exists.
# Needs PyPI (maturin, numpy) into assets/venv-python; no model hub is contacted.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${GLOSSA_SHARED:-../shared}
export HF_HUB_OFFLINE=1
# The wheel's crate shares the main target folder, so it reuses the compiled dependencies.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
log() { printf '[check-python] %s\n' "$*" >&2; }

models=("$@")
if [ ${#models[@]} -eq 0 ]; then
  models=(sentence-transformers/all-MiniLM-L6-v2)
  for d in runs/*/student; do [ -f "$d/student.json" ] && models+=("$d"); done
fi

source scripts/pyenv.sh
pyenv_setup python "maturin>=1.5,<2" "numpy>=1.21"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

log "building the wheel"
"$PY" -m maturin build --release --locked --quiet -m python/Cargo.toml -i "$PY" -o "$work/wheels" >&2
wheel=$(ls "$work"/wheels/glossa-*.whl)
if [ -n "${PYTHONPATH:-}" ]; then
  "$PY" -m pip install --quiet --disable-pip-version-check --no-deps --upgrade --target "$PYTHONPATH" "$wheel"
else
  "$PY" -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall "$wheel"
fi

GLOSSA=${GLOSSA:-}
if [ -z "$GLOSSA" ]; then
  cargo build --release --locked --quiet -p glossa-cli
  GLOSSA=$CARGO_TARGET_DIR/release/glossa
fi

# No student given and none under runs/ (a clean checkout, as in CI): distil a tiny one from a
# generated English-German file, so a student directory is checked too (the check is about
# loading and encoding the same way, not about quality).
if [ $# -eq 0 ] && [ ${#models[@]} -eq 1 ]; then
  log "no student under runs/: distilling a tiny one"
  for i in $(seq 1 300); do
    printf 'I have %d apples and %d pears.\tIch habe %d Äpfel und %d Birnen.\n' "$i" "$((i * 7 % 13))" "$i" "$((i * 7 % 13))"
  done > "$work/talks-en-de.tsv"
  cat > "$work/tiny.toml" <<TOML
run_dir = "$work/tiny"
cache_dir = "$work/labels"
[corpus]
parallel = ["$work/talks-en-de.tsv"]
gettext_roots = []
help_root = ""
dictionary_dirs = []
wordnet_dir = ""
max_english_only = 0
[student]
dim = 64
buckets = 5000
max_words = 2000
[eval]
random_target_control = false
TOML
  "$GLOSSA" distill --config "$work/tiny.toml" --eval-dir "$work/no-eval" >&2
  models+=("$work/tiny/student")
fi
# Run from outside the repository, so `import glossa` finds the installed wheel, not python/glossa;
# model directories are passed as absolute paths for that.
repo=$PWD
eval_dir=$(realpath "$SHARED/eval") || { log "no evaluation sets at $SHARED/eval (set GLOSSA_SHARED)"; exit 2; }
args=()
for m in "${models[@]}"; do if [ -d "$m" ]; then args+=("$(realpath "$m")"); else args+=("$m"); fi; done
(cd "$work" && "$PY" "$repo/python/tests/check_vectors.py" --glossa "$GLOSSA" \
  --eval-dir "$eval_dir" "${args[@]}")
