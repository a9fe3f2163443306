"""Expected calibration error as a stateful Keras metric.

Keras has no calibration metric. mixup is known to improve calibration
(Thulasidasan et al., NeurIPS 2019), so measuring it should be one entry in
`compile(metrics=...)` away.
"""

import keras
from keras import ops

from mixup_model.arguments import check_int


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

    Raises:
        ValueError: `num_bins` is not an int >= 1.

    Example:

    ```python
    model.compile("adam", "sparse_categorical_crossentropy",
                  metrics=["accuracy", ExpectedCalibrationError(num_bins=15)])
    ```
    """

    def __init__(self, num_bins=15, from_logits=False, name="ece", dtype=None):
        check_int("num_bins", num_bins, 1)
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
        y_pred = ops.cast(y_pred, "float32")
        if len(y_pred.shape) == 1 or y_pred.shape[-1] == 1:  # binary
            p = ops.reshape(y_pred, (-1,))
            if self.from_logits:
                p = ops.sigmoid(p)
            predicted = ops.cast(p > 0.5, "int32")
            return ops.maximum(p, 1.0 - p), predicted
        if self.from_logits:
            y_pred = ops.softmax(y_pred, axis=-1)
        y_pred = ops.reshape(y_pred, (-1, y_pred.shape[-1]))
        return (
            ops.max(y_pred, axis=-1),
            ops.cast(ops.argmax(y_pred, axis=-1), "int32"),
        )

    @staticmethod
    def _true_classes(y_true, y_pred):
        y_true = ops.convert_to_tensor(y_true)
        rank, pred_rank = len(y_true.shape), len(y_pred.shape)
        binary = pred_rank == 1 or y_pred.shape[-1] == 1
        one_hot = (
            not binary
            and rank == pred_rank
            and y_true.shape[-1] == y_pred.shape[-1]
            and y_true.shape[-1] != 1
        )
        if one_hot:
            y_true = ops.reshape(y_true, (-1, y_true.shape[-1]))
            return ops.cast(ops.argmax(y_true, axis=-1), "int32")
        y_true = ops.reshape(y_true, (-1,))
        if binary:
            return ops.cast(ops.cast(y_true, "float32") > 0.5, "int32")
        return ops.cast(y_true, "int32")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        confidence, predicted = self._confidence_and_prediction(y_pred)
        true_class = self._true_classes(y_true, y_pred)
        hits = ops.cast(ops.equal(predicted, true_class), "float32")
        if sample_weight is None:
            weight = ops.ones_like(confidence)
        else:
            weight = ops.broadcast_to(
                ops.reshape(ops.cast(sample_weight, "float32"), (-1,)),
                ops.shape(confidence),
            )
        # Bin b holds (b/B, (b+1)/B]: ceil(c * B) - 1, with 0 in bin 0.
        bins = ops.clip(
            ops.cast(ops.ceil(confidence * self.num_bins), "int32") - 1,
            0,
            self.num_bins - 1,
        )

        def per_bin(values):
            return ops.segment_sum(values, bins, num_segments=self.num_bins)

        self.bin_counts.assign_add(per_bin(weight))
        self.bin_confidence.assign_add(per_bin(weight * confidence))
        self.bin_hits.assign_add(per_bin(weight * hits))

    def result(self):
        total = ops.sum(self.bin_counts.value)
        gap = ops.sum(ops.abs(self.bin_hits.value - self.bin_confidence.value))
        ece = ops.where(total > 0, gap / ops.maximum(total, 1e-12), 0.0)
        return ops.cast(ece, self.dtype)

    def reset_state(self):
        for variable in (self.bin_counts, self.bin_confidence, self.bin_hits):
            variable.assign(ops.zeros(variable.shape, variable.dtype))

    def get_config(self):
        return {
            **super().get_config(),
            "num_bins": self.num_bins,
            "from_logits": self.from_logits,
        }
