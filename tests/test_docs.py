"""The README's and the guides' Python examples run as written, every link
between the pages resolves, every documented `python -m` command exists,
and the pages that quote measurements are what `tools/make_docs.py` makes
of the recorded JSON."""

import os
import re
import subprocess
import sys

import pytest

from tests.backends import once_in
from tests.subprocess_utils import child_env
from tools import make_docs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
DOCS = os.path.join(REPO, "docs")
# The pages whose examples build on one another, in reading order.
GUIDES = ("guide.md", "tensorboard.md", "distribution.md", "methods.md")


def _python_blocks(path):
    # Top-level blocks run; indented ones (inside list items) are fragments
    # that need more than one machine, e.g. the multi-worker loop.
    with open(path) as f:
        return re.findall(r"^```python\n(.*?)^```$", f.read(), flags=re.S | re.M)


def _run(paths, namespace):
    for path in paths:
        for block in _python_blocks(path):
            exec(compile(block, path, "exec"), namespace)
    return namespace


def test_readme_examples_run_on_their_own(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples save files
    namespace = _run([README], {})
    assert 0.0 <= namespace["accuracy"] <= 1.0
    assert (tmp_path / "logs" / "quickstart" / "mixed_batch.png").exists()
    assert (tmp_path / "mixup_cnn.keras").exists()
    assert namespace["net"].alpha == 0.2  # the functional one, trained last


def test_guide_examples_run_in_reading_order(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    paths = [os.path.join(DOCS, name) for name in GUIDES]
    assert all(len(_python_blocks(path)) >= 1 for path in paths)
    namespace = _run(paths, {})
    assert namespace["restored"].alpha == 0.2
    assert namespace["net"].lambda_mode == "per_batch"
    assert "Mixup: mix=Mixup(alpha=0.2)" in capsys.readouterr().out
    assert (tmp_path / "logs" / "readme_run" / "mixed_batch.png").exists()
    assert namespace["distributed"].mixup_config()["seed"] == 0


def _links(path):
    with open(path) as f:
        text = f.read()
    # Outside code blocks only.
    text = re.sub(r"^```.*?^```$", "", text, flags=re.S | re.M)
    return re.findall(r"\]\(([^)\s]+)\)", text)


def _anchors(path):
    """GitHub's heading anchors of a Markdown file."""
    with open(path) as f:
        text = re.sub(r"^```.*?^```$", "", f.read(), flags=re.S | re.M)
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", text, flags=re.M):
        anchor = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(anchor)
    return anchors


@pytest.mark.parametrize(
    "page", ["README.md"] + sorted(f"docs/{n}" for n in os.listdir(DOCS) if n.endswith(".md"))
)
def test_every_link_resolves(page):
    path = os.path.join(REPO, page)
    links = [link for link in _links(path) if not re.match(r"https?://", link)]
    for link in links:
        target, _, anchor = link.partition("#")
        target_path = (
            os.path.normpath(os.path.join(os.path.dirname(path), target)) if target else path
        )
        assert os.path.exists(target_path), f"{page}: {link}"
        if anchor:
            assert anchor in _anchors(target_path), f"{page}: {link}"


def test_pages_are_what_their_templates_and_the_recorded_json_make():
    # Re-running an experiment or a benchmark without `python
    # tools/make_docs.py` (or editing a generated page by hand) fails here.
    pages = make_docs.pages()
    assert os.path.join(DOCS, "performance.md") in pages
    for path, text in pages.items():
        with open(path) as f:
            assert f.read() == text, f"{path} is out of date: run tools/make_docs.py"


def test_placeholders_quote_tables_and_values(monkeypatch):
    record = {"rows": [{"ratio": 1.034, "a.b": 0.8549}]}
    monkeypatch.setattr(make_docs, "load", lambda name: record)
    monkeypatch.setitem(make_docs.TABLES, "demo", lambda: "| a |")
    text = make_docs.render(
        "{{table:demo}} {{x.json|rows.0.ratio|.3f}} {{x.json|rows.0.ratio|excess:.1%}} "
        "{{x.json|rows.0.a\\.b|.2%}}"
    )
    assert text == "| a | 1.034 3.4% 85.49%"
    with pytest.raises(KeyError):
        make_docs.render("{{x.json|rows.0.missing|.3f}}")


# `python -m <module>` in the pages and the shell entry points.
_DOCUMENTED_MODULE = re.compile(r"-m\s+((?:experiments|benchmarks|tools)\.\w+)")


def _documented_modules():
    paths = [README] + [
        os.path.join(folder, name)
        for folder in (DOCS, os.path.join(DOCS, "templates"), os.path.join(REPO, "scripts"))
        for name in sorted(os.listdir(folder))
        if name.endswith((".md", ".sh"))
    ]
    modules = set()
    for path in paths:
        with open(path) as f:
            modules.update(_DOCUMENTED_MODULE.findall(f.read()))
    return sorted(modules)


@once_in("tensorflow")  # each command in a process of its own
def test_documented_commands_name_modules_that_run(tmp_path):
    modules = _documented_modules()
    # Every experiment and benchmark the results and performance pages quote.
    assert {"experiments.main_job", "experiments.seeds", "experiments.label_noise",
            "experiments.long_schedule", "benchmarks.step_cost",
            "benchmarks.backends", "tools.make_docs"} <= set(modules)
    # From another folder, as `bash scripts/main_job.sh` runs it: the
    # repository is found through PYTHONPATH, not the working folder. Two at
    # a time (each mostly imports Keras and its backend).
    for pair in (modules[i:i + 2] for i in range(0, len(modules), 2)):
        processes = {
            module: subprocess.Popen(
                [sys.executable, "-m", module, "--help"], cwd=tmp_path,
                env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for module in pair
        }
        for module, process in processes.items():
            stdout, stderr = process.communicate(timeout=300)
            assert process.returncode == 0, f"python -m {module} --help:\n{stderr[-2000:]}"
            assert "usage:" in stdout
