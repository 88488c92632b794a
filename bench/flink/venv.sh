# Sourced by the side-by-side scripts: makes sure $VENV (default $HOME/.cache/flink-venv) has
# PyFlink 2.3 (`apache-flink==2.3.0`) and sets PY to its Python.
VENV="${VENV:-$HOME/.cache/flink-venv}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import pyflink' 2>/dev/null; then
  echo "creating venv $VENV with apache-flink==2.3.0" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q apache-flink==2.3.0
fi
PY="$VENV/bin/python"
