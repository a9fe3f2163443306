"""What mixup did, measured inside the compiled train step.

`tf.summary` ops cannot run inside an XLA cluster, so the step only updates
Keras metrics and variables (XLA-friendly), and a callback
(`mixup_model.MixupTensorBoard`) writes them to TensorBoard outside it.

Tracked per epoch: the mean lambda and the mean mixing strength
`min(lambda, 1 - lambda)` (Keras metrics, so they appear in `fit`'s logs
and Keras's own TensorBoard scalars, per epoch and per `update_freq`
batches); a histogram of the lambdas drawn; a few mixed inputs of the latest
batch with their two source classes and weights; optionally the accuracy of
the model on the clean batch.

None of this state belongs to the model's weights: it is created by the
callback and leaves saved models unchanged.
"""

import keras
import numpy as np
import tensorflow as tf

from mixup_model.mixing import CLASS_IDS
from mixup_model.mixing import target_kind

LAMBDA_METRIC = "mixup_lambda"
STRENGTH_METRIC = "mixup_strength"
CLEAN_ACCURACY_METRIC = "clean_accuracy"


def _class_ids(y, y_pred):
    """Class ids of a target tensor: as given, or the argmax of one-hot."""
    y = tf.convert_to_tensor(y)
    if target_kind(y, y_pred) == CLASS_IDS:
        return tf.cast(tf.reshape(y, [tf.shape(y)[0], -1])[:, 0], tf.int32)
    if y.shape[-1] == 1:  # binary
        return tf.cast(tf.reshape(y, [-1]) > 0.5, tf.int32)
    return tf.argmax(tf.reshape(y, [tf.shape(y)[0], -1]), axis=-1, output_type=tf.int32)


def _predicted_ids(y_pred):
    if y_pred.shape[-1] == 1:
        return tf.cast(tf.reshape(y_pred, [-1]) > 0.5, tf.int32)
    return tf.argmax(y_pred, axis=-1, output_type=tf.int32)


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
    """Metrics and buffers updated by `MixupModel.train_step`.

    Args:
        num_images: How many mixed inputs of each batch to keep (0: none).
        image_shape: `(H, W, C)` of the model's image input; `None` skips
            image capture (non-image inputs).
        histogram_bins: Equal-width bins over [0, 1] for lambda.
        clean_accuracy: Also measure accuracy on the clean batch (an extra
            forward pass per step).
    """

    def __init__(
        self,
        num_images=8,
        image_shape=None,
        histogram_bins=30,
        clean_accuracy=False,
    ):
        self.histogram_bins = histogram_bins
        self.clean_accuracy = clean_accuracy
        self.lambda_mean = keras.metrics.Mean(name=LAMBDA_METRIC)
        self.strength_mean = keras.metrics.Mean(name=STRENGTH_METRIC)
        self.metrics = [self.lambda_mean, self.strength_mean]
        if clean_accuracy:
            self.clean_accuracy_mean = keras.metrics.Mean(name=CLEAN_ACCURACY_METRIC)
            self.metrics.append(self.clean_accuracy_mean)
        # One replica's view is enough for the sample images; the histogram
        # adds up the counts of all replicas.
        self.lambda_histogram = keras.Variable(
            tf.zeros([histogram_bins]),
            trainable=False,
            aggregation="sum",
            name="mixup_lambda_histogram",
        )
        self.num_images = num_images if image_shape else 0
        if self.num_images:
            k = self.num_images

            def buffer(shape, dtype, name):
                return keras.Variable(
                    tf.zeros(shape, dtype),
                    trainable=False,
                    aggregation="only_first_replica",
                    name=name,
                )

            self.images = buffer((k,) + tuple(image_shape), "float32", "mixup_images")
            self.primary_class = buffer((k,), "int32", "mixup_primary_class")
            self.partner_class = buffer((k,), "int32", "mixup_partner_class")
            self.primary_weight = buffer((k,), "float32", "mixup_primary_weight")
            self.image_count = buffer((), "int32", "mixup_image_count")

    def reset(self):
        """Starts a new epoch: clears the metrics and the histogram, and lets
        the next batch's inputs be captured."""
        for metric in self.metrics:
            metric.reset_state()
        self.lambda_histogram.assign(tf.zeros([self.histogram_bins]))
        if self.num_images:
            self.image_count.assign(0)

    def results(self):
        return {m.name: m.result() for m in self.metrics}

    def update(self, params, mixed_x, y, y_pred):
        """Records one batch's mixing; runs inside the (XLA) train step.

        Args:
            params: The batch's `MixParams`.
            mixed_x: The mixed inputs, as the model saw them.
            y: The batch's (unmixed) targets, or None.
            y_pred: The model's outputs for `mixed_x`.
        """
        lam = params.lam
        self.lambda_mean.update_state(lam)
        self.strength_mean.update_state(tf.minimum(lam, 1.0 - lam))
        bins = tf.clip_by_value(
            tf.cast(tf.floor(lam * self.histogram_bins), tf.int32),
            0,
            self.histogram_bins - 1,
        )
        self.lambda_histogram.assign_add(
            tf.reduce_sum(tf.one_hot(bins, self.histogram_bins), axis=0)
        )
        if not self.num_images or tf.nest.is_nested(mixed_x):
            return
        # Keep the first batch after each `reset()` (a select, not a branch:
        # cheap, and XLA-friendly).
        k = self.num_images
        count = tf.minimum(tf.shape(mixed_x)[0], k)
        capture = tf.equal(self.image_count, 0)

        def keep(variable, t):
            t = tf.cast(t[:count], variable.dtype)
            padding = [[0, k - count]] + [[0, 0]] * (len(t.shape) - 1)
            t = tf.ensure_shape(tf.pad(t, padding), variable.shape)
            variable.assign(tf.where(capture, t, variable))

        if y is not None and not tf.nest.is_nested(y):
            ids = _class_ids(y, y_pred)
            partner_ids = tf.gather(ids, params.perm)
        else:
            ids = partner_ids = -tf.ones(tf.shape(lam), tf.int32)
        keep(self.images, mixed_x)
        keep(self.primary_weight, lam)
        keep(self.primary_class, ids)
        keep(self.partner_class, partner_ids)
        self.image_count.assign(tf.where(capture, count, self.image_count))

    def update_clean_accuracy(self, y, y_pred):
        """Accuracy of the clean batch's predictions against its targets."""
        correct = tf.equal(_class_ids(y, y_pred), _predicted_ids(y_pred))
        self.clean_accuracy_mean.update_state(tf.cast(correct, tf.float32))

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
