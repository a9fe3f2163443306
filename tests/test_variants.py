"""CutMix, prob/switch_prob, schedules, manifold mixup, label smoothing and
multiple inputs/outputs: each inside the same compiled train step."""

import warnings

import keras
import numpy as np
import pytest
from keras import ops

from mixup_model import MixupModel
from mixup_model import MixupOff
from mixup_model import MixupScheduler
from mixup_model import MixupTensorBoard
from mixup_model import linear_ramp
from mixup_model import paste_boxes
from mixup_model import sample_batch_params
from mixup_model.mixing import mix_inputs
from mixup_model.model import RATES_KEY
from mixup_model.sampling import MixParams
from tests.helpers import NUM_CLASSES
from tests.helpers import classification_data
from tests.helpers import dense_classifier
from tests.helpers import one_hot
from tests.backends import BACKEND
from tests.backends import JIT
from tests.backends import as_in_step
from tests.backends import numpy
from tests.backends import seed

SEED = seed(3, 4)


def _compile(model, loss="sparse_categorical_crossentropy", jit=False, **kw):
    model.compile(
        optimizer=keras.optimizers.SGD(0.1), loss=loss, jit_compile=jit, **kw
    )
    return model


def _draw(model, batch_size, image_size=None, jit=False):
    """The next step's params, drawn the way the step draws them, with the
    random state rewound so that the step draws the same."""
    state = numpy(model.mixup_seed_generator.state)
    params = as_in_step(
        lambda: model.sample_mix_params(batch_size, image_size), jit
    )()
    model.mixup_seed_generator.state.assign(state)
    return params


def _two_term_ce(probs, y, lam, perm):
    rows = np.arange(len(y))
    ce = -np.log(probs[rows, y])
    ce_partner = -np.log(probs[rows, y[perm]])
    return np.mean(lam * ce + (1 - lam) * ce_partner)


# -- CutMix ------------------------------------------------------------------


@JIT
def test_cutmix_label_weight_is_the_exact_pasted_area(jit):
    # Non-square images catch a box width computed from the height (TF Model
    # Garden); constant, distinct images let us count pasted pixels.
    height, width, n = 8, 20, 64
    x = np.broadcast_to(
        np.arange(1, n + 1, dtype="float32")[:, None, None, None], (n, height, width, 1)
    )
    draw = as_in_step(
        lambda seed: sample_batch_params(
            n, seed, alpha=0.0, cutmix_alpha=1.0, image_size=(height, width),
            mixup=False, cutmix=True,
        ),
        jit,
    )
    clipped = interior = 0
    for step in range(4):
        params = draw(seed(step, 9))
        mixed = numpy(paste_boxes(x, params))
        lam, perm, box = numpy(params.lam), numpy(params.perm), numpy(params.box)
        for i in range(n):
            pasted = mixed[i, ..., 0] != x[i, ..., 0]
            if perm[i] == i:
                assert not pasted.any()
                continue
            np.testing.assert_array_equal(mixed[i][pasted], x[perm[i]][pasted])
            # Exactly the box, and the weight is exactly its area.
            top, bottom, left, right = box[i]
            expected = np.zeros((height, width), bool)
            expected[top:bottom, left:right] = True
            np.testing.assert_array_equal(pasted, expected)
            assert lam[i] == pytest.approx(1 - pasted.sum() / (height * width), abs=1e-6)
            on_border = top == 0 or left == 0 or bottom == height or right == width
            if on_border:
                clipped += 1
            elif bottom - top >= 2 and right - left >= 2:
                interior += 1
                # Each side scales with its own image side.
                assert abs((bottom - top) / height - (right - left) / width) <= (
                    1 / height + 1 / width
                ) + 1e-6
    assert clipped > 10 and interior > 10


@JIT
def test_cutmix_step_trains_on_pasted_images_with_area_weights(jit):
    x, y = classification_data(n=16, input_shape=(6, 10, 1))
    model = _compile(
        MixupModel(dense_classifier((6, 10, 1)), alpha=0.0, cutmix_alpha=1.0, seed=2),
        jit=jit,
    )
    params = _draw(model, 16, (6, 10), jit)
    assert bool(params.cutmix)
    assert np.any(numpy(params.lam) < 1)
    mixed = numpy(paste_boxes(x, params))
    probs = numpy(model(mixed, training=True))
    expected = _two_term_ce(probs, y, numpy(params.lam), numpy(params.perm))
    loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


