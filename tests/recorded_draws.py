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
                for field, value in _fields(params).items()
            }
    return out


def _fields(params):
    """The draw as 0.1.0 recorded it: lambdas, partners, CutMix's boxes or
    segments, and with both methods whether each example (or the batch)
    is CutMix's (the method of index 1)."""
    fields = {"lam": params.lam, "perm": params.perm}
    for region in params.regions:
        if region is not None:
            fields.update(region._asdict())
    if params.method is not None:
        fields["cutmix"] = keras.ops.equal(params.method, 1)
    return fields


# The draws of `MixupModel`'s own step, from its flat settings: the recipes
# of several methods (ResizeMix, FMix, `method_probs` per batch, pair and
# example, `prob` < 1), sequences and videos. Recorded with 0.2.0 (before
# the methods became objects): each entry holds two consecutive steps'
# lambdas, partners, the mixed inputs of a fixed batch and the per-pixel (or
# per-example) weights of each example's own target, so that a change of
# any method's stream or arithmetic shows.
MODEL_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recorded_model_draws.json")

FOUR = dict(alpha=1.0, cutmix_alpha=1.0, resizemix_alpha=1.0, fmix_alpha=1.0)
FOUR_PROBS = {"mixup": 0.4, "cutmix": 0.1, "resizemix": 0.2, "fmix": 0.3}
IMAGE = (6, 5, 1)
MODEL_SETTINGS = {
    "resizemix": (IMAGE, dict(alpha=0.0, resizemix_alpha=1.0)),
    "fmix": (IMAGE, dict(alpha=0.0, fmix_alpha=1.0)),
    "fmix_soft": (IMAGE, dict(alpha=0.0, fmix_alpha=0.5, fmix_max_soft=0.2, fmix_decay_power=2.0)),
    "four_batch": (IMAGE, dict(FOUR, method_probs=FOUR_PROBS)),
    "four_elem": (IMAGE, dict(FOUR, method_probs=FOUR_PROBS, mode="elem")),
    "four_pair": (IMAGE, dict(FOUR, method_probs=FOUR_PROBS, mode="pair")),
    "four_prob": (IMAGE, dict(FOUR, prob=0.6, mode="elem", resizemix_lam_range=(0.2, 0.9))),
    "switch": (IMAGE, dict(alpha=0.4, cutmix_alpha=1.0, switch_prob=0.7, prob=0.8, mode="elem")),
    "minmax": (IMAGE, dict(alpha=0.3, cutmix_alpha=1.0, cutmix_minmax=(0.2, 0.7),
                           correct_lam=False, lambda_mode="per_batch")),
    "sequence": ((12, 2), dict(alpha=1.0, cutmix_alpha=1.0, fmix_alpha=1.0, mode="pair",
                               method_probs={"mixup": 0.3, "cutmix": 0.3, "fmix": 0.4})),
    "video": ((3, 6, 5, 1), dict(alpha=0.0, resizemix_alpha=1.0, fmix_alpha=1.0, mode="elem")),
}


def model_draws():
    """`{setting/seed: [step 1, step 2]}` of `MixupModel`'s own draws on the
    current backend (on TensorFlow outside XLA), batch 9, each step a dict
    of `lam`, `perm`, `mixed` (a fixed batch mixed) and `own` (each
    example's weight of its own per-pixel target)."""
    from mixup_model import MixupModel
    from mixup_model import mix_inputs
    from mixup_model import mix_targets

    batch = 9
    out = {}
    for name, (shape, settings) in MODEL_SETTINGS.items():
        x = np.random.default_rng(0).normal(size=(batch,) + shape).astype("float32")
        # Class ids per pixel (per step) of the cut input, for `own`.
        cells = shape[:-1] if len(shape) != 4 else shape[1:3]
        y = np.zeros((batch,) + cells, "int32")
        y_pred = np.zeros((batch,) + cells + (3,), "float32")
        image_size = cells
        mask_shape = shape[:-1]
        for s in (0, 1):
            inner = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(3)])
            model = MixupModel(inner, seed=s, **settings)
            steps = []
            for _ in range(2):
                params = model.sample_mix_params(batch, image_size=image_size, mask_shape=mask_shape)
                targets = mix_targets(y, y_pred, None, params, cut_dims=image_size)
                steps.append({
                    "lam": keras.ops.convert_to_numpy(params.lam).tolist(),
                    "perm": keras.ops.convert_to_numpy(params.perm).tolist(),
                    "mixed": keras.ops.convert_to_numpy(mix_inputs(x, params)).tolist(),
                    "own": keras.ops.convert_to_numpy(targets.loss_terms[0][1]).tolist(),
                })
            out[f"{name}/{s}"] = steps
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
    recorded = {}
    if os.path.exists(MODEL_PATH):
        with open(MODEL_PATH) as f:
            recorded = json.load(f)
    recorded[keras.backend.backend()] = model_draws()
    with open(MODEL_PATH, "w") as f:
        json.dump(recorded, f, sort_keys=True, separators=(",", ":"))
    print(f"recorded the {keras.backend.backend()} model draws in {MODEL_PATH}")


if __name__ == "__main__":
    main()
