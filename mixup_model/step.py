"""`MixedStep`: what one traced train step of a `MixupModel` mixes, shared
by the step's parts (the draw, the forward pass's hooks, the loss and the
metrics) while Keras's own train step is traced."""

import contextlib
import dataclasses
import threading
import typing


@dataclasses.dataclass
class MixedStep:
    """What one traced train step of a `MixupModel` mixes.

    Attributes:
        params: The batch's `MixParams`.
        manifold_pending: With `mix_layer`, True until the layer's first call
            in the step has mixed its outputs.
        targets: The `MixedTargets` that the loss computed, with the
            `(y, y_pred, sample_weight)` they were computed from, for the
            metrics to reuse where the backend allows it.
        cut_dims: With CutMix, the static `(H, W)` of the image input that
            is cut (`(T,)` of a sequence): outputs per pixel (step) of it
            get their targets cut too.
        clean_size: With RegMixup, the batch size: the model runs on the
            clean batch and its mixed copy concatenated, and its outputs
            split there. None otherwise.
        wants_attention: With TransMix, True: the attention layer records
            its scores of this step's forward pass in `attention`.
        attention: With TransMix, the recorded attention scores `(batch,
            heads, tokens, tokens)` of the step's forward pass, else None.
    """

    params: typing.Any
    manifold_pending: bool = False
    cut_dims: typing.Any = None
    targets: typing.Any = None
    clean_size: typing.Any = None
    wants_attention: bool = False
    attention: typing.Any = None




class TracedSteps:
    """The `MixedStep` of the train step being traced, per thread:
    `tf.distribute` traces each replica's step in its own."""

    def __init__(self):
        self.local = threading.local()

    def current(self):
        """The step being traced, else None."""
        return getattr(self.local, "current", None)

    @contextlib.contextmanager
    def mixing(self, step):
        """Makes the loss, the metrics and the step methods' hooks see
        `step` while Keras's own train step is traced."""
        self.local.current = step
        try:
            yield
        finally:
            self.local.current = None
