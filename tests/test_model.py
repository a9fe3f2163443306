"""MixupModel end to end on small synthetic data."""


import keras
import numpy as np
import pytest

from mixup_model import FunctionalMixupModel
from mixup_model import Mixup
from mixup_model import MixupModel
from mixup_model.backend import current as backend
from mixup_model.model import SEED_STATE_KEY
from mixup_model.recording import StatisticsRecording
from tests.backends import BACKEND
from tests.backends import JIT
from tests.backends import as_in_step
from tests.backends import numpy
from tests.helpers import NUM_CLASSES
from tests.helpers import assert_weights_equal
from tests.helpers import classification_data
from tests.helpers import compile_sgd
from tests.helpers import dense_classifier
from tests.helpers import one_hot



@keras.saving.register_keras_serializable(package="tests")
class SubclassedNet(MixupModel):
    def __init__(self, num_classes=NUM_CLASSES, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.flatten = keras.layers.Flatten()
        self.classifier = keras.layers.Dense(num_classes, activation="softmax")

    def call(self, inputs, training=None):
        return self.classifier(self.flatten(inputs))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


# Keras rewrites `__bases__` of a Model subclass called with (inputs,
# outputs); ours must stay as defined.
BASES = (backend.TrainStep, StatisticsRecording, keras.Model)


def _build(form, alpha=0.3, seed=1, input_shape=(6,)):
    if form == "wrap":
        return MixupModel(dense_classifier(input_shape), alpha=alpha, seed=seed)
    if form == "functional":
        inputs = keras.Input(input_shape)
        outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax")(
            keras.layers.Flatten()(inputs)
        )
        return MixupModel(inputs=inputs, outputs=outputs, alpha=alpha, seed=seed)
    return SubclassedNet(alpha=alpha, seed=seed)


def _compile(model, loss="sparse_categorical_crossentropy", jit=False, **kw):
    return compile_sgd(model, loss, jit, metrics=["accuracy"], **kw)


@pytest.mark.parametrize(
    "order",
    [("functional", "wrap", "subclass"), ("subclass", "wrap", "functional")],
)
def test_three_forms_in_any_order(order):
    x, y = classification_data()
    for form in order:
        model = _compile(_build(form))
        history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        assert isinstance(model, MixupModel)
        assert len(model.evaluate(x, y, verbose=0)) == 2
    # Keras rewrites `__bases__` of a Model subclass called with
    # (inputs, outputs); ours must stay intact for the other forms.
    assert MixupModel.__bases__ == BASES
    assert not isinstance(_build("subclass"), keras.src.models.Functional)
    assert isinstance(_build("functional"), FunctionalMixupModel)


def test_functional_form_is_a_real_functional_model():
    model = _build("functional")
    assert [layer.__class__.__name__ for layer in model.layers] == [
        "InputLayer",
        "Flatten",
        "Dense",
    ]
    assert model.get_layer(model.layers[-1].name) is model.layers[-1]


def test_functional_arguments_positionally_or_by_name():
    inputs = keras.Input((6,))
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax")(inputs)
    by_position = MixupModel(inputs, outputs, name="net", alpha=0.7)
    assert isinstance(by_position, FunctionalMixupModel)
    assert (by_position.name, by_position.alpha) == ("net", 0.7)
    named = FunctionalMixupModel(inputs, outputs, "net2")
    assert named.name == "net2"
    by_name = FunctionalMixupModel(inputs=inputs, outputs=outputs)
    assert by_name.output is outputs
    with pytest.raises(TypeError, match=r"Received: 4 positional arguments, the last \(0.2,\)"):
        FunctionalMixupModel(inputs, outputs, "net3", 0.2)
    with pytest.raises(TypeError, match="got `name` both by position and by name. Received: name='b'"):
        FunctionalMixupModel(inputs, outputs, "a", name="b")


def test_a_functional_config_rebuilds_graph_and_settings():
    # What `load_model` does; Keras before 3.7 passed only the graph on.
    model = _build("functional", alpha=0.7, seed=5)
    model.trainable = False
    config = model.get_config()
    assert {"layers", "input_layers", "output_layers"} <= set(config)
    restored = FunctionalMixupModel.from_config(config)
    assert type(restored) is FunctionalMixupModel
    assert restored.mixup_config() == model.mixup_config()
    assert (restored.name, restored.trainable) == (model.name, False)
    assert [type(layer) for layer in restored.layers] == [type(layer) for layer in model.layers]


