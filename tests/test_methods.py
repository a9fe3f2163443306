"""The contract of every registered batch method (`mixup_model.methods`).

Each test runs over `BATCH_METHODS`, so that a new method gets them by its
registration line: the interface and registry, its config, an empty region,
own weights that are the kept fraction of each example, `channels_first`,
the same draw eager and compiled (and in PyTorch's eager blocks), and bad
options refused by name. Each method also has its own test against its
reference implementation (test_cutmix, test_resizemix_fmix, test_beta).
"""

import inspect

import keras
import numpy as np
import pytest

from mixup_model import MixupModel
from mixup_model import OneOf
from mixup_model import flat
from mixup_model.methods import BATCH_METHODS
from mixup_model.methods import METHODS_BY_KEY
from mixup_model.methods.base import BatchMethod
from mixup_model.mixing import mix_tensor
from mixup_model.params import MixParams
from mixup_model.sizes import InputSizes
from mixup_model.targets import own_weights
from tests.backends import BACKEND
from tests.backends import compiled
from tests.backends import numpy
from tests.backends import seed
from tests.helpers import dense_classifier

EACH = pytest.mark.parametrize("cls", BATCH_METHODS, ids=lambda cls: cls.key)
BATCH = 16
IMAGE = (6, 8)
SIZES = InputSizes(IMAGE, IMAGE)


def _draw(method, at=(3, 4), batch_size=BATCH):
    recipe = OneOf([method])
    return recipe.draw(batch_size, seed(*at), recipe.rates, SIZES)


def _constant_images(batch_size=BATCH):
    """Example i is the constant image i + 1 (two channels): a pixel's value
    tells how much of it is whose."""
    values = np.arange(1, batch_size + 1, dtype="float32")
    return np.broadcast_to(values[:, None, None, None], (batch_size,) + IMAGE + (2,)).copy()


def _flat(params):
    return [numpy(t) for t in keras.tree.flatten(params) if t is not None]


@EACH
def test_each_method_is_registered_behind_the_interface(cls):
    assert issubclass(cls, BatchMethod) and METHODS_BY_KEY[cls.key] is cls
    assert keras.saving.get_registered_object(f"mixup_model>{cls.__name__}") is cls
    assert isinstance(cls.caption, str) and cls.rate_names[0] == "alpha"
    # Its flat arguments are MixupModel's, the first its rate.
    flat_names = list(cls.flat_arguments)
    assert set(flat_names) <= set(flat.FLAT_ARGUMENTS)
    assert cls.flat_arguments[flat_names[0]] == "alpha"
    # The guide is generated from its docstring: what each option means.
    for name in list(inspect.signature(cls.__init__).parameters)[1:]:
        assert f"{name}:" in cls.__doc__, f"{cls.__name__}'s docstring lacks {name}"


@EACH
def test_the_config_round_trips_alone_and_in_a_model(cls):
    method = cls(0.7)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(method))
    assert restored == method and repr(restored) == repr(method)
    model = MixupModel(dense_classifier(IMAGE + (2,)), mix=OneOf([method], prob=0.8))
    again = MixupModel.from_config(model.get_config())
    assert again.mixup_config() == model.mixup_config() and again.recipe.methods == (method,)


@EACH
def test_an_empty_region_changes_nothing(cls):
    method = cls(1.0)
    x = np.random.default_rng(0).normal(size=(BATCH,) + IMAGE + (2,)).astype("float32")
    params = MixParams(
        lam=np.ones(BATCH, "float32"), perm=np.arange(BATCH)[::-1].astype("int32"),
        regions=(method.empty_region(BATCH, SIZES),),
    )
    np.testing.assert_array_equal(numpy(mix_tensor(x, params)), x)
    per_pixel = np.zeros((BATCH,) + IMAGE + (3,), "float32")
    np.testing.assert_array_equal(numpy(own_weights(per_pixel, params, cut_dims=IMAGE)), 1.0)


