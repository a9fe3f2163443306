#!/usr/bin/env bash
# Creates (or reuses) .venv in the repository and installs the package from
# setup.cfg with the extra of the Keras backend named by KERAS_BACKEND
# (tensorflow by default; jax, torch), plus the extras named in the first
# argument (e.g. "test" or "test,jax,torch"). Sourced by the other scripts;
# prints the venv's python on stdout.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
backend="${KERAS_BACKEND:-tensorflow}"
case "$backend" in
  tensorflow|jax|torch) ;;
  *) echo "KERAS_BACKEND must be tensorflow, jax or torch; got '$backend'" >&2; exit 2 ;;
esac
# The backend's extra first, then the others, each once.
extras="$(printf '%s\n' "$backend" ${1//,/ } | awk '!seen[$0]++' | paste -sd, -)"
python="${PYTHON:-python3}"
if [ ! -x "$repo/.venv/bin/python" ]; then
  "$python" -m venv "$repo/.venv" >&2
fi
venv_python="$repo/.venv/bin/python"
stamp="$repo/.venv/.installed-${extras//,/-}"
# Reinstall only when setup.cfg changed since the last install.
if [ ! -f "$stamp" ] || [ "$repo/setup.cfg" -nt "$stamp" ]; then
  "$venv_python" -m pip install -q --upgrade pip >&2
  "$venv_python" -m pip install -q -e "$repo[$extras]" >&2
  touch "$stamp"
fi
echo "$venv_python"
