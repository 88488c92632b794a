#!/usr/bin/env bash
# Runs the whole test suite (unit, integration, doc tests). Needs only a Rust toolchain: Rill
# has no system dependencies yet.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rill-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo test --lib --bins --tests
cargo test --doc