@EACH
def test_own_weights_are_the_kept_fraction_of_each_example(cls):
    params = _draw(cls(1.0))
    x = _constant_images()
    mixed = numpy(mix_tensor(x, params))[..., 0]
    lam, perm = numpy(params.lam), numpy(params.perm)
    own, partner = x[:, 0, 0, 0], x[perm, 0, 0, 0]
    moved = perm != np.arange(BATCH)
    assert moved.sum() > BATCH // 2 and np.any(lam[moved] < 1)
    # Per pixel: the mixed value is w * own + (1 - w) * partner, with w the
    # per-pixel own target weight (a segmentation mask's).
    per_pixel = np.zeros((BATCH,) + IMAGE + (3,), "float32")
    w = np.broadcast_to(
        numpy(own_weights(per_pixel, params, cut_dims=IMAGE)).reshape(BATCH, -1, 1),
        (BATCH, IMAGE[0] * IMAGE[1], 1),
    ).reshape((BATCH,) + IMAGE)
    expected = w * own[:, None, None] + (1 - w) * partner[:, None, None]
    np.testing.assert_allclose(mixed[moved], expected[moved], rtol=1e-5, atol=1e-5)
    # Per example: lambda is the kept fraction, exactly.
    np.testing.assert_allclose(lam[moved], w[moved].mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    per_example = np.zeros((BATCH, 3), "float32")
    np.testing.assert_array_equal(numpy(own_weights(per_example, params, cut_dims=IMAGE)), lam)


@EACH
def test_channels_first_is_mixed_as_channels_last(cls):
    params = _draw(cls(1.0), at=(5, 1))
    x = np.random.default_rng(1).normal(size=(BATCH,) + IMAGE + (2,)).astype("float32")
    first = mix_tensor(x.transpose(0, 3, 1, 2), params, data_format="channels_first")
    np.testing.assert_allclose(
        numpy(first), numpy(mix_tensor(x, params)).transpose(0, 3, 1, 2), rtol=1e-6, atol=1e-6
    )


@EACH
def test_the_draw_is_the_same_eagerly_and_compiled(cls):
    method = cls(1.0)
    recipe = OneOf([method], mode="elem", prob=0.7)
    if BACKEND == "torch":
        # Eager PyTorch draws blocks of future steps at once: the same draws
        # as step by step (`torch.compile`d draws: test_torch_random).
        from mixup_model.backend.step_draws import StepDraws

        def draws(model):
            return [_flat(model.sample_mix_params(BATCH, IMAGE, IMAGE)) for _ in range(5)]

        ahead = MixupModel(dense_classifier(IMAGE + (2,)), mix=recipe, seed=4)
        stepwise = MixupModel(dense_classifier(IMAGE + (2,)), mix=recipe, seed=4)
        object.__setattr__(stepwise, "_step_draws", StepDraws(
            stepwise.mixup_seed_generator, stepwise.mixup_rates
        ))
        pairs = zip(draws(ahead), draws(stepwise), strict=True)
    else:
        # TensorFlow's graph (XLA draws other numbers, by design), jax.jit.
        def draw(s):
            return recipe.draw(BATCH, s, recipe.rates, SIZES)

        step = compiled(draw, BACKEND == "jax")
        pairs = [(_flat(draw(seed(i, 2))), _flat(step(seed(i, 2)))) for i in range(3)]
    for eager, other in pairs:
        for a, b in zip(eager, other, strict=True):
            # (A lambda may differ in its last bit: see `backend.draw_ahead`.)
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=0)


@EACH
def test_bad_options_are_refused_by_name(cls):
    for name in list(inspect.signature(cls.__init__).parameters)[1:]:
        for bad in ("bad", -1.0, float("nan")):
            with pytest.raises((ValueError, TypeError), match=f"{name}.*Received"):
                cls(**{name: bad})
