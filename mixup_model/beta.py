"""A Beta(a, b) sampler that runs inside and outside XLA.

`keras.random.beta` and `tf.random.stateless_gamma` lower to the
`StatelessRandomGammaV3` kernel, which has no XLA implementation, so a train
step that calls them cannot run with `jit_compile=True`. Inside XLA this
module samples Gamma variates with Marsaglia & Tsang's rejection method (ACM
TOMS 2000) from stateless normal and uniform draws inside a `tf.while_loop`,
all of which XLA supports. Outside XLA it uses that native kernel, one op
where the loop is many: timed in a whole train step outside XLA, the loop
was the slower of the two. Both draw exactly from the Gamma distribution,
but they give different numbers for the same seed.

Numerics: for small shapes a Gamma draw underflows to zero, and the textbook
`g1 / (g1 + g2)` then gives `0 / 0 = NaN` (at a = 0.05 that happens for most
draws in float32). We therefore work with log-Gamma values throughout and
return `sigmoid(log g1 - log g2)`, which is exactly `g1 / (g1 + g2)` but
cannot overflow, underflow to NaN, or leave [0, 1].
"""

import tensorflow as tf
from tensorflow.python.ops import control_flow_util

# Round 0 draws this many candidates per element at once. Marsaglia-Tsang
# accepts a candidate with probability >= 0.95 for shapes >= 1 (we always
# sample shapes >= 1), so an element is left without an accepted candidate
# with probability < 0.05**4 ~ 6e-6: the rejection loop after round 0 almost
# never runs, and its per-iteration overhead (large outside XLA) is avoided.
# Taking the first accepted of i.i.d. candidates is exact rejection sampling.
_FIRST_ROUND_CANDIDATES = 4

# A cap on the rounds after that: an element is still pending after it with
# probability < 0.05**64. The cap only guarantees termination.
_MAX_REJECTION_ROUNDS = 64


def _split_seed(seed, num):
    """Derives `num` independent stateless seeds from one seed of shape (2,)."""
    return tf.unstack(tf.random.experimental.stateless_split(seed, num=num))


def _as_stateless_seed(seed):
    seed = tf.convert_to_tensor(seed)
    if seed.dtype not in (tf.int32, tf.int64):
        seed = tf.cast(seed, tf.int64)
    return seed


def in_xla_context():
    """Whether the ops being traced will be compiled by XLA (a
    `jit_compile=True` function, or a function called from one)."""
    # TensorFlow's own test, which `tf.while_loop` uses for the same purpose.
    return control_flow_util.GraphOrParentsInXlaContext(
        tf.compat.v1.get_default_graph()
    )


def _uniform_open_zero(shape, seed):
    # Uniform on (0, 1]: log() of it is always finite.
    return 1.0 - tf.random.stateless_uniform(shape, seed=seed)


def _marsaglia_tsang_round(shape, d, c, seed):
    """One candidate per element: (accepted?, log v) for Gamma(d + 1/3)."""
    normal_seed, uniform_seed = _split_seed(seed, 2)
    x = tf.random.stateless_normal(shape, seed=normal_seed)
    u = _uniform_open_zero(shape, uniform_seed)
    v = (1.0 + c * x) ** 3
    safe_v = tf.where(v > 0.0, v, tf.ones_like(v))
    log_v = tf.math.log(safe_v)
    accept = (v > 0.0) & (
        tf.math.log(u) < 0.5 * tf.square(x) + d - d * safe_v + d * log_v
    )
    return accept, log_v


