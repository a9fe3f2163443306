"""A Beta(a, b) sampler that is exact and never NaN, on every backend.

The Gamma draws come from the backend (`mixup_model.backend`): on
TensorFlow a sampler that also runs inside XLA (where
`tf.random.stateless_gamma` has no kernel), on JAX `jax.random.loggamma`
under `jit`, on PyTorch torch's Gamma kernel with a private generator.

Numerics: for small shapes a Gamma draw underflows to zero, and the textbook
`g1 / (g1 + g2)` then gives `0 / 0 = NaN` (at a = 0.05 that happens for most
draws in float32). Every backend therefore returns log-Gamma values, and
the Beta variate is `sigmoid(log g1 - log g2)`, which is exactly
`g1 / (g1 + g2)` but cannot overflow, underflow to NaN, or leave [0, 1].
"""

from keras import ops

from mixup_model.backend import current as backend


def sample_beta(shape, a, b, seed):
    """Draws `Beta(a, b)` variates, inside or outside a compiled step.

    Args:
        shape: Output shape (a list/tuple of ints, or a 1-D int tensor on
            TensorFlow).
        a: First concentration, a positive float scalar or tensor.
        b: Second concentration, a positive float scalar or tensor.
        seed: A stateless seed of shape `(2,)`: a `SeedGenerator` draw
            (`seed_generator.next()`) or a pair of ints.

    Returns:
        A float32 tensor of `shape` with values in [0, 1], never NaN.

    Example:

    >>> lam = sample_beta([4], 0.2, 0.2, seed=[1, 2])
    >>> tuple(lam.shape)
    (4,)
    >>> bool(ops.all((lam >= 0) & (lam <= 1)))
    True
    """
    concentrations = ops.stack(
        [
            ops.broadcast_to(ops.cast(a, "float32"), shape),
            ops.broadcast_to(ops.cast(b, "float32"), shape),
        ]
    )
    # Both Gamma draws in one call: on TensorFlow under XLA, one rejection
    # loop instead of two.
    log_ga, log_gb = ops.unstack(
        backend.log_gamma(concentrations, backend.as_seed(seed)), axis=0
    )
    # g_a / (g_a + g_b) == sigmoid(log g_a - log g_b), computed without ever
    # forming g_a or g_b (which underflow to 0 for small a, b). For t > 0,
    # sigmoid(t) = 1 / (1 + tiny) rounds twice and lands on 1.0 too often;
    # 1 - sigmoid(-t) rounds once, so lambda near 1 is as exact as near 0.
    t = log_ga - log_gb
    return ops.where(t > 0.0, 1.0 - ops.sigmoid(-t), ops.sigmoid(t))
