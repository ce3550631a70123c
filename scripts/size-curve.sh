#!/usr/bin/env bash
# The size–quality curve of one distilled bag-of-rows student (docs/students.md, "The size–quality
# curve"): the run's student shrunk to each budget with `glossa shrink` (PCA and `use` counts
# fitted on the run's training pairs, retrieval checked on its dev pairs), then every size
# measured once on the test sets by one `glossa eval`, which prints the curve under its table and
# draws it in the HTML page.
#
#   scripts/size-curve.sh [RUN_DIR]          (default runs/e5-games-r03-8)
#   BUDGETS="128MB:256 64MB:256 32MB:128" scripts/size-curve.sh RUN_DIR    # budget:width pairs
#
# The default widths are those the default student's dev data chose (docs/students.md,
# "Choosing the settings"); each shrink prints its dev retrieval before and after, so another
# student's choice can be checked on its own dev data. Writes RUN_DIR/size-<budget>/ (a student
# each, with its shrink log), RUN_DIR/curve.txt and RUN_DIR/curve.html.
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-runs/e5-games-r03-8}
budgets=${BUDGETS:-"128MB:256 64MB:256 32MB:128"}
eval_dir=${EVAL_DIR:-../shared/eval}
tatoeba=${TATOEBA:-ara,cmn,deu,fra,ita,jpn,nld,pol,por,rus,spa,tur}

[ -d "$run/student" ] || { echo "no student in $run: distil it first (glossa distill)" >&2; exit 1; }
train=("$run"/corpus/train/*.tsv)
dev=("$run"/corpus/dev/*.tsv)
[ -e "${train[0]}" ] && [ -e "${dev[0]}" ] ||
    { echo "$run/corpus has no train/ and dev/ TSVs: the curve fits and checks on them" >&2; exit 1; }
cargo build --release --locked -p glossa-cli >&2
glossa=target/release/glossa

models=(--model "$run/student")
for pair in $budgets; do
    budget=${pair%%:*} dim=${pair#*:}
    out="$run/size-$budget"
    echo "shrinking to $budget at width $dim -> $out" >&2
    rm -rf "$out"
    "$glossa" shrink --model "$run/student" --max-size "$budget" --dim "$dim" \
        --texts "${train[@]}" --check "${dev[@]}" --out "$out" 2>&1 | tee "$run/size-$budget.log" >&2
    models+=(--model "$out")
done
"$glossa" eval "${models[@]}" --eval-dir "$eval_dir" --stsb --tatoeba "$tatoeba" \
    --speed-seconds 0 --html "$run/curve.html" | tee "$run/curve.txt"