@JIT
def test_prob_and_switch_prob_follow_timms_semantics(jit):
    model = MixupModel(
        dense_classifier((4, 4, 1)), alpha=1.0, cutmix_alpha=1.0, prob=0.6,
        switch_prob=0.25, seed=0,
    )
    draw = as_in_step(lambda: model.sample_mix_params(32, (4, 4)), jit)
    outcomes = []
    for _ in range(400):
        p = draw()
        lam, box = numpy(p.lam), numpy(p.box)
        if np.all(lam == 1.0):
            outcomes.append("off")
            assert not np.any(box[:, 1] > box[:, 0])  # no box either
        else:
            outcomes.append("cutmix" if bool(p.cutmix) else "mixup")
    outcomes = np.array(outcomes)
    mixed = outcomes != "off"

    def close(observed, p, n):  # within 5 binomial standard deviations
        assert abs(observed - p * n) < 5 * np.sqrt(n * p * (1 - p)) + 1, (observed, p, n)

    close(mixed.sum(), 0.6, 400)
    close((outcomes == "cutmix").sum(), 0.25, mixed.sum())
    # A concentration of 0 switches its method off; prob 0 all mixing.
    model.alpha = 0.0
    kinds = set()
    for _ in range(40):
        p = draw()
        kinds.add("off" if np.all(numpy(p.lam) == 1) else bool(p.cutmix))
    assert kinds == {"off", True}
    model.prob = 0.0
    assert all(np.all(numpy(draw().lam) == 1.0) for _ in range(20))


def test_cutmix_needs_an_image_input():
    x, y = classification_data(n=8)
    model = _compile(MixupModel(dense_classifier(), cutmix_alpha=1.0))
    with pytest.raises(ValueError, match="needs an image input of rank 4"):
        model.fit(x, y, verbose=0)


# -- Schedules ---------------------------------------------------------------


class CountingMixupModel(MixupModel):
    """Counts how often the train step is traced (Python runs only then)."""

    traces = 0

    def train_step(self, *args):  # (data), or on JAX (state, data)
        CountingMixupModel.traces += 1
        return super().train_step(*args)


@JIT
def test_schedules_change_the_step_without_retracing(jit, tmp_path):
    x, y = classification_data(n=64)
    CountingMixupModel.traces = 0
    model = _compile(CountingMixupModel(dense_classifier(), alpha=1.0, seed=0), jit=jit)
    history = model.fit(
        x, y, batch_size=16, epochs=4, verbose=0,
        callbacks=[
            MixupScheduler(linear_ramp(0.0, 1.0, epochs=2), "alpha"),
            MixupOff(last_epochs=1),
            MixupTensorBoard(str(tmp_path), num_images=0),
        ],
    )
    # Python runs once per trace: TensorFlow's graph, JAX's jit. (JAX's eager
    # mode and PyTorch run it at every step; there is nothing to retrace.)
    if BACKEND == "tensorflow" or (BACKEND == "jax" and jit):
        assert CountingMixupModel.traces == 1
    assert history.history["mixup_alpha"] == [0.0, 0.5, 1.0, 1.0]
    strength = history.history["mixup_strength"]
    assert strength[0] == 0.0 and strength[3] == 0.0  # alpha 0, then off
    assert strength[1] > 0.05 and strength[2] > 0.05
    assert model.prob == 1.0  # MixupOff restores it for the next fit


