"""Expected calibration error as a stateful Keras metric.

Keras has no calibration metric. mixup is known to improve calibration
(Thulasidasan et al., NeurIPS 2019), so measuring it should be one entry in
`compile(metrics=...)` away.
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="mixup_model")
class ExpectedCalibrationError(keras.metrics.Metric):
    """Expected calibration error (ECE) over equal-width confidence bins.

    Each example's confidence is its top predicted probability. The examples
    are grouped into `num_bins` equal-width bins over [0, 1] by confidence
    (bin `b` holds confidences in `(b / num_bins, (b + 1) / num_bins]`, the
    first bin also holds 0), and

        ECE = sum_b (n_b / n) * |accuracy_b - mean confidence_b|,

    with `n_b` the (weighted) count in bin `b` (Guo et al., ICML 2017).
    0 is perfectly calibrated; the worst is 1.

    Counts are accumulated across batches (and summed across replicas), so
    the result over a whole `evaluate` is the ECE of the whole dataset, not
    a mean of per-batch values.

    Targets may be integer class ids (shape `(batch,)` or `(batch, 1)`) or
    one-hot / soft targets (the class is their argmax). A single-unit output
    (shape `(batch, 1)` or `(batch,)`) is read as the probability of class 1
    of a binary classifier.

    Args:
        num_bins: Number of equal-width confidence bins, an int >= 1.
            Defaults to 15, the usual choice since Guo et al.
        from_logits: Whether `y_pred` holds logits (softmax, or sigmoid for
            a single unit, is applied first) rather than probabilities.
        name: Metric name. Defaults to `"ece"`.
        dtype: Dtype of the result.

    Example:

    ```python
    model.compile("adam", "sparse_categorical_crossentropy",
                  metrics=["accuracy", ExpectedCalibrationError(num_bins=15)])
    ```
    """

    def __init__(self, num_bins=15, from_logits=False, name="ece", dtype=None):
        if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 1:
            raise ValueError(
                f"`num_bins` must be an int >= 1, got {num_bins!r}."
            )
        super().__init__(name=name, dtype=dtype)
        self.num_bins = num_bins
        self.from_logits = bool(from_logits)
        # Per bin: total weight, weighted sum of confidences, weighted hits.
        self.bin_counts = self.add_variable(
            (num_bins,), initializer="zeros", name="bin_counts", aggregation="sum"
        )
        self.bin_confidence = self.add_variable(
            (num_bins,), initializer="zeros", name="bin_confidence", aggregation="sum"
        )
        self.bin_hits = self.add_variable(
            (num_bins,), initializer="zeros", name="bin_hits", aggregation="sum"
        )

    def _confidence_and_prediction(self, y_pred):
        y_pred = tf.cast(y_pred, "float32")
        if y_pred.shape.rank == 1 or y_pred.shape[-1] == 1:  # binary
            p = tf.reshape(y_pred, [-1])
            if self.from_logits:
                p = tf.sigmoid(p)
            predicted = tf.cast(p > 0.5, tf.int32)
            return tf.maximum(p, 1.0 - p), predicted
        if self.from_logits:
            y_pred = tf.nn.softmax(y_pred, axis=-1)
        y_pred = tf.reshape(y_pred, [-1, y_pred.shape[-1]])
        return (
            tf.reduce_max(y_pred, axis=-1),
            tf.argmax(y_pred, axis=-1, output_type=tf.int32),
        )

    @staticmethod
    def _true_classes(y_true, y_pred):
        y_true = tf.convert_to_tensor(y_true)
        binary = y_pred.shape.rank == 1 or y_pred.shape[-1] == 1
        one_hot = (
            not binary
            and y_true.shape.rank == y_pred.shape.rank
            and y_true.shape[-1] == y_pred.shape[-1]
            and y_true.shape[-1] != 1
        )
        if one_hot:
            y_true = tf.reshape(y_true, [-1, y_true.shape[-1]])
            return tf.argmax(y_true, axis=-1, output_type=tf.int32)
        y_true = tf.reshape(y_true, [-1])
        if binary:
            return tf.cast(tf.cast(y_true, "float32") > 0.5, tf.int32)
        return tf.cast(y_true, tf.int32)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = tf.convert_to_tensor(y_pred)
        confidence, predicted = self._confidence_and_prediction(y_pred)
        true_class = self._true_classes(y_true, y_pred)
        hits = tf.cast(tf.equal(predicted, true_class), "float32")
        if sample_weight is None:
            weight = tf.ones_like(confidence)
        else:
            weight = tf.broadcast_to(
                tf.reshape(tf.cast(sample_weight, "float32"), [-1]),
                tf.shape(confidence),
            )
        # Bin b holds (b/B, (b+1)/B]: ceil(c * B) - 1, with 0 in bin 0.
        bins = tf.clip_by_value(
            tf.cast(tf.math.ceil(confidence * self.num_bins), tf.int32) - 1,
            0,
            self.num_bins - 1,
        )

        def per_bin(values):
            return tf.math.unsorted_segment_sum(values, bins, self.num_bins)

        self.bin_counts.assign_add(per_bin(weight))
        self.bin_confidence.assign_add(per_bin(weight * confidence))
        self.bin_hits.assign_add(per_bin(weight * hits))

    def result(self):
        total = tf.reduce_sum(self.bin_counts)
        gap = tf.abs(self.bin_hits - self.bin_confidence)
        ece = tf.math.divide_no_nan(tf.reduce_sum(gap), total)
        return tf.cast(ece, self.dtype)

    def reset_state(self):
        for variable in (self.bin_counts, self.bin_confidence, self.bin_hits):
            variable.assign(tf.zeros_like(variable))

    def get_config(self):
        return {
            **super().get_config(),
            "num_bins": self.num_bins,
            "from_logits": self.from_logits,
        }
