"""Several methods in one recipe (`method_probs`).

The reference is mmpretrain's `RandomBatchAugment`, which picks one method
per batch as `np.random.choice(self.augments, p=self.probs)`; here the
choice is also made per pair or per example (timm's `mode`). Each example
is mixed by its own method alone, as that method's numpy statement (in
tests/test_resizemix_fmix.py and tests/test_modes.py) mixes it, and weighted
by exactly what it keeps.
"""

import keras
import numpy as np
import pytest

from mixup_model import MixupModel
from mixup_model import MixupStatistics
from mixup_model import mix_inputs
from mixup_model import mix_targets
from mixup_model.model import RATES_KEY
from mixup_model.statistics import LAMBDA_METRIC
from mixup_model import CutMix
from mixup_model import FMix
from mixup_model import Mixup
from mixup_model import OneOf
from mixup_model import ResizeMix
from mixup_model.sizes import InputSizes
from tests.backends import tensorflow_only
from tests.backends import BACKEND
from tests.backends import JIT_COMPILE
from tests.backends import JIT_IDS
from tests.backends import as_in_step
from tests.backends import compiled
from tests.backends import numpy
from tests.backends import seed
from tests.helpers import classification_data
from tests.helpers import compile_sgd
from tests.helpers import dense_classifier
from tests.helpers import draw_as_in_step
from tests.helpers import drawn
from tests.helpers import two_term_cross_entropy
from tests.test_resizemix_fmix import _resizemix_reference

SIZE = (12, 12)
PROBS = (0.4, 0.1, 0.2, 0.3)  # mixup, CutMix, ResizeMix, FMix
ON = (1.0, 1.0, 1.0, 1.0)


KEYS = ("mixup", "cutmix", "resizemix", "fmix")
MIXUP, CUTMIX, RESIZEMIX, FMIX = range(4)  # their places in the recipe


def _draw(jit, batch_size=64, rates=ON, probs=PROBS, prob=1.0, mode="batch", **fmix):
    """The draw of a recipe of the four methods (alpha 1), with `rates` as
    a schedule set them."""
    recipe = OneOf([Mixup(1.0), CutMix(1.0), ResizeMix(1.0), FMix(1.0, **fmix)],
                   probs=list(probs), prob=prob, mode=mode)
    values = dict(recipe.rates, **{f"{key}.alpha": r for key, r in zip(KEYS, rates)})
    sizes = InputSizes(SIZE, SIZE)
    return as_in_step(lambda s: recipe.draw(batch_size, s, values, sizes), jit)


def _close(observed, p, n):  # within 5 binomial standard deviations
    assert abs(observed - p * n) < 5 * np.sqrt(n * p * (1 - p)) + 1, (observed, p, n)


def _regions_empty(params, examples):
    """Whether the examples' CutMix and ResizeMix boxes are empty and their
    FMix masks all 1."""
    params = drawn(params)
    box, resize_box, mask = (r[examples] for r in (params.box, params.resize_box, params.mask))
    return (
        np.all((box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2]) == 0)
        and np.all((resize_box[:, 1] - resize_box[:, 0]) * (resize_box[:, 3] - resize_box[:, 2]) == 0)
        and np.all(mask == 1.0)
    )


def reference_mix(x, params, keys=KEYS):
    """Each example by its method's numpy statement: mixup's blend, CutMix's
    box from the partner (timm's `_mix_elem`; a tube through a video's
    frames), mmpretrain's resize and paste (in every frame of a video),
    FMix's `mask * x + (1 - mask) * x[perm]` (channels last)."""
    params = drawn(params)
    lam, perm = params.lam, params.perm
    method = [keys[m] for m in params.method]
    video = x.ndim == 5
    if params.resize_box is not None:
        box = params.resize_box
        frames = x.transpose(1, 0, 2, 3, 4) if video else x[None]
        resized = np.stack([_resizemix_reference(f, box, perm) for f in frames])
        resized = resized.transpose(1, 0, 2, 3, 4) if video else resized[0]
    out = x.astype(np.float64).copy()
    for i in range(len(x)):
        if method[i] == "mixup":
            out[i] = lam[i] * x[i] + (1 - lam[i]) * x[perm[i]]
        elif method[i] == "cutmix":
            top, bottom, left, right = params.box[i]
            out[i, ..., top:bottom, left:right, :] = x[perm[i], ..., top:bottom, left:right, :]
        elif method[i] == "resizemix":
            out[i] = resized[i]
        else:
            mask = params.mask[i][..., None]
            out[i] = mask * x[i] + (1 - mask) * x[perm[i]]
    return out


