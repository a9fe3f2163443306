"""The oldest Keras this library runs on, checked when it is imported.

`setup.cfg` declares the same floor (a test keeps the two equal), and
docs/compatibility.md lists the combinations that are tested.
"""

import re

MINIMUM_KERAS = "3.6.0"


def release(version):
    """`(3, 10, 0)` of `"3.10.0"`, `"3.10.0.dev2025"` or `"3.10.0rc1"`."""
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", str(version))
    if match is None:
        raise ValueError(f"Not a version number. Received: version={version!r}")
    return tuple(int(part or 0) for part in match.groups())


def check_keras_version(installed):
    """Raises an `ImportError` where Keras `installed` is older than
    `MINIMUM_KERAS`.

    Args:
        installed: The installed Keras's version string (`keras.__version__`).

    Raises:
        ImportError: The version is older than the minimum; the message names
            both, and how to upgrade.

    Example:

    >>> from mixup_model.versions import check_keras_version
    >>> check_keras_version("3.15.1")
    >>> check_keras_version("3.4.1")
    Traceback (most recent call last):
    ...
    ImportError: mixup_model needs Keras >= 3.6.0, but Keras 3.4.1 is installed. Upgrade it: pip install -U "keras>=3.6.0"
    """
    if release(installed) < release(MINIMUM_KERAS):
        raise ImportError(
            f"mixup_model needs Keras >= {MINIMUM_KERAS}, but Keras {installed} "
            f'is installed. Upgrade it: pip install -U "keras>={MINIMUM_KERAS}"'
        )
