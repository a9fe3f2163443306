"""Sampling and applying the mixing, one function at a time."""

import numpy as np
import pytest
import tensorflow as tf

from mixup_model.mixing import CLASS_IDS
from mixup_model.mixing import DENSE
from mixup_model.mixing import MixParams
from mixup_model.mixing import blend
from mixup_model.mixing import mix_inputs
from mixup_model.mixing import mix_targets
from mixup_model.mixing import sample_mix_params
from mixup_model.mixing import target_kind

SEED = tf.constant([5, 6], tf.int64)


def _params(lam, perm):
    return MixParams(
        lam=tf.constant(lam, tf.float32), perm=tf.constant(perm, tf.int32)
    )


@pytest.mark.parametrize("batch_size", [1, 2, 7, 64])
def test_partner_is_a_permutation(batch_size):
    params = sample_mix_params(batch_size, 0.2, SEED)
    assert sorted(params.perm.numpy()) == list(range(batch_size))
    assert params.lam.shape == (batch_size,)


def test_per_sample_and_per_batch_lambda():
    per_sample = sample_mix_params(32, 1.0, SEED, "per_sample").lam.numpy()
    per_batch = sample_mix_params(32, 1.0, SEED, "per_batch").lam.numpy()
    assert len(set(per_sample.tolist())) == 32
    assert len(set(per_batch.tolist())) == 1
    with pytest.raises(ValueError, match="lambda_mode"):
        sample_mix_params(4, 1.0, SEED, "per_pixel")


def test_sampling_compiles_with_xla():
    fn = tf.function(
        lambda seed: sample_mix_params(16, 0.2, seed).lam, jit_compile=True
    )
    lam = fn(SEED).numpy()
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
        blend(x, _params(lam, perm)).numpy(), expected, rtol=1e-6, atol=1e-6
    )


def test_blend_is_exact_at_lambda_zero_and_one():
    x = tf.constant([[0.1, 3.3], [-7.7, 1e-8], [2.0, 5.0]])
    mixed = blend(x, _params([1.0, 0.0, 1.0], [1, 2, 0])).numpy()
    np.testing.assert_array_equal(mixed, x.numpy()[[0, 2, 2]])


def test_uint8_inputs_are_blended_in_float():
    x = np.array([[0, 255], [255, 1]], dtype=np.uint8)
    mixed = blend(x, _params([0.5, 0.25], [1, 0])).numpy()
    assert mixed.dtype == np.float32
    np.testing.assert_allclose(mixed, [[127.5, 128.0], [63.75, 191.5]])


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16, tf.float64])
def test_float_inputs_keep_their_dtype(dtype):
    x = tf.cast(tf.reshape(tf.range(6), (3, 2)), dtype)
    mixed = blend(x, _params([0.5, 0.5, 1.0], [1, 2, 0]))
    assert mixed.dtype == dtype
    np.testing.assert_allclose(
        tf.cast(mixed, tf.float32).numpy(), [[1, 2], [3, 4], [4, 5]]
    )


def test_nested_inputs_mix_floats_and_keep_ids():
    params = _params([0.5, 0.5], [1, 0])
    x = {"pixels": np.array([[0.0], [2.0]]), "ids": np.array([[3], [9]])}
    mixed = mix_inputs(x, params)
    np.testing.assert_allclose(mixed["pixels"].numpy(), [[1.0], [1.0]])
    np.testing.assert_array_equal(mixed["ids"].numpy(), [[3], [9]])


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
    return tf.zeros([2 if d is None else d for d in shape])


def test_target_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(None, 5\)"):
        target_kind(tf.zeros((2, 3)), tf.zeros((2, 5)))


def test_dense_targets_are_blended_directly():
    y = np.eye(3, dtype="float32")[[0, 1, 2]]
    targets = mix_targets(y, tf.zeros((3, 3)), None, _params([0.75] * 3, [1, 2, 0]))
    assert len(targets.loss_terms) == 1
    np.testing.assert_allclose(
        targets.loss_terms[0][0].numpy(),
        [[0.75, 0.25, 0], [0, 0.75, 0.25], [0.25, 0, 0.75]],
    )


def test_class_ids_become_two_weighted_terms_and_dominant_metric_label():
    y = np.array([0, 1, 2])
    targets = mix_targets(
        y, tf.zeros((3, 3)), None, _params([0.75, 0.25, 0.5], [1, 2, 0])
    )
    (y_a, w_a), (y_b, w_b) = targets.loss_terms
    np.testing.assert_array_equal(y_a.numpy(), [0, 1, 2])
    np.testing.assert_array_equal(y_b.numpy(), [1, 2, 0])
    np.testing.assert_allclose(w_a.numpy(), [0.75, 0.25, 0.5])
    np.testing.assert_allclose(w_b.numpy(), [0.25, 0.75, 0.5])
    np.testing.assert_array_equal(targets.metric_y.numpy(), [0, 2, 2])


def test_sample_weights_travel_with_their_own_example():
    y = np.eye(3, dtype="float32")
    w = np.array([1.0, 2.0, 3.0], dtype="float32")
    targets = mix_targets(
        y, tf.zeros((3, 3)), w, _params([0.75, 0.5, 0.0], [1, 2, 0])
    )
    (_, w_a), (_, w_b) = targets.loss_terms
    np.testing.assert_allclose(w_a.numpy(), [0.75, 1.0, 0.0])
    np.testing.assert_allclose(w_b.numpy(), [0.5, 1.5, 1.0])
    np.testing.assert_allclose(
        targets.metric_sample_weight.numpy(), [1.25, 2.5, 1.0]
    )
