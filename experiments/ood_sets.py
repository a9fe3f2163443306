"""Out-of-distribution test sets for Fashion-MNIST that need no download.

- Far OOD, `digits_28x28`: scikit-learn's bundled 8×8 handwritten digits
  (1,797 images, no network), scaled to [0, 1], resized to 20×20 and padded
  to 28×28, about where MNIST puts its digits (in a 20×20 box, centred by
  mass there): another dataset of
  light strokes on black, with no clothing in it.
- Near OOD, `patch_shuffled`: each Fashion-MNIST test image cut into a 4×4
  grid of 7×7 patches and the patches permuted. Every pixel, the intensity
  histogram and the texture and edges inside each patch are those of a real
  test image (the seams between patches are new); the global shape is gone,
  and the shape is what makes a trouser a trouser or a sandal a sandal. A
  detector has to notice that the arrangement means no class. (Flips and rotations were not used: a flipped bag is still a
  bag, so they keep the class meaning of several classes.)
"""

import numpy as np

# MNIST centres each digit in a 20×20 box inside the 28×28 image.
_DIGIT_BOX = 20
_IMAGE_SIDE = 28


def _linear_resize_matrix(size_in, size_out):
    """`(size_out, size_in)` weights of 1-D linear interpolation with
    half-pixel centres (the convention of `keras.ops.image.resize`)."""
    centres = (np.arange(size_out) + 0.5) * size_in / size_out - 0.5
    centres = np.clip(centres, 0, size_in - 1)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, size_in - 1)
    frac = centres - low
    weights = np.zeros((size_out, size_in))
    weights[np.arange(size_out), low] += 1 - frac
    weights[np.arange(size_out), high] += frac
    return weights


def digits_28x28():
    """scikit-learn's 8×8 digits as `(1797, 28, 28, 1)` float32 in [0, 1]."""
    from sklearn.datasets import load_digits

    images = load_digits().images / 16.0  # pixel values 0..16
    resize = _linear_resize_matrix(images.shape[1], _DIGIT_BOX)
    resized = np.einsum("ij,njk,lk->nil", resize, images, resize)
    pad = (_IMAGE_SIDE - _DIGIT_BOX) // 2
    padded = np.pad(resized, ((0, 0), (pad, pad), (pad, pad)))
    return np.clip(padded, 0.0, 1.0).astype("float32")[..., None]


def patch_shuffled(images, patch=7, seed=0):
    """`images` with each image's `patch`×`patch` tiles in a random order.

    Args:
        images: `(n, height, width, channels)`, both sides multiples of
            `patch`.
        patch: The tile side.
        seed: Seeds the permutations (one per image), so the set is fixed.

    Returns:
        An array like `images`: the same tiles per image, rearranged; never
        the identity arrangement.

    Raises:
        ValueError: A side of `images` is not a multiple of `patch`.
    """
    images = np.asarray(images)
    n, height, width, channels = images.shape
    if height % patch or width % patch:
        raise ValueError(
            f"The image sides must be multiples of `patch`. Received: images "
            f"of shape {images.shape}, patch={patch}."
        )
    rows, cols = height // patch, width // patch
    tiles = images.reshape(n, rows, patch, cols, patch, channels)
    tiles = tiles.transpose(0, 1, 3, 2, 4, 5).reshape(n, rows * cols, patch, patch, channels)
    rng = np.random.default_rng(seed)
    identity = np.arange(rows * cols)
    orders = np.stack([rng.permutation(rows * cols) for _ in range(n)])
    # A permutation that leaves every tile in place would be in-distribution.
    for i in np.flatnonzero((orders == identity).all(axis=1)):
        orders[i] = np.roll(identity, 1)
    shuffled = np.take_along_axis(tiles, orders[:, :, None, None, None], axis=1)
    shuffled = shuffled.reshape(n, rows, cols, patch, patch, channels)
    return shuffled.transpose(0, 1, 3, 2, 4, 5).reshape(images.shape)
