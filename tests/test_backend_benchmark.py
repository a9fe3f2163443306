"""The backend comparison keeps working (a smoke test: no timing is asserted)."""

import importlib.util

import pytest

from benchmarks import backends as backend_benchmark
from tests.backends import once_in


@once_in("tensorflow")  # each backend in a process of its own
def test_backend_benchmark_runs_each_backend_in_its_own_process(tmp_path):
    backends = ["tensorflow", "jax"]
    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed")
    report = backend_benchmark.main(
        ["--quick", "--backends", *backends, "--out", str(tmp_path), "--tag", "smoke"]
    )
    assert [r["backend"] for r in report["backends"]] == backends
    for backend in report["backends"]:
        (row,) = backend["rows"]
        assert row["batch_size"] == 8
        assert set(row["results"]) == set(backend_benchmark.VARIANTS)
        assert row["results"]["plain"]["ratio"] == 1.0
        for result in row["results"].values():
            q1, q3 = result["ratio_iqr"]
            assert q1 <= result["ratio"] <= q3 and result["ms_per_step"] > 0
    assert (tmp_path / "backend_benchmark_smoke.json").exists()
    assert "| jax |" in backend_benchmark.format_table(report["backends"])


def test_bad_settings_are_refused(capsys):
    with pytest.raises(SystemExit):
        backend_benchmark.parse_args(["--blocks", "1"])
    assert "--blocks must be at least 2" in capsys.readouterr().err
