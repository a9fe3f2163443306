"""Manifold mixup: mixing a layer's outputs instead of the inputs."""

import keras
import numpy as np
import pytest

from mixup_model import MixupModel
from mixup_model import MixupTensorBoard
from tests.backends import JIT
from tests.backends import numpy
from tests.helpers import NUM_CLASSES
from tests.helpers import classification_data
from tests.helpers import compile_sgd
from tests.helpers import dense_classifier
from tests.helpers import draw_as_in_step
from tests.helpers import two_term_cross_entropy


def _text_classifier(vocabulary=20, length=7):
    return keras.Sequential(
        [
            keras.Input((length,), dtype="int32"),
            keras.layers.Embedding(vocabulary, 8, name="embedding"),
            keras.layers.GlobalAveragePooling1D(name="pool"),
            keras.layers.Dense(NUM_CLASSES, activation="softmax", name="head"),
        ]
    )


@JIT
def test_manifold_mixup_mixes_embeddings_of_token_ids(jit):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 20, size=(16, 7)).astype("int32")
    y = rng.integers(0, NUM_CLASSES, size=16)
    inner = _text_classifier()
    model = compile_sgd(MixupModel(inner, alpha=1.0, mix_layer="embedding", seed=3), jit=jit)
    params = draw_as_in_step(model, 16, jit=jit)
    lam, perm = numpy(params.lam), numpy(params.perm)
    embedded = numpy(inner.get_layer("embedding")(x))
    mixed = lam[:, None, None] * embedded + (1 - lam[:, None, None]) * embedded[perm]
    probs = numpy(inner.get_layer("head")(inner.get_layer("pool")(mixed)))
    expected = two_term_cross_entropy(probs, y, lam, perm)
    loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    np.testing.assert_allclose(loss, expected, rtol=1e-4)
    # Outside the train step the layer is unchanged.
    np.testing.assert_allclose(
        model.predict(x, verbose=0), inner.predict(x, verbose=0), rtol=1e-6
    )
    np.testing.assert_allclose(
        numpy(inner.get_layer("embedding")(x)),
        numpy(inner.get_layer("embedding").embeddings)[x],
    )


def test_manifold_mixup_in_a_functional_model_trains_and_round_trips(tmp_path):
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax")(hidden)
    model = compile_sgd(
        MixupModel(inputs=inputs, outputs=outputs, alpha=0.5, mix_layer="hidden", seed=1)
    )
    x, y = classification_data(n=32)
    history = model.fit(
        x, y, batch_size=8, epochs=2, verbose=0,
        callbacks=[MixupTensorBoard(str(tmp_path / "tb"))],
    )
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["mixup_strength"][0] > 0.05  # the lambdas are recorded
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.mix_layer == "hidden"
    loaded.fit(x, y, batch_size=8, epochs=1, verbose=0)


def test_manifold_mixup_errors_are_clear():
    x, y = classification_data(n=8)
    model = compile_sgd(MixupModel(dense_classifier(), mix_layer="nope"))
    with pytest.raises(ValueError, match="'nope' is not a layer of this model"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="`cutmix_alpha` must be 0 with `mix_layer`"):
        MixupModel(dense_classifier(), mix_layer="x", cutmix_alpha=1.0)
    with pytest.raises(ValueError, match="`mix_layer` must be None"):
        MixupModel(dense_classifier(), mix_layer=3)
