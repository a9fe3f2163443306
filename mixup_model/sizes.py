"""The geometry of an input that a method cuts: its axes and sizes.

Images are `(batch, H, W, C)`, videos `(batch, T, H, W, C)` and sequences
`(batch, T, C)` (or channels first). Region methods cut images and videos
along H and W (a box through every frame of a video) and sequences along T;
a mask covers every axis but the batch and the channels.
"""

import typing

import keras
from keras import ops

# Ranks that are cut by boxes (images, videos) and by segments (sequences).
BOX_RANKS = (4, 5)
SEGMENT_RANK = 3


class InputSizes(typing.NamedTuple):
    """What a draw needs to know of the input it cuts.

    Attributes:
        cut: The sizes cut along: `(height, width)` of images and videos,
            `(steps,)` of sequences; ints, or scalar tensors for dimensions
            unknown when tracing.
        cells: The static dims of every axis but the batch and the
            channels (`(T,)`, `(H, W)` or `(T, H, W)`), None where unknown;
            None if not given.
    """

    cut: typing.Any = None
    cells: typing.Any = None


def spatial_axes(data_format=None, rank=4):
    """The axes cut along in a batch of `rank`: H and W of images (rank 4)
    and videos (rank 5), T of sequences (rank 3)."""
    data_format = data_format or keras.config.image_data_format()
    if rank == SEGMENT_RANK:
        return (1,) if data_format == "channels_last" else (2,)
    first = rank - 3 if data_format == "channels_last" else rank - 2
    return first, first + 1


def image_size_of(x, data_format=None):
    """The sizes cut along: `(height, width)` of an image (rank 4) or video
    (rank 5) batch, `(steps,)` of a sequence batch (rank 3); ints, or scalar
    tensors for dimensions unknown when tracing."""
    shape = ops.shape(x)
    return tuple(shape[axis] for axis in spatial_axes(data_format, len(x.shape)))


def static_cut_dims(x, data_format=None):
    """`image_size_of` as static dims: ints, None where unknown."""
    return tuple(x.shape[axis] for axis in spatial_axes(data_format, len(x.shape)))


def cells_of(x, data_format=None):
    """Every axis but the batch and the channels of a batch `x`: `(T,)` of
    sequences, `(H, W)` of images, `(T, H, W)` of videos (static dims, None
    where unknown)."""
    data_format = data_format or keras.config.image_data_format()
    dims = tuple(x.shape)
    return dims[1:-1] if data_format == "channels_last" else dims[2:]


def sizes_of(x, data_format=None):
    """The `InputSizes` of the cut input `x` (None: nothing is cut)."""
    if x is None:
        return None
    return InputSizes(image_size_of(x, data_format), cells_of(x, data_format))
