#!/usr/bin/env bash
# Checks that a Transformer student directory is a sentence-transformers model computing glossa's
# vectors: `SentenceTransformer(dir).encode(texts)` vs `glossa embed --model dir` on 600
# sentences (English, German, Japanese, Arabic from Tatoeba, plus an empty line and a long one).
# PASS when the smallest cosine between the two is >= 0.999.
#   scripts/check-st-export.sh [STUDENT_DIR]      (default runs/transformer/student)
# Needs PyPI only (torch CPU wheels from download.pytorch.org when reachable, else PyPI's torch,
# then sentence-transformers); they go into a private venv under assets/ (or, without
# python3-venv, a folder on PYTHONPATH). No model hub is contacted (HF_HUB_OFFLINE=1).
# SETUP_ONLY=1 installs and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-runs/transformer/student}
ASSETS=${ASSETS:-$PWD/assets}
VENV="$ASSETS/venv-st"
PYDEPS="$ASSETS/pydeps-st"
SHARED=${GLOSSA_SHARED:-../shared}
GLOSSA=${GLOSSA:-target/release/glossa}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

log() { printf '[check-st-export] %s\n' "$*" >&2; }

python_with_st() {
  if "$VENV/bin/python" -c 'import sentence_transformers' 2>/dev/null; then
    printf '%s\n' "$VENV/bin/python"
  elif PYTHONPATH="$PYDEPS" python3 -c 'import sentence_transformers' 2>/dev/null; then
    printf '%s\n' python3
  else
    return 1
  fi
}

if ! python_with_st >/dev/null; then
  start=$(date +%s)
  if python3 -m venv "$VENV" 2>/dev/null; then
    pip=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
  else
    log "python3 has no venv module: installing into $PYDEPS"
    rm -rf "$VENV"
    pip=(python3 -m pip install --quiet --disable-pip-version-check --target "$PYDEPS")
  fi
  # The CPU build of torch is a fifth of the default (CUDA) one; PyPI's is the fallback.
  log "installing torch (CPU build from download.pytorch.org)"
  if ! "${pip[@]}" --timeout 60 torch --index-url https://download.pytorch.org/whl/cpu; then
    log "download.pytorch.org unreachable: installing torch from PyPI (large: CUDA libraries)"
    "${pip[@]}" torch
  fi
  log "installing sentence-transformers"
  "${pip[@]}" sentence-transformers
  size=$(du -sh "$( [ -d "$VENV" ] && echo "$VENV" || echo "$PYDEPS")" | cut -f1)
  log "installed in $(( $(date +%s) - start )) s, $size"
fi
PYTHON=$(python_with_st)
[ -n "${SETUP_ONLY:-}" ] && exit 0

[ -f "$MODEL/student.json" ] || { log "no student at $MODEL (run glossa distill --config configs/transformer.toml)"; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tat="$SHARED/eval/tatoeba"
{
  for l in eng deu jpn ara; do
    case $l in eng) f="$tat/tatoeba.deu-eng.eng";; *) f="$tat/tatoeba.$l-eng.$l";; esac
    head -n 150 "$f"
  done
  echo
  # Longer than max_seq_length tokens: both sides must truncate alike.
  for _ in $(seq 60); do printf 'a rather long sentence that keeps going '; done; echo
} > "$work/texts.txt"
"$GLOSSA" embed --model "$MODEL" < "$work/texts.txt" > "$work/glossa.jsonl"
PYTHONPATH="$PYDEPS" "$PYTHON" scripts/check_st_export.py --model "$MODEL" \
  --texts "$work/texts.txt" --glossa "$work/glossa.jsonl"
