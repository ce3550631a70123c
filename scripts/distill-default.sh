#!/usr/bin/env bash
# The main job, end to end on a fresh machine: fetch assets, build, distil the default config,
# evaluate, print the teacher-vs-student table. The student lands in runs/default/student.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-assets.sh teacher corpus
cargo build --release --locked
./target/release/glossa distill --config configs/default.toml "$@"
