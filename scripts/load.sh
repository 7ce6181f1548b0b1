#!/usr/bin/env bash
# Load-test munji's token endpoints and Gmail vending on PostgreSQL + Redis: the server pinned to
# core 0, the load generator (examples/load.rs) to core 1, PostgreSQL and Redis sharing the
# machine; one mode after the other against one server.
#   scripts/load.sh [SECONDS] [CONCURRENCY]
# Needs PostgreSQL (trust auth for user postgres) and Redis on localhost, and taskset (the setup
# is scripts/lib/bench-env.sh, shared with scripts/soak.sh). Fails when more than 0.1% of a
# mode's operations fail.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
concurrency=${2:-32}
source scripts/lib/bench-env.sh

bench_build
bench_env
bench_clients
bench_serve
bench_busy
for mode in client_credentials refresh introspect verify vend; do
    bench_load "$mode" "$seconds" "$concurrency" --max-error-rate 0.1
done
bench_server_log
