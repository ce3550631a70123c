#!/usr/bin/env bash
# The test command (README, .ci/run): fetch the real teacher the tests use, then run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-assets.sh teacher
cargo test --release --workspace --locked
