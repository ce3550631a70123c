#!/usr/bin/env bash
# Peak memory of the corpus stage at 1M and 10M pairs (docs/performance.md, "Corpus memory").
#
# Input: the default run's training files (runs/default/corpus/train/<lang>.tsv, made by
# scripts/distill-default.sh), given to glossa as the user's files en-<lang>.tsv: the first
# 83,334 lines of each (~1M pairs), and every line four times, copies 2-4 with " (k)" added to
# both sides so that they are distinct pairs (~10M). For each size and each binary in GLOSSAS
# (default: target/release/glossa), `/usr/bin/time -v` measures
#   - `glossa corpus build` (read, clean, de-duplicate, split, write), and
#   - `glossa distill` on the same files: select 2,000 English texts, label them with MiniLM,
#     train a 64-wide student for one epoch, no evaluation.
# Prints one line per case: binary, size, command, peak RSS, wall time.
# Usage: scripts/corpus-memory.sh [sizes...]   (default: 1m 10m); WORK (default /tmp/glossa-corpus-memory)
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=${SRC:-runs/default/corpus/train}
WORK=${WORK:-/tmp/glossa-corpus-memory}
GLOSSAS=${GLOSSAS:-target/release/glossa}
sizes=${*:-1m 10m}
[ -d "$SRC" ] || { echo "no $SRC: run scripts/distill-default.sh first" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (Debian: apt-get install time)" >&2; exit 1; }

make_input() {
  local size=$1 dir="$WORK/input-$1"
  [ -f "$dir/.done" ] && return
  rm -rf "$dir"; mkdir -p "$dir"
  for f in "$SRC"/*.tsv; do
    local lang; lang=$(basename "$f" .tsv)
    case $size in
      1m) head -n 83334 "$f" > "$dir/en-$lang.tsv" ;;
      10m) awk -F'\t' '{ print; for (k = 2; k <= 4; k++) print $1 " (" k ")\t" $2 " (" k ")" }' "$f" > "$dir/en-$lang.tsv" ;;
      *) echo "unknown size $size (1m or 10m)" >&2; exit 1 ;;
    esac
  done
  touch "$dir/.done"
}

write_config() {
  local size=$1 run=$2
  cat > "$WORK/$size.toml" <<EOF
run_dir = "$run"
eval_dir = "$PWD/../shared/eval"
cache_dir = "$PWD/assets/labels"

[teacher]
model = "sentence-transformers/all-MiniLM-L6-v2"

[corpus]
languages = "all"
parallel = ["$WORK/input-$size/*.tsv"]
gettext_roots = []
help_root = ""
dictionary_dirs = []
wordnet_dir = ""
max_english_only = 0
max_english = 2000

[student]
dim = 64
buckets = 20000
max_words = 20000

[train]
epochs = 1

[eval]
tatoeba = []
tatoeba_trained = false
sts17 = false
stsb = false
random_target_control = false
speed_seconds = 0.0
EOF
}

measure() {
  local label=$1; shift
  local log; log=$(mktemp)
  /usr/bin/time -v "$@" > /dev/null 2> "$log" || { tail -20 "$log" >&2; exit 1; }
  local rss wall
  rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f MB", $2 / 1024 }' "$log")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { print $2 }' "$log")
  printf '%s\t%s\t%s\n' "$label" "$rss" "$wall"
  rm -f "$log"
}

for size in $sizes; do
  make_input "$size"
  pairs=$(cat "$WORK/input-$size"/*.tsv | wc -l)
  echo "# $size: $pairs input lines" >&2
  for bin in $GLOSSAS; do
    rm -rf "$WORK/corpus-$size" "$WORK/run-$size"
    write_config "$size" "$WORK/run-$size"
    measure "$bin $size corpus-build" "$bin" corpus build --config "$WORK/$size.toml" --out "$WORK/corpus-$size"
    measure "$bin $size distill" "$bin" distill --config "$WORK/$size.toml"
    kept=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(sum(v['train']+v['dev'] for v in r['languages'].values()))" "$WORK/corpus-$size/report.json")
    echo "# $bin $size: $kept pairs kept" >&2
  done
done
