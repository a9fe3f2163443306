"""The benchmark keeps working (a smoke test: no timing is asserted)."""

import json
import os

import numpy as np
import pytest

from benchmarks import step_cost as benchmark
from mixup_model import MixupModel
from tests.backends import BACKEND
from tests.backends import JIT_COMPILE
from tests.backends import numpy
from tests.backends import once_in
from tests.backends import tensorflow_only

# What the benchmark runs on this backend by default: off TensorFlow, the
# Keras models alone and the keras.io pipeline feeding a plain model.
VARIANTS = (
    benchmark.VARIANTS
    if BACKEND == "tensorflow"
    else benchmark.PORTABLE_VARIANTS + ("kerasio",)
)


def test_benchmark_runs_at_a_tiny_size(tmp_path):
    # The backend's first compile setting: `test_steppers_train_the_models`
    # drives every variant's step under each.
    # The report's parts (A/A control, the mixup ratio, the statistics' ratio
    # to mixup, copies, sweep); `test_steppers_train_the_models` drives
    # every variant's step.
    jit = benchmark.parse_args([]).jit[0]
    variants = ["plain_aa", "mixup", "mixup_tb"]
    report = benchmark.main(
        ["--quick", "--jit", jit, "--variants", *variants, "--out", str(tmp_path), "--tag", "smoke"]
    )
    assert report["machine"]["backend"] == BACKEND
    assert [(r["model"], r["jit"]) for r in report["rows"]] == [("cnn", jit == "true")]
    for row in report["rows"]:
        assert set(row["results"]) == {"plain", *variants}
        assert row["results"]["plain"]["ratio_vs_plain"] == 1.0
        assert row["results"]["mixup"]["ratio_vs_mixup"] == 1.0
        for result in row["results"].values():
            assert result["ms_per_step"] > 0 and result["images_per_s"] > 0
            q1, q3 = result["ratio_vs_plain_iqr"]
            assert q1 <= result["ratio_vs_plain"] <= q3
            assert len(result["ms_per_step_blocks"]) == 2  # --quick: 2 blocks
            # --quick: 2 copies, one block each
            assert result["copies"] == 2
            assert len(result["ratio_vs_plain_by_copy"]) == 2
    assert [s["batch_size"] for s in report["sweep"]] == [4]
    with open(os.path.join(tmp_path, "benchmark_smoke.json")) as f:
        assert json.load(f)["rows"] == report["rows"]


def test_each_backend_runs_its_usual_step_and_refuses_tensorflow_variants(capsys):
    args = benchmark.parse_args([])
    assert args.variants == list(VARIANTS)
    assert args.jit == {"tensorflow": ["false", "true"], "jax": ["true"],
                        "torch": ["false"]}[BACKEND]
    assert args.tag == ("cpu" if BACKEND == "tensorflow" else f"cpu_{BACKEND}")
    if BACKEND != "tensorflow":
        with pytest.raises(SystemExit):
            benchmark.parse_args(["--variants", "mixup", "kl_mixup"])
        assert "kl_mixup need TensorFlow" in capsys.readouterr().err
        with pytest.raises(SystemExit):
            benchmark.parse_args(["--count-ops"])
        assert "--count-ops need TensorFlow" in capsys.readouterr().err


def test_copies_must_be_positive(capsys):
    with pytest.raises(SystemExit):
        benchmark.parse_args(["--copies", "0"])
    assert "--copies must be at least 1" in capsys.readouterr().err


def test_fixed_ablation_does_not_sample():
    build, _ = benchmark.MODELS["cnn"]
    model = benchmark.make_model("mixup_fixed", build, build().get_weights(), None)
    first, second = (model.sample_mix_params(4) for _ in range(2))
    for params in (first, second):
        np.testing.assert_array_equal(numpy(params.lam), np.full(4, 0.7, "float32"))
        np.testing.assert_array_equal(numpy(params.perm), [3, 2, 1, 0])


@pytest.mark.parametrize("jit", JIT_COMPILE)
def test_steppers_train_the_models(jit, tmp_path):
    # The steppers drive the real compiled steps on this backend: every
    # variant trains (its weights move), mixup draws anew each step (its
    # seed state advances) and the statistics variant records.
    x = np.random.default_rng(0).random((32, 28, 28, 1), dtype=np.float32)
    y = np.eye(10, dtype="float32")[np.arange(32) % 10]
    pipelines = benchmark.make_pipelines(x, y, batch_size=8)
    build, _ = benchmark.MODELS["cnn"]
    initial = build().get_weights()
    benchmark.step_timing.forget_compiled_steps()  # other tests' shapes
    # Every variant, and the keras.io pipeline feeding a plain model, under
    # the backend's usual compile setting; under the other one mixup's
    # (compiling a model takes up to a minute on a CPU, the plain steps are
    # Keras's own, and the statistics' step under both settings is
    # test_tensorboard's).
    names = benchmark.PORTABLE_VARIANTS + ("kerasio",)
    if jit != JIT_COMPILE[0]:
        names = ("mixup",)
    for name in names:
        model = benchmark.make_model(name, build, initial, str(tmp_path))
        model.compile("adam", "categorical_crossentropy", jit_compile=jit)
        model.train_on_batch(x[:8], y[:8])
        before = [w.copy() for w in model.get_weights()]
        draws = isinstance(model, MixupModel) and name != "mixup_fixed"
        seed_before = numpy(model.mixup_seed_generator.state) if draws else None
        stepper = benchmark.step_timing.Stepper(model, pipelines[name])
        assert all(stepper.step() > 0 for _ in range(3))
        stepper.close()
        assert int(numpy(model.optimizer.iterations)) == 4, name
        assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights())), name
        if draws:
            assert not np.array_equal(numpy(model.mixup_seed_generator.state), seed_before), name
        recording = getattr(model, "mixup_statistics", None) is not None
        assert recording == (name == "mixup_tb"), name
        if recording:
            assert model.mixup_statistics.results()