def test_subclass_passing_inputs_and_outputs_gets_a_clear_error():
    class Bad(MixupModel):
        def __init__(self):
            inputs = keras.Input((2,))
            super().__init__(inputs=inputs, outputs=keras.layers.Dense(1)(inputs))

    with pytest.raises(TypeError, match="FunctionalMixupModel"):
        Bad()
    assert MixupModel.__bases__ == BASES


def _expected_mixup_loss(model, x, y_int, params, sample_weight=None):
    """lam * CE(y) + (1 - lam) * CE(y[perm]) on the mixed batch, in numpy."""
    lam, perm = numpy(params.lam), numpy(params.perm)
    shape = (-1,) + (1,) * (x.ndim - 1)
    mixed = lam.reshape(shape) * x + (1 - lam.reshape(shape)) * x[perm]
    probs = numpy(model(mixed, training=True))
    ce = -np.log(probs[np.arange(len(x)), y_int])
    ce_partner = -np.log(probs[np.arange(len(x)), y_int[perm]])
    w = np.ones(len(x)) if sample_weight is None else sample_weight
    return np.mean(lam * w * ce + (1 - lam) * w[perm] * ce_partner)


def _train_one_step(model, x, y, sample_weight=None):
    """Trains one step; returns its logged loss and the expected mixup loss.

    The step's mixing params are drawn first, compiled the way the step is,
    then the random state is rewound so that the step draws the same.
    """
    state = numpy(model.mixup_seed_generator.state)
    params = as_in_step(model.sample_mix_params, model.jit_compile)(len(x))
    y_int = y.reshape(len(y)) if y.ndim == 1 or y.shape[-1] == 1 else y.argmax(-1)
    expected = _expected_mixup_loss(model, x, y_int, params, sample_weight)
    model.mixup_seed_generator.state.assign(state)
    logs = model.train_on_batch(
        x, y, sample_weight=sample_weight, return_dict=True
    )
    return logs["loss"], expected


@JIT
@pytest.mark.parametrize("labels", ["sparse", "sparse_column", "one_hot"])
def test_train_step_loss_is_the_mixup_loss(jit, labels):
    x, y = classification_data(n=16)
    model = _build("wrap", alpha=1.0)
    loss = (
        "categorical_crossentropy"
        if labels == "one_hot"
        else "sparse_categorical_crossentropy"
    )
    _compile(model, loss=loss, jit=jit)
    targets = {"sparse": y, "sparse_column": y[:, None], "one_hot": one_hot(y)}[labels]
    loss, expected = _train_one_step(model, x, targets)
    np.testing.assert_allclose(loss, expected, rtol=1e-4)
    # The expected loss is not the clean one: mixing really happened.
    clean = numpy(keras.losses.sparse_categorical_crossentropy(y, model(x)))
    assert abs(clean.mean() - expected) > 1e-3
    assert model.jit_compile == jit


