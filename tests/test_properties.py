"""Property-based tests of the mixing over random shapes, dtypes and alphas."""

import numpy as np
from keras import ops
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from mixup_model.methods.mixup import blend
from mixup_model.mixing import mix_inputs
from mixup_model.targets import mix_targets
from mixup_model.methods.mixup import sample_mix_params
from tests.backends import BACKEND
from tests.backends import compiled
from tests.backends import numpy
from tests.backends import seed as make_seed

DTYPES = ["float16", "float32", "float64", "bfloat16", "uint8"]


@st.composite
def batches(draw):
    batch_size = draw(st.integers(1, 17))
    feature_shape = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=3)))
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    if dtype == "uint8":
        x = rng.integers(0, 256, size=(batch_size,) + feature_shape).astype("uint8")
    else:
        x = rng.normal(scale=draw(st.sampled_from([1e-3, 1.0, 100.0])), size=(batch_size,) + feature_shape)
        x = ops.cast(x, dtype)
    alpha = draw(st.floats(0.05, 8.0))
    mode = draw(st.sampled_from(["per_sample", "per_batch"]))
    params = sample_mix_params(batch_size, alpha, make_seed(seed, 1), mode)
    return x, params


def _as_float64(t):
    return numpy(ops.cast(ops.cast(t, "float32"), "float64"))


PROPERTY = settings(max_examples=60, deadline=None)

# The blend as a compiled step runs it (under XLA on TensorFlow and JAX);
# PyTorch's `torch.compile` would recompile for every shape and dtype drawn.
_xla_blend = compiled(blend, jit=BACKEND != "torch")


@PROPERTY
@given(batches())
def test_partner_map_is_a_permutation_and_lambda_in_unit_interval(batch):
    x, params = batch
    assert sorted(numpy(params.perm).tolist()) == list(range(len(params.perm)))
    lam = numpy(params.lam)
    assert np.all((lam >= 0) & (lam <= 1)) and not np.isnan(lam).any()


@PROPERTY
@given(batches(), st.booleans())
def test_every_mixed_element_lies_between_its_two_sources(batch, under_xla):
    x, params = batch
    mixed = (_xla_blend if under_xla else blend)(x, params)
    other = _as_float64((blend if under_xla else _xla_blend)(x, params))
    source = _as_float64(x)
    partner = source[numpy(params.perm)]
    assert np.all(_as_float64(mixed) >= np.minimum(source, partner))
    assert np.all(_as_float64(mixed) <= np.maximum(source, partner))
    # The blend compiled by XLA agrees with the plain one to rounding.
    # (an ulp of the sources' magnitude in bfloat16 is 1/128 of it)
    scale = np.abs(source).max() if source.size else 0.0
    np.testing.assert_allclose(_as_float64(mixed), other, rtol=0, atol=1e-2 * scale + 1e-6)


@PROPERTY
@given(batches(), st.integers(2, 6))
def test_inputs_and_targets_share_lambda_and_partner(batch, num_classes):
    x, params = batch
    n = len(params.perm)
    labels = np.random.default_rng(n).integers(0, num_classes, n)
    one_hot = np.eye(num_classes, dtype="float32")[labels]
    targets = mix_targets(one_hot, ops.zeros((n, num_classes)), None, params)
    mixed_y = numpy(targets.loss_terms[0][0])
    # The same labels fed as an input are mixed exactly like the targets.
    np.testing.assert_array_equal(numpy(mix_inputs(one_hot, params)), mixed_y)
    lam, perm = numpy(params.lam)[:, None], numpy(params.perm)
    np.testing.assert_allclose(mixed_y, lam * one_hot + (1 - lam) * one_hot[perm], atol=1e-6)
    # One-hot rows stay probability rows.
    assert np.all(mixed_y >= 0)
    np.testing.assert_allclose(mixed_y.sum(axis=1), 1.0, atol=1e-6)
    # Integer labels get the same lambda and partner, as two loss terms.
    (y_a, w_a), (y_b, w_b) = mix_targets(labels, ops.zeros((n, num_classes)), None, params).loss_terms
    np.testing.assert_array_equal(numpy(y_b), labels[perm])
    np.testing.assert_allclose(numpy(w_a) + numpy(w_b), 1.0, atol=1e-6)
    np.testing.assert_array_equal(numpy(w_a), numpy(params.lam))
