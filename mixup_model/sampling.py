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
from mixup_model.shards import batch_shards
from mixup_model.shards import shard_offsets
from mixup_model.shards import take_partners
from mixup_model.shards import within_shards

LAMBDA_MODES = ("per_sample", "per_batch")

# What shares one draw of `prob`, `switch_prob` and the method (timm's
# `mode`): the batch, each pair of partners, or each example.
MODES = ("batch", "pair", "elem")

# Concentrations are clamped to this before sampling: a rate scheduled to 0
# switches its method off through the gates below, and the sampler still
# runs on a finite value.
_MIN_CONCENTRATION = 1e-3


def validate_lambda_mode(lambda_mode):
    """Returns `lambda_mode`, or raises a ValueError naming the choices."""
    return check_choice("lambda_mode", lambda_mode, LAMBDA_MODES)


def validate_mode(mode, lambda_mode="per_sample"):
    """Returns `mode`, or raises a ValueError naming the choices (or the
    conflict with a per-batch lambda)."""
    check_choice("mode", mode, MODES)
    if mode != "batch" and lambda_mode == "per_batch":
        raise ValueError(
            f"`mode`={mode!r} draws a lambda per example (or pair), which "
            "contradicts `lambda_mode`='per_batch'. Use mode='batch' or "
            f"lambda_mode='per_sample'. Received: mode={mode!r}, "
            f"lambda_mode={lambda_mode!r}"
        )
    return mode


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
    """A uniformly random permutation of `range(batch_size)`; under a
    `keras.distribution` that shards the batch, of each shard's examples
    (`mixup_model.shards`)."""
    # argsort of i.i.d. uniforms is a uniformly random permutation (XLA has
    # no shuffle kernel, but it sorts).
    shards = batch_shards(batch_size)
    uniforms = backend.uniform(_batch_shape(batch_size), backend.as_seed(seed))
    order = ops.cast(within_shards(ops.argsort, uniforms, shards), "int32")
    if shards == 1:
        return order
    return order + shard_offsets(batch_size, shards)


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


def _sample_spans(cut_ratio, sizes, seed, minmax):
    """One half-open span `[start, end)` per example along each axis of
    `sizes`: a cut of `floor(size * cut_ratio)` around a uniform centre,
    clipped at the borders, or with `minmax` a length drawn uniformly from
    `[int(size * low), int(size * high))` placed where it fits.

    Returns a list of `(start, end)` int32 pairs, one per axis.
    """
    shape = ops.shape(cut_ratio)
    count = len(sizes)
    if minmax is None:
        seeds = backend.split(backend.as_seed(seed), count)
    else:
        seeds = backend.split(backend.as_seed(seed), 2 * count)
    spans = []
    for axis, size in enumerate(sizes):
        limit = ops.cast(size, "int32")
        if minmax is None:
            cut = ops.cast(
                ops.floor(ops.cast(limit, "float32") * cut_ratio), "int32"
            )
            start = backend.uniform_int(shape, seeds[axis], limit) - cut // 2
        else:
            if isinstance(size, int):  # static: the exact cells, as timm's int()
                low, high = (int(size * f) for f in minmax)
            else:
                low, high = (
                    ops.cast(ops.floor(ops.cast(limit, "float32") * f), "int32")
                    for f in minmax
                )
            cut = low + _uniform_below(
                shape, seeds[axis], ops.maximum(high - low, 1)
            )
            start = _uniform_below(shape, seeds[count + axis], limit - cut)
        spans.append((ops.clip(start, 0, limit), ops.clip(start + cut, 0, limit)))
    return spans


def _cut_weight(spans, sizes):
    """1 - (the cut's cells / all cells): the weight left to the example."""
    cells = 1
    total = 1
    for (start, end), size in zip(spans, sizes):
        cells = cells * (end - start)
        total = total * ops.cast(size, "int32")
    return 1.0 - ops.cast(cells, "float32") / ops.cast(total, "float32")


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
    spans = _sample_spans(ops.sqrt(1.0 - lam), image_size, seed, minmax)
    box = ops.stack([bound for span in spans for bound in span], axis=1)
    if minmax is None and not correct_lam:
        return box, lam
    return box, _cut_weight(spans, image_size)


