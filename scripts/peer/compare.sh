#!/usr/bin/env bash
# Compare node `oidc-provider` (npm) with munji's figures on this machine: the same load
# generator (examples/load.rs), the server pinned to core 0, the load to core 1.
#   scripts/peer/compare.sh [SECONDS] [CONCURRENCY]
# Installs oidc-provider@9 into a temporary folder (npm registry); nothing is committed.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-15}
concurrency=${2:-32}
cargo build --release --quiet --example load
load=${CARGO_TARGET_DIR:-$PWD/target}/release/examples/load
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cp scripts/peer/oidc-provider.mjs "$work/"
(cd "$work" && npm init -y >/dev/null && npm install --silent oidc-provider@9 >/dev/null)
export PEER_SECRET=peer-secret-of-sufficient-length-0123456789
run() {  # FORMAT MODE EXTRA...
    (cd "$work" && exec taskset -c 0 node oidc-provider.mjs 18081 "$1") &
    local server=$!
    for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18081/.well-known/openid-configuration >/dev/null && break; sleep 0.1; done
    taskset -c 1 "$load" --base http://127.0.0.1:18081 --mode "$2" --seconds "$seconds" --concurrency "$concurrency" \
        --service-id bench-svc --service-secret="$PEER_SECRET" --web-id none --web-secret=none "${@:3}" | sed 's/^/oidc-provider /'
    kill "$server"; wait "$server" 2>/dev/null || true
}
run jwt client_credentials
run opaque introspect --token-from-client-credentials --introspect-path /token/introspection
