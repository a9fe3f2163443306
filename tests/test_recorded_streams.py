"""The λ streams of every recipe, pinned: the draws of `MixupModel`'s own
step for its flat settings (tests/recorded_draws.py, `model_draws`) are bit
for bit the ones recorded with 0.2.0, on every backend: lambdas, partners
and each example's (pixel's) own-target weight. The mixed inputs are too,
except on eager JAX, where a per-batch choice is applied by `lax.switch`,
which compiles its branches (as 0.2.0's `lax.cond` did for mixup or CutMix,
and unlike its recipes of more methods): there they may differ by a
rounding step (under `jax.jit`, as in training, they are bit for bit the same)."""

import json

import numpy as np

from tests import recorded_draws
from tests.backends import BACKEND


def test_model_draws_are_the_recorded_ones():
    with open(recorded_draws.MODEL_PATH) as f:
        recorded = json.load(f)[BACKEND]
    drawn = recorded_draws.model_draws()
    assert sorted(drawn) == sorted(recorded)
    for key, steps in recorded.items():
        for step, (expected, observed) in enumerate(zip(steps, drawn[key])):
            for field, values in expected.items():
                if field == "mixed" and BACKEND == "jax":
                    # A blend's rounding: within a float32 step of the inputs'
                    # scale (a few units).
                    np.testing.assert_allclose(observed[field], values, rtol=1e-6, atol=1e-6)
                else:
                    assert observed[field] == values, f"{key}, step {step + 1}: {field}"
