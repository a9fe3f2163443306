"""The benchmark keeps working (a smoke test: no timing is asserted)."""

import json
import os

import benchmark


def test_benchmark_runs_at_a_tiny_size(tmp_path):
    report = benchmark.main(
        ["--quick", "--jit", "false", "true", "--out", str(tmp_path), "--tag", "smoke"]
    )
    variants = {"plain", "mixup", "mixup_pb", "mixup_ktb", "mixup_tb", "kerasio", "kl_mixup"}
    assert [(r["model"], r["jit"]) for r in report["rows"]] == [("cnn", False), ("cnn", True)]
    for row in report["rows"]:
        assert set(row["results"]) == variants
        assert row["results"]["plain"]["ratio_vs_plain"] == 1.0
        assert row["results"]["mixup"]["ratio_vs_mixup"] == 1.0
        for result in row["results"].values():
            assert result["ms_per_step"] > 0 and result["images_per_s"] > 0
    # The logging variant really logged.
    assert os.listdir(os.path.join(tmp_path, "tb", "cnn", "train"))
    assert [s["batch_size"] for s in report["sweep"]] == [4, 8]
    with open(os.path.join(tmp_path, "benchmark_smoke.json")) as f:
        assert json.load(f)["rows"] == report["rows"]