@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_methods_are_chosen_with_their_probabilities(mode):
    draw = _draw(False, mode=mode, prob=0.7)
    if BACKEND == "jax":  # the same numbers as eagerly, and 150 draws in seconds
        draw = compiled(draw, True)
    steps = 150 if mode == "batch" else 25
    counts = np.zeros(len(KEYS))
    mixed = total = 0
    for step in range(steps):
        raw = draw(seed(step, 11))
        params = drawn(raw)
        method, lam = params.method, params.lam
        if mode == "batch":  # one choice for the whole batch
            # (An FMix or CutMix example may keep all of itself: lam = 1.)
            assert len(set(method)) == 1
            method, lam = method[:1], np.min(lam, keepdims=True)
        counts += np.bincount(method, minlength=len(KEYS))
        mixed += int(np.sum(lam < 1))
        total += len(method)
        # The examples of other methods and unmixed ones have no region.
        for index, field in ((CUTMIX, "box"), (RESIZEMIX, "resize_box")):
            region = getattr(params, field)
            area = (region[:, 1] - region[:, 0]) * (region[:, 3] - region[:, 2])
            owners = params.method == index
            assert np.all(area[~owners] == 0)
        assert np.all(params.mask[params.method != FMIX] == 1.0)
        assert _regions_empty(raw, params.lam == 1.0)
    for index, p in enumerate(PROBS):
        _close(counts[index], p, total)
    _close(mixed, 0.7, total)


def test_a_method_paused_by_its_rate_is_skipped_and_the_others_renormalised():
    draw = _draw(False, batch_size=2000, rates=(1.0, 0.0, 1.0, 0.0), mode="elem")
    method = drawn(draw(seed(1, 2))).method
    assert set(method) <= {MIXUP, RESIZEMIX}
    _close(np.sum(method == MIXUP), 0.4 / 0.6, len(method))
    params = _draw(False, rates=(0.0,) * 4, mode="elem")(seed(1, 2))
    assert np.all(numpy(params.lam) == 1.0) and _regions_empty(params, slice(None))


def test_pair_mode_partners_share_their_method_lambda_and_region():
    params = _draw(False, batch_size=32, mode="pair")(seed(4, 5))
    params = drawn(params)
    perm = params.perm
    np.testing.assert_array_equal(perm[perm], np.arange(32))
    for field in ("method", "lam", "box", "resize_box", "mask"):
        value = getattr(params, field)
        np.testing.assert_array_equal(value[perm], value, err_msg=field)


def test_each_example_is_mixed_by_its_own_method_alone():
    x = np.random.default_rng(0).normal(size=(64,) + SIZE + (2,)).astype("float32")
    params = _draw(False, mode="elem")(seed(7, 8))
    assert set(drawn(params).method) == set(range(len(KEYS)))
    mixed = as_in_step(lambda x: mix_inputs(x, params), False)(x)
    np.testing.assert_allclose(numpy(mixed), reference_mix(x, params), rtol=1e-5, atol=1e-5)


def test_channels_first_inputs_are_mixed_as_channels_last_ones():
    x = np.random.default_rng(1).normal(size=(64,) + SIZE + (2,)).astype("float32")
    params = _draw(False, mode="elem")(seed(3, 8))
    mixed = mix_inputs(x.transpose(0, 3, 1, 2), params, data_format="channels_first")
    np.testing.assert_allclose(
        numpy(mixed), reference_mix(x, params).transpose(0, 3, 1, 2), rtol=1e-5, atol=1e-5
    )


