"""The README's Python examples run as written, in order, and its
performance numbers are those of the recorded benchmark runs."""

import json
import os
import re

import benchmark

README = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md"
)


def test_readme_python_blocks_run(tmp_path, monkeypatch, capsys):
    # Top-level blocks run; indented ones (inside list items) are fragments
    # that need more than one machine, e.g. the multi-worker loop.
    with open(README) as f:
        blocks = re.findall(r"^```python\n(.*?)^```$", f.read(), flags=re.S | re.M)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)  # the examples save files
    namespace = {}
    for block in blocks:
        exec(compile(block, README, "exec"), namespace)
    assert namespace["restored"].alpha == 0.2
    assert namespace["net"].lambda_mode == "per_batch"
    assert "Mixup: alpha=0.2" in capsys.readouterr().out
    assert (tmp_path / "logs" / "readme_run" / "mixed_batch.png").exists()
    assert namespace["distributed"].mixup_config()["seed"] == 0


# The README's performance table, column by column after model/batch/XLA.
TABLE_VARIANTS = ("plain_aa", "mixup", "mixup_pb", "mixup_fixed", "mixup_tb",
                  "kerasio", "kl_mixup")


def _recorded(name):
    path = os.path.join(os.path.dirname(README), "docs", name)
    with open(path) as f:
        return json.load(f)


def test_performance_numbers_are_the_recorded_runs():
    # Re-running the benchmark without updating the README (or the reverse)
    # fails here: the README quotes docs/benchmark_cpu*.json.
    with open(README) as f:
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
    with open(README) as f:
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
