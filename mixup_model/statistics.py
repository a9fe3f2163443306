"""What mixup did, measured inside the compiled train step.

Summaries cannot be written from inside a compiled step (an XLA cluster, a
`jax.jit` function), so the step only updates variables, and a callback
(`mixup_model.MixupTensorBoard`) writes them to TensorBoard outside it.

Tracked per epoch: the mean lambda and the mean mixing strength
`min(lambda, 1 - lambda)` (the callback adds them to Keras's logs, so they
appear in `fit`'s history and Keras's own TensorBoard scalars, per epoch and
per `update_freq` batches); a histogram of the lambdas drawn; the first mixed
inputs of the epoch with their two source classes and weights; optionally the
accuracy of the model on the clean batch.

None of this state belongs to the model's weights: it is created by the
callback and leaves saved models unchanged. While it records, its variables
are part of the model's `variables` (on JAX they travel through the step's
state like the random state).
"""

import keras
import numpy as np
from keras import ops
from keras import tree

from mixup_model.shards import take_partners

LAMBDA_METRIC = "mixup_lambda"
STRENGTH_METRIC = "mixup_strength"
CLEAN_ACCURACY_METRIC = "clean_accuracy"


def _class_ids(y):
    """Class ids of a target tensor, from the target alone.

    Integer targets are class ids (the first id per example for rank > 1);
    float targets with several classes on the last axis are one-hot or soft
    (their argmax); single float values are rounded, which reads binary
    labels and float-valued class ids alike.
    """
    y = ops.convert_to_tensor(y)
    flat = ops.reshape(y, (ops.shape(y)[0], -1))
    dtype = keras.backend.standardize_dtype(y.dtype)
    if "float" not in dtype:
        return ops.cast(flat[:, 0], "int32")
    if len(y.shape) >= 2 and y.shape[-1] not in (None, 1):
        return ops.cast(ops.argmax(flat, axis=-1), "int32")
    return ops.cast(ops.round(flat[:, 0]), "int32")


def _holds_one_label_per_example(y):
    """Whether `y` is a class label per example (ids `(batch,)` or
    `(batch, 1)`, one-hot or soft `(batch, K)`), not per pixel or step."""
    rank = len(y.shape)
    if rank <= 1:
        return True
    if rank > 2:
        return False
    is_float = "float" in keras.backend.standardize_dtype(y.dtype)
    return is_float or y.shape[-1] == 1


def _predicted_ids(y_pred):
    if y_pred.shape[-1] == 1:
        return ops.cast(ops.reshape(y_pred, (-1,)) > 0.5, "int32")
    return ops.cast(ops.argmax(y_pred, axis=-1), "int32")


def image_input_shape(model):
    """`(H, W, C)` of a model's single image input, or None."""
    inner = getattr(model, "model", None) or model
    try:
        shapes = [tuple(t.shape) for t in inner.inputs]
    except (AttributeError, ValueError):
        return None
    if len(shapes) != 1 or len(shapes[0]) != 4:
        return None
    height, width, channels = shapes[0][1:]
    if None in (height, width) or channels not in (1, 3, 4):
        return None
    return height, width, channels


