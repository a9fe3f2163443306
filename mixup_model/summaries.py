"""TensorBoard summaries without TensorFlow.

Keras's `TensorBoard` callback writes through `tf.summary`, so on JAX and
PyTorch it needs TensorFlow installed just to log. `EventSummaries` offers
the part of `tf.summary` that the callback calls (`create_file_writer`,
`scalar`, `histogram`, `image`, `record_if`, `graph`, ...) and writes each
summary exactly as its `tf.summary` namesake lays it out (the same plugin
metadata, tensor dtype and shape), with the `tensorboard` package's own
event-file writer and protos, as PyTorch's `SummaryWriter` does.
`MixupTensorBoard` hands it to Keras's callback in place of `tf.summary`, so
Keras's curves and mixup's tags take one code path on every backend.

What it does not do: summaries that a model writes itself with `tf.summary`
inside its `call` go to TensorFlow's own default writer, not here, and
`trace_on`/`trace_export` (Keras's `profile_batch`) record no op graph; the
backend's profiler still writes its trace.
"""

import contextlib
import numbers
import threading
import time

import numpy as np
from keras import ops
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.histogram.summary_v2 import histogram_pb
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar.summary_v2 import scalar_pb
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util

from mixup_model.png import encode_png
from mixup_model.png import to_uint8

def _number(value):
    """A Python number from a number, numpy value, tensor or variable."""
    if not isinstance(value, (numbers.Number, np.generic, np.ndarray)):
        value = ops.convert_to_numpy(value)
    return np.asarray(value).item()


def image_tensor(images, max_outputs=3):
    """What `tf.summary.image` stores: the width and height as strings, then
    one PNG per image (at most `max_outputs`).

    Args:
        images: `(k, height, width, channels)`, `uint8` or floats in [0, 1]
            (saturated outside it).
        max_outputs: How many of the images to keep.
    """
    images = to_uint8(images)
    if images.ndim != 4:
        raise ValueError(
            "Images must have shape (k, height, width, channels). "
            f"Received: images of shape {images.shape}."
        )
    dims = [str(images.shape[2]).encode(), str(images.shape[1]).encode()]
    return np.array(
        dims + [encode_png(image) for image in images[:max_outputs]], dtype=object
    )


class SummaryFileWriter:
    """One run folder's event file, as `tf.summary.create_file_writer` gives.

    Args:
        logdir: The run's folder (created if missing).
    """

    def __init__(self, logdir):
        self.logdir = logdir
        self._events = EventFileWriter(logdir)
        self._closed = False

    def add(self, summary, step):
        """Appends a `Summary` proto at `step`."""
        if self._closed:
            raise ValueError(
                "The summary writer is closed: summaries go to a writer from "
                f"`create_file_writer`. Received: logdir={self.logdir!r}"
            )
        self._events.add_event(
            event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary)
        )

    def add_graph(self, graph_def):
        """Appends a serialized `GraphDef` (TensorBoard's graph tab)."""
        self._events.add_event(
            event_pb2.Event(wall_time=time.time(), graph_def=graph_def)
        )

    def as_default(self, step=None):
        """Makes this the writer that `EventSummaries`' functions write to
        (with `step` as their default step) inside a `with` block."""
        return _SUMMARY_STATE.writing_to(self, step)

    def flush(self):
        if not self._closed:
            self._events.flush()

    def close(self):
        if not self._closed:
            self._events.close()
            self._closed = True


class _SummaryState(threading.local):
    """The default writer, step and recording condition of this thread, as
    `tf.summary` keeps them."""

    def __init__(self):
        self.writer = None
        self.step = None
        self.condition = True

    @contextlib.contextmanager
    def writing_to(self, writer, step):
        saved = self.writer, self.step
        self.writer = writer
        if step is not None:
            self.step = step
        try:
            yield writer
        finally:
            self.writer, self.step = saved

    @contextlib.contextmanager
    def recording_if(self, condition):
        saved = self.condition
        self.condition = condition
        try:
            yield
        finally:
            self.condition = saved

    def should_record(self):
        condition = self.condition
        return bool(condition() if callable(condition) else condition)


_SUMMARY_STATE = _SummaryState()


