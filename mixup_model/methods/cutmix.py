"""CutMix (Yun et al., ICCV 2019): paste a region of the partner.

- `CutMix(alpha, minmax, correct_lam)`: the method. Its draw is a box per
  example for images (rank 4) and videos (rank 5, one box through all
  frames: a tube), a segment of steps for sequences (rank 3), sized from
  lambda ~ Beta(alpha, alpha) or timm's `cutmix_minmax` (`sample_boxes`,
  `sample_segments`);
- its regions, `Boxes` and `Segments`: each example with its region taken
  from its partner (`paste_boxes`, `paste_segments`), and the fraction left
  unpasted as its weight, exact after clipping; for outputs per pixel (step)
  of the cut input, a map that is 0 inside the region and 1 outside.
"""

import typing

from keras import ops

from mixup_model.arguments import check_bool
from mixup_model.arguments import check_box_fraction_range
from mixup_model.backend import current as backend
from mixup_model.draws import MIN_CONCENTRATION
from mixup_model.draws import sample_lambda
from mixup_model.methods.base import BatchMethod
from mixup_model.methods.base import register
from mixup_model.shards import take_partners
from mixup_model.sizes import BOX_RANKS
from mixup_model.sizes import SEGMENT_RANK
from mixup_model.sizes import image_size_of
from mixup_model.sizes import spatial_axes
from mixup_model.tensors import as_floating
from mixup_model.tensors import fit_rank
from mixup_model.tensors import same_dims

# Where they were before `mixup_model.sizes`.
from mixup_model.sizes import static_cut_dims  # noqa: F401,E402


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


