"""Offline Fashion-MNIST for `keras.datasets.fashion_mnist.load_data()`.

Keras downloads the four files into `$KERAS_HOME/datasets/fashion-mnist/`
and loads them from there when present. On machines without access to the
download host, `load_fashion_mnist(data_dir)` verifies a local copy of the
official files against their published MD5 sums, copies them into that
cache, and calls Keras's own loader. A truncated or corrupted file raises an
error that names it instead of training on garbage.

Usage (verify a folder of the files and copy them into Keras's cache, so
that `keras.datasets.fashion_mnist.load_data()` works offline):
    python -m experiments.fashion_mnist [--data-dir ../shared/datasets/fashion-mnist]
"""

import argparse
import hashlib
import os
import shutil

import keras

# The official files and MD5 sums (github.com/zalandoresearch/fashion-mnist).
FASHION_MNIST_MD5 = {
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
}

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


# Where this repository's checkouts find the files: ../shared/datasets/.
DEFAULT_DATA_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "shared", "datasets", "fashion-mnist",
)



def default_data_dir():
    """`DEFAULT_DATA_DIR` where it exists, else None (Keras's cache)."""
    return DEFAULT_DATA_DIR if os.path.isdir(DEFAULT_DATA_DIR) else None


class DatasetFileError(ValueError):
    """A dataset file is missing, truncated or corrupted."""


def keras_cache_dir():
    """The folder Keras's Fashion-MNIST loader reads: `<keras home>/datasets/fashion-mnist`."""
    try:  # Keras resolves $KERAS_HOME (and its fallbacks) at import time.
        from keras.src.backend.config import keras_home

        home = keras_home()
    except ImportError:
        home = os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))
    return os.path.join(os.path.expanduser(home), "datasets", "fashion-mnist")


def _md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path):
    """Raises `DatasetFileError` naming `path` unless it is the official file."""
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise DatasetFileError(f"Fashion-MNIST file not found: {path}")
    actual = _md5(path)
    if actual != FASHION_MNIST_MD5[name]:
        raise DatasetFileError(
            f"Fashion-MNIST file {path} is truncated or corrupted: its MD5 is "
            f"{actual}, the official file's is {FASHION_MNIST_MD5[name]} "
            f"({os.path.getsize(path)} bytes on disk). Replace it with the "
            "official file."
        )


def prepare_fashion_mnist(data_dir=None):
    """Makes `keras.datasets.fashion_mnist.load_data()` work offline.

    Args:
        data_dir: Optional folder holding the four official `.gz` files.
            They are verified and copied into Keras's cache. With `None`, the
            files already in the cache (if any) are verified.

    Returns:
        The cache folder.

    Raises:
        DatasetFileError: a file is missing, truncated or corrupted.
    """
    cache = keras_cache_dir()
    if data_dir is not None:
        for name in FASHION_MNIST_MD5:
            verify_file(os.path.join(data_dir, name))
        os.makedirs(cache, exist_ok=True)
    for name in FASHION_MNIST_MD5:
        cached = os.path.join(cache, name)
        if data_dir is not None:
            source = os.path.join(data_dir, name)
            if not (os.path.isfile(cached) and _md5(cached) == _md5(source)):
                shutil.copyfile(source, cached + ".tmp")
                os.replace(cached + ".tmp", cached)
        if os.path.exists(cached):
            verify_file(cached)
    return cache


def load_fashion_mnist(data_dir=None):
    """Loads Fashion-MNIST through Keras, offline when `data_dir` is given.

    Args:
        data_dir: Optional folder with the four official `.gz` files.

    Returns:
        `(x_train, y_train), (x_test, y_test)` as uint8 arrays, exactly as
        `keras.datasets.fashion_mnist.load_data()` returns them.
    """
    prepare_fashion_mnist(data_dir)
    return keras.datasets.fashion_mnist.load_data()



def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir", default=DEFAULT_DATA_DIR,
        help="folder with the four official .gz files (default: "
        "../shared/datasets/fashion-mnist next to the repository)",
    )
    args = parser.parse_args(argv)
    try:
        cache = prepare_fashion_mnist(args.data_dir)
    except DatasetFileError as error:
        raise SystemExit(str(error)) from None
    print(f"verified and cached in {cache}")
    return cache


if __name__ == "__main__":
    main()
