"""The Keras floor: checked on import, with an error that says what to do."""

import configparser
import os
import re

import pytest

from mixup_model.versions import MINIMUM_KERAS
from mixup_model.versions import check_keras_version
from mixup_model.versions import release
from tests.subprocess_utils import REPO
from tests.subprocess_utils import child_env
from tests.subprocess_utils import run_python


def test_release_numbers():
    assert release("3.10.0") == (3, 10, 0) > release("3.9.2") == (3, 9, 2)
    assert release("3.12.0.dev2025101503") == release("3.12.0rc1") == (3, 12, 0)
    assert release("3.6") == (3, 6, 0)
    with pytest.raises(ValueError, match="Received: version='nightly'"):
        release("nightly")


def test_supported_versions_pass():
    for version in (MINIMUM_KERAS, "3.15.1", "4.0.0"):
        check_keras_version(version)


def test_older_keras_gets_an_import_error_naming_both_versions():
    with pytest.raises(ImportError, match=rf"needs Keras >= {MINIMUM_KERAS}, but Keras 3\.5\.0 is installed"):
        check_keras_version("3.5.0")


FAKE_OLD_KERAS = """
import json, os, sys, tempfile
fake = tempfile.mkdtemp()
os.makedirs(os.path.join(fake, "keras"))
with open(os.path.join(fake, "keras", "__init__.py"), "w") as f:
    f.write("__version__ = '3.4.1'\\n")
sys.path.insert(0, fake)
try:
    import mixup_model
except ImportError as error:
    print(json.dumps({"error": str(error)}))
"""


def test_importing_the_library_on_an_older_keras_fails_clearly():
    # A fresh interpreter whose `keras` is an old version's stand-in.
    report = run_python(FAKE_OLD_KERAS, env=child_env())
    assert report["error"].startswith(
        f"mixup_model needs Keras >= {MINIMUM_KERAS}, but Keras 3.4.1 is installed."
    )


def _declared_floors(extras=("tensorflow", "jax", "torch")):
    """`[(name, version)]` of every `name>=version` in setup.cfg's
    requirements and the named extras."""
    config = configparser.ConfigParser()
    config.read(os.path.join(REPO, "setup.cfg"))
    requirements = config["options"]["install_requires"].split() + [
        r for extra in extras for r in config["options.extras_require"][extra].split()
    ]
    return [re.fullmatch(r"([\w-]+)>=([\w.]+)", r).groups() for r in requirements]


def test_the_keras_floor_checked_on_import_is_the_declared_one():
    keras_floor = dict(_declared_floors(extras=()))["keras"]
    assert release(keras_floor) == release(MINIMUM_KERAS)


def test_the_compatibility_page_names_every_declared_floor():
    with open(os.path.join(REPO, "docs", "compatibility.md")) as f:
        page = f.read()
    for name, version in _declared_floors():
        assert re.search(rf"`{name}>={re.escape(version)}`", page), (name, version)