def sample_segments(lam, length, seed, minmax=None, correct_lam=True):
    """CutMix segments for sequences: one span of steps per example.

    The 1-D counterpart of `sample_boxes`: the segment has
    `floor(T * (1 - lam))` steps (not `sqrt`: a segment's share of the
    sequence is its length), a uniformly random centre, and is clipped at
    both ends; with `correct_lam` the weight is `1 - length / T` after
    clipping. `minmax` draws the length uniformly from
    `[floor(T * low), floor(T * high))` instead, placed where it fits.

    Args:
        lam: float32 tensor `(batch,)`, the drawn weights.
        length: `T`, a Python int or scalar int tensor.
        seed: A stateless seed of shape `(2,)`.
        minmax: `None`, or the `(low, high)` range of the segment's length
            as fractions of `T`.
        correct_lam: As in `sample_boxes`.

    Returns:
        `(segment, lam)`: int32 `(batch, 2)` segments `[start, end)` and
        each example's weight in the targets.
    """
    spans = _sample_spans(1.0 - lam, (length,), seed, minmax)
    segment = ops.stack(list(spans[0]), axis=1)
    if minmax is None and not correct_lam:
        return segment, lam
    return segment, _cut_weight(spans, (length,))


def _pairing(batch_size, seed):
    """A random pairing of the batch: `(perm, leader)` where `perm` swaps the
    two examples of each pair (`perm[perm[i]] == i`) and `leader[i]` is the
    pair's first example, whose draws the pair shares. With an odd batch
    (shard) one example is its own partner, which leaves it unchanged.
    Under a distribution, pairs form within each shard."""
    shards = batch_shards(batch_size)
    order = sample_permutation(batch_size, seed)
    offsets = 0 if shards == 1 else shard_offsets(batch_size, shards)
    # Each example's position in `order`, counted within its shard.
    position = ops.cast(within_shards(ops.argsort, order - offsets, shards), "int32")
    partner_position = position + 1 - 2 * (position % 2)
    last = ops.cast(batch_size // shards, "int32") - 1
    partner_position = ops.where(partner_position > last, position, partner_position)
    perm = take_partners(order, partner_position + offsets, shards)
    leader = take_partners(order, position - position % 2 + offsets, shards)
    return perm, leader


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
    sequence_length=None,
    mixup=True,
    cutmix=False,
    cutmix_minmax=None,
    correct_lam=True,
    mode="batch",
):
    """Draws a batch's `MixParams` with timm's semantics for the rates.

    With `mode="batch"` the batch is mixed with probability `prob`, and when
    both methods are on, it is a CutMix batch with probability
    `switch_prob`, else a mixup batch. With `mode="elem"` each example makes
    these choices for itself (and draws its own lambda); with `mode="pair"`
    each pair of examples does, and the two examples of a pair are each
    other's partners with the same lambda (and box), so their mixes are
    complementary, as timm's `mode="pair"`. A method whose concentration is
    0 is off. An unmixed example gets lam = 1 and an empty box, which leave
    its inputs and targets exactly unchanged.

    Args:
        batch_size: Number of examples, a Python int or scalar int tensor.
        seed: A stateless seed of shape `(2,)`.
        alpha, cutmix_alpha, prob, switch_prob: Rates, Python floats or
            float32 scalar tensors (read from variables by `MixupModel`).
        lambda_mode: `"per_sample"` or `"per_batch"` lambda.
        image_size: `(height, width)` of the images: CutMix pastes boxes.
        sequence_length: `T` of the sequences, in place of `image_size`:
            CutMix pastes segments along time (`sample_segments`).
        mixup, cutmix: Which methods the step contains (static: they decide
            what is traced). With `mixup` alone and `prob = 1` the draw is
            exactly `sample_mix_params(batch_size, alpha, seed)`'s.
        cutmix_minmax: `None`, or the `(low, high)` range of CutMix box
            sides (segment lengths) as fractions of the image's (sequence's),
            drawn uniformly in place of a box from `cutmix_alpha`.
        correct_lam: CutMix's label weight is the pasted area (`True`), or
            the drawn lambda even where the box was clipped (`False`).
        mode: `"batch"`, `"pair"` or `"elem"`: what shares one draw of
            `prob`, `switch_prob` and the method.

    Returns:
        A `MixParams`; `cutmix` is a bool tensor of shape `(batch,)` when
        the method is chosen per example (`"pair"` and `"elem"` with both
        methods on).

    Raises:
        ValueError: neither `mixup` nor `cutmix` is on, `cutmix` is on
            without `image_size` or `sequence_length`, `mode` or
            `lambda_mode` is unknown, or `lambda_mode="per_batch"` is
            combined with a per-example `mode`.

    Example:

    >>> params = sample_batch_params(8, [0, 1], alpha=0.2, cutmix_alpha=1.0,
    ...                              image_size=(32, 32), cutmix=True)
    >>> tuple(params.box.shape)  # [top, bottom, left, right) per example
    (8, 4)
    >>> params = sample_batch_params(6, [0, 1], alpha=1.0, mode="pair")
    >>> perm = ops.convert_to_numpy(params.perm)
    >>> bool((perm[perm] == np.arange(6)).all())  # partners in pairs
    True
    """
    if not (mixup or cutmix):
        raise ValueError(
            "sample_batch_params needs `mixup` or `cutmix` on. Received: "
            f"mixup={mixup!r}, cutmix={cutmix!r}"
        )
    mode = validate_mode(mode, lambda_mode)
    seed = backend.as_seed(seed)
    alpha = ops.cast(alpha, "float32")
    cutmix_alpha = ops.cast(cutmix_alpha, "float32")
    lam_seed, perm_seed = backend.split(seed, 2)
    if mode == "pair":
        perm, leader = _pairing(batch_size, perm_seed)
    else:
        perm = sample_permutation(batch_size, perm_seed)
    # One gate and switch draw for the batch, or one per example.
    gate_shape = () if mode == "batch" else _batch_shape(batch_size)
    mix_draw, switch_draw = ops.unstack(
        backend.uniform((2,) + gate_shape, backend.fold_in(seed, 2)), axis=0
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
    region = use_cutmix = None
    if cutmix:
        if image_size is None and sequence_length is None:
            raise ValueError(
                "CutMix needs the `image_size` (or `sequence_length`) of the "
                "batch. Received: image_size=None, sequence_length=None"
            )
        cut_lam_seed, box_seed = backend.split(backend.fold_in(seed, 1), 2)
        drawn = sample_lambda(
            batch_size,
            ops.maximum(cutmix_alpha, _MIN_CONCENTRATION),
            cut_lam_seed,
            lambda_mode,
        )
        sampler, size = (
            (sample_boxes, image_size)
            if image_size is not None
            else (sample_segments, sequence_length)
        )
        region, cut_lam = sampler(drawn, size, box_seed, cutmix_minmax, correct_lam)
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
    if region is not None:
        keep = ops.logical_and(apply, use_cutmix)
        if mode != "batch":
            keep = ops.expand_dims(keep, 1)
        region = ops.where(keep, region, ops.zeros_like(region))
    if mode == "pair":
        # Each pair takes its leader's draws: one lambda, method and box.
        lam = take_partners(lam, leader)
        if region is not None:
            region = take_partners(region, leader)
        if not isinstance(use_cutmix, (bool, type(None))):
            use_cutmix = take_partners(use_cutmix, leader)
    if image_size is None:
        return MixParams(lam=lam, perm=perm, segment=region, cutmix=use_cutmix)
    return MixParams(lam=lam, perm=perm, box=region, cutmix=use_cutmix)
