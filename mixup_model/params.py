"""`MixParams`: what is random about one mixed batch, as a typed tuple.

Every method draws into it (`mixup_model.methods`) and applies from it; it
crosses compiled functions on every backend because it is a tuple.
"""

import typing

from keras import ops


class MixParams(typing.NamedTuple):
    """The random draw for one batch (a tuple, so it crosses compiled
    functions on every backend).

    Attributes:
        lam: float32 tensor of shape `(batch,)`: the weight of each example
            itself in the targets; its partner gets `1 - lam`. For CutMix it
            is the exact fraction of the image left unpasted.
        perm: int32 tensor of shape `(batch,)`: example `i` is mixed with
            example `perm[i]`. Always a permutation of the batch.
        box: `None`, or an int32 tensor of shape `(batch, 4)`: the rows
            `[top, bottom)` and columns `[left, right)` of each image that
            CutMix pastes from the partner (empty for an example that is
            not cut).
        cutmix: `None`, `True` (CutMix is the only method), a scalar bool
            tensor (whether this batch pastes rather than blends), or a bool
            tensor of shape `(batch,)` (the choice per example).
        segment: `None`, or an int32 tensor of shape `(batch, 2)`: the steps
            `[start, end)` of each sequence that CutMix pastes from the
            partner, when the cut input is a sequence rather than an image.
            At most one of `box` and `segment` is set.
        method: `None` (a recipe of mixup and CutMix alone, told apart by
            `cutmix`), or, in a recipe with ResizeMix or FMix (or
            `method_probs`), an int32 tensor of shape `(batch,)`: each
            example's method, its index in `mixup_model.recipe.METHODS`.
            `box` then holds the CutMix examples' boxes, and the fields
            below the other methods' regions; every region is empty (every
            mask 1) for the examples of other methods and unmixed ones.
        resize_box: `None`, or an int32 tensor of shape `(batch, 4)`: the
            box `[top, bottom, left, right)` into which ResizeMix pastes the
            whole partner, resized.
        mask: `None`, or a float32 tensor `(batch, *shape)`: FMix's mask
            over the cut input's `(T,)`, `(H, W)` or `(T, H, W)`, 1 where the
            example keeps its own values.

    Example:

    >>> params = MixParams(lam=np.array([0.7, 1.0], "float32"),
    ...                    perm=np.array([1, 0], "int32"))
    >>> params.box is None and params.cutmix is None  # a mixup batch
    True
    """

    lam: typing.Any
    perm: typing.Any
    box: typing.Any = None
    cutmix: typing.Any = None
    segment: typing.Any = None
    method: typing.Any = None
    resize_box: typing.Any = None
    mask: typing.Any = None


def identity_params(batch_size):
    """`MixParams` that leave a batch unchanged: lam = 1, no partners."""
    return MixParams(
        ops.ones((batch_size,), "float32"), ops.arange(batch_size, dtype="int32")
    )


