#!/usr/bin/env bash
# Creates (or reuses) .venv in the repository and installs the package from
# setup.cfg, with the extras named in the first argument (e.g. "test" or
# "test,jax"). Sourced by the
# other scripts; prints the venv's python on stdout.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
extra="${1:-}"
python="${PYTHON:-python3}"
if [ ! -x "$repo/.venv/bin/python" ]; then
  "$python" -m venv "$repo/.venv" >&2
fi
venv_python="$repo/.venv/bin/python"
stamp="$repo/.venv/.installed-${extra:-main}"
# Reinstall only when setup.cfg changed since the last install.
if [ ! -f "$stamp" ] || [ "$repo/setup.cfg" -nt "$stamp" ]; then
  "$venv_python" -m pip install -q --upgrade pip >&2
  if [ -n "$extra" ]; then
    "$venv_python" -m pip install -q -e "$repo[$extra]" >&2
  else
    "$venv_python" -m pip install -q -e "$repo" >&2
  fi
  touch "$stamp"
fi
echo "$venv_python"
