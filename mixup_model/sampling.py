"""Sampling the random quantities of one mixed batch.

The split follows timm's `Mixup`: this module draws what is random about a
batch (the weights lambda, the partner permutation, CutMix boxes, whether
the batch is mixed at all and with which method) and `mixup_model.mixing`
applies it. Everything is `keras.ops` code over the backend's stateless
draws (`mixup_model.backend`), so it runs inside every backend's compiled
train step, and every rate may be a tensor read from a variable, so that
schedules change it without re-tracing the step.

Seeds are stateless seeds of shape `(2,)`, as `SeedGenerator.next()`
returns them; `split` and `fold_in` derive independent ones.
"""

import typing

from keras import ops

from mixup_model.arguments import check_choice
from mixup_model.backend import current as backend
from mixup_model.beta import sample_beta

LAMBDA_MODES = ("per_sample", "per_batch")

# Concentrations are clamped to this before sampling: a rate scheduled to 0
# switches its method off through the gates below, and the sampler still
# runs on a finite value.
_MIN_CONCENTRATION = 1e-3


def validate_lambda_mode(lambda_mode):
    """Returns `lambda_mode`, or raises a ValueError naming the choices."""
    return check_choice("lambda_mode", lambda_mode, LAMBDA_MODES)


class MixParams(typing.NamedTuple):
    """The random draw for one batch (a tuple, so it crosses compiled
    functions on every backend).

    Attributes:
        lam: float32 tensor of shape `(batch,)`: the weight of each example
            itself in the targets; its partner gets `1 - lam`. For CutMix it
            is the exact fraction of the image left unpasted.
        perm: int32 tensor of shape `(batch,)`: example `i` is mixed with
            example `perm[i]`. Always a permutation of the batch.
        box: `None` (mixup only), or an int32 tensor of shape `(batch, 4)`:
            the rows `[top, bottom)` and columns `[left, right)` of each
            image that CutMix pastes from the partner (empty when the batch
            is not a CutMix batch).
        cutmix: `None`, `True` (CutMix is the only method), or a scalar
            bool tensor: whether this batch pastes boxes (CutMix) rather
            than blending (mixup).

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


def identity_params(batch_size):
    """`MixParams` that leave a batch unchanged: lam = 1, no partners."""
    return MixParams(
        ops.ones((batch_size,), "float32"), ops.arange(batch_size, dtype="int32")
    )


def _batch_shape(batch_size):
    # A 1-D shape; on TensorFlow the batch size may be a scalar tensor.
    return (batch_size,)


def sample_lambda(batch_size, alpha, seed, lambda_mode="per_sample"):
    """Draws lambda ~ Beta(alpha, alpha): one per example or one per batch."""
    validate_lambda_mode(lambda_mode)
    shape = _batch_shape(batch_size)
    if lambda_mode == "per_sample":
        return sample_beta(shape, alpha, alpha, seed)
    return ops.broadcast_to(sample_beta((), alpha, alpha, seed), shape)


def sample_permutation(batch_size, seed):
    """A uniformly random permutation of `range(batch_size)`."""
    # argsort of i.i.d. uniforms is a uniformly random permutation (XLA has
    # no shuffle kernel, but it sorts).
    uniforms = backend.uniform(_batch_shape(batch_size), backend.as_seed(seed))
    return ops.cast(ops.argsort(uniforms), "int32")


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


def _uniform_below(shape, seed, limit):
    """int32 uniform on [0, limit) for a per-element int32 `limit` >= 1
    (the backends' integer draws take one scalar bound)."""
    limit = ops.cast(limit, "float32")
    drawn = ops.floor(backend.uniform(shape, seed) * limit)
    return ops.cast(ops.minimum(drawn, limit - 1.0), "int32")


def sample_boxes(lam, image_size, seed, minmax=None, correct_lam=True):
    """CutMix boxes: one per example.

    By default as in Yun et al. (2019): the box has height
    `floor(H * sqrt(1 - lam))` and width `floor(W * sqrt(1 - lam))` (each
    from its own image side), a uniformly random centre, and is clipped at
    the image borders. Clipping shrinks the box, so with `correct_lam` the
    returned weight is recomputed from the pasted area.

    With `minmax=(low, high)` the drawn `lam` is not used (timm's
    `cutmix_minmax`): the box's height and width are drawn independently and
    uniformly from `[floor(H * low), floor(H * high))` (likewise for the
    width; just the lower end where the two are equal), its top-left corner
    uniformly where the box fits inside the image, and the weight always
    comes from the area.

    Args:
        lam: float32 tensor `(batch,)`, the drawn weights.
        image_size: `(height, width)`, Python ints or scalar int tensors.
        seed: A stateless seed of shape `(2,)`.
        minmax: `None`, or the `(low, high)` range of the box's sides as
            fractions of the image's.
        correct_lam: Return the weight of the pasted area (`True`), or, as
            timm's `correct_lam=False`, the drawn `lam` even where clipping
            shrank the box. Ignored with `minmax`.

    Returns:
        `(box, lam)`: int32 `(batch, 4)` boxes `[top, bottom, left, right]`
        (half-open) and each example's weight in the targets.
    """
    height, width = (ops.cast(s, "int32") for s in image_size)
    shape = ops.shape(lam)
    if minmax is None:
        row_seed, col_seed = backend.split(backend.as_seed(seed), 2)
        ratio = ops.sqrt(1.0 - lam)
        cut_h = ops.cast(ops.floor(ops.cast(height, "float32") * ratio), "int32")
        cut_w = ops.cast(ops.floor(ops.cast(width, "float32") * ratio), "int32")
        top = backend.uniform_int(shape, row_seed, height) - cut_h // 2
        left = backend.uniform_int(shape, col_seed, width) - cut_w // 2
    else:
        seeds = backend.split(backend.as_seed(seed), 4)

        def side(size, side_seed):
            if isinstance(size, int):  # static: the exact pixels, as timm's int()
                low, high = (int(size * f) for f in minmax)
            else:
                low, high = (
                    ops.cast(ops.floor(ops.cast(size, "float32") * f), "int32")
                    for f in minmax
                )
            return low + _uniform_below(shape, side_seed, ops.maximum(high - low, 1))

        cut_h, cut_w = (
            side(size, side_seed)
            for size, side_seed in zip(image_size, seeds[:2])
        )
        top = _uniform_below(shape, seeds[2], height - cut_h)
        left = _uniform_below(shape, seeds[3], width - cut_w)
    box = ops.stack(
        [
            ops.clip(top, 0, height),
            ops.clip(top + cut_h, 0, height),
            ops.clip(left, 0, width),
            ops.clip(left + cut_w, 0, width),
        ],
        axis=1,
    )
    if minmax is None and not correct_lam:
        return box, lam
    area = (box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2])
    exact_lam = 1.0 - ops.cast(area, "float32") / ops.cast(
        height * width, "float32"
    )
    return box, exact_lam


