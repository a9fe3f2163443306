"""RegMixup: one forward pass over the clean batch and its mixed copy, on
the loss L(clean) + eta * L(mixed) (Pinto et al., 2022)."""

import keras
import numpy as np
import pytest

from mixup_model import MixupModel
from mixup_model.steps import regmixup
from tests.backends import JIT
from tests.backends import numpy
from tests.helpers import NUM_CLASSES
from tests.helpers import classification_data
from tests.helpers import compile_sgd
from tests.helpers import dense_classifier
from tests.helpers import one_hot
from tests.helpers import two_headed_model

BATCH = 8


def _first_step_loss(model, x, y, sample_weight=None):
    """The loss of one train step (computed before its update)."""
    logs = model.train_on_batch(x, y, sample_weight=sample_weight, return_dict=True)
    return float(logs["loss"])


def _clean_loss(x, y, loss, sample_weight=None, input_shape=(6,), model=None):
    """The compiled loss of the wrapped model on the clean batch."""
    plain = model or dense_classifier(input_shape)
    plain.compile(loss=loss)
    return plain.evaluate(x, y, sample_weight=sample_weight, batch_size=len(x), verbose=0)


def _confident_classifier():
    """A softmax classifier whose predictions reach far below 1e-7, where
    Keras's cross-entropy needs the softmax's logits to be exact."""
    model = dense_classifier()
    kernel, bias = model.get_weights()
    model.set_weights([kernel * 60.0, bias])
    return model


class BatchSizeProbe(keras.layers.Layer):
    """Records the batch size of its last training call."""

    def build(self, input_shape):
        self.seen = self.add_weight(shape=(), initializer="zeros", trainable=False)

    def call(self, x, training=None):
        if training:
            self.seen.assign(keras.ops.cast(keras.ops.shape(x)[0], "float32"))
        return x


@JIT
@pytest.mark.parametrize("targets, eta", [("one_hot", 0.5), ("ids", 2.0), ("confident", 2.0)])
def test_without_mixing_the_loss_is_one_plus_eta_times_the_clean_loss(jit, targets, eta):
    # With prob=0 the mixed copy equals the clean batch, so the loss is
    # exactly (1 + eta) L(clean): the test the issue states. Also for a
    # confident softmax, whose halves keep their logits for Keras's loss.
    x, labels = classification_data(BATCH)
    y = labels if targets == "ids" else one_hot(labels)
    loss = "sparse_categorical_crossentropy" if targets == "ids" else "categorical_crossentropy"
    weights = np.linspace(0.5, 1.5, BATCH).astype("float32")
    build = _confident_classifier if targets == "confident" else dense_classifier
    model = MixupModel(build(), alpha=10.0, prob=0.0, regmixup_eta=eta, seed=1)
    compile_sgd(model, loss, jit=jit)
    got = _first_step_loss(model, x, y, weights)
    clean = _clean_loss(x, y, loss, weights, model=build())
    np.testing.assert_allclose(got, (1 + eta) * clean, rtol=1e-5)


