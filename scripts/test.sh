#!/usr/bin/env bash
# Runs the whole test suite (unit, integration, doc tests). Needs a Rust toolchain; the few
# system tools besides (a C compiler, gzip, Prometheus for the metrics tests) are installed by
# scripts/deps.sh if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh --tests
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rill-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Every test binary runs even when one fails (cargo stops at the first failing binary
# otherwise); the script still exits non-zero if any test failed.
status=0
# The example binary with a user's SQL function, which tests/sql_udf.rs runs.
cargo build --example sql_udf || status=$?
cargo test --no-fail-fast --lib --bins --tests || status=$?
cargo test --no-fail-fast --doc || status=$?
exit "$status"
