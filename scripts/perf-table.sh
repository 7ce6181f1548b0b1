#!/usr/bin/env bash
# The performance table of the README: munji on PostgreSQL + Redis against node oidc-provider 9
# (installed from the npm registry into a temporary folder), both pinned to core 0 in turn, the
# load generator (examples/load.rs) on core 1; the median of RUNS runs of SECONDS each per row,
# and munji's largest RSS while under load.
#   scripts/perf-table.sh [SECONDS] [RUNS] [CONCURRENCY]
# Rate limits stay on (counted in Redis) but far above what the machine can send. Needs what
# scripts/load.sh needs, and node with npm.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
runs=${2:-3}
concurrency=${3:-32}
source scripts/lib/bench-env.sh

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
throughput() { sed -n 's/.*throughput=\([0-9]*\)\/s.*/\1/p' | head -n1; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

bench_build
bench_env
bench_clients
bench_serve
bench_busy
busy_before=$bench_busy
declare -A munji_rate peer_rate
peak_rss=0
for mode in discovery client_credentials introspect verify refresh; do
    rates=()
    for _ in $(seq 1 "$runs"); do
        out=$(bench_load "$mode" "$seconds" "$concurrency" --max-error-rate 0.1)
        rates+=("$(throughput <<<"$out")")
        rss=$(rss_kib "$server")
        [ "$rss" -gt "$peak_rss" ] && peak_rss=$rss
    done
    munji_rate[$mode]=$(printf '%s\n' "${rates[@]}" | median)
    echo "munji $mode: ${rates[*]} -> ${munji_rate[$mode]}/s" >&2
done
bench_server_log >&2

peer=$bench_work/peer
mkdir -p "$peer"
cp scripts/peer/oidc-provider.mjs "$peer/"
(cd "$peer" && npm init -y >/dev/null && npm install --silent oidc-provider@9 >/dev/null)
export PEER_SECRET=peer-secret-of-sufficient-length-0123456789
peer_port=18081
peer_run() {  # FORMAT MODE EXTRA…: the median throughput of RUNS runs against a fresh peer
    (cd "$peer" && exec taskset -c 0 node oidc-provider.mjs "$peer_port" "$1" >>"$peer/node.log" 2>&1) &
    local node=$! rates=() _
    bench_pids+=("$node")
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$peer_port/.well-known/openid-configuration" >/dev/null && break; sleep 0.1; done
    for _ in $(seq 1 "$runs"); do
        rates+=("$(taskset -c 1 "$load" --base "http://127.0.0.1:$peer_port" --mode "$2" --seconds "$seconds" \
            --concurrency "$concurrency" --service-id bench-svc --service-secret="$PEER_SECRET" --web-id none \
            --web-secret=none "${@:3}" | throughput)")
    done
    kill "$node"; wait "$node" 2>/dev/null || true
    echo "oidc-provider $2: ${rates[*]}" >&2
    printf '%s\n' "${rates[@]}" | median
}
peer_rate[discovery]=$(peer_run jwt discovery)
peer_rate[client_credentials]=$(peer_run jwt client_credentials)
peer_rate[introspect]=$(peer_run opaque introspect --token-from-client-credentials --introspect-path /token/introspection)
bench_busy
echo
echo "| endpoint | munji | oidc-provider 9 | ratio |"
echo "|---|---|---|---|"
for mode in discovery client_credentials introspect verify refresh; do
    m=${munji_rate[$mode]} p=${peer_rate[$mode]:-}
    if [ -n "$p" ]; then
        echo "| $mode | $m/s | $p/s | $(awk -v m="$m" -v p="$p" 'BEGIN {printf "%.2f×", m / p}') |"
    else
        echo "| $mode | $m/s | — | — |"
    fi
done
echo "| munji RSS under load (peak of the samples) | $((peak_rss / 1024)) MB | | |"
echo
echo "(${seconds} s × ${runs} runs, ${concurrency} connections; CPUs ${busy_before}% busy before, ${bench_busy}% after the munji runs)"
