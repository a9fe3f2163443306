"""Sampling and applying the mixing, one function at a time."""

import numpy as np
import pytest
import keras
from keras import ops

from mixup_model.targets import CLASS_IDS
from mixup_model.targets import DENSE
from mixup_model.params import MixParams
from mixup_model.methods.mixup import blend
from mixup_model.mixing import mix_inputs
from mixup_model.targets import mix_targets
from mixup_model.methods.mixup import sample_mix_params
from mixup_model.targets import target_kind
from tests.backends import BACKEND
from tests.backends import compiled
from tests.backends import numpy
from tests.backends import seed

SEED = seed(5, 6)


def _params(lam, perm):
    return MixParams(
        lam=ops.convert_to_tensor(lam, "float32"), perm=ops.convert_to_tensor(perm, "int32")
    )


@pytest.mark.parametrize("batch_size", [1, 2, 7, 64])
def test_partner_is_a_permutation(batch_size):
    params = sample_mix_params(batch_size, 0.2, SEED)
    assert sorted(numpy(params.perm)) == list(range(batch_size))
    assert params.lam.shape == (batch_size,)


def test_per_sample_and_per_batch_lambda():
    per_sample = numpy(sample_mix_params(32, 1.0, SEED, "per_sample").lam)
    per_batch = numpy(sample_mix_params(32, 1.0, SEED, "per_batch").lam)
    assert len(set(per_sample.tolist())) == 32
    assert len(set(per_batch.tolist())) == 1
    with pytest.raises(ValueError, match="lambda_mode"):
        sample_mix_params(4, 1.0, SEED, "per_pixel")


@pytest.mark.skipif(
    BACKEND == "torch",
    reason="test_torch_random compiles the step's draw and compares it with the eager one",
)
def test_sampling_compiles():
    fn = compiled(lambda seed: sample_mix_params(16, 0.2, seed).lam, jit=True)
    lam = numpy(fn(SEED))
    assert lam.shape == (16,) and (lam >= 0).all() and (lam <= 1).all()


@pytest.mark.parametrize(
    "shape", [(4, 3), (4, 5, 3), (4, 6, 6, 2), (4, 2, 3, 3, 2)]
)
def test_blend_any_rank(shape):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    lam, perm = [0.9, 0.5, 0.0, 1.0], [1, 0, 3, 2]
    expected = np.stack(
        [l * x[i] + (1 - l) * x[p] for i, (l, p) in enumerate(zip(lam, perm))]
    )
    np.testing.assert_allclose(
        numpy(blend(x, _params(lam, perm))), expected, rtol=1e-6, atol=1e-6
    )


def test_blend_is_exact_at_lambda_zero_and_one():
    x = ops.convert_to_tensor([[0.1, 3.3], [-7.7, 1e-8], [2.0, 5.0]])
    mixed = numpy(blend(x, _params([1.0, 0.0, 1.0], [1, 2, 0])))
    np.testing.assert_array_equal(mixed, numpy(x)[[0, 2, 2]])


@pytest.mark.parametrize("shape", [(64, 10), (64, 7, 5, 1)])
def test_blend_is_the_one_sided_step_to_the_bit(shape):
    # numpy statement of the blend, in float32 arithmetic: from the source
    # with the larger weight, a step of min(lam, 1 - lam) towards the other.
    # Every backend's blend takes it (PyTorch's in torch ops: not `torch.lerp`,
    # which rounds differently).
    rng = np.random.default_rng(3)
    x = rng.normal(size=shape).astype("float32")
    lam = rng.random(shape[0]).astype("float32")
    lam[:4] = [0.0, 1.0, 0.5, np.nextafter(np.float32(0.5), np.float32(0))]
    perm = rng.permutation(shape[0])
    keep = (lam >= 0.5).reshape((-1,) + (1,) * (len(shape) - 1))
    base = np.where(keep, x, x[perm])
    other = np.where(keep, x[perm], x)
    t = np.where(lam >= 0.5, np.float32(1) - lam, lam).astype("float32")
    expected = base + t.reshape(keep.shape) * (other - base)
    np.testing.assert_array_equal(numpy(blend(x, _params(lam, perm))), expected)


