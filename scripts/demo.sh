#!/usr/bin/env bash
# Builds Rill and runs the word count demo job at parallelism 2 on an embedded mini cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rill-target}"
cargo build --release --quiet
out="$CARGO_TARGET_DIR/demo"
mkdir -p "$out"
# A small input: the project's own docs, 200 times over.
for _ in $(seq 200); do cat README.md src/lib.rs; done > "$out/words.txt"
"$CARGO_TARGET_DIR/release/rill" run --local -p 2 wordcount --input "$out/words.txt" --output "$out/counts.csv"
echo "The 10 most frequent words ($out/counts.csv):"
sort -t, -k2 -nr "$out/counts.csv" | head -10
