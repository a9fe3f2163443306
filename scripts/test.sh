#!/usr/bin/env bash
# The test command: sets up .venv and runs the whole suite on the Keras
# backend named by KERAS_BACKEND (tensorflow by default, jax, torch; each
# installs its extra). Extra arguments go to pytest, e.g.
#   KERAS_BACKEND=jax bash scripts/test.sh -q
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KERAS_BACKEND="${KERAS_BACKEND:-tensorflow}"
# The backend's extra and the test tools.
venv_python="$(bash "$repo/scripts/setup_env.sh" test)"
cd "$repo"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$venv_python" -m pytest "$@"
