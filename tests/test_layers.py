"""The library's layers run one way: the facade (`model.py`) and the
application (`mixing.py`, `targets.py`) know no concrete batch method, and a
batch method knows no recipe, application, facade or step method, so that
adding one touches its own module and its registration line alone."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "mixup_model"
METHOD_MODULES = sorted(
    p.stem for p in (PACKAGE / "methods").glob("*.py") if p.stem not in ("__init__", "base")
)


def imported_modules(path):
    """Every module `path` imports, at its top or inside a function, with
    `from package import module` spelled as `package.module`."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_layer_test_sees_imports():
    # (So that the tests below cannot pass by reading nothing.)
    assert "mixup_model.methods.cutmix" in imported_modules(PACKAGE / "methods" / "resizemix.py")
    assert {"mixup", "cutmix", "resizemix", "fmix"} <= set(METHOD_MODULES)


@pytest.mark.parametrize("module", ["model.py", "mixing.py", "targets.py"])
def test_the_facade_and_the_application_import_no_concrete_method(module):
    imported = imported_modules(PACKAGE / module)
    concrete = {f"mixup_model.methods.{name}" for name in METHOD_MODULES}
    concrete |= {f"mixup_model.methods.{cls}" for cls in ("Mixup", "CutMix", "ResizeMix", "FMix")}
    assert not imported & concrete, f"{module} imports {sorted(imported & concrete)}"
    assert "mixup_model.methods" not in imported


@pytest.mark.parametrize("method", METHOD_MODULES)
def test_a_batch_method_imports_no_layer_above_it(method):
    above = ("recipe", "mixing", "targets", "model", "functional", "flat", "settings",
             "sampling", "steps", "callbacks", "rates")
    imported = imported_modules(PACKAGE / "methods" / f"{method}.py")
    wrong = sorted(n for n in imported if n.split(".")[:2] in [["mixup_model", a] for a in above])
    assert not wrong, f"methods/{method}.py imports {wrong}"
