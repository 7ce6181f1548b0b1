#!/usr/bin/env bash
# Fuzz every target in fuzz/ for SECONDS each (default 30): scripts/fuzz.sh [SECONDS]
#
# Installs cargo-fuzz when it is missing, builds all targets, then runs each one on a temporary
# copy of its seed corpus (fuzz/corpus/<target>/), so what the fuzzer adds never lands in the
# tree. Exits non-zero when any target crashes, hangs (10 s per input) or runs out of memory;
# the input that did it is kept in fuzz/artifacts/<target>/ (reproduce with
# `cargo fuzz run --sanitizer none <target> fuzz/artifacts/<target>/<file>` in fuzz/).
#
# Stable Rust only: `--sanitizer none` needs no nightly flags (coverage instrumentation is all
# stable `-C` options), and munji forbids unsafe code, so AddressSanitizer would mostly watch
# dependencies. FUZZ_SANITIZER=address turns it on anyway, through RUSTC_BOOTSTRAP=1 (the stable
# compiler then accepts `-Zsanitizer`): a separate build in fuzz/target/address/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

per_target="${1:-30}"
[[ "$per_target" =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS]" >&2; exit 2; }
sanitizer="${FUZZ_SANITIZER:-none}"
flags=(--sanitizer "$sanitizer")
if [[ "$sanitizer" != none ]]; then
    export RUSTC_BOOTSTRAP=1
    flags+=(--target-dir "target/$sanitizer")
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

echo "== build (sanitizer: $sanitizer)"
SECONDS=0
cargo fuzz build "${flags[@]}"
echo "built in ${SECONDS}s"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

failed=()
summary=()
for target in $(cargo fuzz list); do
    echo "== $target (${per_target}s)"
    mkdir -p "$work/$target"
    cp -R "corpus/$target/." "$work/$target/"
    status=0
    cargo fuzz run "${flags[@]}" "$target" "$work/$target" -- \
        -max_total_time="$per_target" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        2>&1 | tee "$work/$target.log" || status=$?
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$target.log" | tail -n 1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$target.log" | tail -n 1)"
    summary+=("$(printf '%-16s %12s execs %8s/s  exit %s' "$target" "${runs:-?}" "${rate:-?}" "$status")")
    if [[ "$status" != 0 ]]; then
        failed+=("$target")
    fi
done

echo "== summary"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
    echo "FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