def sample_log_gamma(shape, concentration, seed):
    """Draws `log(g)` with `g ~ Gamma(concentration, 1)`.

    Args:
        shape: Output shape (a list/tuple of ints or a 1-D int tensor).
        concentration: Gamma shape parameter, a positive float32 scalar or a
            tensor broadcastable to `shape`.
        seed: A stateless seed, an integer tensor of shape `(2,)`.

    Returns:
        A float32 tensor of `shape` holding `log(g)`; always finite.
    """
    seed = _as_stateless_seed(seed)
    concentration = tf.broadcast_to(
        tf.cast(concentration, tf.float32), shape
    )
    # Every tensor takes its shape from `concentration`, so that static
    # shape inference agrees across loop iterations (e.g. for a batch of 1).
    shape = tf.shape(concentration)
    loop_seed, boost_seed = _split_seed(seed, 2)

    # Both methods sample Gamma(a + 1), whose draws never underflow, and
    # apply the boost Gamma(a) = Gamma(a + 1) * U ** (1 / a) in log space.
    if in_xla_context():
        log_gamma = _log_gamma_marsaglia_tsang(concentration + 1.0, loop_seed)
    else:
        log_gamma = tf.math.log(
            tf.random.stateless_gamma(
                shape, loop_seed, alpha=concentration + 1.0
            )
        )
    log_boost = tf.math.log(_uniform_open_zero(shape, boost_seed))
    return log_gamma + log_boost / concentration


def _log_gamma_marsaglia_tsang(concentration, seed):
    """`log(g)`, `g ~ Gamma(concentration)` for concentrations >= 1, from
    ops that XLA compiles."""
    shape = tf.shape(concentration)
    d = concentration - 1.0 / 3.0
    c = tf.math.rsqrt(9.0 * d)

    # Round 0: several candidates per element, keep the first accepted one.
    accept, log_v = _marsaglia_tsang_round(
        tf.concat([[_FIRST_ROUND_CANDIDATES], shape], 0),
        d,
        c,
        tf.random.experimental.stateless_fold_in(seed, 0),
    )
    first = accept & tf.equal(tf.cumsum(tf.cast(accept, tf.int32), axis=0), 1)
    log_v = tf.reduce_sum(tf.where(first, log_v, tf.zeros_like(log_v)), 0)
    accepted = tf.reduce_any(accept, axis=0)

    def body(round_index, log_v, accepted):
        accept, candidate = _marsaglia_tsang_round(
            shape,
            d,
            c,
            tf.random.experimental.stateless_fold_in(seed, round_index),
        )
        log_v = tf.where(accept & tf.logical_not(accepted), candidate, log_v)
        return round_index + 1, log_v, accepted | accept

    def keep_going(round_index, log_v, accepted):
        return tf.logical_not(tf.reduce_all(accepted))

    _, log_v, _ = tf.while_loop(
        keep_going,
        body,
        (tf.constant(1, tf.int32), log_v, accepted),
        maximum_iterations=_MAX_REJECTION_ROUNDS,
    )
    return tf.math.log(d) + log_v


def sample_beta(shape, a, b, seed):
    """Draws `Beta(a, b)` variates, inside or outside XLA.

    Args:
        shape: Output shape (a list/tuple of ints or a 1-D int tensor).
        a: First concentration, a positive float scalar or tensor.
        b: Second concentration, a positive float scalar or tensor.
        seed: A stateless seed, an integer tensor of shape `(2,)`.

    Returns:
        A float32 tensor of `shape` with values in [0, 1], never NaN.

    Example:

    >>> lam = sample_beta([4], 0.2, 0.2, seed=tf.constant([1, 2]))
    """
    concentrations = tf.stack(
        [
            tf.broadcast_to(tf.cast(a, tf.float32), shape),
            tf.broadcast_to(tf.cast(b, tf.float32), shape),
        ]
    )
    # Both Gamma draws in one call: one rejection loop instead of two.
    log_ga, log_gb = tf.unstack(
        sample_log_gamma(tf.shape(concentrations), concentrations, seed)
    )
    # g_a / (g_a + g_b) == sigmoid(log g_a - log g_b), computed without ever
    # forming g_a or g_b (which underflow to 0 for small a, b). For t > 0,
    # sigmoid(t) = 1 / (1 + tiny) rounds twice and lands on 1.0 too often;
    # 1 - sigmoid(-t) rounds once, so lambda near 1 is as exact as near 0.
    t = log_ga - log_gb
    return tf.where(t > 0.0, 1.0 - tf.math.sigmoid(-t), tf.math.sigmoid(t))
