"""The package as a user installs it: the wheel and sdist hold the library
and its licence, and `pip install "mixup_model[jax]"` of the wheel brings no
TensorFlow, yet the README's quickstart trains and logs to TensorBoard.

The install runs once per CI run, in the JAX pass (it is a JAX install)."""

import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import venv
import zipfile

import pytest

from tests.backends import once_in
from tests.subprocess_utils import REPO
from tests.tensorboard_files import events
from tests.tensorboard_files import steps

LIBRARY_FILES = sorted(
    os.path.relpath(os.path.join(folder, name), REPO).replace(os.sep, "/")
    for folder, _, names in os.walk(os.path.join(REPO, "mixup_model"))
    for name in names
    if name.endswith(".py")
)



def _source_tree(destination):
    """The repository's files as a clean checkout has them (tracked, and
    new ones git does not ignore): no stale `build/` folder gets in."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = os.path.join(REPO, name)
        if os.path.isfile(source):
            os.makedirs(os.path.dirname(destination / name), exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def _run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The wheel and the sdist, built from the source tree as installers
    build them: pip builds the wheel with the build backend that
    pyproject.toml declares, in an environment of its own; the sdist comes
    from that backend (setuptools) too."""
    source = _source_tree(tmp_path_factory.mktemp("source"))
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out),
          str(source)], timeout=600)
    _run([sys.executable, "-c",
          "import sys; from setuptools import build_meta; build_meta.build_sdist(sys.argv[1])",
          str(out)], cwd=source, timeout=300)
    [wheel] = out.glob("*.whl")
    [sdist] = out.glob("*.tar.gz")
    return wheel, sdist


def test_pyproject_declares_the_build_backend():
    with open(os.path.join(REPO, "pyproject.toml")) as f:
        text = f.read()
    assert re.search(r'^build-backend = "setuptools.build_meta"$', text, re.M)


@once_in("jax")
def test_wheel_holds_the_library_and_its_licence_only(dist):
    wheel, _ = dist
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = [n for n in names if n.split("/")[0].endswith(".dist-info")]
    library = sorted(n for n in names if n not in dist_info)
    assert library == LIBRARY_FILES  # no tests, experiments, docs or scripts
    assert any(n.endswith("/LICENSE") for n in dist_info)
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in dist_info if n.endswith("/METADATA"))
    ).decode()
    requires = re.findall(r"^Requires-Dist: (.+)$", metadata, re.M)
    unconditional = sorted(r.split(">")[0] for r in requires if "extra ==" not in r)
    assert unconditional == ["keras", "numpy", "tensorboard"]
    for backend in ("tensorflow", "jax", "torch"):
        assert any(f'extra == "{backend}"' in r and r.startswith(backend) for r in requires)
    assert "License: Apache-2.0" in metadata or "License-Expression: Apache-2.0" in metadata


@once_in("jax")
def test_sdist_holds_the_licence_and_changelog(dist):
    _, sdist = dist
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    assert {"LICENSE", "CHANGELOG.md", "README.md", "setup.cfg", "pyproject.toml"} <= names
    assert {f for f in LIBRARY_FILES} <= names


def _readme_quickstart():
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    quickstart = text[text.index("## Quickstart") :]
    return re.search(r"^```python\n(.*?)^```$", quickstart, re.S | re.M).group(1)


CHECK = textwrap.dedent(
    """
    import importlib.util, json, keras, mixup_model
    print(json.dumps({
        "tensorflow": importlib.util.find_spec("tensorflow") is not None,
        "backend": keras.backend.backend(),
        "from": mixup_model.__file__,
    }))
    """
)


@once_in("jax")  # a JAX install
def test_jax_install_of_the_wheel_runs_the_quickstart_without_tensorflow(dist, tmp_path):
    wheel, _ = dist
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = str(environment / "bin" / "python")
    _run([python, "-m", "pip", "install", "-q", f"{wheel}[jax]"], timeout=900)
    user = tmp_path / "user"  # a folder outside the repository
    user.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_BACKEND")}
    env["KERAS_BACKEND"] = "jax"
    env["KERAS_HOME"] = str(tmp_path / "keras_home")
    check = _run([python, "-c", CHECK], cwd=user, env=env, timeout=300)
    report = check.stdout.strip().splitlines()[-1]
    assert '"tensorflow": false' in report and '"backend": "jax"' in report
    assert str(environment) in report  # the installed wheel, not the checkout
    _run([python, "-c", _readme_quickstart()], cwd=user, env=env, timeout=600)
    train = events(str(user / "logs" / "quickstart" / "train"))
    tags = set(train.Tags()["tensors"])
    assert {"epoch_loss", "epoch_accuracy", "epoch_mixup_lambda", "epoch_mixup_strength",
            "mixup/lambda", "mixup/mixed_inputs"} <= tags
    assert steps(train, "epoch_loss") == [0, 1]
    assert (user / "logs" / "quickstart" / "mixed_batch.png").exists()
    assert (user / "mixup_cnn.keras").exists()