def _constant_images(batch_size):
    """Example i is the constant image i + 1: a pixel tells its source."""
    values = np.arange(1, batch_size + 1, dtype="float32")
    return np.broadcast_to(values[:, None, None, None], (batch_size,) + SIZE + (1,)).copy()


def test_label_weights_are_the_kept_areas_and_dense_targets_follow_the_pixels():
    params = _draw(False, mode="elem", max_soft=0.0)(seed(9, 1))
    x = _constant_images(64)
    own_pixels = np.isclose(numpy(mix_inputs(x, params))[..., 0], x[..., 0])
    method, lam = drawn(params).method, drawn(params).lam
    # (An example that is its own partner keeps its pixels wherever it pastes.)
    pastes = (method != MIXUP) & (numpy(params.perm) != np.arange(64))
    assert pastes.sum() > 20
    # The label weight is the fraction of the example it keeps, exactly.
    np.testing.assert_allclose(lam[pastes], own_pixels[pastes].mean(axis=(1, 2)), rtol=1e-6)
    # Per-pixel targets (segmentation masks) take each method's region.
    y = np.zeros((64,) + SIZE, "int32")
    y_pred = np.zeros((64,) + SIZE + (3,), "float32")
    targets = mix_targets(y, y_pred, None, params, cut_dims=SIZE)
    own_weight = numpy(targets.loss_terms[0][1])
    np.testing.assert_array_equal(own_weight[pastes], own_pixels[pastes].astype("float32"))
    blends = method == MIXUP
    np.testing.assert_allclose(
        own_weight[blends], np.broadcast_to(lam[blends, None, None], own_weight[blends].shape)
    )


INPUTS = {
    # input shape, settings: images with all four methods per example,
    # sequences with FMix's 1-D masks per pair, videos per batch.
    "image": ((8, 8, 1), dict(alpha=1.0, cutmix_alpha=1.0, resizemix_alpha=1.0,
                              fmix_alpha=1.0, mode="elem")),
    "sequence": ((12, 2), dict(alpha=1.0, fmix_alpha=1.0, mode="pair",
                               method_probs={"mixup": 0.4, "fmix": 0.6})),
    "video": ((3, 8, 8, 1), dict(alpha=0.0, resizemix_alpha=1.0, fmix_alpha=1.0,
                                 mode="elem")),
}
# The methods each kind's draw must hold (so that each is checked).
METHODS_OF = {"image": set(KEYS), "sequence": {"mixup", "fmix"}, "video": {"resizemix", "fmix"}}


# Images with and without the compiled step's jit (XLA, `jax.jit`,
# `torch.compile`); sequences and videos in the backend's default step.
STEPS = [("image", jit) for jit in JIT_COMPILE] + [("sequence", JIT_COMPILE[0]), ("video", JIT_COMPILE[0])]


@pytest.mark.parametrize(
    "kind, jit", STEPS,
    ids=[f"{kind}-{JIT_IDS[JIT_COMPILE.index(jit)]}" for kind, jit in STEPS],
)
def test_the_compiled_step_trains_on_the_recipes_batch(kind, jit):
    input_shape, settings = INPUTS[kind]
    x, y = classification_data(n=32, input_shape=input_shape)
    model = compile_sgd(MixupModel(dense_classifier(input_shape), seed=3, **settings), jit=jit)
    spatial = input_shape[:-1]
    params = draw_as_in_step(
        model, 32, spatial[-2:] if len(spatial) > 1 else spatial, jit, mask_shape=spatial
    )
    assert np.any(numpy(params.lam) < 1)
    keys = [m.key for m in model.recipe.methods]
    assert {keys[m] for m in drawn(params).method} == METHODS_OF[kind]
    mixed = numpy(mix_inputs(x, params))
    np.testing.assert_allclose(mixed, reference_mix(x, params, keys), rtol=1e-5, atol=1e-5)
    probs = numpy(model(mixed, training=True))
    expected = two_term_cross_entropy(probs, y, numpy(params.lam), numpy(params.perm))
    loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


