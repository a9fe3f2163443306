"""`MixupTensorBoard`: Keras's TensorBoard callback, plus what mixup did.

It writes with the `tensorboard` package alone (`EventSummaries`), Keras's
own curves included, so it needs no TensorFlow on JAX or PyTorch.
"""

import contextlib

import keras
import numpy as np
from keras.src.utils import file_utils

from mixup_model.arguments import check_int
from mixup_model.model import MixupModel
from mixup_model.png import encode_png
from mixup_model.png import to_uint8
from mixup_model.statistics import MixupStatistics
from mixup_model.statistics import image_input_shape
from mixup_model.summaries import EventSummaries

LAMBDA_HISTOGRAM_TAG = "mixup/lambda"
IMAGES_TAG = "mixup/mixed_inputs"
PNG_NAME = "mixed_batch.png"


def caption(primary, partner, weight, class_names=None):
    """'0.71 Coat + 0.29 Shirt' for one mixed input (class ids if unnamed)."""

    def name(class_id):
        if class_id < 0:
            return "?"
        if class_names is not None and class_id < len(class_names):
            return class_names[class_id]
        return str(class_id)

    if round(weight, 2) >= 1.0:  # unmixed (alpha=0, or lambda ~ 1)
        return name(primary)
    if round(weight, 2) <= 0.0:  # all partner
        return name(partner)
    return f"{weight:.2f} {name(primary)} + {1.0 - weight:.2f} {name(partner)}"


