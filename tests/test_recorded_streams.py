"""The λ streams of every recipe, pinned: the draws of `MixupModel`'s own
step for its flat settings (tests/recorded_draws.py, `model_draws`) are bit
for bit the ones recorded with 0.2.0, on every backend."""

import json

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
                assert observed[field] == values, f"{key}, step {step + 1}: {field}"
