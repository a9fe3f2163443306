"""Callbacks that change a `MixupModel`'s mixing during training.

The rates live in a variable that the compiled step reads, so these
callbacks take effect at the next step without re-tracing it.
"""

import keras

from mixup_model.arguments import argument_error
from mixup_model.arguments import check_int

from mixup_model import rates
from mixup_model.model import MixupModel


def _mixup_model(callback):
    model = callback.model
    if not isinstance(model, MixupModel):
        raise ValueError(
            f"{type(callback).__name__} needs a MixupModel, got "
            f"{type(model).__name__}."
        )
    return model


def linear_ramp(start, end, epochs):
    """A schedule that goes linearly from `start` (epoch 0) to `end`
    (epoch `epochs` and after), for `MixupScheduler`.

    Args:
        start: The value at epoch 0, a float.
        end: The value from epoch `epochs` on, a float.
        epochs: How many epochs the ramp takes, an int >= 1.

    Returns:
        A schedule `f(epoch, current=None) -> float`.

    Raises:
        ValueError: `epochs` is not an int >= 1.

    Example:

    >>> ramp = linear_ramp(0.0, 0.4, epochs=4)
    >>> [round(ramp(epoch), 2) for epoch in range(6)]
    [0.0, 0.1, 0.2, 0.3, 0.4, 0.4]
    >>> scheduler = MixupScheduler(ramp, setting="alpha")
    """
    check_int("epochs", epochs, 1)

    def schedule(epoch, current=None):
        progress = min(epoch / epochs, 1.0)
        return start + (end - start) * progress

    return schedule


class MixupScheduler(keras.callbacks.Callback):
    """Sets a mixing rate at the start of every epoch, like Keras's
    `LearningRateScheduler` does for the learning rate.

    The value of each epoch is also written to the epoch's logs as
    `mixup_<setting>` (put this callback before `TensorBoard` to see it
    there).

    Args:
        schedule: A function `(epoch, current_value) -> new value`, with
            `epoch` counted from 0 (as in `fit`'s `initial_epoch`).
        setting: The rate to set: the recipe's `"prob"` or `"switch_prob"`,
            a method's rate (`"alpha"` with `method="cutmix"`, or
            `"cutmix.alpha"`), or a flat name (`"alpha"` is mixup's,
            `"cutmix_alpha"`, `"resizemix_alpha"`, `"fmix_alpha"`). A method
            the model was built without cannot be scheduled above 0 (its
            code is not in the traced step).
        method: The key of the method whose rate `setting` names
            (`"mixup"`, `"cutmix"`, `"resizemix"`, `"fmix"`), or None.
        verbose: 1 prints each update.

    Raises:
        ValueError: `schedule` is not callable or `setting` is unknown; when
            training starts, the model is not a `MixupModel`; at an epoch,
            the schedule sets a method's rate above 0 that the model was
            built without, or outside the rate's range.

    Example:

    ```python
    model = MixupModel(cnn, alpha=0.4)
    model.fit(x, y, epochs=10,
              callbacks=[MixupScheduler(linear_ramp(0.0, 0.4, epochs=5))])
    ```
    """

    def __init__(self, schedule, setting="alpha", verbose=0, method=None):
        super().__init__()
        if not callable(schedule):
            raise argument_error("schedule", "callable", schedule)
        rates.qualified_name(setting, method, argument="setting")  # raises for an unknown rate
        self.schedule = schedule
        self.setting = setting
        self.method = method
        self.verbose = verbose
        self._name = setting if method is None else f"{method}.{setting}"

    def on_epoch_begin(self, epoch, logs=None):
        model = _mixup_model(self)
        value = float(self.schedule(epoch, model.get_rate(self.setting, self.method)))
        model.set_rate(self.setting, value, self.method)  # validates the value
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: MixupScheduler set {self._name} to {value:g}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[f"mixup_{self._name}"] = self.model.get_rate(self.setting, self.method)


class MixupOff(keras.callbacks.Callback):
    """Switches mixing off for the last epochs of training.

    Training the last epochs on clean data is common practice (timm's
    `--mixup-off-epoch`). The model's `prob` is set to 0 from the first
    off epoch on, and restored when training ends, so a later `fit` mixes
    again.

    Args:
        last_epochs: Switch off for this many final epochs of `fit`'s
            `epochs`.
        from_epoch: Or: switch off from this epoch on (counted from 0, as
            timm's `mixup_off_epoch`). Give exactly one of the two.

    Raises:
        ValueError: not exactly one of `last_epochs` and `from_epoch` is
            given, or the model is not a `MixupModel`.

    Example:

    ```python
    model.fit(x, y, epochs=10, callbacks=[MixupOff(last_epochs=2)])
    ```
    """

    def __init__(self, last_epochs=None, from_epoch=None):
        super().__init__()
        if (last_epochs is None) == (from_epoch is None):
            raise ValueError(
                "Give exactly one of `last_epochs` and `from_epoch`. Received: "
                f"last_epochs={last_epochs!r}, from_epoch={from_epoch!r}"
            )
        for name, value in (("last_epochs", last_epochs), ("from_epoch", from_epoch)):
            if value is not None:
                check_int(name, value, 0)
        self.last_epochs = last_epochs
        self.from_epoch = from_epoch
        self._prob = None

    def _first_off_epoch(self):
        if self.from_epoch is not None:
            return self.from_epoch
        return self.params["epochs"] - self.last_epochs

    def on_train_begin(self, logs=None):
        self._prob = _mixup_model(self).prob

    def on_epoch_begin(self, epoch, logs=None):
        off = epoch >= self._first_off_epoch()
        self.model.prob = 0.0 if off else self._prob

    def on_train_end(self, logs=None):
        if self._prob is not None:
            self.model.prob = self._prob
