"""`blend`: the convex combination of each example with its partner.

mixup's whole application, and what every other method does to the inputs
and targets it does not paste (the other mixed inputs, dense targets): it
knows no method, so that `mixup_model.mixing` and `mixup_model.targets` use
it without importing one.
"""

from keras import ops

from mixup_model.backend import current as backend
from mixup_model.shards import take_partners
from mixup_model.tensors import as_floating
from mixup_model.tensors import fit_rank


def blend(x, params):
    """Returns `lam * x + (1 - lam) * x[perm]` for one tensor of any rank.

    Integer and boolean inputs are cast to `keras.config.floatx()` first:
    blending uint8 pixels in integer arithmetic would truncate. Floating
    inputs keep their dtype (float16/bfloat16 included); lambda is cast to it.
    Every result lies between its two sources, also after rounding (as long
    as their difference is finite in the dtype), and equals the source when
    its lambda is exactly 1 (or the partner when it is 0).

    Args:
        x: A tensor whose first axis is the batch.
        params: The batch's `MixParams`.

    Returns:
        The blended tensor, of `x`'s shape (and dtype, if floating).

    Example:

    >>> params = MixParams(lam=np.array([0.75, 1.0], "float32"),
    ...                    perm=np.array([1, 0], "int32"))
    >>> x = np.array([[0.0, 4.0], [8.0, 0.0]], "float32")
    >>> ops.convert_to_numpy(blend(x, params)).tolist()
    [[2.0, 3.0], [8.0, 0.0]]
    """
    x = as_floating(x)
    lam, perm = params.lam, params.perm
    if backend.blend_rows is not None:  # (a backend whose batches are not sharded)
        return backend.blend_rows(x, ops.convert_to_tensor(lam), ops.convert_to_tensor(perm))
    # From the source with the larger weight, a step of t = min(lam, 1 - lam)
    # <= 1/2 towards the other: the result stays between the two sources
    # even after rounding (the step is at most half their rounded distance),
    # is exact at lam in {0, 1}, and takes fewer passes than a two-sided
    # blend and a clip.
    own = ops.arange(ops.shape(x)[0], dtype=perm.dtype)
    keep = lam >= 0.5
    base = take_partners(x, ops.where(keep, own, perm))
    other = take_partners(x, ops.where(keep, perm, own))
    t = ops.cast(fit_rank(ops.where(keep, 1.0 - lam, lam), len(x.shape)), x.dtype)
    return base + t * (other - base)
