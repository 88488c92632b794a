#!/usr/bin/env bash
# Runs the whole test suite (unit, integration, doc tests). Needs a Rust toolchain; the few
# system tools besides (a C compiler, gzip, Prometheus for the metrics tests) are installed by
# scripts/deps.sh if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh --tests
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rill-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# The shared target directory outlives clones; when its disk runs low, drop what cargo can
# rebuild (incremental caches first, then the whole directory) rather than fail mid-link.
free_gib() {
    mkdir -p "$CARGO_TARGET_DIR"
    df -Pk "$CARGO_TARGET_DIR" | awk 'NR == 2 { print int($4 / 1048576) }'
}
if [ "$(free_gib)" -lt 20 ]; then
    echo "test.sh: under 20 GiB free; removing $CARGO_TARGET_DIR/*/incremental" >&2
    rm -rf "$CARGO_TARGET_DIR"/*/incremental
fi
if [ "$(free_gib)" -lt 20 ]; then
    echo "test.sh: still under 20 GiB free; cargo clean" >&2
    cargo clean
fi
# Every test binary runs even when one fails (cargo stops at the first failing binary
# otherwise); the script still exits non-zero if any test failed.
status=0
# The example binary with a user's SQL function, which tests/sql_udf.rs runs.
cargo build --example sql_udf || status=$?
cargo test --no-fail-fast --lib --bins --tests || status=$?
cargo test --no-fail-fast --doc || status=$?
exit "$status"
