"""Tiny models and data for fast tests."""

import keras
import numpy as np

from mixup_model import MixupModel

NUM_CLASSES = 3


def dense_classifier(input_shape=(6,), num_classes=NUM_CLASSES, seed=0):
    """A seeded linear softmax classifier over inputs of any rank."""
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(
                num_classes,
                activation="softmax",
                kernel_initializer=keras.initializers.GlorotUniform(seed),
            ),
        ]
    )


def classification_data(n=32, input_shape=(6,), num_classes=NUM_CLASSES, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n,) + input_shape).astype("float32")
    y = rng.integers(0, num_classes, size=n)
    return x, y


def one_hot(y, num_classes=NUM_CLASSES):
    return np.eye(num_classes, dtype="float32")[y]


def assert_weights_equal(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def compile_sgd(model, loss="sparse_categorical_crossentropy", jit=False, **kwargs):
    """Compiles `model` with SGD(0.1), as the tests train it; returns it."""
    model.compile(
        optimizer=keras.optimizers.SGD(0.1), loss=loss, jit_compile=jit, **kwargs
    )
    return model


def draw_as_in_step(model, batch_size, image_size=None, jit=False, mask_shape=None):
    """The next step's `MixParams`, drawn the way the step draws them, with
    the random state rewound so that the step draws the same."""
    from tests.backends import as_in_step
    from tests.backends import numpy

    state = numpy(model.mixup_seed_generator.state)
    params = as_in_step(
        lambda: model.sample_mix_params(batch_size, image_size, mask_shape), jit
    )()
    model.mixup_seed_generator.state.assign(state)
    return params


def two_term_cross_entropy(probs, y, lam, perm):
    """mixup's loss on integer labels: lam·CE(y) + (1 − lam)·CE(y[perm])."""
    rows = np.arange(len(y))
    ce = -np.log(probs[rows, y])
    ce_partner = -np.log(probs[rows, y[perm]])
    return np.mean(lam * ce + (1 - lam) * ce_partner)


def two_headed_model(**mixup):
    """A functional `MixupModel` with dict inputs (an image, floats, ids)
    and dict outputs (a class and a value)."""

    image = keras.Input((4, 4, 1), name="image")
    meta = keras.Input((3,), name="meta")
    ids = keras.Input((2,), dtype="int32", name="ids")
    features = keras.layers.Concatenate()(
        [
            keras.layers.Flatten()(image),
            meta,
            keras.layers.Flatten()(keras.layers.Embedding(5, 2)(ids)),
        ]
    )
    outputs = {
        "label": keras.layers.Dense(NUM_CLASSES, activation="softmax", name="label")(features),
        "value": keras.layers.Dense(1, name="value")(features),
    }
    return MixupModel(
        inputs={"image": image, "meta": meta, "ids": ids}, outputs=outputs, **mixup
    )


def assert_fits_saves_and_loads(model, x, y, path):
    """Fits `model` for two epochs, saves it to `path` (a `.keras` file) and
    checks that the loaded model has its settings and predictions."""
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.mixup_config() == model.mixup_config()
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded.predict(x, verbose=0)),
        keras.ops.convert_to_numpy(model.predict(x, verbose=0)),
        rtol=1e-5, atol=1e-6,
    )


def drawn(params):
    """A draw's `MixParams` as numpy arrays by name: `lam`, `perm`,
    `method` (each example's index in the recipe's methods, or None for a
    recipe of one), `cutmix` (whether each example is CutMix's in a recipe
    of mixup and CutMix), and the regions: CutMix's `box` or `segment`,
    ResizeMix's `resize_box`, FMix's `mask` (None where the recipe has none)."""
    import types

    from mixup_model.methods import cutmix
    from mixup_model.methods import fmix
    from mixup_model.methods import resizemix
    from tests.backends import numpy

    lam = numpy(params.lam)
    method = None
    if params.method is not None:
        method = np.broadcast_to(np.asarray(numpy(params.method)), lam.shape).astype(int)
    out = types.SimpleNamespace(
        lam=lam, perm=numpy(params.perm), method=method, box=None, segment=None,
        resize_box=None, mask=None, cutmix=None if method is None else method == 1,
    )
    names = {cutmix.Boxes: "box", cutmix.Segments: "segment",
             resizemix.ResizedBoxes: "resize_box", fmix.Masks: "mask"}
    for region in params.regions:
        if region is not None:
            setattr(out, names[type(region)], numpy(region[0]))
    return out