def image_grid(images, columns=4, padding=2, scale=1):
    """Tiles `(N, H, W, C)` images into one `(H', W', C)` float image in [0, 1].

    Values already in [0, 1] are shown as they are, [0, 255] divided by 255,
    anything else (standardized inputs) min-max scaled over the grid.
    """
    images = np.asarray(images, dtype=np.float32)
    low, high = float(images.min()), float(images.max())
    if low < 0.0 or high > 255.0:
        images = (images - low) / max(high - low, 1e-12)
    elif high > 1.0:
        images = images / 255.0
    if images.shape[-1] == 4:  # drop alpha for display
        images = images[..., :3]
    if scale > 1:
        images = images.repeat(scale, axis=1).repeat(scale, axis=2)
    n, h, w, c = images.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    grid = np.ones(
        (rows * (h + padding) + padding, columns * (w + padding) + padding, c),
        np.float32,
    )
    for i, image in enumerate(images):
        top = padding + (i // columns) * (h + padding)
        left = padding + (i % columns) * (w + padding)
        grid[top : top + h, left : left + w] = image
    return grid


def write_png(path, grid):
    """Writes a float `(H, W, C)` image in [0, 1] as a PNG file (through
    Keras's file utilities: remote paths such as `gs://` need TensorFlow)."""
    with file_utils.File(path, "wb") as f:
        f.write(encode_png(to_uint8(grid)))


class MixupTensorBoard(keras.callbacks.TensorBoard):
    """Keras's `TensorBoard` callback that also shows what mixup does.

    Use it instead of `keras.callbacks.TensorBoard`; it writes what that
    callback writes (`epoch_*` and `batch_*` curves, evaluation, learning
    rate, weight histograms and images) into the same run folders
    (`<log_dir>/train`, `<log_dir>/validation`), and:

    - scalars `epoch_mixup_lambda` (mean lambda) and `epoch_mixup_strength`
      (mean `min(lambda, 1 - lambda)`), and `batch_*` ones with
      `update_freq`, beside Keras's loss and metrics;
    - a histogram `mixup/lambda` of the lambdas drawn in each epoch;
    - images `mixup/mixed_inputs`: the first mixed inputs of an epoch exactly
      as the model saw them, every `image_freq` epochs, captioned in the
      summary's description ("0.71 Coat + 0.29 Shirt"); image inputs only,
      other inputs skip this quietly. It shows inputs, not targets: with
      per-pixel or per-step targets (segmentation masks) the captions give
      the weights only ("0.71 ? + 0.29 ?"), and the mixed masks are not
      drawn;
    - with `clean_accuracy=True`, `epoch_clean_accuracy`: the accuracy on the
      clean training batches (costs one extra forward pass per step; class
      labels per example only).

    The statistics are computed inside the compiled step (XLA included) and
    written here, outside it. Everything is written with the `tensorboard`
    package's event-file writer (`mixup_model.summaries`), the same way on
    every backend and without TensorFlow; summaries that a model writes
    itself with `tf.summary` are not captured, and `profile_batch` records
    the profiler's trace but no op graph. Without this callback the step records nothing.
    It needs a `MixupModel`: on any other model it raises a `ValueError` at
    the start of `fit` (use `keras.callbacks.TensorBoard` there), rather than
    train without the mixup tags it was asked for.

    Args:
        log_dir: The run's folder, as for `keras.callbacks.TensorBoard`.
        num_images: Mixed inputs to show (0 for none).
        image_freq: Write the images every this many epochs.
        class_names: Optional class names for the captions.
        histogram_bins: Bins of the lambda histogram over [0, 1].
        clean_accuracy: Also log accuracy on the clean training batches.
        write_png: Also save the first batch's grid as
            `<log_dir>/mixed_batch.png` with captions in `mixed_batch.txt`.
        **kwargs: Passed to `keras.callbacks.TensorBoard` (`update_freq`,
            `histogram_freq`, ...).

    Raises:
        ValueError: `image_freq`, `num_images` or `histogram_bins` is out of
            range, or `fit` is called on a model that is not a
            `MixupModel` (use `keras.callbacks.TensorBoard` there).

    Example:

    ```python
    model.fit(x, y, callbacks=[MixupTensorBoard("logs/run1")])
    ```
    """

    def __init__(
        self,
        log_dir="logs",
        *,
        num_images=8,
        image_freq=1,
        class_names=None,
        histogram_bins=30,
        clean_accuracy=False,
        write_png=True,
        **kwargs,
    ):
        super().__init__(log_dir=log_dir, **kwargs)
        self.num_images = check_int("num_images", num_images, 0)
        self.image_freq = check_int("image_freq", image_freq, 1)
        self.class_names = list(class_names) if class_names is not None else None
        self.histogram_bins = check_int("histogram_bins", histogram_bins, 1)
        self.clean_accuracy = clean_accuracy
        self.write_png = write_png
        self._statistics = None
        self._statistics_model = None
        self._png_written = False

    # Keras's callback writes everything through `self.summary`, which is
    # `tf.summary` there; ours writes the same summaries without TensorFlow.
    summary = EventSummaries()

    def _write_keras_model_summary(self):
        # Keras writes a model's JSON for its graph tab only where the class
        # is named `Functional` or `Sequential`, never for a MixupModel; its
        # writer for it is TensorFlow's.
        pass

    def set_model(self, model):
        if not isinstance(model, MixupModel):
            raise ValueError(
                "MixupTensorBoard needs a MixupModel, whose train step "
                "records the mixup statistics; for another model use "
                "keras.callbacks.TensorBoard. Received: model of type "
                f"{type(model).__name__}."
            )
        super().set_model(model)
        if self._statistics is None or self._statistics_model is not model:
            # Created under the model's strategy (TensorFlow), like its own
            # variables; kept for later fits of the same model (no new trace).
            strategy = getattr(model, "distribute_strategy", None)
            scope = (
                strategy.scope() if strategy is not None else contextlib.nullcontext()
            )
            with scope:
                self._statistics = MixupStatistics(
                    num_images=self.num_images,
                    image_shape=image_input_shape(model),
                    histogram_bins=self.histogram_bins,
                    clean_accuracy=self.clean_accuracy,
                )
            self._statistics_model = model
        model.set_mixup_statistics(self._statistics)

    def _recording(self):
        # `self._model`: on JAX, `self.model` syncs the step's state back
        # into the variables, which only the reads below need.
        return (
            self._statistics is not None
            and getattr(self._model, "mixup_statistics", None) is self._statistics
        )

    def _results(self):
        self.model  # noqa: B018 (on JAX, syncs the statistics' variables)
        return self._statistics.results()

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._batches_seen = 0

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        if self._recording():
            self._statistics.reset()

    def on_train_batch_begin(self, batch, logs=None):
        super().on_train_batch_begin(batch, logs)
        self._batches_seen += 1  # counted as Keras's callback counts

    def on_train_batch_end(self, batch, logs=None):
        # Running means since the epoch began, like Keras's batch metrics;
        # read from the device only when Keras will write batch scalars.
        if (
            self._recording()
            and isinstance(logs, dict)
            and self.update_freq != "epoch"
            and self._batches_seen % self.update_freq == 0
        ):
            logs.update(self._results())
        super().on_train_batch_end(batch, logs)
        if self._recording() and self.write_png and not self._png_written:
            self._png_written = True
            self._save_png()

    def _every_epoch(self):
        # With `update_freq=N`, Keras leaves the last batch's "record if
        # the batch is a multiple of N" in force at the epoch's end, which
        # drops the epoch summaries of epochs whose batch count N does not
        # divide; epoch summaries are written at every epoch here.
        return self.summary.record_if(True)

    def on_epoch_end(self, epoch, logs=None):
        if not self._recording():
            with self._every_epoch():
                return super().on_epoch_end(epoch, logs)
        # Into the epoch's logs: Keras writes them as `epoch_*` scalars next
        # to its own, and `History` keeps them.
        if logs is not None:
            logs.update(self._results())
        with self._every_epoch():
            super().on_epoch_end(epoch, logs)
        with self._train_writer.as_default(), self._every_epoch():
            self._write_histogram(epoch)
            if epoch % self.image_freq == 0:
                self._write_images(epoch)
        self._train_writer.flush()

    def on_train_end(self, logs=None):
        if self._recording():
            # Stop recording: a later fit without this callback costs nothing.
            self.model.set_mixup_statistics(None)
        super().on_train_end(logs)

    def _write_histogram(self, epoch):
        counts = self._statistics.lambda_histogram()
        edges = np.linspace(0.0, 1.0, self.histogram_bins + 1)
        self.summary.histogram_buckets(
            LAMBDA_HISTOGRAM_TAG,
            np.stack([edges[:-1], edges[1:], counts], axis=1),
            step=epoch,
            description="mixup weights lambda drawn in the epoch",
        )

    def _captions(self):
        _, primary, partner, weight = self._statistics.captured_images()
        return [
            caption(int(p), int(q), float(w), self.class_names)
            for p, q, w in zip(primary, partner, weight)
        ]

    def _write_images(self, epoch):
        images = self._statistics.captured_images()[0]
        if not len(images):
            return
        captions = self._captions()
        description = (
            f"The first {len(images)} training inputs of epoch {epoch}, as the "
            "model saw them (left to right, top to bottom): "
            + "; ".join(f"{i + 1}. {c}" for i, c in enumerate(captions))
        )
        self.summary.image(
            IMAGES_TAG,
            image_grid(images)[None],
            step=epoch,
            description=description,
        )

    def _save_png(self):
        self.model  # noqa: B018 (on JAX, syncs the statistics' variables)
        images = self._statistics.captured_images()[0]
        if not len(images):
            return
        if not file_utils.exists(self.log_dir):
            file_utils.makedirs(self.log_dir)
        scale = max(1, 112 // images.shape[1])
        write_png(
            file_utils.join(self.log_dir, PNG_NAME), image_grid(images, scale=scale)
        )
        with file_utils.File(file_utils.join(self.log_dir, "mixed_batch.txt"), "w") as f:
            f.write("\n".join(self._captions()) + "\n")
