#!/usr/bin/env bash
# The test command: sets up .venv and runs the whole suite on the Keras
# backend named by KERAS_BACKEND (tensorflow by default; jax and torch
# install their extra). Extra arguments go to pytest, e.g.
#   KERAS_BACKEND=jax bash scripts/test.sh -q
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
backend="${KERAS_BACKEND:-tensorflow}"
case "$backend" in
  tensorflow) extras="test" ;;
  jax|torch) extras="test,$backend" ;;
  *) echo "KERAS_BACKEND must be tensorflow, jax or torch; got '$backend'" >&2; exit 2 ;;
esac
venv_python="$(bash "$repo/scripts/setup_env.sh" "$extras")"
cd "$repo"
export KERAS_BACKEND="$backend"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$venv_python" -m pytest "$@"
