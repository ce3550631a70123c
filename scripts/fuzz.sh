#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time and reports, per target, the inputs executed
# and whether it found a crash (docs/fuzzing.md).
#
#   scripts/fuzz.sh [seconds-per-target] [target...]     (default: 60 s, every target)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). Builds the
# targets once (with AddressSanitizer and debug assertions), writes each target's seeds into
# fuzz/corpus/<target>/ (made by glossa's own writers, from the target's init), then fuzzes.
# Logs: fuzz/logs/<target>.log; a crashing input: fuzz/artifacts/<target>/.
# Exits non-zero when any target finds a crash, a leak, a timeout or an out-of-memory.
set -uo pipefail

seconds=${1:-60}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
fi
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

echo "building ${#targets[@]} fuzz targets (AddressSanitizer, debug assertions)..." >&2
for t in "${targets[@]}"; do
    cargo +nightly fuzz build "$t" || { echo "build of $t failed" >&2; exit 2; }
done

mkdir -p logs
# The directory targets' scratch folders (in memory where possible), removed at the end.
scratch_parent=/dev/shm
[ -d "$scratch_parent" ] || scratch_parent=${TMPDIR:-/tmp}
GLOSSA_FUZZ_SCRATCH=$(mktemp -d "$scratch_parent/glossa-fuzz.XXXXXX")
export GLOSSA_FUZZ_SCRATCH
trap 'rm -rf "$GLOSSA_FUZZ_SCRATCH"' EXIT
findings=0
summary=()
for t in "${targets[@]}"; do
    corpus="$root/fuzz/corpus/$t"
    mkdir -p "$corpus" "artifacts/$t"
    extra=()
    case "$t" in
        student_json | label_cache_manifest | teacher_config | linear_head | student_safetensors)
            extra=(-dict="$root/fuzz/dict/json.dict") ;;
        chatterbot_yaml)
            extra=(-dict="$root/fuzz/dict/yaml.dict") ;;
    esac
    log="logs/$t.log"
    echo "fuzzing $t for ${seconds}s..." >&2
    GLOSSA_FUZZ_SEEDS="$corpus" cargo +nightly fuzz run "$t" "$corpus" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
        "${extra[@]}" >"$log" 2>&1
    status=$?
    runs=$(grep -oE '^Done [0-9]+ runs' "$log" | tail -1 | awk '{print $2}')
    [ -n "$runs" ] || runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | tail -1 | awk '{print $2}')
    [ -n "$runs" ] || runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    [ -n "$runs" ] || runs="?"
    if [ "$status" -eq 0 ]; then
        result="no crash"
    else
        findings=$((findings + 1))
        artifact=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -1 | awk '{print $5}')
        kind=$(grep -oE 'ERROR: (libFuzzer|AddressSanitizer): [a-zA-Z-]+' "$log" | head -1 | awk '{print $3}')
        result="FOUND ${kind:-a failure} (exit $status) ${artifact:-see $log}"
    fi
    line=$(printf '%-22s %12s runs  %5ss  %s' "$t" "$runs" "$seconds" "$result")
    echo "$line" >&2
    summary+=("$line")
done

echo
printf '%-22s %12s       %6s  %s\n' target executed time result
printf '%s\n' "${summary[@]}"
if [ "$findings" -gt 0 ]; then
    echo "$findings target(s) found a problem; reproduce with: cd fuzz && cargo +nightly fuzz run <target> <artifact>" >&2
    exit 1
fi
