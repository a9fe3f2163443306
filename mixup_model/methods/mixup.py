"""mixup (Zhang et al., ICLR 2018): blend each example with its partner.

The method's three parts, as every batch method in `mixup_model.methods`
has them:

- draw: lambda ~ Beta(alpha, alpha), one per example (or per batch), and a
  random partner permutation (`draw`, `sample_mix_params`);
- apply: `x' = lam * x + (1 - lam) * x[perm]` for a tensor of any rank
  (`blend`);
- own weight: each example keeps `lam` of its own target (`own_weights`).
"""

from keras import ops

from mixup_model.backend import current as backend
from mixup_model.draws import MIN_CONCENTRATION
from mixup_model.draws import sample_lambda
from mixup_model.draws import sample_permutation
from mixup_model.draws import validate_lambda_mode
from mixup_model.params import MixParams
from mixup_model.shards import take_partners
from mixup_model.tensors import as_floating
from mixup_model.tensors import fit_rank

# What `MixupModel` calls the method, and the rate that switches it on.
NAME = "mixup"
RATE = "alpha"


def draw(batch_size, alpha, seed, lambda_mode="per_sample"):
    """mixup's lambdas in a recipe (`sample_batch_params`): Beta(alpha,
    alpha) with alpha clamped to a small positive value, since a rate
    scheduled to 0 switches mixup off by the recipe's gate while the draw
    still runs."""
    return sample_lambda(batch_size, ops.maximum(alpha, MIN_CONCENTRATION), seed, lambda_mode)


def sample_mix_params(batch_size, alpha, seed, lambda_mode="per_sample"):
    """Draws lambda ~ Beta(alpha, alpha) and a random partner permutation.

    Args:
        batch_size: Number of examples, a Python int or scalar int tensor.
        alpha: Beta concentration, a float > 0 (or a float tensor).
        seed: A stateless seed, an integer tensor of shape `(2,)`.
        lambda_mode: `"per_sample"` draws one lambda per example (as the
            keras.io example does); `"per_batch"` draws one lambda for the
            whole batch (as the paper's reference code does).

    Returns:
        A `MixParams` for mixup.

    Raises:
        ValueError: `lambda_mode` is neither `"per_sample"` nor
            `"per_batch"`.

    Example:

    >>> params = sample_mix_params(4, alpha=0.2, seed=[0, 1])
    >>> tuple(params.lam.shape)
    (4,)
    >>> sorted(ops.convert_to_numpy(params.perm).tolist())  # a permutation
    [0, 1, 2, 3]
    """
    validate_lambda_mode(lambda_mode)
    lam_seed, perm_seed = backend.split(backend.as_seed(seed), 2)
    return MixParams(
        lam=sample_lambda(batch_size, alpha, lam_seed, lambda_mode),
        perm=sample_permutation(batch_size, perm_seed),
    )


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


def own_weights(params):
    """Each example's weight of its own target: `lam`, shape `(batch,)`."""
    return params.lam
