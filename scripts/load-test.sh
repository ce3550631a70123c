#!/usr/bin/env bash
# Load test of `glossa serve` on loopback with wrk: requests/s, inputs/s and p50/p99 latency at a
# few concurrency levels, for one request shape at a time, each run bounded in time.
#
#   scripts/load-test.sh [MODEL]          # MODEL: student dir (default runs/default/student),
#                                         # teacher dir or HF repo id
#   SECONDS_PER_RUN=10 CONCURRENCY="1 16 64 256" INPUTS="1 32" scripts/load-test.sh MODEL
#   SERVE_ARGS="--batch-wait-ms 0" scripts/load-test.sh MODEL    # extra `glossa serve` flags
#
# Then the slow-client cases: well-behaved clients (wrk, SLOW_CONNECTIONS connections, SLOW_INPUTS
# inputs per request) measured alone and alongside each kind of bad client (scripts/
# hostile_clients.py: stalled heads, stalled bodies, clients that never read, twice the connection
# cap of idle sockets, the same reopened as soon as closed, a flood past the queue), with /health
# probed on a new connection every 50 ms. Their server runs with --max-connections SLOW_CAP and
# --max-queue SLOW_QUEUE; the bad clients connect from ATTACK_FROM (127.0.0.2), a client of
# their own to the server's fair queue.
#   SLOW_CLIENTS="" scripts/load-test.sh MODEL                  # skip them
#   CONCURRENCY="" INPUTS="" scripts/load-test.sh MODEL         # only them
#   SLOW_DELAY_MS=20 SLOW_CLIENTS=flood ...                     # well-behaved clients paced
#
# wrk comes from Debian's package, unpacked into assets/wrk (git-ignored); nothing is installed.
# wrk and the server share the machine's cores, so the numbers are for both together.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/serve-lib.sh
. scripts/serve-lib.sh
slow_clients=${SLOW_CLIENTS-"stalled-head stalled-body never-reading idle-sockets idle-churn flood"}
slow_connections=${SLOW_CONNECTIONS:-16}
slow_inputs=${SLOW_INPUTS:-32}
slow_cap=${SLOW_CAP:-256}
slow_queue=${SLOW_QUEUE:-64}
# The bad clients connect from this address, a client of their own to the server's fair queue.
attack_from=${ATTACK_FROM:-127.0.0.2}
# Milliseconds each well-behaved connection waits between requests (wrk's delay()); empty:
# back to back, each client then asks for all the server has and can keep only a fair share.
slow_delay_ms=${SLOW_DELAY_MS:-}
# Optional CPU split (taskset lists, e.g. SERVER_CPUS=0 CLIENT_CPUS=1): the server alone on its
# cores, every client on the others, the bad clients at nice 10 below wrk — as when the attack
# comes from other machines, so that what is measured is the server, not the attacker's own CPU
# taken from the server's cores.
server_cpus=${SERVER_CPUS:-}
client_cpus=${CLIENT_CPUS:-}
attack_nice=0
[ -z "$client_cpus" ] || attack_nice=10
on_cpus() { local cpus=$1; shift; if [ -n "$cpus" ]; then taskset -c "$cpus" "$@"; else "$@"; fi; }
model=${1:-runs/default/student}
seconds=${SECONDS_PER_RUN:-10}
concurrency=${CONCURRENCY-"1 16 64 256"}
inputs_per_request=${INPUTS-"1 32"}
threads=${WRK_THREADS:-2}
# A request slower than this counts as a timeout, not a latency sample (wrk's default is 2 s,
# which a teacher with many inputs queued exceeds).
timeout=${WRK_TIMEOUT:-30}
tools=assets/wrk

