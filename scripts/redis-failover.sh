#!/usr/bin/env bash
# The ephemeral store on Redis Sentinel and Redis Cluster: starts, with redis-server on free
# ports in a temporary folder, a primary with one replica watched by a Sentinel, and a cluster of
# three primaries; runs the store tests that need them (tests/store/ephemeral.rs: every operation
# and a cross-slot batch on both, and a Sentinel failover that fails at most the operations in
# flight while state, link intents, vending locks and counters survive); stops everything.
#   scripts/redis-failover.sh
# Takes well under a minute once built. Needs redis-server and redis-cli.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
serve() {  # DIR ARGS…
    mkdir -p "$work/$1"
    (cd "$work/$1" && exec redis-server "${@:2}" --save "" --appendonly no --logfile log) &
    pids+=($!)
}
wait_for() { for _ in $(seq 1 50); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }

primary=$(free_port) replica=$(free_port) sentinel=$(free_port)
serve primary --port "$primary"
serve replica --port "$replica" --replicaof 127.0.0.1 "$primary"
mkdir -p "$work/sentinel"
printf 'port %s\nsentinel monitor munji 127.0.0.1 %s 1\nsentinel down-after-milliseconds munji 1000\nsentinel failover-timeout munji 5000\n' \
    "$sentinel" "$primary" >"$work/sentinel/sentinel.conf"
(cd "$work/sentinel" && exec redis-server sentinel.conf --sentinel --logfile log) &
pids+=($!)

nodes=()
for i in 1 2 3; do
    port=$(free_port)
    serve "cluster$i" --port "$port" --cluster-enabled yes --cluster-config-file nodes.conf
    nodes+=("127.0.0.1:$port")
done
for p in "$primary" "$replica" "$sentinel" "${nodes[@]##*:}"; do wait_for "$p"; done
redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
for _ in $(seq 1 50); do
    redis-cli -p "${nodes[0]##*:}" cluster info | grep -q cluster_state:ok && break
    sleep 0.1
done

export MUNJI_TEST_SENTINEL_URL=redis+sentinel://127.0.0.1:$sentinel/munji
export MUNJI_TEST_CLUSTER_URL=redis+cluster://$(IFS=,; echo "${nodes[*]}")
cargo test --test store -- sentinel_and_cluster a_sentinel_failover --test-threads=1