def test_uint8_inputs_are_blended_in_float():
    x = np.array([[0, 255], [255, 1]], dtype=np.uint8)
    mixed = numpy(blend(x, _params([0.5, 0.25], [1, 0])))
    assert mixed.dtype == np.float32
    np.testing.assert_allclose(mixed, [[127.5, 128.0], [63.75, 191.5]])


@pytest.mark.parametrize(
    "dtype",
    [
        "float16",
        "bfloat16",
        pytest.param(
            "float64",
            marks=pytest.mark.skipif(
                BACKEND == "jax", reason="JAX runs without float64 by default"
            ),
        ),
    ],
)
def test_float_inputs_keep_their_dtype(dtype):
    x = ops.cast(ops.reshape(ops.arange(6), (3, 2)), dtype)
    mixed = blend(x, _params([0.5, 0.5, 1.0], [1, 2, 0]))
    assert keras.backend.standardize_dtype(mixed.dtype) == dtype
    np.testing.assert_allclose(
        numpy(ops.cast(mixed, "float32")), [[1, 2], [3, 4], [4, 5]]
    )


def test_nested_inputs_mix_floats_and_keep_ids():
    params = _params([0.5, 0.5], [1, 0])
    x = {"pixels": np.array([[0.0], [2.0]]), "ids": np.array([[3], [9]])}
    mixed = mix_inputs(x, params)
    np.testing.assert_allclose(numpy(mixed["pixels"]), [[1.0], [1.0]])
    np.testing.assert_array_equal(numpy(mixed["ids"]), [[3], [9]])


@pytest.mark.parametrize(
    "y_shape, out_shape, kind",
    [
        ((None,), (None, 10), CLASS_IDS),
        ((None, 1), (None, 10), CLASS_IDS),
        ((None, 10), (None, 10), DENSE),
        ((None,), (None, 1), DENSE),
        ((None, 1), (None, 1), DENSE),
        ((None, 7), (None, 7, 5), CLASS_IDS),
    ],
)
def test_target_kind(y_shape, out_shape, kind):
    assert target_kind(_spec(y_shape), _spec(out_shape)) == kind


def _spec(shape):
    return ops.zeros([2 if d is None else d for d in shape])


def test_target_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(None, 5\)"):
        target_kind(ops.zeros((2, 3)), ops.zeros((2, 5)))


def test_dense_targets_are_blended_directly():
    y = np.eye(3, dtype="float32")[[0, 1, 2]]
    targets = mix_targets(y, ops.zeros((3, 3)), None, _params([0.75] * 3, [1, 2, 0]))
    assert len(targets.loss_terms) == 1
    np.testing.assert_allclose(
        numpy(targets.loss_terms[0][0]),
        [[0.75, 0.25, 0], [0, 0.75, 0.25], [0.25, 0, 0.75]],
    )


def test_class_ids_become_two_weighted_terms_and_dominant_metric_label():
    y = np.array([0, 1, 2])
    targets = mix_targets(
        y, ops.zeros((3, 3)), None, _params([0.75, 0.25, 0.5], [1, 2, 0])
    )
    (y_a, w_a), (y_b, w_b) = targets.loss_terms
    np.testing.assert_array_equal(numpy(y_a), [0, 1, 2])
    np.testing.assert_array_equal(numpy(y_b), [1, 2, 0])
    np.testing.assert_allclose(numpy(w_a), [0.75, 0.25, 0.5])
    np.testing.assert_allclose(numpy(w_b), [0.25, 0.75, 0.5])
    np.testing.assert_array_equal(numpy(targets.metric_y), [0, 2, 2])


def test_sample_weights_travel_with_their_own_example():
    y = np.eye(3, dtype="float32")
    w = np.array([1.0, 2.0, 3.0], dtype="float32")
    targets = mix_targets(
        y, ops.zeros((3, 3)), w, _params([0.75, 0.5, 0.0], [1, 2, 0])
    )
    (_, w_a), (_, w_b) = targets.loss_terms
    np.testing.assert_allclose(numpy(w_a), [0.75, 1.0, 0.0])
    np.testing.assert_allclose(numpy(w_b), [0.5, 1.5, 1.0])
    np.testing.assert_allclose(
        numpy(targets.metric_sample_weight), [1.25, 2.5, 1.0]
    )
