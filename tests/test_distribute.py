"""MixupModel under tf.distribute: one process with two replicas, and two workers."""

import json
import textwrap

import numpy as np

from tests.backends import tensorflow_only
from tests.subprocess_utils import child_env
from tests.subprocess_utils import free_port
from tests.subprocess_utils import run_python
from tests.subprocess_utils import run_together

MODEL = """
import json, os
import numpy as np
import tensorflow as tf
{devices}
import keras
from mixup_model import MixupModel

def data():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(64, 6)).astype("float32"), rng.integers(0, 3, 64))

def classifier():
    return keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(3, activation="softmax",
                           kernel_initializer=keras.initializers.GlorotUniform(0)),
    ])
"""

pytestmark = tensorflow_only

TWO_LOGICAL_CPUS = """
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
"""

MIRRORED = MODEL.format(devices=TWO_LOGICAL_CPUS) + textwrap.dedent(
    """
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    x, y = data()
    with strategy.scope():
        inner = classifier()
        model = MixupModel(inner, alpha=0.5, seed=0)
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
        inner.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    draw = tf.function(lambda: strategy.run(lambda: model.sample_mix_params(8)))
    per_replica = draw()
    lams = [t.numpy().tolist() for t in strategy.experimental_local_results(per_replica.lam)]
    perms = [t.numpy().tolist() for t in strategy.experimental_local_results(per_replica.perm)]
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "loss": history.history["loss"],
        "lams": lams, "perms": perms,
        "mixup_evaluate": model.evaluate(x, y, verbose=0),
        "inner_evaluate": inner.evaluate(x, y, verbose=0),
    }))
    """
)


def test_mirrored_strategy_replicas_mix_independently_and_evaluate_clean():
    report = run_python(MIRRORED)
    assert report["replicas"] == 2
    assert all(np.isfinite(report["loss"]))
    lam_a, lam_b = report["lams"]
    assert not np.allclose(lam_a, lam_b)  # keras.layers.MixUp would repeat them
    assert sorted(report["perms"][0]) == list(range(8))
    np.testing.assert_allclose(report["mixup_evaluate"], report["inner_evaluate"], rtol=1e-6)


# Keras 3's `fit` fails under MultiWorkerMirroredStrategy for any model
# (keras-team/keras#20585, tensorflow/tensorflow#72388), so each worker runs
# the model's own train step in TensorFlow's distributed custom loop.
WORKER = MODEL.format(devices="") + textwrap.dedent(
    """
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    x, y = data()
    with strategy.scope():
        model = MixupModel(classifier(), alpha=0.5, seed=0)
        model.compile("adam", "sparse_categorical_crossentropy")
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16).with_options(options)

    @tf.function
    def train(batch):
        return strategy.run(model.train_step, args=(batch,))

    losses = []
    for epoch in range(2):
        for batch in strategy.experimental_distribute_dataset(dataset):
            logs = train(batch)
        losses.append(float(strategy.experimental_local_results(logs["loss"])[0]))
    lam = tf.function(lambda: strategy.run(lambda: model.sample_mix_params(4).lam))()
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "loss": losses,
        "lam": strategy.experimental_local_results(lam)[0].numpy().tolist(),
        "weights": [w.tolist() for w in model.get_weights()],
    }))
    """
)


def test_multi_worker_training_ends_with_identical_weights():
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    envs = [
        child_env(
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        )
        for i in range(2)
    ]
    reports = run_together(WORKER, envs, timeout=240)
    assert [r["replicas"] for r in reports] == [2, 2]
    for a, b in zip(reports[0]["weights"], reports[1]["weights"]):
        np.testing.assert_array_equal(a, b)
    assert all(np.isfinite(reports[0]["loss"]))
    # One replica per worker, each with its own lambdas.
    assert not np.allclose(reports[0]["lam"], reports[1]["lam"])