@register
class CutMix(BatchMethod):
    """CutMix: a box (segment) of each example taken from its partner.

    Args:
        alpha: The concentration of `Beta(alpha, alpha)` that sizes the
            boxes, a finite float >= 0 (0 pauses the method in a recipe).
        minmax: Optional `(low, high)`, `0 < low < high <= 1` (timm's
            `cutmix_minmax`): each box's height and width are drawn
            uniformly between these fractions of the image's, placed where
            they fit, in place of a box from `alpha`; the label weight is the
            box's area.
        correct_lam: Weight the labels by the area actually pasted after
            clipping at the border (`True`), or by the drawn lambda (timm's
            `correct_lam=False`).

    Example:

    >>> CutMix(1.0, minmax=(0.2, 0.8))
    CutMix(alpha=1.0, minmax=(0.2, 0.8), correct_lam=True)
    """

    key = "cutmix"
    caption = "CutMix"
    seed_fold = 1
    flat_arguments = {
        "cutmix_alpha": "alpha", "cutmix_minmax": "minmax", "correct_lam": "correct_lam",
    }

    def __init__(self, alpha=1.0, minmax=None, correct_lam=True):
        super().__init__(alpha)
        self.minmax = check_box_fraction_range(self._argument("minmax"), minmax)
        self.correct_lam = check_bool(self._argument("correct_lam"), correct_lam)

    def get_config(self):
        return {
            "alpha": self.alpha,
            "minmax": None if self.minmax is None else tuple(self.minmax),
            "correct_lam": self.correct_lam,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("minmax") is not None:
            config["minmax"] = tuple(config["minmax"])
        return cls(**config)

    def draw(self, batch_size, rates, seed, sizes, lambda_mode="per_sample"):
        lam_seed, region_seed = backend.split(backend.as_seed(seed), 2)
        # Clamped: a rate scheduled to 0 pauses CutMix by the recipe's gate.
        alpha = ops.maximum(rates["alpha"], MIN_CONCENTRATION)
        drawn = sample_lambda(batch_size, alpha, lam_seed, lambda_mode)
        cut = tuple(sizes.cut)
        if len(cut) == 2:
            box, lam = sample_boxes(drawn, cut, region_seed, self.minmax, self.correct_lam)
            return lam, Boxes(box)
        segment, lam = sample_segments(drawn, cut[0], region_seed, self.minmax, self.correct_lam)
        return lam, Segments(segment)

    def empty_region(self, batch_size, sizes):
        if len(tuple(sizes.cut)) == 2:
            return Boxes(ops.zeros((batch_size, 4), "int32"))
        return Segments(ops.zeros((batch_size, 2), "int32"))

    def check_input(self, x, shapes):
        if x is None:
            raise ValueError(
                f"{self.caption} (`cutmix_alpha` > 0) needs an image input of rank 4 "
                "(batch, height, width, channels), a video input of rank 5 "
                "(batch, frames, height, width, channels) or a sequence input "
                "of rank 3 (batch, steps, channels) to paste cuts into; the "
                f"model's inputs have shapes {shapes}."
            )


def box_mask(box, image_size):
    """Bool `(batch, H, W)`: True inside each example's half-open box."""
    height, width = image_size
    box = ops.convert_to_tensor(box, "int32")  # also from numpy arrays
    rows = ops.arange(height, dtype="int32")[None, :]
    cols = ops.arange(width, dtype="int32")[None, :]
    in_rows = ops.logical_and(rows >= box[:, 0:1], rows < box[:, 1:2])
    in_cols = ops.logical_and(cols >= box[:, 2:3], cols < box[:, 3:4])
    return ops.logical_and(in_rows[:, :, None], in_cols[:, None, :])


def segment_mask(segment, length):
    """Bool `(batch, T)`: True inside each example's half-open segment."""
    segment = ops.convert_to_tensor(segment, "int32")
    steps = ops.arange(length, dtype="int32")[None, :]
    return ops.logical_and(steps >= segment[:, 0:1], steps < segment[:, 1:2])


def _broadcast_cut(mask, x, data_format):
    """A `(batch, *sizes)` mask with ones inserted for `x`'s other axes
    (channels, and the frames of a video)."""
    rank = len(x.shape)
    axes = spatial_axes(data_format, rank)
    for axis in range(1, rank):
        if axis not in axes:
            mask = ops.expand_dims(mask, axis)
    return mask


def _per_cell_sizes(y_pred, cut_dims, count):
    """The runtime sizes of an output per pixel (step) of the cut input, or
    None: its dims between the batch and the last (classes) axis are the
    cut input's `cut_dims`, of `count` axes."""
    if cut_dims is None or len(cut_dims) != count:
        return None
    if not same_dims(tuple(y_pred.shape)[1:-1], tuple(cut_dims)):
        return None
    return tuple(ops.shape(y_pred)[1 : 1 + count])


def _kept(region, keep):
    """`region` where `keep` (per example, or one bool), zeros elsewhere."""
    keep = fit_rank(ops.convert_to_tensor(keep), 2)
    return ops.where(keep, region, ops.zeros_like(region))


class Boxes(typing.NamedTuple):
    """CutMix's region of images and videos: int32 `(batch, 4)` boxes
    `[top, bottom)` x `[left, right)` pasted from the partner."""

    box: typing.Any

    def applies_to(self, x, data_format=None):
        return len(x.shape) in BOX_RANKS

    def cut_mask_of(self, x, data_format=None):
        """Bool, `x`'s rank: True inside each example's box."""
        return _broadcast_cut(box_mask(self.box, image_size_of(x, data_format)), x, data_format)

    def paste(self, x, partners, into, data_format=None):
        return ops.where(self.cut_mask_of(x, data_format), partners, into)

    def own_map(self, y_pred, cut_dims):
        sizes = _per_cell_sizes(y_pred, cut_dims, 2)
        if sizes is None:
            return None
        return 1.0 - ops.cast(box_mask(self.box, sizes), "float32")

    def emptied(self, keep):
        return Boxes(_kept(self.box, keep))


class Segments(typing.NamedTuple):
    """CutMix's region of sequences: int32 `(batch, 2)` segments of steps
    `[start, end)` pasted from the partner."""

    segment: typing.Any

    def applies_to(self, x, data_format=None):
        return len(x.shape) == SEGMENT_RANK

    def cut_mask_of(self, x, data_format=None):
        (length,) = image_size_of(x, data_format)
        return _broadcast_cut(segment_mask(self.segment, length), x, data_format)

    def paste(self, x, partners, into, data_format=None):
        return ops.where(self.cut_mask_of(x, data_format), partners, into)

    def own_map(self, y_pred, cut_dims):
        sizes = _per_cell_sizes(y_pred, cut_dims, 1)
        if sizes is None:
            return None
        return 1.0 - ops.cast(segment_mask(self.segment, sizes[0]), "float32")

    def emptied(self, keep):
        return Segments(_kept(self.segment, keep))


def _pasted(x, region, params, data_format):
    x = as_floating(x)
    return region.paste(x, take_partners(x, params.perm), x, data_format)


def paste_boxes(x, box, params, data_format=None):
    """CutMix: each image with its box taken from its partner image.

    Args:
        x: Images of rank 4, `(batch, H, W, C)` (or `(batch, C, H, W)` with
            `data_format="channels_first"`; defaults to Keras's setting), or
            videos of rank 5, `(batch, T, H, W, C)` (`(batch, C, T, H, W)`),
            into whose frames the same box is pasted (a tube).
            Integers are cast to `keras.config.floatx()`, as in `blend`.
        box: int32 `(batch, 4)` boxes `[top, bottom, left, right)`.
        params: The batch's `MixParams` (its partners).
        data_format: `"channels_last"` or `"channels_first"`.

    Returns:
        The images, `x`'s shape, with each box pasted from the partner.

    Example:

    >>> x = np.stack([np.zeros((4, 4, 1)), np.ones((4, 4, 1))]).astype("float32")
    >>> params = MixParams(lam=np.array([0.75, 1.0], "float32"),
    ...                    perm=np.array([1, 0], "int32"))
    >>> box = np.array([[0, 2, 0, 2], [0, 0, 0, 0]], "int32")
    >>> ops.convert_to_numpy(paste_boxes(x, box, params))[0, :, :, 0].tolist()
    [[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    return _pasted(x, Boxes(ops.convert_to_tensor(box, "int32")), params, data_format)


def paste_segments(x, segment, params, data_format=None):
    """CutMix for sequences: each sequence with its segment of steps taken
    from its partner.

    Args:
        x: Sequences of rank 3, `(batch, T, C)` (or `(batch, C, T)` with
            `data_format="channels_first"`; defaults to Keras's setting).
            Integers are cast to `keras.config.floatx()`, as in `blend`.
        segment: int32 `(batch, 2)` segments `[start, end)`.
        params: The batch's `MixParams` (its partners).
        data_format: `"channels_last"` or `"channels_first"`.

    Returns:
        The sequences, `x`'s shape, with each segment from the partner.

    Example:

    >>> x = np.stack([np.zeros((5, 1)), np.ones((5, 1))]).astype("float32")
    >>> params = MixParams(lam=np.array([0.6, 1.0], "float32"),
    ...                    perm=np.array([1, 0], "int32"))
    >>> segment = np.array([[1, 3], [0, 0]], "int32")
    >>> ops.convert_to_numpy(paste_segments(x, segment, params))[0, :, 0].tolist()
    [0.0, 1.0, 1.0, 0.0, 0.0]
    """
    return _pasted(x, Segments(ops.convert_to_tensor(segment, "int32")), params, data_format)
