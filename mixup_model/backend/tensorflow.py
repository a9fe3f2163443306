"""TensorFlow: stateless TF random ops, and a Gamma sampler that XLA compiles.

`tf.random.stateless_gamma` lowers to `StatelessRandomGammaV3`, which has no
XLA kernel, so a train step that calls it cannot run with
`jit_compile=True`. Inside XLA we sample Gamma variates with Marsaglia &
Tsang's rejection method (ACM TOMS 2000) from stateless normal and uniform
draws inside a `tf.while_loop`, all of which XLA supports. Outside XLA we use
the native kernel, one op where the loop is many: timed in a whole train
step outside XLA, the loop was the slower of the two. Both draw exactly from
the Gamma distribution, but give different numbers for the same seed.
"""

import tensorflow as tf
from tensorflow.python.ops import control_flow_util

from mixup_model.backend.gamma_boost import boosted_log_gamma
from mixup_model.backend.step_draws import StepDraws  # noqa: F401

# Variables are assigned in place, in the traced step or eagerly.
from mixup_model.backend.in_place import InPlaceTrainStep as TrainStep  # noqa: F401

def conditional_in_graph(x):
    """Whether `ops.switch` on `x` stays in the compiled step: always
    (`tf.switch_case` is a graph op, and XLA compiles it)."""
    return True

# `methods.mixup.blend` is written in `keras.ops`, which cost nothing in a compiled step.
blend_rows = None

# Round 0 draws this many candidates per element at once. Marsaglia-Tsang
# accepts a candidate with probability >= 0.95 for shapes >= 1 (we always
# sample shapes >= 1), so an element is left without an accepted candidate
# with probability < 0.05**4 ~ 6e-6: the rejection loop after round 0 almost
# never runs. Taking the first accepted of i.i.d. candidates is exact
# rejection sampling.
_FIRST_ROUND_CANDIDATES = 4

# A cap on the rounds after that: an element is still pending after it with
# probability < 0.05**64. The cap only guarantees termination.
_MAX_REJECTION_ROUNDS = 64


def as_seed(seed):
    """A stateless seed: an int32/int64 tensor of shape (2,)."""
    seed = tf.convert_to_tensor(seed)
    if seed.dtype not in (tf.int32, tf.int64):
        seed = tf.cast(seed, tf.int64)
    return seed


def split(seed, num):
    """`num` independent seeds derived from one."""
    return tf.unstack(tf.random.experimental.stateless_split(seed, num=num))


def fold_in(seed, data):
    """A seed derived from `seed` and an integer."""
    return tf.random.experimental.stateless_fold_in(seed, data)


def uniform(shape, seed):
    """float32 uniform on [0, 1)."""
    return tf.random.stateless_uniform(shape, seed=seed)


def uniform_int(shape, seed, maxval):
    """int32 uniform on [0, maxval); `maxval` may be a scalar tensor."""
    return tf.random.stateless_uniform(
        shape, seed, minval=0, maxval=maxval, dtype=tf.int32
    )


def replica_seed(seed):
    """Folds the replica id into the seed under a `tf.distribute` strategy,
    so that replicas mix their local batches independently."""
    replica = tf.distribute.get_replica_context()
    if replica is not None and replica.num_replicas_in_sync > 1:
        seed = fold_in(seed, tf.cast(replica.replica_id_in_sync_group, tf.int32))
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


def uniform_like(x, seed):
    """float32 uniform on [0, 1) of `x`'s (dynamic) shape."""
    return tf.random.stateless_uniform(tf.shape(x), seed=seed)


def log_gamma(concentration, seed):
    """`log(g)`, `g ~ Gamma(concentration)`, for concentrations > 0: the
    boost (`mixup_model.backend.gamma_boost`) over this module's sampler
    for shapes >= 1."""
    return boosted_log_gamma(
        tf.convert_to_tensor(concentration, tf.float32),
        as_seed(seed),
        log_gamma_at_least_one=_log_gamma_at_least_one,
        split=split,
        uniform_like=uniform_like,
    )


def _log_gamma_at_least_one(concentration, seed):
    # Inside XLA, Marsaglia-Tsang from ops XLA compiles; outside, the
    # native kernel (one op where the loop is many).
    if in_xla_context():
        return _log_gamma_marsaglia_tsang(concentration, seed)
    return tf.math.log(
        tf.random.stateless_gamma(tf.shape(concentration), seed, alpha=concentration)
    )


def _marsaglia_tsang_round(shape, d, c, seed):
    """One candidate per element: (accepted?, log v) for Gamma(d + 1/3)."""
    normal_seed, uniform_seed = split(seed, 2)
    x = tf.random.stateless_normal(shape, seed=normal_seed)
    u = _uniform_open_zero(shape, uniform_seed)
    v = (1.0 + c * x) ** 3
    safe_v = tf.where(v > 0.0, v, tf.ones_like(v))
    log_v = tf.math.log(safe_v)
    accept = (v > 0.0) & (
        tf.math.log(u) < 0.5 * tf.square(x) + d - d * safe_v + d * log_v
    )
    return accept, log_v


def _log_gamma_marsaglia_tsang(concentration, seed):
    """`log(g)`, `g ~ Gamma(concentration)` for concentrations >= 1, from
    ops that XLA compiles."""
    shape = tf.shape(concentration)
    d = concentration - 1.0 / 3.0
    c = tf.math.rsqrt(9.0 * d)

    # Round 0: several candidates per element, keep the first accepted one.
    accept, log_v = _marsaglia_tsang_round(
        tf.concat([[_FIRST_ROUND_CANDIDATES], shape], 0), d, c, fold_in(seed, 0)
    )
    first = accept & tf.equal(tf.cumsum(tf.cast(accept, tf.int32), axis=0), 1)
    log_v = tf.reduce_sum(tf.where(first, log_v, tf.zeros_like(log_v)), 0)
    accepted = tf.reduce_any(accept, axis=0)

    def body(round_index, log_v, accepted):
        accept, candidate = _marsaglia_tsang_round(
            shape, d, c, fold_in(seed, round_index)
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

