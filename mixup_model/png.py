"""PNG encoding with the standard library, for TensorBoard's images.

TensorBoard's image plugin stores PNG bytes. `tf.summary.image` encodes them
with TensorFlow; here `zlib` does, so that images reach TensorBoard on every
backend without TensorFlow (the same approach as PyTorch's `SummaryWriter`,
which uses Pillow).
"""

import struct
import zlib

import numpy as np

# PNG colour types by channel count: grey, grey + alpha, RGB, RGBA.
_COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}
_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def encode_png(pixels):
    """The PNG bytes of a `uint8` image.

    Args:
        pixels: A `uint8` array `(height, width, channels)` with 1 (grey),
            2 (grey and alpha), 3 (RGB) or 4 (RGBA) channels.

    Returns:
        The image as PNG file contents (8 bits per channel, not interlaced).

    Raises:
        ValueError: `pixels` is not such an array.

    Example:

    >>> from mixup_model.png import encode_png
    >>> png = encode_png(np.zeros((2, 3, 1), np.uint8))
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    pixels = np.asarray(pixels)
    if (
        pixels.dtype != np.uint8
        or pixels.ndim != 3
        or pixels.shape[-1] not in _COLOR_TYPES
        or 0 in pixels.shape
    ):
        raise ValueError(
            "`pixels` must be a non-empty uint8 array (height, width, "
            "channels) with 1 to 4 channels. Received: "
            f"pixels.dtype={pixels.dtype}, pixels.shape={pixels.shape}"
        )
    height, width, channels = pixels.shape
    header = struct.pack(
        ">IIBBBBB", width, height, 8, _COLOR_TYPES[channels], 0, 0, 0
    )
    # Each row starts with its filter type, 0 (none).
    rows = np.concatenate(
        [np.zeros((height, 1), np.uint8), pixels.reshape(height, -1)], axis=1
    )
    return (
        _SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + _chunk(b"IEND", b"")
    )


def to_uint8(images):
    """Pixels as `tf.summary.image` stores them: `uint8` as they are, floats
    of any width (bfloat16 included; meant to lie in [0, 1]) saturated to
    [0, 255] as `tf.image.convert_image_dtype(..., tf.uint8, saturate=True)`
    does, NaN as 0.

    Raises:
        ValueError: `images` are neither `uint8` nor floating point.
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    # bfloat16 (ml_dtypes) is no numpy floating type: ask its name.
    if images.dtype.kind in "biuc" or "float" not in images.dtype.name:
        raise ValueError(
            "Images must be uint8, or floats in [0, 1]. Received: "
            f"images.dtype={images.dtype}"
        )
    images = np.nan_to_num(images.astype(np.float64), nan=0.0)
    return np.clip(images * 255.5, 0, 255).astype(np.uint8)
