"""JAX: `jax.random` draws, and a train step that threads the random state.

A JAX train step is a pure function of `(state, data)`: Keras passes the
variables' values in and takes new values out. The mixup draws advance the
model's `SeedGenerator` and may record statistics, so they run inside a
`keras.StatelessScope` over the step's variables, and their new values leave
the step through its non-trainable state. (Calling `SeedGenerator.next()`
outside such a scope would bake one seed into the compiled step.)
"""

import jax
from keras import StatelessScope

# The draws read and advance the state inside the step's `StatelessScope`.
from mixup_model.backend.step_draws import StepDraws  # noqa: F401


def conditional_in_graph(x):
    """Whether `ops.switch` on `x` stays in the compiled program: under
    `jax.jit`. (Eagerly, `lax.switch` compiles its branches alone, whose
    arithmetic may differ in the last bit from the eager ops: a recipe then
    computes every method, as before there was a switch.)"""
    return isinstance(x, jax.core.Tracer)

# `methods.mixup.blend` is written in `keras.ops`, which cost nothing in a compiled step.
blend_rows = None


def as_seed(seed):
    """A JAX PRNG key: uint32 of shape (2,) (Keras's seed state)."""
    return jax.numpy.asarray(seed).astype("uint32")


def split(seed, num):
    return list(jax.random.split(seed, num))


def fold_in(seed, data):
    return jax.random.fold_in(seed, data)


def uniform(shape, seed):
    return jax.random.uniform(seed, tuple(shape), dtype="float32")


def uniform_int(shape, seed, maxval):
    return jax.random.randint(seed, tuple(shape), 0, maxval, dtype="int32")


def log_gamma(concentration, seed):
    """`log(g)`, `g ~ Gamma(concentration)`: JAX's own log-space sampler,
    exact for small concentrations (no underflow), and compiled by `jit`."""
    concentration = jax.numpy.asarray(concentration, "float32")
    return jax.random.loggamma(seed, concentration, concentration.shape)


def replica_seed(seed):
    # Under `keras.distribution.DataParallel` the step is one SPMD program
    # over the global batch: there are no per-replica Python traces to tell
    # apart, and every example already draws its own lambda and partner.
    return seed



class TrainStep:
    """JAX's trainer calls `train_step(state, data)` under `jax.jit` and
    expects `(logs, state)` back."""

    # The loss runs inside `jax.grad`, whose values cannot be carried out of
    # it to the metrics (`UnexpectedTracerError`): each computes its own.
    LOSS_VALUES_REACH_METRICS = False

    def train_step(self, state, data):
        trainable, non_trainable, optimizer_variables, metrics = state
        mapping = list(zip(self.trainable_variables, trainable)) + list(
            zip(self.non_trainable_variables, non_trainable)
        )
        # The draws, the statistics and the clean forward pass read and
        # write the step's values of the variables, not the variables.
        with StatelessScope(state_mapping=mapping) as scope:
            begun = self._begin_mixed_step(data)
        if begun is None:
            return super().train_step(state, data)
        step, mixed_data = begun
        non_trainable = [
            _current_value(scope, variable, value)
            for variable, value in zip(self.non_trainable_variables, non_trainable)
        ]
        with self._step_context.mixing(step):
            return super().train_step(
                (trainable, non_trainable, optimizer_variables, metrics),
                mixed_data,
            )


def _current_value(scope, variable, value):
    new = scope.get_current_value(variable)
    return value if new is None else new
