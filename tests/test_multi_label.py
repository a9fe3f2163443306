"""Multi-label targets: multi-hot labels, sigmoid outputs, binary
cross-entropy, and timm's `bce_target_thresh` as `target_threshold`."""

import keras
import numpy as np
import pytest

from mixup_model import MixupModel
from tests.backends import JIT
from tests.backends import numpy
from tests.helpers import compile_sgd
from tests.helpers import draw_as_in_step

LABELS = 5


def _multi_label_data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (rng.random((n, LABELS)) < 0.4).astype("float32")  # multi-hot
    return x, y


def _sigmoid_model():
    return keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(
            LABELS, activation="sigmoid",
            kernel_initializer=keras.initializers.GlorotUniform(1),
        ),
    ])


def _binary_cross_entropy(targets, probs):
    probs = np.clip(probs, 1e-7, 1 - 1e-7)
    return -np.mean(targets * np.log(probs) + (1 - targets) * np.log(1 - probs), axis=1)


def _expected_loss(model, x, y, params, threshold=None, smoothing=0.0, weights=None):
    """timm's order: mix, smooth (towards 1/K, as Keras and timm smooth),
    then threshold; binary cross-entropy on the result."""
    lam, perm = numpy(params.lam)[:, None], numpy(params.perm)
    targets = lam * y + (1 - lam) * y[perm]
    targets = targets * (1 - smoothing) + smoothing / LABELS
    if threshold is not None:
        targets = (targets > threshold).astype("float32")
    probs = numpy(model(lam * x + (1 - lam) * x[perm], training=True))
    per_example = _binary_cross_entropy(targets, probs)
    if weights is not None:
        lam = lam[:, 0]
        per_example = per_example * (lam * weights + (1 - lam) * weights[perm])
    return np.mean(per_example)


@JIT
@pytest.mark.parametrize("threshold, smoothing", [(None, 0.0), (0.3, 0.0), (0.3, 0.1)])
def test_multi_hot_targets_are_mixed_smoothed_and_thresholded(jit, threshold, smoothing):
    x, y = _multi_label_data()
    model = compile_sgd(
        MixupModel(_sigmoid_model(), alpha=1.0, label_smoothing=smoothing,
                   target_threshold=threshold, seed=3),
        loss="binary_crossentropy", jit=jit,
    )
    params = draw_as_in_step(model, 16, jit=jit)
    expected = _expected_loss(model, x, y, params, threshold, smoothing)
    loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


def test_threshold_changes_the_loss_and_survives_saving(tmp_path):
    x, y = _multi_label_data()
    losses = {}
    for threshold in (None, 0.3):
        model = compile_sgd(
            MixupModel(_sigmoid_model(), alpha=1.0, target_threshold=threshold, seed=3),
            loss="binary_crossentropy",
        )
        losses[threshold] = model.train_on_batch(x, y, return_dict=True)["loss"]
    assert abs(losses[None] - losses[0.3]) > 1e-3  # it is applied at all
    path = str(tmp_path / "multi_label.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.target_threshold == 0.3
    assert loaded.mixup_config() == model.mixup_config()


def test_threshold_with_sample_weights_weights_each_mixed_example():
    x, y = _multi_label_data()
    weights = np.linspace(0.5, 2.0, 16).astype("float32")
    model = compile_sgd(
        MixupModel(_sigmoid_model(), alpha=1.0, target_threshold=0.3, seed=4),
        loss="binary_crossentropy",
    )
    params = draw_as_in_step(model, 16)
    expected = _expected_loss(model, x, y, params, threshold=0.3, weights=weights)
    loss = model.train_on_batch(x, y, sample_weight=weights, return_dict=True)["loss"]
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


def test_threshold_refuses_class_ids_and_bad_values():
    x = np.zeros((8, 6), "float32")
    ids = np.arange(8) % LABELS
    model = compile_sgd(MixupModel(
        keras.Sequential([keras.Input((6,)), keras.layers.Dense(LABELS, activation="softmax")]),
        alpha=1.0, target_threshold=0.3,
    ))
    with pytest.raises(ValueError, match="`target_threshold` needs dense"):
        model.fit(x, ids, verbose=0)
    for bad in (0.0, 1.0, -0.2, "0.3"):
        with pytest.raises(ValueError, match="`target_threshold` must be a float in"):
            MixupModel(_sigmoid_model(), target_threshold=bad)
