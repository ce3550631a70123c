#!/usr/bin/env bash
# Check `glossa export fasttext`: the `fasttext` Python module (PyPI) loads the exported .bin, and
# its get_sentence_vector equals the student's vector (`glossa embed`) for text given as glossa's
# tokens (`glossa tokenize`), on 20 Tatoeba sentences from each of 10 languages and scripts.
#   - installs fasttext (+ numpy<2, which its 0.9.3 wheel needs) in a venv under $ASSETS, or with
#     `pip --target` where python3 has no venv module;
#   - with no arguments: trains the tiny student of configs/tiny.toml (runs/tiny, under a minute;
#     the English teacher must be in the HF cache: scripts/fetch-assets.sh) and checks it, then
#     runs/default/student if it exists; otherwise checks the student directories given;
#   - prints per-language min/mean cosine, length ratio, speeds on one thread (TIME_SECONDS=0
#     skips), and PASS/FAIL per student (min cosine >= MIN_COS, default 0.999).
# Exports go to $ASSETS/fasttext-export/<n>.bin. Exits non-zero if any student fails.
# Usage: scripts/check-fasttext-export.sh [STUDENT_DIR...]
set -euo pipefail
cd "$(dirname "$0")/.."
ASSETS=${ASSETS:-$PWD/assets}
EVAL=${EVAL:-../shared/eval}
MIN_COS=${MIN_COS:-0.999}
OUT="$ASSETS/fasttext-export"
# 0.9.3 is the last release; its wheel is built against numpy 1.x.
PACKAGES=(fasttext==0.9.3 "numpy<2")
GLOSSA=${GLOSSA:-target/release/glossa}

log() { printf '[check-fasttext] %s\n' "$*" >&2; }

# A private environment (scripts/pyenv.sh); fasttext builds from source the first time: a few minutes.
. scripts/pyenv.sh
pyenv_setup fasttext "${PACKAGES[@]}"
PYTHON=$PY

[ -x "$GLOSSA" ] || { log "building glossa"; cargo build --release --quiet; }

students=("$@")
if [ ${#students[@]} -eq 0 ]; then
  if [ ! -f runs/tiny/student/student.json ]; then
    log "training the tiny student (configs/tiny.toml)"
    # Training takes seconds; the teacher evaluation distill runs after it takes many minutes
    # on 2 cores and is not needed here. The student is complete once student.json exists
    # (written last), so the run is stopped then.
    "$GLOSSA" distill --config configs/tiny.toml >&2 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null && [ ! -f runs/tiny/student/student.json ]; do sleep 1; done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    [ -f runs/tiny/student/student.json ] || { log "training the tiny student failed"; exit 1; }
  fi
  students=(runs/tiny/student)
  [ -f runs/default/student/student.json ] && students+=(runs/default/student)
fi

# 20 sentences per language: Latin, Cyrillic, Arabic, Devanagari, Greek, Hangul, Thai, CJK.
mkdir -p "$OUT"
sentences="$OUT/sentences.tsv"
: > "$sentences"
for lang in deu fra spa rus ara hin ell kor jpn cmn; do
  head -n 20 "$EVAL/tatoeba/tatoeba.$lang-eng.$lang" | sed "s/^/$lang\t/" >> "$sentences"
done

status=0
for i in "${!students[@]}"; do
  student=${students[$i]}
  bin="$OUT/$i.bin"
  log "exporting $student to $bin"
  "$GLOSSA" export fasttext --model "$student" --out "$bin" >&2
  log "comparing with fasttext $("$PYTHON" -c 'import importlib.metadata as m; print(m.version("fasttext"))')"
  "$PYTHON" scripts/check_fasttext_export.py "$GLOSSA" "$student" "$bin" \
    "$sentences" "$MIN_COS" || status=1
done
exit $status
