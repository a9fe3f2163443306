"""The GPU benchmark's `--tiny` mode: the same code on this CPU, so that no
GPU minute is spent on a bug (a smoke test: no timing is asserted)."""

import importlib.util
import json

import pytest

from benchmarks import gpu as gpu_benchmark
from tests.backends import once_in

# Each part runs in processes of its own, whatever the suite's backend.
once = once_in("jax")


def _installed(*modules):
    return all(importlib.util.find_spec(m) is not None for m in modules)


@once
def test_tiny_run_reports_every_part(tmp_path):
    # The CNN through every part's code (compiling ResNet-50's steps takes
    # minutes on a CPU; the model itself is checked below).
    report = gpu_benchmark.main(
        ["--tiny", "--copies", "1", "--models", "cnn", "--out", str(tmp_path), "--tag", "tiny"]
    )
    parts = report["parts"]
    assert list(parts) == list(gpu_benchmark.PARTS)
    expected = {
        "keras-jax": set(gpu_benchmark.KERAS_VARIANTS["keras-jax"]),
        "keras-torch": set(gpu_benchmark.KERAS_VARIANTS["keras-torch"]),
        "torch": set(gpu_benchmark.ANCHOR_VARIANTS),
    }
    needs = {"keras-jax": ("jax",), "keras-torch": ("torch",),
             "torch": ("torch", "torchvision", "timm")}
    for part, report_part in parts.items():
        if not _installed(*needs[part]):
            assert report_part["skipped"].startswith("not installed"), part
            continue
        assert report_part["bandwidth_gb_s"] > 0
        models = [row["model"] for row in report_part["rows"]]
        assert models == (["resnet50"] if part == "torch" else ["cnn"])
        for row in report_part["rows"]:
            assert set(row["results"]) == expected[part], part
            plain = row["results"]["plain"]
            assert plain["ratio_vs_plain"] == 1.0 and "blend_floor_ms" not in plain
            for name, result in row["results"].items():
                assert result["ms_per_step"] > 0 and result["images_per_s"] > 0
                q1, q3 = result["ratio_vs_plain_iqr"]
                assert q1 <= result["ratio_vs_plain"] <= q3
                if not name.startswith("plain"):
                    assert 0 < result["blend_floor_fraction"] < 1
    with open(tmp_path / "gpu_benchmark_tiny.json") as f:
        assert json.load(f)["parts"].keys() == parts.keys()
    table = gpu_benchmark.format_table(parts)
    assert "| keras-jax | cnn | 8 | deit |" in table


def test_tiny_resnet50_builds_in_mixed_precision():
    import keras

    config = gpu_benchmark.configs(tiny=True)[0]
    assert config.name == "resnet50" and config.policy == "mixed_bfloat16"
    keras.mixed_precision.set_dtype_policy(config.policy)
    try:
        model = gpu_benchmark.build_keras_model(config)
        x, _ = gpu_benchmark.synthetic_batches(config, count=1)[0]
        assert model(x).shape == (config.batch_size, config.num_classes)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


def test_blend_floor_is_bytes_over_bandwidth():
    config = gpu_benchmark.Config("resnet50", 128, (224, 224, 3), 1000, "mixed_bfloat16")
    # Inputs and targets, float32, read twice and written once.
    assert config.blend_bytes() == 3 * 4 * 128 * (224 * 224 * 3 + 1000)
    parts = {"keras-jax": {
        "bandwidth_gb_s": 4000.0,
        "rows": [{**config.to_json(), "results": {
            "plain": {"ms_per_step": 50.0}, "mixup": {"ms_per_step": 50.5}}}],
    }}
    gpu_benchmark.add_floors(parts)
    mixup = parts["keras-jax"]["rows"][0]["results"]["mixup"]
    assert mixup["blend_floor_ms"] == pytest.approx(1000 * config.blend_bytes() / 4e12)
    assert mixup["blend_floor_fraction"] == pytest.approx(mixup["blend_floor_ms"] / 50.0)
    assert "blend_floor_ms" not in parts["keras-jax"]["rows"][0]["results"]["plain"]


def test_bad_settings_are_refused(capsys):
    with pytest.raises(SystemExit):
        gpu_benchmark.parse_args(["--copies", "0"])
    assert "Received: --blocks 10, --copies 0" in capsys.readouterr().err