def sample_batch_params(
    batch_size,
    seed,
    *,
    alpha,
    cutmix_alpha=0.0,
    prob=1.0,
    switch_prob=0.5,
    lambda_mode="per_sample",
    image_size=None,
    mixup=True,
    cutmix=False,
    cutmix_minmax=None,
    correct_lam=True,
):
    """Draws a batch's `MixParams` with timm's semantics for the rates.

    The batch is mixed with probability `prob`. When both methods are on, it
    is a CutMix batch with probability `switch_prob`, else a mixup batch. A
    method whose concentration is 0 is off. An unmixed batch gets lam = 1
    and empty boxes, which leave inputs and targets exactly unchanged.

    Args:
        batch_size: Number of examples, a Python int or scalar int tensor.
        seed: A stateless seed of shape `(2,)`.
        alpha, cutmix_alpha, prob, switch_prob: Rates, Python floats or
            float32 scalar tensors (read from variables by `MixupModel`).
        lambda_mode: `"per_sample"` or `"per_batch"` lambda.
        image_size: `(height, width)` of the images; needed with `cutmix`.
        mixup, cutmix: Which methods the step contains (static: they decide
            what is traced). With `mixup` alone and `prob = 1` the draw is
            exactly `sample_mix_params(batch_size, alpha, seed)`'s.
        cutmix_minmax: `None`, or the `(low, high)` range of CutMix box
            sides as fractions of the image's, drawn uniformly in place of
            a box from `cutmix_alpha` (see `sample_boxes`).
        correct_lam: CutMix's label weight is the pasted area (`True`), or
            the drawn lambda even where the box was clipped (`False`).

    Returns:
        A `MixParams`.

    Raises:
        ValueError: neither `mixup` nor `cutmix` is on, `cutmix` is on
            without `image_size`, or `lambda_mode` is unknown.

    Example:

    >>> params = sample_batch_params(8, [0, 1], alpha=0.2, cutmix_alpha=1.0,
    ...                              image_size=(32, 32), cutmix=True)
    >>> tuple(params.box.shape)  # [top, bottom, left, right) per example
    (8, 4)
    """
    if not (mixup or cutmix):
        raise ValueError(
            "sample_batch_params needs `mixup` or `cutmix` on. Received: "
            f"mixup={mixup!r}, cutmix={cutmix!r}"
        )
    seed = backend.as_seed(seed)
    alpha = ops.cast(alpha, "float32")
    cutmix_alpha = ops.cast(cutmix_alpha, "float32")
    lam_seed, perm_seed = backend.split(seed, 2)
    perm = sample_permutation(batch_size, perm_seed)
    mix_draw, switch_draw = ops.unstack(
        backend.uniform((2,), backend.fold_in(seed, 2)), axis=0
    )
    on = ops.convert_to_tensor(False)
    if mixup:
        lam = sample_lambda(
            batch_size,
            ops.maximum(alpha, _MIN_CONCENTRATION),
            lam_seed,
            lambda_mode,
        )
        on = ops.logical_or(on, alpha > 0.0)
    box = use_cutmix = None
    if cutmix:
        if image_size is None:
            raise ValueError(
                "CutMix needs the `image_size` of the batch. Received: "
                "image_size=None"
            )
        cut_lam_seed, box_seed = backend.split(backend.fold_in(seed, 1), 2)
        drawn = sample_lambda(
            batch_size,
            ops.maximum(cutmix_alpha, _MIN_CONCENTRATION),
            cut_lam_seed,
            lambda_mode,
        )
        box, cut_lam = sample_boxes(
            drawn, image_size, box_seed, cutmix_minmax, correct_lam
        )
        cutmix_on = cutmix_alpha > 0.0
        if mixup:
            use_cutmix = ops.logical_and(
                cutmix_on,
                ops.logical_or(
                    ops.logical_not(alpha > 0.0), switch_draw < switch_prob
                ),
            )
            lam = ops.where(use_cutmix, cut_lam, lam)
        else:
            use_cutmix = True  # static: no conditional in the step
            lam = cut_lam
        on = ops.logical_or(on, cutmix_on)
    apply = ops.logical_and(on, mix_draw < prob)
    lam = ops.where(apply, lam, ops.ones_like(lam))
    if box is not None:
        box = ops.where(
            ops.logical_and(apply, use_cutmix), box, ops.zeros_like(box)
        )
    return MixParams(lam=lam, perm=perm, box=box, cutmix=use_cutmix)
