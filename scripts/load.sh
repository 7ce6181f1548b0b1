#!/usr/bin/env bash
# Load-test munji's token endpoints on PostgreSQL + Redis: the server pinned to core 0, the load
# generator (examples/load.rs) to core 1, PostgreSQL and Redis sharing the machine.
#   scripts/load.sh [SECONDS] [CONCURRENCY]
# Needs PostgreSQL (trust auth for user postgres) and Redis on localhost, and taskset.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
concurrency=${2:-32}
cargo build --release --quiet --bin munji --example load
munji=$PWD/target/release/munji
load=$PWD/target/release/examples/load

db=munji_load_$$
psql -q -U postgres -h 127.0.0.1 -c "CREATE DATABASE $db"
work=$(mktemp -d)
export RUST_LOG=warn
export MUNJI_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db
export MUNJI_REDIS_URL=redis://127.0.0.1:6379
export MUNJI_REDIS_PREFIX=munji-load-$$:
export MUNJI_BIND=127.0.0.1:18080
export MUNJI_PUBLIC_URL=http://127.0.0.1:18080
cleanup() {
    [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    psql -q -U postgres -h 127.0.0.1 -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
    redis-cli --scan --pattern "munji-load-$$:*" | xargs -r redis-cli del >/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$munji" migrate >/dev/null
svc_secret=$("$munji" clients add --id bench-svc --grant client_credentials --scope gmail.vend | awk '/^client_secret:/ {print $2}')
web_secret=$("$munji" clients add --id bench-web --redirect-uri https://bench.example/cb | awk '/^client_secret:/ {print $2}')

(cd "$work" && exec taskset -c 0 "$munji" serve --dev) &
server=$!
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18080/readyz >/dev/null && break; sleep 0.1; done

for mode in client_credentials refresh introspect verify; do
    taskset -c 1 "$load" --base http://127.0.0.1:18080 --mode "$mode" --seconds "$seconds" --concurrency "$concurrency" \
        --service-id bench-svc --service-secret="$svc_secret" --web-id bench-web --web-secret="$web_secret"
done
