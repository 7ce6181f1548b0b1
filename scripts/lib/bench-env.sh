# Shared setup of scripts/load.sh and scripts/soak.sh; source it, do not run it.
#   bench_build                 release build of munji and examples/load.rs ($munji, $load)
#   bench_env                   a private PostgreSQL database and Redis prefix, dropped on exit
#   bench_clients               migrate; register bench-svc (client credentials, gmail.vend for
#                               any target) and bench-web ($svc_secret, $web_secret)
#   bench_serve                 `munji serve --dev` pinned to core 0 ($server: its pid), ready
#   bench_load MODE SECONDS CONCURRENCY [ARGS…]   the load generator pinned to core 1
#   bench_server_log            how many lines munji logged (warn and above), and the last few
#   bench_busy                  how busy the CPUs are (percent, over 1 s) before the run; warns
#                               when something else competes for them ($bench_busy)
# Needs PostgreSQL (trust auth for user postgres) and Redis on localhost, psql, redis-cli, curl
# and taskset. Anything in bench_pids is killed on exit, before the server.

bench_port=18080
bench_base=http://127.0.0.1:$bench_port
bench_pids=()

bench_build() {
    cargo build --release --quiet --bin munji --example load
    munji=${CARGO_TARGET_DIR:-$PWD/target}/release/munji
    load=${CARGO_TARGET_DIR:-$PWD/target}/release/examples/load
}

bench_cleanup() {
    local pid
    for pid in "${bench_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ -n "${server:-}" ]; then kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true; fi
    psql -q -U postgres -h 127.0.0.1 -c "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)" || true
    redis-cli --scan --pattern "$MUNJI_REDIS_PREFIX*" | xargs -r redis-cli del >/dev/null || true
    rm -rf "$bench_work"
}

bench_env() {
    bench_db=munji_bench_$$
    psql -q -U postgres -h 127.0.0.1 -c "CREATE DATABASE $bench_db"
    bench_work=$(mktemp -d)
    export RUST_LOG=warn
    export MUNJI_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$bench_db
    export MUNJI_REDIS_URL=redis://127.0.0.1:6379
    export MUNJI_REDIS_PREFIX=munji-bench-$$:
    export MUNJI_BIND=127.0.0.1:$bench_port
    export MUNJI_PUBLIC_URL=$bench_base
    # Every request comes from one IP and a handful of clients: the limits are raised far above
    # what this machine can send, so the runs measure the endpoints (the counting still happens).
    export MUNJI_RATE_LIMITS__PAGES=1000000/s
    export MUNJI_RATE_LIMITS__OAUTH=1000000/s
    export MUNJI_RATE_LIMITS__VEND=1000000/s
    trap bench_cleanup EXIT
}

bench_clients() {
    "$munji" migrate >/dev/null
    svc_secret=$("$munji" clients add --id bench-svc --grant client_credentials --scope gmail.vend --gmail-target '*' |
        awk '/^client_secret:/ {print $2}')
    web_secret=$("$munji" clients add --id bench-web --redirect-uri https://bench.example/cb |
        awk '/^client_secret:/ {print $2}')
}

bench_serve() {
    (cd "$bench_work" && exec taskset -c 0 "$munji" serve --dev >"$bench_work/server.log" 2>&1) &
    server=$!
    for _ in $(seq 1 100); do
        curl -sf "$bench_base/readyz" >/dev/null && return 0
        kill -0 "$server" 2>/dev/null || break
        sleep 0.1
    done
    echo "munji did not become ready:" >&2
    tail -n 20 "$bench_work/server.log" >&2
    return 1
}

bench_load() {  # MODE SECONDS CONCURRENCY [ARGS…]
    taskset -c 1 "$load" --base "$bench_base" --mode "$1" --seconds "$2" --concurrency "$3" \
        --service-id bench-svc --service-secret="$svc_secret" --web-id bench-web --web-secret="$web_secret" "${@:4}"
}

bench_server_log() {
    local log=$bench_work/server.log
    echo "munji's log (RUST_LOG=warn): $(wc -l <"$log") lines"
    if [ -s "$log" ]; then tail -n 5 "$log" | cut -c1-300 | sed 's/^/  /'; fi
}

bench_busy() {
    local a b
    read -ra a < <(head -n1 /proc/stat)
    sleep 1
    read -ra b < <(head -n1 /proc/stat)
    bench_busy=$(awk -v a="${a[*]:1}" -v b="${b[*]:1}" 'BEGIN {
        n = split(a, x); split(b, y)
        for (i = 1; i <= n; i++) { d = y[i] - x[i]; total += d; if (i == 4 || i == 5) idle += d }
        printf "%.0f", total ? 100 * (total - idle) / total : 0 }')
    if [ "$bench_busy" -gt 10 ]; then
        echo "warning: the CPUs are ${bench_busy}% busy before the run; the figures will be low:" >&2
        ps -eo pcpu,pid,comm --sort=-pcpu | head -n 4 | sed 's/^/  /' >&2
    fi
}