@JIT
def test_sparse_labels_and_one_hot_labels_train_identically(jit):
    x, y = classification_data(n=24)
    sparse = _compile(_build("wrap", seed=3), jit=jit)
    dense = _compile(
        _build("wrap", seed=3), loss="categorical_crossentropy", jit=jit
    )
    initial = [w.copy() for w in sparse.get_weights()]
    hs = sparse.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    hd = dense.fit(x, one_hot(y), batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(hs.history["loss"], hd.history["loss"], rtol=1e-5)
    for ws, wd, w0 in zip(sparse.get_weights(), dense.get_weights(), initial):
        np.testing.assert_allclose(ws, wd, rtol=1e-5, atol=1e-6)
        assert not np.allclose(ws, w0)


@JIT
def test_sample_weight_travels_with_its_example(jit):
    x, y = classification_data(n=16)
    w = np.linspace(0.1, 3.0, len(x)).astype("float32")
    model = _compile(_build("wrap", alpha=1.0), jit=jit)
    loss, expected = _train_one_step(model, x, y, sample_weight=w)
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


def test_class_weight_equals_per_example_sample_weight():
    x, y = classification_data(n=24)
    class_weight = {0: 0.2, 1: 1.0, 2: 5.0}
    by_class = _compile(_build("wrap", seed=4))
    by_sample = _compile(_build("wrap", seed=4))
    unweighted = _compile(_build("wrap", seed=4))
    fit = dict(batch_size=8, epochs=1, shuffle=False, verbose=0)
    by_class.fit(x, y, class_weight=class_weight, **fit)
    by_sample.fit(
        x, y, sample_weight=np.array([class_weight[c] for c in y]), **fit
    )
    unweighted.fit(x, y, **fit)
    for a, b, c in zip(
        by_class.get_weights(), by_sample.get_weights(), unweighted.get_weights()
    ):
        np.testing.assert_allclose(a, b, rtol=1e-6)
        assert not np.allclose(a, c)


@JIT
def test_alpha_zero_trains_exactly_like_the_plain_model(jit):
    x, y = classification_data(n=24)
    plain = _compile(dense_classifier(), jit=jit)
    mixup = _compile(MixupModel(dense_classifier(), alpha=0), jit=jit)
    fit = dict(batch_size=8, epochs=2, shuffle=False, verbose=0)
    h_plain = plain.fit(x, y, **fit)
    h_mixup = mixup.fit(x, y, **fit)
    assert h_plain.history == h_mixup.history
    assert_weights_equal(plain, mixup.model)


def test_mixup_changes_training_and_evaluation_stays_clean():
    x, y = classification_data(n=24)
    inner = dense_classifier()
    model = _compile(MixupModel(inner, alpha=1.0, seed=0))
    _compile(inner)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    np.testing.assert_array_equal(
        model.evaluate(x, y, verbose=0), inner.evaluate(x, y, verbose=0)
    )
    np.testing.assert_array_equal(
        model.predict(x, verbose=0), inner.predict(x, verbose=0)
    )
    # Training loss is on mixed data, evaluation loss on clean data.
    train_loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    clean_loss = inner.evaluate(x, y, verbose=0)[0]
    assert abs(train_loss - clean_loss) > 1e-3


@pytest.mark.parametrize(
    "alpha", [-0.1, float("nan"), float("inf"), "0.2", None, True, [0.2]]
)
def test_bad_alpha_is_rejected_at_construction(alpha):
    with pytest.raises(ValueError, match="`alpha`"):
        MixupModel(dense_classifier(), alpha=alpha)


def test_other_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="`lambda_mode`"):
        MixupModel(dense_classifier(), lambda_mode="per_pixel")
    with pytest.raises(ValueError, match="`seed`"):
        MixupModel(dense_classifier(), seed=1.5)
    with pytest.raises(ValueError, match="`model`"):
        MixupModel("not a model")
    with pytest.raises(NotImplementedError, match="call"):
        MixupModel()(np.zeros((1, 2)))


@JIT
def test_target_shape_mismatch_fails_at_the_first_step(jit):
    x, _ = classification_data(n=8)
    model = _compile(_build("wrap"), loss="categorical_crossentropy", jit=jit)
    # Ours, or (where Keras checks shapes first) Keras's: both name both.
    names_both = r"\(None, 5\).*\(None, 3\)|target.shape=\D*8, 5\D.*output.shape=\D*8, 3\D"
    with pytest.raises(ValueError, match=names_both):
        model.fit(x, np.zeros((8, 5), "float32"), verbose=0)


@JIT
@pytest.mark.parametrize(
    "n, batch_size", [(1, 1), (10, 4), (7, 7), (9, 2)], ids=str
)
def test_single_partial_and_odd_batches_train(jit, n, batch_size):
    x, y = classification_data(n=n)
    model = _compile(_build("wrap"), jit=jit)
    history = model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@JIT
@pytest.mark.parametrize(
    "input_shape, dtype",
    [((6,), "float32"), ((5, 4), "float32"), ((8, 8, 1), "uint8"), ((3, 4, 4, 2), "float64")],
    ids=["tabular", "sequence", "uint8-image", "volume-f64"],
)
def test_inputs_of_any_rank_and_dtype(jit, input_shape, dtype):
    x, y = classification_data(n=16, input_shape=input_shape)
    if dtype == "uint8":
        x = (np.abs(x) * 60).astype("uint8")
    x = x.astype(dtype)
    model = _compile(_build("wrap", input_shape=input_shape), jit=jit)
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model.jit_compile == jit


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy):
    x, y = classification_data(n=16)
    keras.config.set_dtype_policy(policy)
    try:
        inner = keras.Sequential(
            [
                keras.Input((6,)),
                keras.layers.Dense(8, activation="relu"),
                keras.layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32"),
            ]
        )
        model = _compile(MixupModel(inner, alpha=0.4, seed=0))
        assert inner.layers[0].compute_dtype == policy.split("_")[1]
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    finally:
        keras.config.set_dtype_policy("float32")
    assert np.all(np.isfinite(history.history["loss"]))
    if policy == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)


