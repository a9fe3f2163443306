"""The Beta sampler is really Beta(alpha, alpha) on every backend, in and out
of the compiled step (on TensorFlow: Marsaglia-Tsang rejection inside XLA,
the native Gamma kernel outside it)."""

import numpy as np
import pytest

from mixup_model.beta import sample_beta
from tests.backends import JIT_COMPILE
from tests.backends import compiled
from tests.backends import numpy
from tests.backends import seed
from tests.backends import tensorflow_only
from tests.stats import ks_pvalue

N = 40_000


def _beta(alpha, seed):
    return sample_beta([N], alpha, alpha, seed)


PATHS = JIT_COMPILE
_BETA_BY_PATH = {jit: compiled(_beta, jit) for jit in PATHS}


def _draw(alpha, seed_pair=(7, 11), path=PATHS[0]):
    alpha = np.float32(alpha)
    return numpy(_BETA_BY_PATH[path](alpha, seed(*seed_pair)))


@tensorflow_only
def test_each_path_uses_its_own_gamma_sampler():
    # The native kernel has no XLA implementation; outside XLA it replaces
    # the rejection loop.
    import tensorflow as tf

    def op_types(jit):
        graph = (
            _BETA_BY_PATH[jit]
            .get_concrete_function(
                tf.TensorSpec([], tf.float32), tf.TensorSpec([2], tf.int64)
            )
            .graph
        )
        return {op.type for op in graph.get_operations()}

    assert "StatelessRandomGammaV3" not in op_types(True)
    assert "StatelessWhile" in op_types(True)
    assert "StatelessRandomGammaV3" in op_types(False)
    assert "StatelessWhile" not in op_types(False)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 8.0])
def test_matches_numpy_beta(alpha, path):
    ours = _on_float32_grid(_draw(alpha, path=path))
    # numpy's Beta, rounded to float32 like ours: a lambda within 6e-8 of 1
    # rounds to exactly 1.0 in float32, while one near 0 stays exact.
    reference = _on_float32_grid(
        np.random.default_rng(int(alpha * 100)).beta(alpha, alpha, N)
    )
    assert ks_pvalue(ours, reference) > 1e-3
    assert abs(ours.var() - reference.var()) < 0.01
    # Each tail on its own (at alpha = 0.01, most of the mass).
    for ours_tail, reference_tail in (
        (ours < 1e-3, reference < 1e-3),
        (ours > 1 - 1e-3, reference > 1 - 1e-3),
    ):
        assert abs(ours_tail.mean() - reference_tail.mean()) < 0.015


def _on_float32_grid(values):
    """Float32 values, with subnormals (below 1.2e-38) as 0: whether a
    backend flushes them to zero depends on its CPU flags."""
    values = np.asarray(values, np.float64).astype(np.float32)
    return np.where(values < np.finfo(np.float32).tiny, 0.0, values)


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
    lam = numpy(sample_beta([N], 2.0, 6.0, seed(1, 2)))
    assert abs(lam.mean() - 0.25) < 0.01


@pytest.mark.parametrize("path", PATHS)
def test_same_seed_same_draw_and_new_seed_new_draw(path):
    a = _draw(0.2, seed_pair=(1, 1), path=path)
    np.testing.assert_array_equal(a, _draw(0.2, seed_pair=(1, 1), path=path))
    assert not np.array_equal(a, _draw(0.2, seed_pair=(1, 2), path=path))
    # Seeds (1, k + 1) must not replay seed (1, k)'s stream shifted by one
    # (Keras's own PyTorch seeding adds the two halves).
    assert not np.array_equal(a, _draw(0.2, seed_pair=(2, 0), path=path))
