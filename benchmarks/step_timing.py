"""Interleaved timing of compiled Keras train steps, on any backend.

Each variant's compiled train function (what `fit` calls once per step) is
called directly, so no callback or progress bar is timed, and its results are
waited for before the clock is read (accelerators run asynchronously). After
warm-up the variants take turns step by step, A B C A B C ..., the order
rotating from round to round; each block of rounds gives each variant's
median step time, and ratios to a floor variant are taken block by block,
then summarised by their median and interquartile range over the blocks,
which cancels the machine's drift. With several copies of each variant
(identical models) the blocks take the copies in turn: one copy of a model
can run a few percent faster or slower than another for its whole life.

Used by `step_cost.py` (the step-cost benchmark on this machine) and by
`gpu.py` (the same on a GPU).
"""

import itertools
import statistics
import time

import keras
import numpy as np
from keras import tree


def forget_compiled_steps():
    """Starts the next models' compilation afresh (PyTorch).

    Keras's compiled step on PyTorch is one function for every model of the
    process: after a model of other shapes, `torch.compile` recompiles it
    with dynamic shapes, which Inductor can fail on ("cannot determine truth
    value of Relational", PyTorch 2.14). Call this before building models
    whose shapes differ from the last ones compiled.
    """
    if keras.backend.backend() == "torch":
        import torch

        torch._dynamo.reset()


def wait_for(values):
    """Blocks until `values` (a structure of tensors) are computed, and on
    PyTorch until the GPU's queue is empty, without copying them to the host
    (a step's state can be hundreds of megabytes)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        jax.block_until_ready(values)
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
    else:
        # Fetching a result waits for the step that computes it.
        tree.map_structure(np.asarray, values)


def _converted(iterator):
    for batch in iterator:
        yield tree.map_structure(
            lambda t: keras.ops.convert_to_tensor(np.asarray(t)), batch
        )


class Stepper:
    """One model's compiled train function, called one step at a time.

    Args:
        model: a compiled Keras model, already trained for a step (so that
            its optimizer and metrics are built), with
            `steps_per_execution=1` outside TensorFlow.
        batches: where the steps' batches come from. On TensorFlow, a
            `tf.data.Dataset` that repeats (its iterator is what the compiled
            function consumes); on JAX and PyTorch, a list of `(x, y)`
            batches, taken in turn and moved to the device once, or a
            repeating `tf.data.Dataset` whose batches are converted step by
            step.
    """

    def __init__(self, model, batches):
        self.model = model
        self.backend = keras.backend.backend()
        model.make_train_function()
        self.steps_per_execution = model.steps_per_execution
        if self.backend == "tensorflow":
            strategy = model.distribute_strategy
            self._iterator = iter(strategy.experimental_distribute_dataset(batches))
            return
        if isinstance(batches, (list, tuple)):
            on_device = [
                tree.map_structure(keras.ops.convert_to_tensor, batch)
                for batch in batches
            ]
            self._batches = itertools.cycle(on_device)
        else:
            # A tf.data pipeline: each step's batch is made and moved to the
            # device inside the timed call, as `fit` would.
            self._batches = _converted(iter(batches))
        if self.backend == "jax":
            self._state = model._get_jax_state(
                trainable_variables=True, non_trainable_variables=True,
                optimizer_variables=True, metrics_variables=True,
            )
        elif self.backend == "torch":
            model.train()  # as `fit` does: training mode for torch layers

    def step(self):
        """Seconds per train step of one compiled call, results waited for."""
        start = time.perf_counter()
        if self.backend == "tensorflow":
            logs = self.model.train_function(self._iterator)
        elif self.backend == "jax":
            # The step donates its state: keep only what it returns.
            logs, self._state = self.model.train_function(
                self._state, iter([next(self._batches)])
            )
            logs = (logs, self._state)
        else:
            logs = self.model.train_function([next(self._batches)])
        wait_for(logs)
        return (time.perf_counter() - start) / self.steps_per_execution

    def close(self):
        """Puts the trained state back into the model's variables (JAX's
        step works on a copy of them, as in `fit`)."""
        if self.backend != "jax":
            return
        model = self.model
        groups = (model.trainable_variables, model.non_trainable_variables,
                  model.optimizer.variables, model.metrics_variables)
        for variables, values in zip(groups, self._state):
            for variable, value in zip(variables, values):
                variable.assign(value)


def interleave(steppers, *, blocks, seconds, config_seconds=None, warmup=0,
               min_rounds=5):
    """Times the steppers' steps taking turns.

    Args:
        steppers: a dict from variant name to a list of steppers (its
            copies, all of the same length).
        blocks: how many blocks at most; rounded up to a whole number per
            copy.
        seconds: about how long one block should take.
        config_seconds: about how long all the blocks should take; fewer
            blocks (but at least 5, or `blocks` if fewer) where blocks are
            long. None: no limit.
        warmup: steps per stepper before timing (tracing, compilation).
        min_rounds: rounds per block at least, however long a round is.

    Returns:
        `(times, rounds)`: a dict from name to each block's median seconds
        per step, and the number of rounds per block.
    """
    names = list(steppers)
    copies = len(next(iter(steppers.values())))
    for copy_list in steppers.values():
        for stepper in copy_list:
            for _ in range(warmup):
                stepper.step()
    round_seconds = sum(min(st[0].step() for _ in range(3)) for st in steppers.values())
    rounds = int(np.clip(seconds / round_seconds, min_rounds, 2000))
    if config_seconds is not None:
        affordable = int(config_seconds / (rounds * round_seconds))
        blocks = min(blocks, max(5, affordable))
    blocks = -(-blocks // copies) * copies
    times = {name: [] for name in names}
    for b in range(blocks):
        copy = b % copies
        block_times = {name: [] for name in names}
        for r in range(rounds):
            turn = names[r % len(names):] + names[: r % len(names)]
            for name in turn:
                block_times[name].append(steppers[name][copy].step())
        for name in names:
            times[name].append(float(np.median(block_times[name])))
    return times, rounds


def ratio_summary(numerator, denominator):
    """Median and interquartile range of the blockwise ratios."""
    ratios = [n / d for n, d in zip(numerator, denominator)]
    q1, q2, q3 = np.percentile(ratios, [25, 50, 75]).tolist()
    return q2, [q1, q3], ratios


def summarize(times, batch_size, floors=("plain",), copies=1, steps_per_block=None):
    """Per variant: ms per step, images per second and ratios to each floor
    (a dict, JSON-ready)."""
    result = {}
    for name, blocks in times.items():
        step = statistics.median(blocks)
        entry = {
            "ms_per_step": 1000 * step,
            "images_per_s": batch_size / step,
            "copies": copies,
            "ms_per_step_blocks": [round(1000 * t, 3) for t in blocks],
        }
        if steps_per_block is not None:
            entry["steps_per_block"] = steps_per_block
        for floor in floors:
            if floor not in times:
                continue
            ratio, iqr, ratios = ratio_summary(blocks, times[floor])
            entry[f"ratio_vs_{floor}"] = ratio
            entry[f"ratio_vs_{floor}_iqr"] = iqr
            if floor == floors[0]:
                entry[f"ratio_vs_{floor}_by_copy"] = [
                    float(np.median(ratios[c::copies])) for c in range(copies)
                ]
        result[name] = entry
    return result
