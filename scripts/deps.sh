#!/usr/bin/env bash
# The system tools Rill's build and tests use besides a Rust toolchain: a C compiler (the
# mimalloc allocator is C, built by the `cc` crate) and gzip (the window oracles in
# tests/data are gzipped). Installs what is missing with apt-get when run as root.
set -euo pipefail
missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
command -v gzip >/dev/null 2>&1 || missing+=(gzip)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -q && apt-get install -y -q "${missing[@]}"
  else
    echo "rill: please install: ${missing[*]}" >&2
    exit 1
  fi
fi
