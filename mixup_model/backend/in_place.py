"""The train step of the backends whose trainers assign variables in place."""


class InPlaceTrainStep:
    """TensorFlow (inside `tf.function`) and PyTorch (eagerly or under
    `torch.compile`) call `train_step(data)`; the mixup draws assign the
    random state and statistics directly."""

    # The loss and the metrics run in one trace (or eagerly), on the same
    # tensors: the metrics may reuse what the loss computed.
    LOSS_VALUES_REACH_METRICS = True

    def train_step(self, data):
        begun = self._begin_mixed_step(data)
        if begun is None:
            return super().train_step(data)
        step, mixed_data = begun
        # `try`/`finally` rather than `with ...mixing(step)`: the Keras
        # step's `backward()` breaks `torch.compile`'s graph, and dynamo
        # cannot resume a graph inside a generator's context manager (it
        # would compile the rest of the step as further graphs).
        steps = self._step_context.local
        steps.current = step
        try:
            return super().train_step(mixed_data)
        finally:
            steps.current = None