class MixupStatistics:
    """Running sums and captured inputs updated by `MixupModel.train_step`.

    Everything the step records goes into one accumulator variable with a
    single `assign_add` (sum of lambda, sum of mixing strength, count, sum
    of clean hits, histogram counts), and the input capture keeps the first
    batch after a `reset()` (a select, so that it compiles on every
    backend): the per-step cost is a handful of ops. Means are read out by
    `results()`, outside the step.

    Args:
        num_images: How many mixed inputs of a batch to keep (0: none).
        image_shape: `(H, W, C)` of the model's image input; `None` skips
            image capture (non-image inputs).
        histogram_bins: Equal-width bins over [0, 1] for lambda.
        clean_accuracy: Also measure accuracy on the clean batch (an extra
            forward pass per step).

    Example (what `MixupTensorBoard` does for you):

    ```python
    statistics = MixupStatistics(num_images=0)
    model.set_mixup_statistics(statistics)  # the train step now records
    model.fit(x, y, epochs=1)
    statistics.results()  # {"mixup_lambda": ..., "mixup_strength": ...}
    ```
    """

    # Slots of the accumulator before the histogram bins.
    _LAMBDA, _STRENGTH, _COUNT, _CLEAN_HITS = range(4)
    _BINS_START = 4

    def __init__(
        self,
        num_images=8,
        image_shape=None,
        histogram_bins=30,
        clean_accuracy=False,
    ):
        self.histogram_bins = histogram_bins
        self.clean_accuracy = clean_accuracy
        # Summed over replicas; the captured inputs are one replica's.
        self.accumulator = keras.Variable(
            np.zeros([self._BINS_START + histogram_bins], "float32"),
            trainable=False,
            aggregation="sum",
            name="mixup_statistics",
        )
        self.num_images = num_images if image_shape else 0
        if self.num_images:
            k = self.num_images

            def buffer(shape, dtype, name):
                return keras.Variable(
                    np.zeros(shape, dtype),
                    trainable=False,
                    aggregation="only_first_replica",
                    name=name,
                )

            self.images = buffer((k,) + tuple(image_shape), "float32", "mixup_images")
            self.primary_class = buffer((k,), "int32", "mixup_primary_class")
            self.partner_class = buffer((k,), "int32", "mixup_partner_class")
            self.primary_weight = buffer((k,), "float32", "mixup_primary_weight")
            self.image_count = buffer((), "int32", "mixup_image_count")

    @property
    def variables(self):
        """The variables the step updates."""
        if not self.num_images:
            return [self.accumulator]
        return [
            self.accumulator, self.images, self.primary_class,
            self.partner_class, self.primary_weight, self.image_count,
        ]

    def reset(self):
        """Starts a new epoch: zeroes the sums, and lets the next batch's
        inputs be captured."""
        self.accumulator.assign(np.zeros(self.accumulator.shape, "float32"))
        if self.num_images:
            self.image_count.assign(0)

    def results(self):
        """Means since the last `reset()`, as Python floats."""
        sums = self.accumulator.numpy()
        count = max(float(sums[self._COUNT]), 1.0)
        results = {
            LAMBDA_METRIC: float(sums[self._LAMBDA]) / count,
            STRENGTH_METRIC: float(sums[self._STRENGTH]) / count,
        }
        if self.clean_accuracy:
            results[CLEAN_ACCURACY_METRIC] = float(sums[self._CLEAN_HITS]) / count
        return results

    def lambda_histogram(self):
        """Counts of the lambdas drawn since the last `reset()`, per bin."""
        return self.accumulator.numpy()[self._BINS_START :]

    def update(self, params, mixed_x, y, clean_pred=None):
        """Records one batch; runs inside the compiled train step.

        Args:
            params: The batch's `MixParams`.
            mixed_x: The mixed inputs, as the model saw them, or None (no
                image to capture, e.g. with manifold mixup).
            y: The batch's (unmixed) targets, or None.
            clean_pred: With `clean_accuracy`, the outputs for the clean batch.
        """
        lam = params.lam
        bins = ops.clip(
            ops.cast(lam * self.histogram_bins, "int32"), 0, self.histogram_bins - 1
        )
        clean_hits = ops.convert_to_tensor(0.0)
        if clean_pred is not None and y is not None and not tree.is_nested(y):
            if not _holds_one_label_per_example(ops.convert_to_tensor(y)):
                raise ValueError(
                    "`clean_accuracy` counts one class per example, but the "
                    f"targets have shape {tuple(y.shape)} (per pixel or "
                    "step). Received: clean_accuracy=True"
                )
            hits = ops.equal(_class_ids(y), _predicted_ids(clean_pred))
            clean_hits = ops.sum(ops.cast(hits, "float32"))
        self.accumulator.assign_add(
            ops.concatenate(
                [
                    ops.stack(
                        [
                            ops.sum(lam),
                            ops.sum(ops.minimum(lam, 1.0 - lam)),
                            ops.cast(ops.shape(lam)[0], "float32"),
                            clean_hits,
                        ]
                    ),
                    ops.sum(ops.one_hot(bins, self.histogram_bins), axis=0),
                ],
                axis=0,
            )
        )
        if self.num_images and mixed_x is not None and not tree.is_nested(mixed_x):
            self._capture(params, mixed_x, y)

    def _capture(self, params, mixed_x, y):
        """Keeps the first inputs of the batch and their two sources, for the
        first batch after a `reset()`."""
        k = self.num_images
        batch = mixed_x.shape[0]
        count = ops.minimum(ops.shape(mixed_x)[0], k)

        def first_k(t, variable):
            t = ops.cast(t, variable.dtype)
            if batch is not None and batch >= k:  # static: a plain slice
                return t[:k]
            # A short (or unknown) batch: pad to k rows, keep the first k.
            padding = [[0, k]] + [[0, 0]] * (len(t.shape) - 1)
            return ops.pad(t, padding)[:k]

        if (
            y is not None
            and not tree.is_nested(y)
            and _holds_one_label_per_example(ops.convert_to_tensor(y))
        ):
            ids = _class_ids(y)
            partner_ids = take_partners(ids, params.perm)
        else:
            ids = partner_ids = -ops.ones_like(params.perm)
        # A select rather than a conditional: it compiles on every backend,
        # and a mirrored TF variable cannot be assigned inside `tf.cond`.
        capture = ops.equal(self.image_count.value, 0)
        for variable, value in (
            (self.images, first_k(mixed_x, self.images)),
            (self.primary_weight, first_k(params.lam, self.primary_weight)),
            (self.primary_class, first_k(ids, self.primary_class)),
            (self.partner_class, first_k(partner_ids, self.partner_class)),
            (self.image_count, ops.cast(count, "int32")),
        ):
            variable.assign(ops.where(capture, value, variable.value))

    def captured_images(self):
        """The kept mixed inputs and their sources, as numpy arrays."""
        if not self.num_images:
            return np.zeros((0,)), np.zeros((0,)), np.zeros((0,)), np.zeros((0,))
        n = int(self.image_count.numpy())
        return (
            self.images.numpy()[:n],
            self.primary_class.numpy()[:n],
            self.partner_class.numpy()[:n],
            self.primary_weight.numpy()[:n],
        )
