"""`.keras` files saved by earlier releases, and the λ streams they continue.

`tests/saved/` holds a wrapped, a subclassed and a functional `MixupModel`
saved (on TensorFlow) by 0.2.0 with its six rates, and the same three forms
saved before ResizeMix and FMix existed, with four rates. Each was trained
a few steps and had a rate moved by hand before it was saved, so that
loading it must restore the random state and the rates. `continuations.json`
holds, per backend, the next two draws of each file's model after loading
(lambdas and partners), recorded when the files were made:

    .venv/bin/python -m tests.saved_models save          # with the release's code
    KERAS_BACKEND=<backend> .venv/bin/python -m tests.saved_models record

The subclassed model's class is defined here, so that every release loads it.
"""

import json
import os
import sys

import keras
import numpy as np

from mixup_model import MixupModel

FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "saved")
CONTINUATIONS = os.path.join(FOLDER, "continuations.json")
IMAGE = (6, 6, 1)
BATCH = 8


@keras.saving.register_keras_serializable(package="tests")
class SavedNet(MixupModel):
    """A subclassed `MixupModel`, as the README writes one."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.flatten = keras.layers.Flatten()
        self.head = keras.layers.Dense(3, activation="softmax")

    def call(self, inputs, training=None):
        return self.head(self.flatten(inputs))


def _inner():
    return keras.Sequential(
        [keras.Input(IMAGE), keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")]
    )


def _functional(**settings):
    inputs = keras.Input(IMAGE)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs))
    return MixupModel(inputs=inputs, outputs=outputs, **settings)


# file name -> (form, settings, the rate moved before saving and its value)
SIX_RATES = {
    "wrapped_6": ("wrapped", dict(alpha=0.3, cutmix_alpha=1.0, resizemix_alpha=0.5, fmix_alpha=1.0,
                                  method_probs={"mixup": 0.4, "cutmix": 0.2, "resizemix": 0.2,
                                                "fmix": 0.2}, mode="elem", seed=11),
                  ("fmix_alpha", 0.7)),
    "subclassed_6": ("subclassed", dict(alpha=0.4, cutmix_alpha=1.0, switch_prob=0.3, seed=12),
                     ("switch_prob", 0.6)),
    "functional_6": ("functional", dict(alpha=0.0, fmix_alpha=1.0, resizemix_alpha=1.0, mode="pair",
                                        seed=13), ("resizemix_alpha", 0.5)),
}
FOUR_RATES = {
    "wrapped_4": ("wrapped", dict(alpha=0.2, cutmix_alpha=1.0, mode="pair", seed=21), ("alpha", 0.3)),
    "subclassed_4": ("subclassed", dict(alpha=0.4, prob=0.8, seed=22), ("prob", 0.5)),
    "functional_4": ("functional", dict(alpha=0.0, cutmix_alpha=1.0, cutmix_minmax=(0.2, 0.6),
                                        seed=23), ("cutmix_alpha", 0.5)),
}


def build(form, settings):
    if form == "wrapped":
        return MixupModel(_inner(), **settings)
    if form == "subclassed":
        return SavedNet(**settings)
    return _functional(**settings)


def data():
    rng = np.random.default_rng(0)
    return rng.random((4 * BATCH,) + IMAGE, dtype=np.float32), rng.integers(0, 3, 4 * BATCH)


def save(files):
    """Trains each model a few steps, moves a rate and saves it."""
    os.makedirs(FOLDER, exist_ok=True)
    x, y = data()
    for name, (form, settings, (rate, value)) in files.items():
        model = build(form, settings)
        model.compile("sgd", "sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
        setattr(model, rate, value)
        model.save(os.path.join(FOLDER, f"{name}.keras"))
        print("saved", name)


def next_draws(model):
    """The loaded model's next two draws: lambdas and partners."""
    draws = []
    for _ in range(2):
        params = model.sample_mix_params(BATCH, image_size=IMAGE[:2], mask_shape=IMAGE[:2])
        draws.append({
            "lam": keras.ops.convert_to_numpy(params.lam).tolist(),
            "perm": keras.ops.convert_to_numpy(params.perm).tolist(),
        })
    return draws


def saved_files():
    return sorted(f[: -len(".keras")] for f in os.listdir(FOLDER) if f.endswith(".keras"))


def load(name):
    return keras.models.load_model(os.path.join(FOLDER, f"{name}.keras"))


def record():
    recorded = {}
    if os.path.exists(CONTINUATIONS):
        with open(CONTINUATIONS) as f:
            recorded = json.load(f)
    recorded[keras.backend.backend()] = {name: next_draws(load(name)) for name in saved_files()}
    with open(CONTINUATIONS, "w") as f:
        json.dump(recorded, f, indent=1, sort_keys=True)
    print("recorded", keras.backend.backend())


if __name__ == "__main__":
    if sys.argv[1:] == ["save"]:
        from mixup_model.settings import RATE_NAMES

        save(SIX_RATES if len(RATE_NAMES) == 6 else FOUR_RATES)
    elif sys.argv[1:] == ["record"]:
        record()
    else:
        raise SystemExit("usage: python -m tests.saved_models save|record")
