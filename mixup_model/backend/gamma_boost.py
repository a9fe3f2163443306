"""Gamma(a) for every shape a > 0 from a sampler for shapes >= 1.

The boost (Marsaglia & Tsang, ACM TOMS 2000, section 6): if
`g ~ Gamma(a + 1)` and `U ~ Uniform(0, 1]` are independent, then
`g * U ** (1 / a) ~ Gamma(a)`. In log space, `log g + log(U) / a` never
underflows, even where `Gamma(a)` itself rounds to 0 (most draws at
a = 0.05 in float32), and the sampler only ever sees shapes >= 1, where
Marsaglia-Tsang accepts at least 95% of its candidates.
"""

from keras import ops


def boosted_log_gamma(concentration, seed, *, log_gamma_at_least_one, split, uniform_like):
    """`log(g)`, `g ~ Gamma(concentration)`, for concentrations > 0.

    Args:
        concentration: float32 tensor of shapes > 0.
        seed: The backend's stateless seed.
        log_gamma_at_least_one: `(concentration, seed) -> log Gamma` for
            concentrations >= 1.
        split: The backend's `split(seed, num)`.
        uniform_like: `(x, seed) -> float32 uniform on [0, 1)` of `x`'s shape.

    Returns:
        A float32 tensor of `concentration`'s shape.
    """
    gamma_seed, boost_seed = split(seed, 2)
    log_g = log_gamma_at_least_one(concentration + 1.0, gamma_seed)
    # Uniform on (0, 1]: its log is finite.
    log_u = ops.log(1.0 - uniform_like(concentration, boost_seed))
    return log_g + log_u / concentration
