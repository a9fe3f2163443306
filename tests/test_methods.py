"""The registered batch methods: each module has its parts, and the recipe
draws through them: what `sample_batch_params` returns with one method on is
that method's own `draw`, from the seed the recipe derives for it."""

import inspect

import numpy as np
import pytest
from keras import ops

from mixup_model import MixupModel
from mixup_model import sample_batch_params
from mixup_model.backend import current as backend
from mixup_model.methods import BATCH_METHODS
from mixup_model.methods import METHOD_OF_RATE
from mixup_model.methods import cutmix
from mixup_model.methods import mixup
from mixup_model.params import MixParams


def _numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


@pytest.mark.parametrize("method", BATCH_METHODS, ids=lambda m: m.NAME)
def test_each_batch_method_has_the_interface(method):
    for part in ("draw", "own_weights"):
        assert callable(getattr(method, part)), f"{method.__name__} lacks {part}"
    # Its rate is a MixupModel argument, and the registry finds it by it.
    assert method.RATE in inspect.signature(MixupModel.__init__).parameters
    assert METHOD_OF_RATE[method.RATE] is method


@pytest.mark.parametrize("lambda_mode", ["per_sample", "per_batch"])
def test_the_recipe_draws_mixup_through_its_module(lambda_mode):
    seed = np.array([5, 9], "int32")
    params = sample_batch_params(16, seed, alpha=0.4, lambda_mode=lambda_mode)
    lam_seed, _ = backend.split(backend.as_seed(seed), 2)
    np.testing.assert_array_equal(
        _numpy(params.lam), _numpy(mixup.draw(16, 0.4, lam_seed, lambda_mode))
    )


@pytest.mark.parametrize("sizes", [(12, 10), (20,)], ids=["boxes", "segments"])
def test_the_recipe_draws_cutmix_through_its_module(sizes):
    seed = np.array([3, 1], "int32")
    size_argument = (
        {"image_size": sizes} if len(sizes) == 2 else {"sequence_length": sizes[0]}
    )
    params = sample_batch_params(
        16, seed, alpha=0.0, cutmix_alpha=1.0, mixup=False, cutmix=True,
        **size_argument,
    )
    region, lam = cutmix.draw(16, 1.0, backend.fold_in(backend.as_seed(seed), 1), sizes)
    drawn = params.box if len(sizes) == 2 else params.segment
    np.testing.assert_array_equal(_numpy(drawn), _numpy(region))
    np.testing.assert_array_equal(_numpy(params.lam), _numpy(lam))


def test_own_weights_are_lambda_or_the_region_left_unpasted():
    params = MixParams(
        lam=np.array([0.75, 1.0], "float32"), perm=np.array([1, 0], "int32"),
        box=np.array([[0, 2, 0, 2], [0, 0, 0, 0]], "int32"), cutmix=True,
    )
    assert mixup.own_weights(params) is params.lam
    per_example = np.zeros((2, 3), "float32")  # (batch, classes)
    assert cutmix.own_weights(per_example, params, cut_dims=(4, 4)) is None
    per_pixel = np.zeros((2, 4, 4, 3), "float32")  # (batch, H, W, classes)
    weights = _numpy(cutmix.own_weights(per_pixel, params, cut_dims=(4, 4)))
    expected = np.ones((2, 4, 4), "float32")
    expected[0, :2, :2] = 0.0
    np.testing.assert_array_equal(weights, expected)
    # The mean of the map is the example's area weight.
    np.testing.assert_allclose(weights.mean(axis=(1, 2)), params.lam)
    # Chosen per example: a blending example keeps lambda at every pixel.
    chosen = params._replace(cutmix=np.array([False, True]))
    weights = _numpy(cutmix.own_weights(per_pixel, chosen, cut_dims=(4, 4)))
    np.testing.assert_array_equal(weights[0], np.full((4, 4), 0.75, "float32"))
    np.testing.assert_array_equal(weights[1], expected[1])
    # Sequences: the segment, per step.
    segments = MixParams(lam=np.array([0.6], "float32"), perm=np.array([0], "int32"),
                         segment=np.array([[1, 3]], "int32"), cutmix=True)
    per_step = np.zeros((1, 5, 2), "float32")
    np.testing.assert_array_equal(
        _numpy(cutmix.own_weights(per_step, segments, cut_dims=(5,))), [[1, 0, 0, 1, 1]]
    )


def test_a_rate_set_on_a_model_without_its_method_names_the_method():
    from tests.helpers import dense_classifier

    model = MixupModel(dense_classifier((4, 4, 1)), alpha=0.2)
    with pytest.raises(ValueError, match="has no CutMix"):
        model.cutmix_alpha = 1.0
    model.alpha = 0.0  # a method the step has may be paused
