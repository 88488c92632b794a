#!/usr/bin/env bash
# The system packages Rill's build and tests use besides a Rust toolchain: a C compiler (the
# mimalloc allocator is C, built by the `cc` crate), gzip (the window oracles in tests/data
# are gzipped), and RocksDB: Debian's librocksdb (linked instead of building RocksDB's C++
# sources, see .cargo/config.toml) with the libclang that the `rocksdb` crate's bindgen needs.
# With `--tests`, also what the tests run against: Debian's `prometheus` (the server, and the
# `promtool` that checks the metrics exposition), and for the dashboard's browser test Debian's
# `chromium` and `nodejs`/`npm`, with npm's `playwright-core` (pinned) in ~/.cache/rill-npm,
# and for the object-store checkpoint tests an S3 API server: PyPI's `moto[s3]` (pinned) in a
# virtual environment at ~/.cache/rill-moto (Debian's `python3-venv`); for the HA tests
# Debian's `etcd-server`.
# Installs what is missing with apt-get when run as root.
set -euo pipefail
missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
command -v gzip >/dev/null 2>&1 || missing+=(gzip)
command -v curl >/dev/null 2>&1 || missing+=(curl)
for pkg in librocksdb-dev libclang1-14 libclang-common-14-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
lean=()
if [ "${1:-}" = "--tests" ]; then
  command -v promtool >/dev/null 2>&1 || lean+=(prometheus)
  [ -x /usr/bin/chromium ] || lean+=(chromium)
  command -v node >/dev/null 2>&1 || lean+=(nodejs)
  command -v npm >/dev/null 2>&1 || lean+=(npm)
  python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || lean+=(python3-venv)
  command -v etcd >/dev/null 2>&1 || lean+=(etcd-server)
fi
if [ ${#missing[@]} -gt 0 ] || [ ${#lean[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -q
    if [ ${#missing[@]} -gt 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    fi
    # Without recommends: Prometheus's pull in a web console's JavaScript the tests do not use.
    if [ ${#lean[@]} -gt 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${lean[@]}"
    fi
  else
    echo "rill: please install: ${missing[*]} ${lean[*]}" >&2
    exit 1
  fi
fi

if [ "${1:-}" = "--tests" ]; then
  PLAYWRIGHT_VERSION=1.65.2
  npm_dir="$HOME/.cache/rill-npm"
  installed=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' \
    "$npm_dir/node_modules/playwright-core/package.json" 2>/dev/null | head -1 || true)
  if [ "$installed" != "$PLAYWRIGHT_VERSION" ]; then
    mkdir -p "$npm_dir"
    npm install --silent --no-audit --no-fund --prefix "$npm_dir" "playwright-core@$PLAYWRIGHT_VERSION"
  fi
fi

if [ "${1:-}" = "--tests" ]; then
  MOTO_VERSION=5.2.6
  moto_dir="$HOME/.cache/rill-moto"
  if ! "$moto_dir/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    rm -rf "$moto_dir"
    python3 -m venv "$moto_dir"
    "$moto_dir/bin/pip" install -q --disable-pip-version-check "moto[s3]==$MOTO_VERSION" flask flask-cors
  fi
fi
