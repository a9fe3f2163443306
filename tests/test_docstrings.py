"""The public API's docstrings state their contract, and their examples run
(on the backend under test)."""

import doctest
import importlib
import inspect
import pkgutil

import keras
import numpy as np
import pytest
from keras import ops

import mixup_model

PUBLIC = {name: getattr(mixup_model, name) for name in mixup_model.__all__}
# The library's modules, its methods' included (not `mixup_model.backend`'s:
# each imports its own framework, and PyTorch and TensorFlow in one process
# can crash).
MODULES = [
    importlib.import_module(info.name)
    for info in pkgutil.walk_packages(mixup_model.__path__, "mixup_model.")
    if not info.name.startswith("mixup_model.backend")
]


def _takes_arguments(obj):
    function = obj.__init__ if inspect.isclass(obj) else obj
    parameters = list(inspect.signature(function).parameters.values())
    return any(p.name != "self" for p in parameters)


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_names_state_their_contract(name):
    obj = PUBLIC[name]
    doc = inspect.getdoc(obj) or ""
    assert "Example" in doc, f"{name}'s docstring has no example"
    if _takes_arguments(obj) and "Attributes:" not in doc:
        assert "Args:" in doc, f"{name}'s docstring does not list its arguments"
    if inspect.isfunction(obj):
        assert "Returns:" in doc, f"{name}'s docstring does not say what it returns"


def test_docstring_examples_run():
    globs = {"np": np, "keras": keras, "ops": ops, **PUBLIC}
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    ran = []
    for module in MODULES:
        # The module's own names (as doctest gives them), and the public API.
        for test in finder.find(module, globs={**vars(module), **globs}):
            if test.examples:
                runner.run(test)
                ran.append(test.name)
    # Every public function that shows `>>>` examples was run.
    assert {"mixup_model.convex.blend", "mixup_model.beta.sample_beta"} <= set(ran)
    assert runner.failures == 0, f"{runner.failures} docstring example(s) failed; see above"
