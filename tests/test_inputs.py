"""What gets mixed: the dtype rule, and no mixed targets without mixed inputs."""

import keras
import numpy as np
import pytest

from mixup_model import MixParams
from mixup_model import MixupModel
from mixup_model.mixing import blended_by_default
from mixup_model.mixing import mix_inputs
from tests.helpers import NUM_CLASSES

PARAMS = MixParams(
    lam=np.array([0.75, 0.5], "float32"), perm=np.array([1, 0], "int32")
)


@pytest.mark.parametrize(
    "dtype, mixed",
    [
        ("float16", True), ("bfloat16", True), ("float32", True),
        ("float64", True), ("uint8", True), ("uint16", True),
        ("int8", False), ("int32", False), ("int64", False), ("bool", False),
    ],
)
def test_dtype_rule(dtype, mixed):
    assert blended_by_default(dtype) is mixed


def test_a_single_tensor_follows_the_rule_unless_named():
    ids = np.array([[3, 4], [7, 9]], "int32")
    np.testing.assert_array_equal(np.asarray(mix_inputs(ids, PARAMS)), ids)
    named = np.asarray(mix_inputs(ids, PARAMS, include=[0]))
    np.testing.assert_allclose(named, [[4.0, 5.25], [5.0, 6.5]])
    pixels = np.array([[0, 200], [100, 0]], "uint8")
    np.testing.assert_allclose(
        np.asarray(mix_inputs(pixels, PARAMS)), [[25.0, 150.0], [50.0, 100.0]]
    )
    with pytest.raises(ValueError, match=r"names \['ids'\].*inputs are \[0\]"):
        mix_inputs(ids, PARAMS, include=["ids"])


def test_dict_inputs_follow_the_same_rule():
    x = {
        "pixels": np.array([[0], [200]], "uint16"),
        "mask": np.array([[True], [False]]),
        "ids": np.array([[1], [2]], "int64"),
    }
    mixed = mix_inputs(x, PARAMS)
    np.testing.assert_allclose(np.asarray(mixed["pixels"]), [[50.0], [100.0]])
    np.testing.assert_array_equal(np.asarray(mixed["mask"]), x["mask"])
    np.testing.assert_array_equal(np.asarray(mixed["ids"]), x["ids"])


def _token_model(length=5, vocabulary=11):
    inputs = {
        "token_ids": keras.Input((length,), dtype="int32", name="token_ids"),
        "segment_ids": keras.Input((length,), dtype="int32", name="segment_ids"),
        "padding_mask": keras.Input((length,), dtype="int32", name="padding_mask"),
    }
    tokens = keras.layers.Embedding(vocabulary, 4, name="token_embedding")(
        inputs["token_ids"]
    )
    segments = keras.layers.Embedding(2, 4)(inputs["segment_ids"])
    hidden = keras.layers.Add()([tokens, segments])
    # Every input reaches the output (Keras 3.10 to 3.14 refuse one that
    # does not): the mask zeroes padded steps.
    mask = keras.ops.cast(inputs["padding_mask"], "float32")
    hidden = hidden * keras.ops.expand_dims(mask, -1)
    pooled = keras.layers.GlobalAveragePooling1D()(hidden)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax")(pooled)
    return keras.Model(inputs, outputs)


def _token_batch(n=8, length=5, vocabulary=11, seed=0):
    rng = np.random.default_rng(seed)
    x = {
        "token_ids": rng.integers(0, vocabulary, (n, length)).astype("int32"),
        "segment_ids": rng.integers(0, 2, (n, length)).astype("int32"),
        "padding_mask": np.ones((n, length), "int32"),
    }
    return x, rng.integers(0, NUM_CLASSES, n)


@pytest.mark.parametrize(
    "inputs", ["dict", "single"], ids=["dict-of-ids", "single-ids"]
)
def test_mixed_targets_without_a_mixed_input_are_refused(inputs):
    x, y = _token_batch()

    def make_net():
        if inputs == "dict":
            return _token_model()
        return keras.Sequential(
            [keras.Input((5,), dtype="int32"),
             keras.layers.Embedding(11, 4, name="token_embedding"),
             keras.layers.GlobalAveragePooling1D(),
             keras.layers.Dense(NUM_CLASSES, activation="softmax")]
        )

    if inputs == "single":
        x = x["token_ids"]
    model = MixupModel(make_net(), alpha=1.0, seed=0)
    model.compile("sgd", "sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    seed_state = np.array(model.mixup_seed_generator.state.numpy())
    message = (
        r"no input to mix: its inputs are .*int32 \(8, 5\).*"
        r"`mix_layer='token_embedding'`, the model's token embedding.*`mixed_inputs=\[\.\.\.\]`"
    )
    with pytest.raises(ValueError, match=message):
        model.train_on_batch(x, y)
    for w, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, b)  # no step was taken
    np.testing.assert_array_equal(model.mixup_seed_generator.state.numpy(), seed_state)
    if inputs == "dict":
        # (On JAX, a `fit` that fails leaves the model's variables detached:
        # Keras's trainer, not ours.)
        with pytest.raises(ValueError, match="token_ids: int32"):
            model.fit(x, y, epochs=1, verbose=0)
    # Naming the embedding layer mixes its outputs instead: it trains.
    manifold = MixupModel(make_net(), alpha=1.0, seed=0, mix_layer="token_embedding")
    manifold.compile("sgd", "sparse_categorical_crossentropy")
    assert np.isfinite(manifold.train_on_batch(x, y))


def test_naming_an_integer_input_blends_it():
    x, y = _token_batch()
    net = keras.Sequential(
        [keras.Input((5,), dtype="float32"),
         keras.layers.Dense(NUM_CLASSES, activation="softmax")]
    )
    model = MixupModel(net, alpha=1.0, seed=0, mixed_inputs=[0])
    model.compile("sgd", "sparse_categorical_crossentropy")
    assert np.isfinite(model.train_on_batch(x["token_ids"], y))


def test_a_mix_layer_without_floating_outputs_is_refused():
    x, y = _token_batch()
    # A layer whose outputs are the integer ids themselves.
    net = keras.Sequential(
        [keras.Input((5,), dtype="int32"), keras.layers.Identity(name="ids"),
         keras.layers.Embedding(11, 4), keras.layers.GlobalAveragePooling1D(),
         keras.layers.Dense(NUM_CLASSES, activation="softmax")]
    )
    model = MixupModel(net, alpha=1.0, mix_layer="ids")
    model.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"'ids'.* no floating tensor.*int32"):
        model.train_on_batch(x["token_ids"], y)