def test_a_recipe_saves_and_loads_with_its_state(tmp_path):
    x, y = classification_data(n=32, input_shape=(8, 8, 1))
    settings = dict(alpha=0.4, cutmix_alpha=1.0, fmix_alpha=2.0, resizemix_alpha=0.5,
                    resizemix_lam_range=(0.2, 0.6), fmix_decay_power=2.5, fmix_max_soft=0.1,
                    method_probs={"mixup": 0.1, "cutmix": 0.2, "resizemix": 0.3, "fmix": 0.4},
                    mode="elem", seed=5)
    model = compile_sgd(MixupModel(dense_classifier((8, 8, 1)), **settings))
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    model.fmix_alpha = 1.5  # as a schedule left it
    path = str(tmp_path / "recipe.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.mixup_config() == model.mixup_config()
    assert loaded.recipe.probs == tuple(settings["method_probs"].values())
    assert loaded.current_rates()["fmix_alpha"] == 1.5
    # The loaded model continues the random stream: the next step is the
    # same in both.
    compile_sgd(loaded)
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    loaded.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_tensorboard_statistics_record_each_methods_label_weights():
    x, y = classification_data(n=16, input_shape=(8, 8, 1))
    model = compile_sgd(MixupModel(
        dense_classifier((8, 8, 1)), alpha=0.0, resizemix_alpha=1.0, fmix_alpha=1.0,
        mode="elem", seed=4,
    ))
    statistics = MixupStatistics(num_images=0)
    model.set_mixup_statistics(statistics)
    params = draw_as_in_step(model, 16, (8, 8), JIT_COMPILE[0], mask_shape=(8, 8))
    assert set(drawn(params).method) == {0, 1}  # ResizeMix, FMix
    model.train_on_batch(x, y)
    # The mean lambda is that of the kept areas (FMix's mask means).
    assert statistics.results()[LAMBDA_METRIC] == pytest.approx(float(np.mean(numpy(params.lam))), rel=1e-5)


def test_weights_saved_before_resizemix_and_fmix_load():
    model = MixupModel(dense_classifier((8, 8, 1)), alpha=0.3, fmix_alpha=1.0)
    store = {}
    model.save_own_variables(store)
    store[RATES_KEY] = np.array([0.5, 0.0, 0.9, 0.5], "float32")  # four rates
    model.load_own_variables(store)
    assert model.current_rates() == pytest.approx(
        {"alpha": 0.5, "cutmix_alpha": 0.0, "prob": 0.9, "switch_prob": 0.5,
         "resizemix_alpha": 0.0, "fmix_alpha": 1.0}
    )


def test_scheduling_a_method_the_recipe_lacks_or_switch_prob_is_refused():
    model = MixupModel(dense_classifier((8, 8, 1)), fmix_alpha=1.0)
    with pytest.raises(ValueError, match="built with resizemix_alpha=0, so its train step has no ResizeMix"):
        model.resizemix_alpha = 1.0
    with pytest.raises(ValueError, match="Cannot set `switch_prob`: .* `method_probs`"):
        model.switch_prob = 0.3
    model.fmix_alpha = 0.0  # a method it has: paused
    assert model.current_rates()["fmix_alpha"] == 0.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"resizemix_alpha": -1.0}, "`resizemix_alpha` must be a finite number"),
        ({"fmix_alpha": float("inf")}, "`fmix_alpha` must be a finite number"),
        ({"resizemix_alpha": 1.0, "resizemix_lam_range": (0.8, 0.1)}, "`resizemix_lam_range` must be"),
        ({"resizemix_alpha": 1.0, "resizemix_lam_range": 0.5}, "`resizemix_lam_range` must be"),
        ({"fmix_alpha": 1.0, "fmix_decay_power": 0}, "`fmix_decay_power` must be"),
        ({"fmix_alpha": 1.0, "fmix_max_soft": 0.7}, "`fmix_max_soft` must be"),
        ({"fmix_alpha": 1.0, "method_probs": [0.5, 0.5]}, "`method_probs` must be None or a non-empty dict"),
        ({"fmix_alpha": 1.0, "method_probs": {}}, "`method_probs` must be None or a non-empty dict"),
        ({"fmix_alpha": 1.0, "method_probs": {"mixup": 0.5, "fmx": 0.5}}, r"keys are among .*, without \['fmx'\]"),
        ({"fmix_alpha": 1.0, "method_probs": {"mixup": 1.0, "fmix": 0.0}},
         r"gives fmix probability 0, but fmix is on \(fmix_alpha=1.0\)"),
        ({"fmix_alpha": 1.0, "method_probs": {"mixup": 0.5, "fmix": 1.5}}, r"`method_probs\['fmix'\]` must be a probability"),
        ({"fmix_alpha": 1.0, "method_probs": {"mixup": 0.5, "fmix": 0.6}}, "must add up to 1"),
        ({"fmix_alpha": 1.0, "method_probs": {"fmix": 1.0}}, r"lacks \['mixup'\] \(alpha=0.2\)"),
        ({"method_probs": {"mixup": 0.5, "cutmix": 0.5}}, "cutmix is off: `cutmix_alpha` is 0"),
        ({"fmix_alpha": 1.0, "switch_prob": 0.3}, "give each method's probability in `method_probs`"),
        ({"cutmix_alpha": 1.0, "switch_prob": 0.3, "method_probs": {"mixup": 0.5, "cutmix": 0.5}},
         "`method_probs` replaces `switch_prob`"),
        ({"fmix_alpha": 1.0, "mix_layer": "dense"}, "`fmix_alpha` must be 0 with `mix_layer`"),
    ],
)
def test_bad_recipe_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MixupModel(dense_classifier((8, 8, 1)), **kwargs)


