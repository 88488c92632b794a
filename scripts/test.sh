#!/usr/bin/env bash
# Runs the whole test suite (unit, integration, doc tests). Needs a Rust toolchain; the few
# system tools besides (a C compiler, gzip) are installed by scripts/deps.sh if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rill-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo test --lib --bins --tests
cargo test --doc