CASES = {
    # (MixupModel settings, targets, input shape, sample weights)
    "mixup": (dict(alpha=20.0), "one_hot", (6,), False),
    "cutmix_ids_weighted": (dict(alpha=0.0, cutmix_alpha=1.0), "ids", (4, 4, 1), True),
    "elem_smoothed": (
        dict(alpha=10.0, cutmix_alpha=1.0, mode="elem", label_smoothing=0.1),
        "one_hot", (4, 4, 1), False,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_loss_is_the_clean_loss_plus_eta_times_the_mixup_loss(case):
    # RegMixup's mixed half is the batch MixupModel trains on with the same
    # settings and seed: its loss is that model's first loss, weighted by eta.
    settings, targets, input_shape, weighted = CASES[case]
    eta = 1.5
    x, labels = classification_data(BATCH, input_shape)
    y = one_hot(labels) if targets == "one_hot" else labels
    weights = np.linspace(0.5, 1.5, BATCH).astype("float32") if weighted else None
    loss = "categorical_crossentropy" if targets == "one_hot" else "sparse_categorical_crossentropy"
    losses = []
    for regmixup_eta in (0.0, eta):
        model = MixupModel(
            dense_classifier(input_shape), regmixup_eta=regmixup_eta, seed=7, **settings
        )
        compile_sgd(model, loss)
        losses.append(_first_step_loss(model, x, y, weights))
    mixed, total = losses
    smoothing = settings.get("label_smoothing", 0.0)
    clean_loss = (
        keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)
        if smoothing else loss
    )
    clean = _clean_loss(x, y, clean_loss, weights, input_shape)
    np.testing.assert_allclose(total, clean + eta * mixed, rtol=2e-5)


@JIT
def test_one_forward_pass_sees_twice_the_batch_and_metrics_are_the_clean_halfs(jit):
    x, labels = classification_data(BATCH)
    inner = dense_classifier()
    probe = BatchSizeProbe()
    wrapped = keras.Sequential([keras.Input((6,)), probe, inner])
    model = MixupModel(wrapped, alpha=20.0, regmixup_eta=1.0, seed=2)
    model.compile(
        optimizer=keras.optimizers.SGD(0.0),
        loss="sparse_categorical_crossentropy",
        metrics=["sparse_categorical_accuracy"],
        jit_compile=jit,
    )
    logs = model.train_on_batch(x, labels, return_dict=True)
    # One pass over clean and mixed examples together (batch normalisation
    # sees both).
    assert float(numpy(probe.seen)) == 2 * BATCH
    # The training metrics are the clean half's: with the weights unchanged
    # (learning rate 0), what evaluate reports.
    clean = model.evaluate(x, labels, batch_size=BATCH, return_dict=True, verbose=0)
    assert logs["sparse_categorical_accuracy"] == pytest.approx(
        clean["sparse_categorical_accuracy"]
    )


def test_several_outputs_split_into_their_halves():
    rng = np.random.default_rng(0)
    x = {
        "image": rng.random((BATCH, 4, 4, 1), dtype=np.float32),
        "meta": rng.random((BATCH, 3), dtype=np.float32),
        "ids": rng.integers(0, 5, (BATCH, 2)).astype("int32"),
    }
    y = {"label": one_hot(rng.integers(0, NUM_CLASSES, BATCH)),
         "value": rng.random((BATCH, 1), dtype=np.float32)}
    losses = {"label": "categorical_crossentropy", "value": "mse"}
    results = []
    for eta, prob in ((0.0, 0.0), (3.0, 0.0)):
        keras.utils.set_random_seed(4)
        model = two_headed_model(alpha=10.0, cutmix_alpha=1.0, prob=prob, regmixup_eta=eta, seed=3)
        compile_sgd(model, losses)
        results.append(_first_step_loss(model, x, y))
    clean, total = results
    np.testing.assert_allclose(total, 4.0 * clean, rtol=1e-5)


def test_manifold_mixup_mixes_only_the_second_half_of_the_layer():
    x, labels = classification_data(BATCH)
    y = one_hot(labels)
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(5, name="hidden", kernel_initializer=keras.initializers.GlorotUniform(0))(inputs)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax", kernel_initializer=keras.initializers.GlorotUniform(1))(hidden)
    weights = keras.Model(inputs, outputs).get_weights()
    losses = []
    for eta in (0.0, 2.0):
        model = MixupModel(inputs=inputs, outputs=outputs, alpha=10.0, mix_layer="hidden",
                           regmixup_eta=eta, seed=5)
        model.set_weights(weights)
        compile_sgd(model, "categorical_crossentropy")
        losses.append(_first_step_loss(model, x, y))
    mixed, total = losses
    plain = keras.Model(inputs, outputs)
    plain.set_weights(weights)
    plain.compile(loss="categorical_crossentropy")
    clean = plain.evaluate(x, y, batch_size=BATCH, verbose=0)
    np.testing.assert_allclose(total, clean + 2.0 * mixed, rtol=2e-5)


def test_saved_and_loaded_with_its_eta(tmp_path):
    x, labels = classification_data(16)
    model = MixupModel(dense_classifier(), alpha=10.0, regmixup_eta=0.5, seed=0)
    compile_sgd(model)
    model.fit(x, labels, batch_size=BATCH, epochs=1, verbose=0)
    path = str(tmp_path / "regmixup.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.regmixup_eta == 0.5
    assert loaded.get_config()["regmixup_eta"] == 0.5
    np.testing.assert_allclose(
        numpy(loaded.predict(x, verbose=0)), numpy(model.predict(x, verbose=0)), rtol=1e-6
    )


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), "1", True, None])
def test_bad_eta_names_itself(bad):
    with pytest.raises(ValueError, match=r"`regmixup_eta` must be .*Received: regmixup_eta="):
        MixupModel(dense_classifier(), regmixup_eta=bad)


def test_eta_is_fixed_at_construction():
    model = MixupModel(dense_classifier(), alpha=1.0, regmixup_eta=1.0)
    with pytest.raises(AttributeError):
        model.regmixup_eta = 2.0  # the traced step holds it


def test_eta_needs_a_mixing_method():
    with pytest.raises(ValueError, match="needs a method on"):
        MixupModel(dense_classifier(), alpha=0.0, regmixup_eta=1.0)


def test_halves_are_split_where_they_were_joined():
    clean = {"a": np.arange(6, dtype="uint8").reshape(3, 2), "b": np.ones((3,), "int32")}
    mixed = {"a": np.full((3, 2), 0.5, "float32"), "b": np.zeros((3,), "int32")}
    joined = regmixup.clean_and_mixed(clean, mixed)
    assert keras.backend.standardize_dtype(joined["a"].dtype) == "float32"
    first, second = regmixup.split_clean_and_mixed(joined, 3)
    np.testing.assert_array_equal(numpy(first["a"]), clean["a"].astype("float32"))
    np.testing.assert_array_equal(numpy(second["b"]), mixed["b"])
