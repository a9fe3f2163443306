#!/usr/bin/env bash
# The library's core tests at the oldest versions it declares: Keras, JAX,
# numpy and tensorboard pinned to the floors in setup.cfg (`>=` read as
# `==`), without TensorFlow, in a virtual environment of its own
# (.venv-floors). Extra arguments go to pytest.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
venv="$repo/.venv-floors"
pins="$venv/floors.txt"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv" >&2
fi
"$python" - "$repo/setup.cfg" > "$pins.new" <<'PY'
import configparser, re, sys
config = configparser.ConfigParser()
config.read(sys.argv[1])
options = config["options"]
floors = options["install_requires"].split() + config["options.extras_require"]["jax"].split()
for requirement in floors:
    name, version = re.fullmatch(r"([\w-]+)>=([\w.]+)", requirement).groups()
    print(f"{name}=={version}")
PY
if ! cmp -s "$pins" "$pins.new"; then
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
  "$venv/bin/python" -m pip install -q -c "$pins.new" -e "$repo[jax]" pytest hypothesis >&2
  mv "$pins.new" "$pins"
else
  rm "$pins.new"
fi
"$venv/bin/python" -c 'import importlib.metadata as m
print("== floors:", *(f"{p} {m.version(p)}" for p in ("keras", "jax", "jaxlib", "numpy", "tensorboard")))'
cd "$repo"
# The three model forms, saving and loading (every setting), targets, id
# inputs and their refusal, clean evaluation, TensorBoard without
# TensorFlow, the version check, RegMixup and TransMix (which reach into
# Keras's loss and attention layers), and ResizeMix, FMix (FMix's FFTs) and
# their recipe with mixup and CutMix.
KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=2 exec "$venv/bin/python" -m pytest \
  tests/test_model.py tests/test_inputs.py tests/test_mixing.py \
  tests/test_settings.py tests/test_tensorboard.py tests/test_summaries.py \
  tests/test_versions.py tests/test_regmixup.py tests/test_transmix.py \
  tests/test_resizemix_fmix.py tests/test_recipe.py "$@"
