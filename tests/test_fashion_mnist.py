"""The main job on a real Fashion-MNIST subset, and the offline data files."""

import glob
import json
import os
import shutil

import keras
import pytest

from experiments import fashion_mnist
from tests.backends import once_in


def test_main_job_learns_on_a_subset(data_dir, tmp_path):
    from experiments import main_job as job

    log_dir = str(tmp_path / "logs")
    # tf.data on TensorFlow (the recorded runs), Keras's own shuffling on
    # the others (how the main job runs without TensorFlow).
    pipeline = "tf.data" if keras.backend.backend() == "tensorflow" else "keras"
    results = job.main(
        [
            "--epochs", "3",
            "--train-size", "10000",
            "--data-dir", data_dir,
            "--log-dir", log_dir,
            "--input-pipeline", pipeline,
            "--verbose", "0",
        ]
    )
    for arm in ("mixup", "baseline"):
        # Chance is 10%; the keras.io CNN reaches about 70% on this budget.
        assert results[arm]["test_accuracy"] > 0.6, results
        run = results[arm]["log_dir"]
        for split in ("train", "validation"):
            assert glob.glob(os.path.join(run, split, "events.out.tfevents.*"))
    with open(os.path.join(log_dir, "results.json")) as f:
        saved = json.load(f)
    assert saved["results"]["mixup"]["test_accuracy"] == results["mixup"]["test_accuracy"]
    assert saved["args"]["alpha"] == 0.2
    assert saved["args"]["backend"] == keras.backend.backend()
    assert saved["args"]["input_pipeline"] == pipeline


@once_in("tensorflow")  # the keras.io code is a tf.data pipeline
def test_keras_io_reference_arm_trains_and_logs(data_dir, tmp_path):
    # The third arm is the keras.io example's own code: a plain Keras model
    # mixed in tf.data, logged by Keras's own TensorBoard callback.
    from experiments import main_job as job

    results = job.main(
        [
            "--epochs", "1",
            "--train-size", "3000",
            "--data-dir", data_dir,
            "--log-dir", str(tmp_path / "logs"),
            "--keras-io-reference",
            "--verbose", "0",
        ]
    )
    assert list(results) == ["mixup", "baseline", "keras.io"]
    reference = results["keras.io"]
    assert reference["test_accuracy"] > 0.2  # chance is 0.1
    assert glob.glob(os.path.join(reference["log_dir"], "train", "events.out.tfevents.*"))


def test_backend_option_must_come_before_keras_is_imported():
    from experiments import main_job as job
    from experiments.backend_choice import BACKENDS
    from experiments.backend_choice import backend_option

    assert backend_option(["--epochs", "1", "--backend", "jax"]) == "jax"
    assert backend_option(["--backend=torch"]) == "torch"
    assert backend_option(["--epochs", "1"]) is None
    other = next(b for b in BACKENDS if b != keras.backend.backend())
    with pytest.raises(SystemExit):
        job.parse_args(["--backend", other])  # Keras is already imported


def test_cached_files_make_keras_loader_work(data_dir):
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_fashion_mnist(data_dir)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert set(y_train.tolist()) == set(range(10))
    cache = fashion_mnist.keras_cache_dir()
    assert cache.startswith(os.environ["KERAS_HOME"])
    assert sorted(os.listdir(cache)) == sorted(fashion_mnist.FASHION_MNIST_MD5)


def _copy_files(source, target):
    os.makedirs(target, exist_ok=True)
    for name in fashion_mnist.FASHION_MNIST_MD5:
        shutil.copyfile(os.path.join(source, name), os.path.join(target, name))


def test_truncated_file_is_named(data_dir, tmp_path):
    broken = tmp_path / "broken"
    _copy_files(data_dir, broken)
    victim = broken / "train-labels-idx1-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[:1000])
    with pytest.raises(fashion_mnist.DatasetFileError, match="train-labels-idx1-ubyte.gz"):
        fashion_mnist.prepare_fashion_mnist(str(broken))


def test_corrupted_cache_file_is_named(data_dir, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    _copy_files(data_dir, cache)
    victim = cache / "t10k-images-idx3-ubyte.gz"
    data = bytearray(victim.read_bytes())
    data[5000] ^= 0xFF
    victim.write_bytes(bytes(data))
    monkeypatch.setattr(fashion_mnist, "keras_cache_dir", lambda: str(cache))
    with pytest.raises(fashion_mnist.DatasetFileError, match=str(victim)):
        fashion_mnist.prepare_fashion_mnist(None)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(fashion_mnist.DatasetFileError, match="not found.*t10k"):
        fashion_mnist.verify_file(str(tmp_path / "t10k-labels-idx1-ubyte.gz"))
