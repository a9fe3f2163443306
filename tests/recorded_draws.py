"""The single-device draws of `sample_batch_params` at fixed seeds, per
backend, as recorded in `tests/recorded_draws.json`: a change that alters a
λ stream (and with it the recorded experiments) fails
`test_single_device_draws_are_the_recorded_ones` until it is recorded anew
on purpose, on each backend:

    KERAS_BACKEND=<backend> .venv/bin/python -m tests.recorded_draws
"""

import json
import os

import keras
import numpy as np

from mixup_model import sample_batch_params

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recorded_draws.json")

SETTINGS = {
    "mixup": dict(alpha=0.2),
    "per_batch": dict(alpha=0.4, lambda_mode="per_batch"),
    "cutmix": dict(alpha=0.2, cutmix_alpha=1.0, cutmix=True, image_size=(16, 12)),
    "minmax": dict(alpha=0.2, cutmix_alpha=1.0, cutmix=True, image_size=(16, 12),
                   cutmix_minmax=(0.2, 0.6), prob=0.7),
    "elem": dict(alpha=0.4, cutmix_alpha=1.0, cutmix=True, image_size=(8, 8), mode="elem"),
    "pair": dict(alpha=0.4, cutmix_alpha=1.0, cutmix=True, image_size=(8, 8), mode="pair"),
    "segment": dict(alpha=0.4, cutmix_alpha=1.0, cutmix=True, sequence_length=20),
}


def draws():
    """`{setting/seed: {field: values}}` drawn on the current backend (on
    TensorFlow outside XLA), batch 9 (odd, for `mode="pair"`)."""
    out = {}
    for name, settings in SETTINGS.items():
        for s in (0, 1):
            params = sample_batch_params(9, np.array([s, 7], "int32"), **settings)
            out[f"{name}/{s}"] = {
                field: keras.ops.convert_to_numpy(value).tolist()
                for field, value in params._asdict().items()
                if value is not None and not isinstance(value, bool)
            }
    return out


def main():
    recorded = {}
    if os.path.exists(PATH):
        with open(PATH) as f:
            recorded = json.load(f)
    recorded[keras.backend.backend()] = draws()
    with open(PATH, "w") as f:
        json.dump(recorded, f, indent=1, sort_keys=True)
    print(f"recorded the {keras.backend.backend()} draws in {PATH}")


if __name__ == "__main__":
    main()