def _is_permutation(perm):
    return sorted(perm.tolist()) == list(range(len(perm)))


@tensorflow_only
def test_late_draw_diagnostic_draws_but_blends_fixed():
    build, _ = benchmark.MODELS["cnn"]
    model = benchmark.make_model("mixup_late", build, build().get_weights(), None)
    state = model.mixup_seed_generator.state.numpy().copy()
    params = model.sample_mix_params(4)
    np.testing.assert_array_equal(params.lam.numpy(), np.full(4, 0.7, "float32"))
    np.testing.assert_array_equal(params.perm.numpy(), [3, 2, 1, 0])
    # ... while it still draws, as mixup does.
    assert not np.array_equal(model.mixup_seed_generator.state.numpy(), state)
    assert _is_permutation(model._late_draw.perm.numpy())


@tensorflow_only
@pytest.mark.parametrize("name", ["mixup_uniform", "mixup_xla_draw"])
def test_draw_diagnostics_draw_a_lambda_and_partners(name):
    build, _ = benchmark.MODELS["cnn"]
    model = benchmark.make_model(name, build, build().get_weights(), None)
    # XLA takes the batch size from the batch being trained.
    object.__setattr__(model, "_batch", np.zeros((64, 3), "float32"))
    first, second = (model.sample_mix_params(64) for _ in range(2))
    for params in (first, second):
        lam = params.lam.numpy()
        assert lam.shape == (64,) and np.all((lam >= 0) & (lam <= 1))
        assert _is_permutation(params.perm.numpy())
    assert not np.array_equal(first.perm.numpy(), second.perm.numpy())
    if name == "mixup_uniform":  # U(0, 1): few lambdas near 0 or 1, unlike Beta(0.2, 0.2)
        assert np.mean(np.minimum(first.lam.numpy(), 1 - first.lam.numpy()) < 0.05) < 0.4


@tensorflow_only
def test_diagnostics_only_run_when_named():
    assert benchmark.parse_args([]).variants == list(benchmark.VARIANTS)
    args = benchmark.parse_args(["--variants", "mixup", "mixup_late"])
    assert args.variants == ["plain", "mixup", "mixup_late"]


def test_family_variants_run_on_every_backend_when_named():
    assert not set(benchmark.FAMILY_VARIANTS) & set(benchmark.parse_args([]).variants)
    args = benchmark.parse_args(["--variants", "mixup", "cutmix", "cutmix_elem"])
    assert args.variants == ["plain", "mixup", "cutmix", "cutmix_elem"]
    build, _ = benchmark.MODELS["cnn"]
    for name, mode in [("cutmix", "batch"), ("cutmix_elem", "elem")]:
        model = benchmark.make_model(name, build, build().get_weights(), None)
        assert (model.cutmix_alpha, model.alpha, model.mode) == (1.0, benchmark.ALPHA, mode)
    # ResizeMix and FMix alone: mixup off.
    for name, rate in [("resizemix", "resizemix_alpha"), ("fmix", "fmix_alpha")]:
        model = benchmark.make_model(name, build, build().get_weights(), None)
        assert (getattr(model, rate), model.alpha) == (1.0, 0.0)


@tensorflow_only
def test_count_ops_sees_what_mixup_adds():
    counts = benchmark.main(["--count-ops"])
    assert set(counts) == {"plain", "mixup"}
    assert counts["mixup"]["ops_not_const"] > counts["plain"]["ops_not_const"] > 0


@tensorflow_only
def test_variants_train_as_they_claim(tmp_path):
    # The steppers drive the real compiled steps: the statistics variant
    # records, and every variant's step trains its model.
    x = np.random.default_rng(0).random((32, 28, 28, 1), dtype=np.float32)
    y = np.eye(10, dtype="float32")[np.arange(32) % 10]
    pipelines = benchmark.make_pipelines(x, y, batch_size=8)
    build, _ = benchmark.MODELS["cnn"]
    initial = build().get_weights()
    for name in benchmark.VARIANTS + benchmark.DIAGNOSTIC_VARIANTS + benchmark.FAMILY_VARIANTS:
        model = benchmark.make_model(name, build, initial, str(tmp_path))
        model.compile("adam", "categorical_crossentropy", steps_per_execution=2)
        stepper = benchmark.step_timing.Stepper(model, pipelines[name])
        assert stepper.step() > 0
        assert int(model.optimizer.iterations.numpy()) == 2, name
        recording = getattr(model, "mixup_statistics", None) is not None
        assert recording == (name == "mixup_tb"), name
        if recording:
            assert model.mixup_statistics.results()


@once_in("jax")
def test_fmix_parts_times_each_part(tmp_path):
    from benchmarks import fmix_parts

    report = fmix_parts.main(["--shape", "8", "8", "--batch-size", "4", "--calls", "1",
                              "--repeats", "1", "--out", str(tmp_path)])
    assert set(report["ms"]) >= {"normals", "noise", "threshold", "mask", "perm", "mask+perm"}
    assert all(ms > 0 for ms in report["ms"].values())
    assert (tmp_path / "fmix_parts_cpu_jax.json").exists()