def test_same_seed_reproduces_and_another_seed_differs():
    x, y = classification_data(n=24)
    runs = {}
    for name, seed in [("a", 7), ("b", 7), ("c", 8)]:
        model = _compile(_build("wrap", seed=seed))
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        runs[name] = model
    assert_weights_equal(runs["a"], runs["b"])
    assert not np.allclose(runs["a"].get_weights()[0], runs["c"].get_weights()[0])


@pytest.mark.parametrize("form", ["wrap", "functional", "subclass"])
def test_keras_file_round_trip_keeps_settings_and_random_state(tmp_path, form):
    x, y = classification_data(n=16)
    model = _compile(_build(form, alpha=0.7, seed=5))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)  # safe_mode=True by default
    assert type(loaded) is type(model)
    assert loaded.mixup_config() == {
        # The flat `alpha=0.7` as the object it builds.
        "mix": keras.saving.serialize_keras_object(Mixup(0.7)),
        "label_smoothing": 0.0,
        "mix_layer": None,
        "mixed_inputs": None,
        "seed": 5,
        "target_threshold": None,
        "regmixup_eta": 0.0,
        "transmix_layer": None,
    }
    assert loaded.mix == Mixup(0.7) and loaded.alpha == 0.7
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # The random state resumes where it stopped instead of replaying.
    np.testing.assert_array_equal(
        numpy(loaded.mixup_seed_generator.state),
        numpy(model.mixup_seed_generator.state),
    )
    np.testing.assert_array_equal(
        numpy(loaded.sample_mix_params(16).lam),
        numpy(model.sample_mix_params(16).lam),
    )
    # A loaded model goes on training with mixup.
    loss, expected = _train_one_step(loaded, x, y)
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


def test_weights_files_carry_the_random_state(tmp_path):
    x, y = classification_data(n=16)
    model = _compile(_build("wrap", seed=9))
    fresh_state = numpy(model.mixup_seed_generator.state)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    trained_state = numpy(model.mixup_seed_generator.state)
    assert not np.array_equal(fresh_state, trained_state)
    path = str(tmp_path / "m.weights.h5")
    model.save_weights(path)
    other = _compile(_build("wrap", seed=9))
    other.load_weights(path)
    np.testing.assert_array_equal(
        numpy(other.mixup_seed_generator.state), trained_state
    )
    assert_weights_equal(other, model)


def test_seed_state_key_is_written():
    model = _build("wrap")
    store = {}
    model.save_own_variables(store)
    assert SEED_STATE_KEY in store


def test_summary_shows_wrapped_layers_and_mixup_settings():
    lines = []
    _build("wrap").summary(print_fn=lambda line, **_: lines.append(line))
    text = "\n".join(lines)
    assert "Dense" in text and "Flatten" in text
    assert "mix=Mixup(alpha=0.3)" in text and "alpha=0.3, cutmix_alpha=0.0" in text


def _outcome(model, x, y):
    try:
        loss = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history["loss"][0]
    except Exception as error:  # noqa: BLE001 - the outcome is what we compare
        return type(error).__name__
    return "nan" if np.isnan(loss) else "finite"


@JIT
def test_out_of_range_labels_behave_as_kerass_own_sparse_loss(jit):
    x, y = classification_data(n=16)
    y = y.copy()
    y[3] = NUM_CLASSES + 2  # not a class
    plain = _outcome(_compile(dense_classifier(), jit=jit), x, y)
    mixup = _outcome(_compile(_build("wrap"), jit=jit), x, y)
    assert mixup == plain
    if BACKEND != "jax":  # JAX's gather clamps the index: Keras's loss too
        assert plain != "finite"  # never trained on silently


class HalfAndReversed(MixupModel):
    """A `sample_mix_params` override as written for 0.1.0: two arguments,
    returning its own `MixParams` (every example half its reversed partner)."""

    def sample_mix_params(self, batch_size, image_size=None):
        from mixup_model import MixParams
        from keras import ops

        super().sample_mix_params(batch_size, image_size)  # still callable
        return MixParams(ops.full((batch_size,), 0.5), ops.arange(batch_size - 1, -1, -1, "int32"))


def test_an_old_sample_mix_params_override_keeps_working():
    from tests.helpers import two_term_cross_entropy

    x, y = classification_data(n=8, input_shape=(4, 4, 1))
    model = compile_sgd(HalfAndReversed(dense_classifier((4, 4, 1)), cutmix_alpha=1.0, seed=0))
    mixed = 0.5 * x + 0.5 * x[::-1]
    probs = numpy(model(mixed, training=True))
    expected = two_term_cross_entropy(probs, y, np.full(8, 0.5), np.arange(8)[::-1])
    loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
