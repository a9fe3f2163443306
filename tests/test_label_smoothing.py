"""Label smoothing of the mixed targets."""

import warnings

import keras
import numpy as np
import pytest

from mixup_model import MixupModel
from tests.backends import JIT
from tests.backends import numpy
from tests.helpers import NUM_CLASSES
from tests.helpers import classification_data
from tests.helpers import compile_sgd
from tests.helpers import dense_classifier
from tests.helpers import draw_as_in_step
from tests.helpers import one_hot


@JIT
def test_label_smoothing_smooths_the_mixed_targets(jit):
    x, y = classification_data(n=16)
    eps = 0.2
    model = compile_sgd(
        MixupModel(dense_classifier(), alpha=1.0, label_smoothing=eps, seed=5),
        loss="categorical_crossentropy",
        jit=jit,
    )
    params = draw_as_in_step(model, 16, jit=jit)
    lam, perm = numpy(params.lam)[:, None], numpy(params.perm)
    targets = lam * one_hot(y) + (1 - lam) * one_hot(y)[perm]
    targets = targets * (1 - eps) + eps / NUM_CLASSES
    mixed = lam * x + (1 - lam) * x[perm]
    probs = numpy(model(mixed, training=True))
    expected = np.mean(-np.sum(targets * np.log(probs), axis=1))
    loss = model.train_on_batch(x, one_hot(y), return_dict=True)["loss"]
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


def test_label_smoothing_without_mixing_equals_keras_smoothing():
    x, y = classification_data(n=24)
    ours = compile_sgd(
        MixupModel(dense_classifier(), alpha=0.0, label_smoothing=0.1),
        loss="categorical_crossentropy",
    )
    keras_own = compile_sgd(
        dense_classifier(), loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1)
    )
    fit = dict(batch_size=8, epochs=2, shuffle=False, verbose=0)
    h1 = ours.fit(x, one_hot(y), **fit)
    h2 = keras_own.fit(x, one_hot(y), **fit)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-6)


def test_warns_once_when_the_compiled_loss_smooths_labels():
    x, y = classification_data(n=16)
    model = compile_sgd(
        MixupModel(dense_classifier(), alpha=0.2),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, one_hot(y), batch_size=8, epochs=1, verbose=0)
        model.compile("sgd", keras.losses.CategoricalCrossentropy(label_smoothing=0.1))
        model.fit(x, one_hot(y), batch_size=8, epochs=1, verbose=0)
    smoothing = [w for w in caught if "label_smoothing=0.1" in str(w.message)]
    assert len(smoothing) == 1
    # No warning without label smoothing in the loss.
    quiet = compile_sgd(MixupModel(dense_classifier(), alpha=0.2), "categorical_crossentropy")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet.fit(x, one_hot(y), batch_size=8, epochs=1, verbose=0)
    assert not [w for w in caught if "label_smoothing" in str(w.message)]


def test_label_smoothing_with_sparse_labels_is_refused():
    x, y = classification_data(n=8)
    model = compile_sgd(MixupModel(dense_classifier(), label_smoothing=0.1))
    with pytest.raises(ValueError, match="`label_smoothing` needs one-hot"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"`label_smoothing` must be a float in \[0, 1\)"):
        MixupModel(dense_classifier(), label_smoothing=1.0)
