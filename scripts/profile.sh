#!/usr/bin/env bash
# Where munji's CPU goes under one load: the server (release build, PostgreSQL + Redis, pinned
# to core 0) is sampled with `perf record -g` while examples/load.rs drives MODE from core 1;
# then the share of samples per library and the hottest functions are printed. The raw data
# stays in target/profile-MODE.data for `perf report -i …` (or a flame graph).
#   scripts/profile.sh MODE [SECONDS]    MODE: discovery, client_credentials, introspect, verify, refresh
# Needs what scripts/load.sh needs, and `perf` (linux-perf).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: scripts/profile.sh MODE [SECONDS]}
seconds=${2:-10}
command -v perf >/dev/null || { echo "perf is needed (apt-get install linux-perf)"; exit 1; }
source scripts/lib/bench-env.sh

bench_build
bench_env
bench_clients
bench_serve
data=${CARGO_TARGET_DIR:-$PWD/target}/profile-$mode.data
perf record -q -g -p "$server" -o "$data" -- sleep "$((seconds + 1))" &
recorder=$!
bench_load "$mode" "$seconds" 32
wait "$recorder" || true
echo "== share of munji's samples by library"
perf report -q -i "$data" --no-children --sort dso --percent-limit 2 --stdio -g none 2>/dev/null \
    | grep -v '^$' | sed 's/ *$//' | head -n 12
echo "== hottest functions (self time)"
perf report -q -i "$data" --no-children --sort symbol --percent-limit 1.5 --stdio -g none 2>/dev/null \
    | grep -v '^$' | sed 's/[ -]*$//' | head -n 20
bench_server_log
