"""The Beta sampler is really Beta(alpha, alpha), inside XLA (Marsaglia-Tsang
rejection) and outside it (TensorFlow's native Gamma kernel)."""

import numpy as np
import pytest
import tensorflow as tf

from mixup_model.beta import sample_beta
from mixup_model.beta import sample_log_gamma
from tests.stats import ks_pvalue

N = 40_000


def _beta(alpha, seed):
    return sample_beta([N], alpha, alpha, seed)


_BETA_BY_PATH = {
    "xla": tf.function(_beta, jit_compile=True),
    "native": tf.function(_beta),
}
PATHS = sorted(_BETA_BY_PATH)


def _draw(alpha, seed=(7, 11), path="xla"):
    return _BETA_BY_PATH[path](
        tf.constant(alpha, tf.float32), tf.constant(seed, tf.int64)
    ).numpy()


def _op_types(path):
    graph = (
        _BETA_BY_PATH[path]
        .get_concrete_function(
            tf.TensorSpec([], tf.float32), tf.TensorSpec([2], tf.int64)
        )
        .graph
    )
    return {op.type for op in graph.get_operations()}


def test_each_path_uses_its_own_gamma_sampler():
    # The native kernel has no XLA implementation; outside XLA it replaces
    # the rejection loop.
    assert "StatelessRandomGammaV3" not in _op_types("xla")
    assert "StatelessWhile" in _op_types("xla")
    assert "StatelessRandomGammaV3" in _op_types("native")
    assert "StatelessWhile" not in _op_types("native")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("alpha", [0.1, 0.2, 0.5, 1.0, 2.0, 8.0])
def test_matches_numpy_beta(alpha, path):
    ours = _draw(alpha, path=path)
    # numpy's Beta, rounded to float32 like ours: near 0 and 1 only the
    # float32 grid can be compared.
    reference = (
        np.random.default_rng(int(alpha * 100)).beta(alpha, alpha, N)
    ).astype(np.float32)
    assert ks_pvalue(ours, reference) > 1e-3
    assert abs(ours.var() - reference.var()) < 0.01


def test_ks_check_rejects_a_uniform_sampler():
    # Two libraries shipped a "Beta" that was really uniform: the check above
    # must catch that, even at alpha = 1.0's neighbours.
    uniform = np.random.default_rng(0).uniform(size=N).astype(np.float32)
    for alpha in (0.2, 2.0):
        for path in PATHS:
            assert ks_pvalue(_draw(alpha, path=path), uniform) < 1e-6


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("alpha", [0.01, 0.05])
def test_small_alpha_is_finite_and_in_unit_interval(alpha, path):
    lam = _draw(alpha, path=path)
    assert not np.isnan(lam).any()
    assert lam.min() >= 0.0 and lam.max() <= 1.0
    # Beta(a, a) with small a piles up at both ends, symmetrically.
    assert np.mean(lam < 0.01) > 0.3 and np.mean(lam > 0.99) > 0.3
    assert abs(lam.mean() - 0.5) < 0.02


def test_asymmetric_beta_mean():
    lam = sample_beta([N], 2.0, 6.0, tf.constant([1, 2])).numpy()
    assert abs(lam.mean() - 0.25) < 0.01


@pytest.mark.parametrize("path", PATHS)
def test_log_gamma_matches_numpy(path):
    sample = tf.function(sample_log_gamma, jit_compile=path == "xla")
    for alpha in (0.05, 1.0, 3.0):
        ours = sample([N], alpha, tf.constant([3, 4])).numpy()
        assert np.isfinite(ours).all()
        reference = np.log(
            np.random.default_rng(1).standard_gamma(alpha, N)
        )
        assert ks_pvalue(ours, reference) > 1e-3


@pytest.mark.parametrize("path", PATHS)
def test_same_seed_same_draw_and_new_seed_new_draw(path):
    a = _draw(0.2, seed=(1, 1), path=path)
    np.testing.assert_array_equal(a, _draw(0.2, seed=(1, 1), path=path))
    assert not np.array_equal(a, _draw(0.2, seed=(1, 2), path=path))