@pytest.mark.parametrize(
    "kwargs, input_shape, message",
    [
        ({"resizemix_alpha": 1.0}, (12, 2), 'ResizeMix \\(`resizemix_alpha` > 0\\) needs an image input'),
        ({"fmix_alpha": 1.0}, (6,), 'FMix \\(`fmix_alpha` > 0\\) needs an image input'),
    ],
)
def test_methods_refuse_inputs_they_cannot_cut(kwargs, input_shape, message):
    x, y = classification_data(n=8, input_shape=input_shape)
    model = compile_sgd(MixupModel(dense_classifier(input_shape), **kwargs))
    with pytest.raises(ValueError, match=message):
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)


@tensorflow_only
@pytest.mark.parametrize(
    "rate, input_shape, message",
    [("fmix_alpha", (5, 2), 'FMix \\(`fmix_alpha` > 0\\) needs the sizes'),
     ("resizemix_alpha", (5, 5, 2), 'ResizeMix \\(`resizemix_alpha` > 0\\) needs the height and width')],
)
def test_fmix_and_resizemix_need_static_sizes(rate, input_shape, message):
    import tensorflow as tf

    x, y = classification_data(n=8, input_shape=input_shape)
    # Inputs of any size: the traced step does not know their sizes.
    data = tf.data.Dataset.from_generator(
        lambda: iter([(x, y)]),
        output_signature=(
            tf.TensorSpec((None,) * len(input_shape) + (2,), "float32"),
            tf.TensorSpec((None,), "int64"),
        ),
    )
    pooling = {2: keras.layers.GlobalAveragePooling1D, 3: keras.layers.GlobalAveragePooling2D}
    inner = keras.Sequential([
        keras.Input((None,) * (len(input_shape) - 1) + (2,)),
        pooling[len(input_shape)](), keras.layers.Dense(3),
    ])
    model = compile_sgd(
        MixupModel(inner, **{rate: 1.0}),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    with pytest.raises(ValueError, match=message):
        model.fit(data, epochs=1, verbose=0)