class EventSummaries:
    """The `tf.summary` functions that Keras's `TensorBoard` callback calls,
    written with the `tensorboard` package alone.

    Each write goes to the writer made default by `as_default()`, at the
    explicit `step` or else the default writer's step; it returns False and
    writes nothing where there is no default writer or `record_if` says no,
    as in `tf.summary`.

    Example:

    >>> import tempfile
    >>> from mixup_model.summaries import EventSummaries
    >>> summaries = EventSummaries()
    >>> writer = summaries.create_file_writer(tempfile.mkdtemp())
    >>> with writer.as_default():
    ...     summaries.scalar("epoch_loss", 0.25, step=0)
    True
    >>> writer.close()
    """

    @staticmethod
    def create_file_writer(logdir):
        return SummaryFileWriter(logdir)

    @staticmethod
    def record_if(condition):
        """Writes only where `condition` (a bool, or a callable returning
        one, asked at each write) holds, inside a `with` block."""
        return _SUMMARY_STATE.recording_if(condition)

    @staticmethod
    def _recording():
        return _SUMMARY_STATE.writer is not None and _SUMMARY_STATE.should_record()

    @staticmethod
    def _add(summary, step):
        """Appends a `Summary` proto to the default writer at `step` (or
        the writer's default step)."""
        step = _SUMMARY_STATE.step if step is None else step
        if step is None:
            tag = summary.value[0].tag
            raise ValueError(
                f"No step for the summary {tag!r}: pass `step=`, or give one "
                "to the writer's `as_default(step)`. Received: step=None"
            )
        _SUMMARY_STATE.writer.add(summary, _number(step))
        return True

    def write(self, tag, tensor, step=None, metadata=None):
        """Writes `tensor` (anything numpy can hold) under `tag` with the
        `SummaryMetadata` proto `metadata`."""
        if not self._recording():
            return False
        value = summary_pb2.Summary.Value(
            tag=tag,
            metadata=metadata,
            tensor=tensor_util.make_tensor_proto(np.asarray(tensor)),
        )
        return self._add(summary_pb2.Summary(value=[value]), step)

    def scalar(self, name, data, step=None, description=None):
        """A float32 scalar (TensorBoard's scalars tab), as the `tensorboard`
        package's `scalar_pb` makes it."""
        if not self._recording():
            return False
        return self._add(scalar_pb(name, _number(data), description), step)

    def histogram(self, name, data, step=None, buckets=None, description=None):
        """A histogram of `data`'s values (30 buckets by default), as the
        `tensorboard` package's `histogram_pb` makes it."""
        if not self._recording():
            return False
        data = ops.convert_to_numpy(data)
        return self._add(histogram_pb(name, data, buckets, description), step)

    def histogram_buckets(self, name, buckets, step=None, description=None):
        """A histogram given as its `(k, 3)` rows `(left, right, count)`,
        for counts kept elsewhere (such as mixup's lambdas over [0, 1])."""
        return self.write(
            name,
            np.asarray(buckets, np.float64),
            step,
            histogram_metadata.create_summary_metadata(
                display_name=None, description=description
            ),
        )

    def image(self, name, data, step=None, max_outputs=3, description=None):
        """Images `(k, height, width, channels)` as PNGs (the images tab)."""
        if not self._recording():
            return False  # before encoding anything
        return self.write(
            name,
            image_tensor(ops.convert_to_numpy(data), max_outputs),
            step,
            image_metadata.create_summary_metadata(
                display_name=None, description=description
            ),
        )

    def graph(self, graph_data):
        """Writes a graph that has `as_graph_def()` (a traced `tf.function`'s,
        on TensorFlow) or a `GraphDef` proto, for the graphs tab."""
        if not self._recording():
            return False
        if hasattr(graph_data, "as_graph_def"):
            graph_data = graph_data.as_graph_def()
        _SUMMARY_STATE.writer.add_graph(graph_data.SerializeToString())
        return True

    @staticmethod
    def trace_on(graph=True, profiler=False):
        """Records nothing (see the module's docstring): the profiler that
        Keras starts beside it writes its own trace."""

    @staticmethod
    def trace_export(name, step=None, profiler_outdir=None):
        """Writes nothing: `trace_on` recorded nothing."""