def test_mixup_off_from_epoch_and_clean_training():
    x, y = classification_data(n=32)
    off = _compile(MixupModel(dense_classifier(), alpha=1.0, seed=0))
    plain = _compile(dense_classifier())
    fit = dict(batch_size=8, epochs=2, shuffle=False, verbose=0)
    off.fit(x, y, callbacks=[MixupOff(from_epoch=0)], **fit)
    plain.fit(x, y, **fit)
    for a, b in zip(off.model.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_schedule_errors_are_clear():
    model = MixupModel(dense_classifier(), alpha=0.2)
    with pytest.raises(ValueError, match="built with cutmix_alpha=0"):
        model.cutmix_alpha = 0.5
    with pytest.raises(ValueError, match="`prob` must be a probability"):
        model.prob = 1.5
    with pytest.raises(ValueError, match="`setting` must be one of"):
        MixupScheduler(lambda e, v: v, setting="beta")
    with pytest.raises(ValueError, match="exactly one"):
        MixupOff()
    plain = _compile(dense_classifier())
    x, y = classification_data(n=8)
    with pytest.raises(ValueError, match="needs a MixupModel"):
        plain.fit(x, y, verbose=0, callbacks=[MixupScheduler(lambda e, v: v)])


# -- Manifold mixup ----------------------------------------------------------


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
    model = _compile(MixupModel(inner, alpha=1.0, mix_layer="embedding", seed=3), jit=jit)
    params = _draw(model, 16, jit=jit)
    lam, perm = numpy(params.lam), numpy(params.perm)
    embedded = numpy(inner.get_layer("embedding")(x))
    mixed = lam[:, None, None] * embedded + (1 - lam[:, None, None]) * embedded[perm]
    probs = numpy(inner.get_layer("head")(inner.get_layer("pool")(mixed)))
    expected = _two_term_ce(probs, y, lam, perm)
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
    model = _compile(
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
    model = _compile(MixupModel(dense_classifier(), mix_layer="nope"))
    with pytest.raises(ValueError, match="'nope' is not a layer of this model"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="`cutmix_alpha` must be 0 with `mix_layer`"):
        MixupModel(dense_classifier(), mix_layer="x", cutmix_alpha=1.0)
    with pytest.raises(ValueError, match="`mix_layer` must be None"):
        MixupModel(dense_classifier(), mix_layer=3)


# -- Label smoothing ---------------------------------------------------------


@JIT
def test_label_smoothing_smooths_the_mixed_targets(jit):
    x, y = classification_data(n=16)
    eps = 0.2
    model = _compile(
        MixupModel(dense_classifier(), alpha=1.0, label_smoothing=eps, seed=5),
        loss="categorical_crossentropy",
        jit=jit,
    )
    params = _draw(model, 16, jit=jit)
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
    ours = _compile(
        MixupModel(dense_classifier(), alpha=0.0, label_smoothing=0.1),
        loss="categorical_crossentropy",
    )
    keras_own = _compile(
        dense_classifier(), loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1)
    )
    fit = dict(batch_size=8, epochs=2, shuffle=False, verbose=0)
    h1 = ours.fit(x, one_hot(y), **fit)
    h2 = keras_own.fit(x, one_hot(y), **fit)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-6)


