#!/usr/bin/env bash
# Soak munji on PostgreSQL + Redis under the mixed load of examples/load.rs (sign-ins, refresh
# rotations, verifies, Gmail vends) and watch the server's memory: munji pinned to core 0, the
# load generator to core 1, the server's RSS (VmRSS) sampled every 10 s into a file.
#   scripts/soak.sh [SECONDS] [CONCURRENCY]          (default 600 s, 16 connections)
# Ends with a block to paste into docs/operations.md. Fails when more than 0.1% of operations fail.
# Needs what scripts/load.sh needs (see scripts/lib/bench-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
concurrency=${2:-16}
interval=10
warmup=10
source scripts/lib/bench-env.sh

mkdir -p target/soak
stamp=$(date +%Y%m%dT%H%M%S)
rss_file=$PWD/target/soak/rss-$stamp.tsv
summary_file=$PWD/target/soak/summary-$stamp.md

bench_build
bench_env
bench_clients
bench_serve
bench_busy

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$server/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

idle=$(rss_kib)
echo -e "seconds\trss_kib" >"$rss_file"
began=$(date +%s)
(   # every $interval s from the start of the load, until killed (with its sleep)
    trap 'kill $! 2>/dev/null; exit 0' TERM
    next=$began
    while kill -0 "$server" 2>/dev/null; do
        echo -e "$(($(date +%s) - began))\t$(rss_kib)" >>"$rss_file"
        next=$((next + interval))
        sleep $((next > $(date +%s) ? next - $(date +%s) : 0)) &
        wait $!
    done
) &
bench_pids+=($!)

echo "soak: mixed load for $seconds s with $concurrency connections; munji pid $server; RSS samples in $rss_file"
status=0
bench_load mixed "$seconds" "$concurrency" --markdown --max-error-rate 0.1 >"$summary_file" || status=$?
kill "${bench_pids[@]}" 2>/dev/null || true
if ! kill -0 "$server" 2>/dev/null; then
    echo "munji exited during the soak" >&2
    bench_server_log >&2
    exit 1
fi
end=$(rss_kib)
echo -e "$(($(date +%s) - began))\t$end" >>"$rss_file"
peak=$(awk '/^VmHWM:/ {print $2}' "/proc/$server/status")

# RSS after warm-up: the first sample at least $warmup s into the load (the first, if none is).
start=$(awk -v w="$warmup" 'NR > 1 && $1 >= w {print $2; exit}' "$rss_file")
start=${start:-$(awk 'NR == 2 {print $2}' "$rss_file")}
max=$(awk 'NR > 1 && $2 > m {m = $2} END {print m}' "$rss_file")
samples=$(($(wc -l <"$rss_file") - 1))
db_size=$(psql -tA -U postgres -h 127.0.0.1 -c "SELECT pg_size_pretty(pg_database_size('$bench_db'))")
rows=$(psql -tA -F ' ' -U postgres -h 127.0.0.1 -d "$bench_db" \
    -c "SELECT (SELECT count(*) FROM refresh_tokens), (SELECT count(*) FROM audit_events)" || echo '? ?')
redis_keys=$(redis-cli --scan --pattern "$MUNJI_REDIS_PREFIX*" | wc -l)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src migrations Cargo.toml Cargo.lock 2>/dev/null || commit="$commit with local changes"

echo
bench_server_log
echo
echo "----- soak summary (paste into docs/operations.md) -----"
cat <<BLOCK
Soak, \`scripts/soak.sh $seconds $concurrency\` ($(date +%Y-%m-%d), commit $commit; release build;
munji pinned to core 0, \`examples/load.rs --mode mixed\` with $concurrency connections to core 1,
PostgreSQL and Redis on the same $(nproc) cores, which were ${bench_busy}% busy before the run; $seconds s of
sign-ins, refresh rotations, verifies and Gmail vends in the shares below):

| munji RSS | MiB |
|---|---|
| idle, before the load | $(mib "$idle") |
| after ${warmup} s of load (start) | $(mib "$start") |
| at the end ($seconds s) | $(mib "$end") |
| max of $samples samples (every ${interval} s) | $(mib "$max") |
| peak (VmHWM) | $(mib "$peak") |
| growth, start to end | $(awk -v s="$start" -v e="$end" 'BEGIN {printf "%+.1f", (e - s) / 1024}') |

$(cat "$summary_file")

At the end: PostgreSQL database $db_size (rows: ${rows% *} refresh_tokens, ${rows#* } audit_events),
$redis_keys Redis keys under the run's prefix.
BLOCK
echo "------------------------------------------------"
echo "RSS samples: $rss_file"
exit "$status"