if [ ! -d "$model" ] && [[ "$model" != */* ]]; then
    echo "no model at '$model' (pass a student dir, a teacher dir or an HF repo id)" >&2
    exit 2
fi

fetch_wrk() {
    [ -x "$tools/usr/bin/wrk" ] && return
    echo "fetching wrk from Debian into $tools…" >&2
    local debs
    debs=$(mktemp -d)
    # wrk links LuaJIT, which a bare machine lacks: its library is unpacked beside it.
    if ! (cd "$debs" && apt-get download wrk libluajit-5.1-2 >&2); then
        echo "apt-get download failed: run 'apt-get update' once, then retry" >&2
        exit 1
    fi
    mkdir -p "$tools"
    for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$tools"; done
    rm -rf "$debs"
}
fetch_wrk
wrk() {
    LD_LIBRARY_PATH="$PWD/$tools/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        on_cpus "$client_cpus" "$tools/usr/bin/wrk" "$@"
}

cargo build --release --locked -p glossa-cli >&2
glossa=target/release/glossa

work=$(mktemp -d)
server=""
cleanup() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        kill -TERM "$server" && wait "$server" || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Starts `glossa serve` with SERVE_ARGS and the given flags; sets $server and $url.
start_server() {
    # shellcheck disable=SC2086 # SERVE_ARGS is a list of flags
    GLOSSA_LOG=warn serve_in "$work" on_cpus "$server_cpus" "$glossa" serve --model "$model" \
        --addr 127.0.0.1:0 ${SERVE_ARGS:-} "$@"
}

stop_server() {
    kill -TERM "$server" && wait "$server" || true
    server=""
}

# A request of N short, distinct-looking sentences (about 9 words each).
request_body() {
    local n=$1 i items=()
    for ((i = 0; i < n; i++)); do
        items+=("\"Open the document number $i in a new window, then save it\"")
    done
    local IFS=,
    printf '{"model":"glossa","input":[%s]}' "${items[*]}"
}

# wrk's Lua: POST the body; at the end print one tab-separated line of results.
cat > "$work/post.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("GLOSSA_BODY_FILE"), "rb"))
wrk.body = f:read("*a")
f:close()
local pause = tonumber(os.getenv("GLOSSA_DELAY_MS") or "")
if pause then
    function delay() return pause end
end
function done(summary, latency, requests)
    local seconds = summary.duration / 1e6
    local socket = summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.timeout
    io.write(string.format("RESULT\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%.1f\n",
        summary.requests, summary.requests / seconds, latency:percentile(50) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000, summary.errors.status, socket,
        (summary.requests - summary.errors.status) / seconds))
end
EOF

start_server
echo "model: $model   server: $url ${SERVE_ARGS:-}  $seconds s per run, wrk with $threads threads"
echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB; wrk and the server share them"
if [ -n "$concurrency" ] && [ -n "$inputs_per_request" ]; then
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "inputs/request" "connections" \
        "requests" "requests/s" "inputs/s" "p50 ms" "p99 ms" "non-2xx" "timeouts, socket errors"
    printf '|---|---|---|---|---|---|---|---|---|\n'
fi
for n in $inputs_per_request; do
    request_body "$n" > "$work/body-$n.json"
    for c in $concurrency; do
        t=$((c < threads ? c : threads))
        line=$(GLOSSA_BODY_FILE="$work/body-$n.json" wrk -t"$t" -c"$c" -d"${seconds}s" --timeout "${timeout}s" \
            -s "$work/post.lua" "$url/v1/embeddings" | grep '^RESULT' || true)
        if [ -z "$line" ]; then
            echo "wrk gave no result for $n inputs, $c connections" >&2
            exit 1
        fi
        IFS=$'\t' read -r _ requests rps p50 p99 _max non2xx socket _ok <<< "$line"
        printf '| %s | %s | %s | %s | %.0f | %s | %s | %s | %s |\n' "$n" "$c" "$requests" "$rps" \
            "$(awk -v r="$rps" -v n="$n" 'BEGIN{print r * n}')" "$p50" "$p99" "$non2xx" "$socket"
    done
done

# What the server saw: how far concurrent requests were merged into encoder calls.
metrics=$(curl -s "$url/metrics" 2>/dev/null || true)
if [ -n "$metrics" ] && [ -n "$concurrency" ] && [ -n "$inputs_per_request" ]; then
    calls=$(awk '/^glossa_batch_size_count/{print $2}' <<< "$metrics")
    embedded=$(awk '/^glossa_inputs_embedded_total/{print $2}' <<< "$metrics")
    echo "server: $embedded inputs in $calls encoder calls (mean $(awk -v e="$embedded" -v c="$calls" 'BEGIN{printf "%.1f", e / c}') per call)"
fi

# The slow-client cases, on a server of their own with a small connection cap and queue.
[ -n "$slow_clients" ] || exit 0
stop_server
start_server --max-connections "$slow_cap" --max-queue "$slow_queue"
addr=${url#http://}
request_body "$slow_inputs" > "$work/body-slow.json"
echo
placement="share the cores"
[ -z "$server_cpus" ] || placement="run on CPUs $client_cpus at nice $attack_nice, the server alone on CPUs $server_cpus"
echo "slow clients: $slow_connections well-behaved connections (wrk -t$threads${slow_delay_ms:+, $slow_delay_ms ms between requests}), $slow_inputs inputs per" \
    "request, $seconds s per case after 2 s of attack; server --max-connections $slow_cap" \
    "--max-queue $slow_queue, other flags default; the bad clients (Python, from $attack_from)" \
    "$placement"
printf '| bad clients | well-behaved 2xx/s | vs unloaded | p50 ms | p99 ms | non-2xx | socket errors |'
printf ' /health p50 / p99 / max ms | /health failures | what the bad clients saw |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
# How many of each: as the issue's cases (16 stalls, 64 non-readers, 2x the cap, 2x the queue).
attack_args() {
    case $1 in
        stalled-head | stalled-body) echo "--count 16" ;;
        never-reading) echo "--count 64 --inputs 2048" ;;
        idle-sockets | idle-churn) echo "--count $((2 * slow_cap))" ;;
        flood) echo "--count $((2 * slow_queue)) --inputs $slow_inputs" ;;
        *) echo "unknown slow-client case '$1'" >&2; exit 2 ;;
    esac
}
unloaded=""
# Unloaded first and last: the last row shows how far the machine drifted meanwhile.
for case in none $slow_clients none; do
    attacker=""
    : > "$work/attack"
    if [ "$case" != none ]; then
        # shellcheck disable=SC2046 # attack_args is a list of flags
        on_cpus "$client_cpus" nice -n "$attack_nice" \
            python3 scripts/hostile_clients.py attack "$case" "$addr" $((seconds + 3)) \
            $(attack_args "$case") --from "$attack_from" > "$work/attack" &
        attacker=$!
        sleep 2
    fi
    on_cpus "$client_cpus" python3 scripts/hostile_clients.py health "$addr" "$seconds" \
        > "$work/health" &
    prober=$!
    line=$(GLOSSA_BODY_FILE="$work/body-slow.json" GLOSSA_DELAY_MS="$slow_delay_ms" \
        wrk -t"$threads" -c"$slow_connections" \
        -d"${seconds}s" --timeout "${timeout}s" -s "$work/post.lua" "$url/v1/embeddings" \
        | grep '^RESULT' || true)
    wait "$prober"
    [ -z "$attacker" ] || wait "$attacker"
    [ -n "$line" ] || { echo "wrk gave no result for the $case case" >&2; exit 1; }
    IFS=$'\t' read -r _ _requests _rps p50 p99 _max non2xx socket ok <<< "$line"
    IFS=$'\t' read -r _ h50 h99 hmax _probes hfail < "$work/health"
    [ -n "$unloaded" ] || unloaded=$ok
    printf '| %s | %s | %s | %s | %s | %s | %s | %s / %s / %s | %s | %s |\n' "$case" "$ok" \
        "$(awk -v o="$ok" -v u="$unloaded" 'BEGIN{printf "%+.0f%%", 100 * (o / u - 1)}')" \
        "$p50" "$p99" "$non2xx" "$socket" "$h50" "$h99" "$hmax" "$hfail" \
        "$(sed 's/^[^:]*: //' "$work/attack")"
    sleep 1
done
