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


def test_mixing_cost_runs_at_a_tiny_size(tmp_path):
    import mixing_cost

    rows = mixing_cost.main(["--batch-sizes", "4", "--rounds", "2", "--out", str(tmp_path)])
    assert [(r["batch_size"], r["jit"]) for r in rows] == [(4, False), (4, True)]
    assert set(rows[1]["microseconds_per_step"]) == {
        "draw lambda and partners",
        "blend inputs",
        "blend one-hot targets",
        "whole mixing of a step",
    }
    assert "whole, input blend fused" in rows[0]["microseconds_per_step"]
    with open(os.path.join(tmp_path, "mixing_cost.json")) as f:
        assert json.load(f)["rows"] == rows


def test_step_clock_counts_steps_per_execution():
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", steps_per_execution=4)
    clock = benchmark.StepClock(steps_per_execution=4)
    x = np.zeros((48, 2), "float32")
    model.fit(x, x[:, :1], batch_size=2, epochs=1, verbose=0, callbacks=[clock])
    assert len(clock.stamps) == 24 // 4  # one stamp per compiled call
    assert benchmark._whole_executions(5, 4) == 12  # at least 3 whole calls
    assert benchmark._whole_executions(13, 4) == 16
