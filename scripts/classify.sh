#!/usr/bin/env bash
# Cross-lingual topic classification, end to end: fetch the chatterbot corpus, make sure the
# default embedding student exists (it is the classifier's starting encoder, and its run fills
# the teacher-label cache), then train the teacher's head and the student classifiers and print
# the per-language table. Results land in runs/classify/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-assets.sh teacher corpus classify
cargo build --release --locked
if [ ! -f runs/default/student/student.json ]; then
  scripts/distill-default.sh
fi
./target/release/glossa classify distill --config configs/classify.toml "$@"
