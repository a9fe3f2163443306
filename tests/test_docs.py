"""The README's and the guides' Python examples run as written, every link
between the pages resolves, and the performance page's numbers are those of
the recorded benchmark runs."""

import json
import os
import re

import pytest

import benchmark

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
DOCS = os.path.join(REPO, "docs")
PERFORMANCE = os.path.join(DOCS, "performance.md")
# The pages whose examples build on one another, in reading order.
GUIDES = ("guide.md", "tensorboard.md", "distribution.md")


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
    assert "Mixup: alpha=0.2" in capsys.readouterr().out
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


# The performance page's table, column by column after model/batch/XLA.
TABLE_VARIANTS = ("plain_aa", "mixup", "mixup_pb", "mixup_fixed", "mixup_tb",
                  "kerasio", "kl_mixup")


def _recorded(name):
    path = os.path.join(DOCS, name)
    with open(path) as f:
        return json.load(f)


def test_performance_numbers_are_the_recorded_runs():
    # Re-running the benchmark without updating the page (or the reverse)
    # fails here: it quotes docs/benchmark_cpu*.json.
    with open(PERFORMANCE) as f:
        readme = f.read()
    table = {
        tuple(cells[:3]): cells[3:]
        for cells in (
            [c.strip() for c in line.strip("|").split("|")]
            for line in readme.splitlines()
            if re.match(r"\| (cnn|resnet) \| \d+ \| (on|off) \|", line)
        )
    }
    report = _recorded("benchmark_cpu.json")
    assert len(table) == len(report["rows"]) == 8
    for row in report["rows"]:
        key = (row["model"], str(row["batch_size"]), "on" if row["jit"] else "off")
        results = row["results"]
        expected = [f"{results['plain']['ms_per_step']:.1f}"] + [
            benchmark.format_ratio(results[name]) for name in TABLE_VARIANTS
        ]
        assert table[key] == expected, key
    sweep_line = next(
        line for line in readme.splitlines() if line.startswith("| (b) mixup ÷ (a) |")
    )
    assert sweep_line == "| (b) mixup ÷ (a) | " + " | ".join(
        f"{s['ratio_vs_plain']:.3f}" for s in report["sweep"]
    ) + " |"
    diagnostics = _recorded("benchmark_cpu_diagnostics.json")["rows"][0]["results"]
    text = " ".join(readme.split())
    for name, label in [("mixup_late", "`mixup_late`"),
                        ("mixup_xla_draw", "`mixup_xla_draw`"),
                        ("mixup_uniform", "`mixup_uniform`")]:
        ratio = f"{diagnostics[name]['ratio_vs_plain']:.3f}"
        assert re.search(re.escape(label) + r"[^`]*?: " + re.escape(ratio), text), name
    assert f"mixup {diagnostics['mixup']['ratio_vs_plain']:.3f}, the ablation" in text


def test_jax_and_pytorch_step_numbers_are_the_recorded_runs():
    with open(PERFORMANCE) as f:
        lines = f.read().splitlines()
    for backend in ("jax", "torch"):
        report = _recorded(f"benchmark_cpu_{backend}.json")
        assert report["machine"]["backend"] == backend
        quoted = [line for line in lines if line.startswith(f"| {backend} | cnn |")]
        assert len(quoted) == len(report["rows"]) == 2
        for row in report["rows"]:
            results = row["results"]
            expected = "| " + " | ".join(
                [backend, row["model"], str(row["batch_size"]),
                 "on" if row["jit"] else "off",
                 f"{results['plain']['ms_per_step']:.1f}"]
                + [benchmark.format_ratio(results[name]) for name in
                   ("plain_aa", "mixup", "mixup_pb", "mixup_fixed", "mixup_tb")]
            ) + " |"
            assert expected in quoted, expected