def test_warns_once_when_the_compiled_loss_smooths_labels():
    x, y = classification_data(n=16)
    model = _compile(
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
    quiet = _compile(MixupModel(dense_classifier(), alpha=0.2), "categorical_crossentropy")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet.fit(x, one_hot(y), batch_size=8, epochs=1, verbose=0)
    assert not [w for w in caught if "label_smoothing" in str(w.message)]


def test_label_smoothing_with_sparse_labels_is_refused():
    x, y = classification_data(n=8)
    model = _compile(MixupModel(dense_classifier(), label_smoothing=0.1))
    with pytest.raises(ValueError, match="`label_smoothing` needs one-hot"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"`label_smoothing` must be a float in \[0, 1\)"):
        MixupModel(dense_classifier(), label_smoothing=1.0)


# -- Multiple inputs and outputs ---------------------------------------------


def test_mix_inputs_mixes_floats_keeps_ids_unless_told():
    params = MixParams(ops.convert_to_tensor([0.25, 0.5]), ops.convert_to_tensor([1, 0], "int32"))
    x = {
        "image": ops.convert_to_tensor([[1.0], [3.0]]),
        "ids": ops.convert_to_tensor([[1], [2]]),
    }
    mixed = mix_inputs(x, params)
    np.testing.assert_allclose(numpy(mixed["image"]), [[2.5], [2.0]])
    np.testing.assert_array_equal(numpy(mixed["ids"]), [[1], [2]])
    chosen = mix_inputs(x, params, include=["ids"])
    np.testing.assert_allclose(numpy(chosen["ids"]), [[1.75], [1.5]])
    np.testing.assert_array_equal(numpy(chosen["image"]), [[1.0], [3.0]])
    listed = mix_inputs([x["image"], x["ids"]], params, include=[0])
    np.testing.assert_allclose(numpy(listed[0]), [[2.5], [2.0]])
    with pytest.raises(ValueError, match=r"names \['mask'\].*\['image', 'ids'\]"):
        mix_inputs(x, params, include=["mask"])


def _two_headed_model(**mixup):
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


@JIT
@pytest.mark.parametrize("cutmix", [False, True], ids=["mixup", "cutmix"])
def test_dict_inputs_and_outputs_share_one_lambda(jit, cutmix):
    rng = np.random.default_rng(1)
    n = 16
    x = {
        "image": rng.normal(size=(n, 4, 4, 1)).astype("float32"),
        "meta": rng.normal(size=(n, 3)).astype("float32"),
        "ids": rng.integers(0, 5, size=(n, 2)).astype("int32"),
    }
    y = {
        "label": rng.integers(0, NUM_CLASSES, size=n),
        "value": rng.normal(size=(n, 1)).astype("float32"),
    }
    rates = {"alpha": 0.0, "cutmix_alpha": 1.0} if cutmix else {"alpha": 1.0}
    model = _two_headed_model(seed=4, **rates)
    model.compile(
        keras.optimizers.SGD(0.1),
        loss={"label": "sparse_categorical_crossentropy", "value": "mse"},
        jit_compile=jit,
    )
    params = _draw(model, n, (4, 4) if cutmix else None, jit)
    lam, perm = numpy(params.lam), numpy(params.perm)
    mixed = {k: np.asarray(v) for k, v in mix_inputs(x, params).items()}
    np.testing.assert_array_equal(mixed["ids"], x["ids"])
    np.testing.assert_allclose(
        mixed["meta"], lam[:, None] * x["meta"] + (1 - lam[:, None]) * x["meta"][perm],
        rtol=1e-5, atol=1e-6,
    )
    out = {k: numpy(v) for k, v in model(mixed, training=True).items()}
    # Class ids split the loss into two weighted terms for every output.
    value = y["value"][:, 0]
    mse = lambda t: (out["value"][:, 0] - t) ** 2  # noqa: E731
    expected = _two_term_ce(out["label"], y["label"], lam, perm) + np.mean(
        lam * mse(value) + (1 - lam) * mse(value[perm])
    )
    loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


# -- Serialization and validation --------------------------------------------


def test_every_setting_and_the_scheduled_rates_survive_saving(tmp_path):
    model = _two_headed_model(
        alpha=0.3, cutmix_alpha=1.0, prob=0.8, switch_prob=0.3,
        lambda_mode="per_batch", label_smoothing=0.05,
        mixed_inputs=["image", "meta"], seed=7,
    )
    model.prob = 0.4  # as a schedule left it
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.mixup_config() == model.mixup_config()
    assert loaded.mixup_config()["mixed_inputs"] == ["image", "meta"]
    assert loaded.current_rates() == pytest.approx(
        {"alpha": 0.3, "cutmix_alpha": 1.0, "prob": 0.4, "switch_prob": 0.3}
    )
    store = {}
    model.save_own_variables(store)
    assert RATES_KEY in store


def test_scheduled_rates_of_a_method_the_model_lacks_are_not_loaded(tmp_path):
    mixup = MixupModel(dense_classifier(), alpha=0.4)
    path = str(tmp_path / "m.weights.h5")
    mixup.save_weights(path)
    baseline = MixupModel(dense_classifier(), alpha=0.0)
    with pytest.warns(UserWarning, match="built with alpha=0; it keeps alpha=0"):
        baseline.load_weights(path)
    assert baseline.alpha == 0.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cutmix_alpha": -1.0}, "`cutmix_alpha` must be a finite number"),
        ({"prob": 1.5}, "`prob` must be a probability"),
        ({"switch_prob": "half"}, "`switch_prob` must be a probability"),
        ({"mixed_inputs": "image"}, "`mixed_inputs` must be None"),
        ({"mixed_inputs": [True]}, "`mixed_inputs` must be None"),
        ({"mix_layer": "x", "mixed_inputs": ["a"]}, "`mixed_inputs` must be None with"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MixupModel(dense_classifier(), **kwargs)


def test_prob_gate_keeps_the_default_mixup_stream():
    # prob and the CutMix machinery draw from their own seeds: a mixup-only
    # model draws exactly the lambdas and partners it drew before them.
    from mixup_model import sample_mix_params

    gated = sample_batch_params(32, SEED, alpha=0.2)
    plain = sample_mix_params(32, 0.2, SEED)
    np.testing.assert_array_equal(numpy(gated.lam), numpy(plain.lam))
    np.testing.assert_array_equal(numpy(gated.perm), numpy(plain.perm))
