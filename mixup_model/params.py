"""`MixParams`: what is random about one mixed batch, as a typed tuple.

A recipe draws into it (`mixup_model.recipe`) and `mixup_model.mixing` and
`mixup_model.targets` apply it; it crosses compiled functions on every
backend because it is a tuple (its regions are tuples too).
"""

import typing

from keras import ops


class MixParams(typing.NamedTuple):
    """The random draw for one batch.

    Attributes:
        lam: float32 tensor of shape `(batch,)`: the weight of each example
            itself in the targets; its partner gets `1 - lam`. For a region
            method it is the exact fraction of the example left unpasted.
        perm: int32 tensor of shape `(batch,)`: example `i` is mixed with
            example `perm[i]`.
        method: `None` (every example uses the recipe's only method, or
            none: lam = 1), or each example's method, its index in the
            recipe's methods: an int32 scalar for the batch (`mode="batch"`;
            a Python int on eager PyTorch, read once per block of drawn
            steps) or an int32 tensor `(batch,)`.
        regions: One entry per method of the recipe, in its order: the
            method's region (`mixup_model.methods.base`), empty for the
            examples of other methods and unmixed ones, or None for a
            method that blends whole examples (mixup).

    Example:

    >>> params = MixParams(lam=np.array([0.7, 1.0], "float32"),
    ...                    perm=np.array([1, 0], "int32"))
    >>> params.method is None and params.regions == ()  # a mixup batch
    True
    """

    lam: typing.Any
    perm: typing.Any
    method: typing.Any = None
    regions: tuple = ()


def identity_params(batch_size):
    """`MixParams` that leave a batch unchanged: lam = 1, no partners."""
    return MixParams(
        ops.ones((batch_size,), "float32"), ops.arange(batch_size, dtype="int32")
    )


def uses(params, index):
    """Whether each example uses method `index`: a bool tensor (per example,
    or one for the batch), or a Python bool where the choice is static."""
    if params.method is None:
        return True
    if isinstance(params.method, int):
        return params.method == index
    return ops.equal(params.method, index)
