"""How a train step gets its draw: from the seed state, once per step."""

from keras import ops


class StepDraws:
    """Calls a model's sampler with the step's seed and the current rates.

    Each call advances the random state, as `SeedGenerator.next()` does:
    a seed is `(seed, counter)` and the counter counts the steps. Inside a
    compiled step (`tf.function`, `jax.jit` with the state threaded through
    a `StatelessScope`) the state is read and advanced in the graph.

    Args:
        seed_generator: The model's `keras.random.SeedGenerator`.
        rates: The model's variable of rates, read at each call.
    """

    def __init__(self, seed_generator, rates):
        self.seed_generator = seed_generator
        self.rates = rates

    def __call__(self, sampler, key):
        """`sampler(seed, rates)` for this step.

        Args:
            sampler: A function of the step's seed and the rates' values
                (a float32 tensor) that returns a `MixParams`; it draws
                only from the seed, so the same seed and rates give the
                same draw.
            key: What else the draw depends on (the batch size, the image
                size), hashable.
        """
        return sampler(self.seed_generator.next(), ops.convert_to_tensor(self.rates))
