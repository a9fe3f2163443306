"""The interface every batch method has: `BatchMethod`, and the regions it
draws.

A batch method mixes each example with its partner (`MixParams.perm`) by
one rule. Splitting what is random from how it is applied (timm's
`Mixup`), a method is:

- its static options, checked when it is built (`Received:` errors), and
  its schedulable rates by name (`rate_names`; the values live in the
  model's rates variable, so that a schedule needs no retrace);
- `draw(batch_size, rates, seed, sizes, lambda_mode)`, a pure function of
  its stateless seed, which returns each example's weight of its own target
  (`lam`) and its *region* (None for mixup, which blends whole examples);
- `empty_region(batch_size, sizes)`, a region that leaves every example
  unchanged (the other branch of a per-batch choice);
- `check_input(x, shapes)`, which refuses inputs it cannot mix;
- `get_config()` / `from_config()`, as Keras serializables, and its
  `caption` in messages and TensorBoard.

A region is a `typing.NamedTuple` of tensors with four methods, so that it
crosses compiled functions (a pytree on every backend) and applying a batch
needs no knowledge of which method drew it:

- `applies_to(x, data_format)`: whether it changes a tensor of `x`'s rank
  and shape (a static test);
- `paste(x, partners, into, data_format)`: `into` with the region taken
  from `partners` (`x[perm]`, the partner of each example);
- `own_map(y_pred, cut_dims)`: for an output per pixel (step) of the cut
  input, each example's weight of its own target per cell, else None;
- `emptied(keep)`: the region where `keep` (per example, or one bool for
  the batch) is True, empty elsewhere.

Adding a method means one module with a `BatchMethod` subclass (and its
region), its line in `mixup_model.methods.BATCH_METHODS`, a test against its
reference implementation, and its docstring in the guide.
"""

import keras

from mixup_model.arguments import check_concentration


class BatchMethod:
    """Base class of the batch methods (`Mixup`, `CutMix`, `ResizeMix`,
    `FMix`).

    Subclasses set the class attributes below, take their rate (`alpha`)
    and options in `__init__`, and implement `draw`; those that paste a
    region implement `empty_region` too.

    Attributes:
        key: The method's name in `method_probs`, rate names
            (`"cutmix.alpha"`) and the registry.
        caption: How messages and TensorBoard name it (`"CutMix"`).
        seed_fold: The number folded into the step's seed for the draw:
            every method draws from its own stream, the same in a recipe as
            alone. `None` (mixup): the first half of the step's seed split,
            as 0.1.0 drew mixup's lambdas.
        rate_names: The schedulable rates, constructor arguments of the
            same names.
        flat_arguments: `MixupModel`'s flat keyword arguments (timm's
            vocabulary) that build this method, to the constructor's
            argument names; the first is its rate, and a flat model holds
            the method when that rate is above 0.
        pastes: Whether it pastes regions of an input (rather than blending
            whole examples): manifold mixup cannot use it.
    """

    key = None
    caption = None
    seed_fold = None
    rate_names = ("alpha",)
    flat_arguments = {}
    pastes = True

    def __init__(self, alpha=1.0):
        self.alpha = check_concentration(self._argument("alpha"), alpha)

    def _argument(self, name):
        """How errors name a constructor argument: by its name, or by the
        flat argument that gave it (`cutmix_alpha`, see `mixup_model.flat`)."""
        return self.__dict__.get("_flat_names", {}).get(name, name)

    @property
    def rates(self):
        """`{rate name: initial value}`."""
        return {name: getattr(self, name) for name in self.rate_names}

    def draw(self, batch_size, rates, seed, sizes, lambda_mode="per_sample"):
        """Draws one batch.

        Args:
            batch_size: Number of examples, an int or scalar int tensor.
            rates: `{rate name: float32 scalar}`, the current rates.
            seed: The stateless seed of this method's draw.
            sizes: The cut input's `InputSizes` (None for inputs that are
                not cut).
            lambda_mode: `"per_sample"` or `"per_batch"`.

        Returns:
            `(lam, region)`: float32 `(batch,)` weights of each example's
            own target, and the region (None for a method without one).
        """
        raise NotImplementedError

    def empty_region(self, batch_size, sizes):
        """A region that leaves every example unchanged (None without one)."""
        return None

    def check_input(self, x, shapes):
        """Raises a ValueError if this method cannot mix the cut input `x`
        (None: no input of rank 3 to 5 is mixed); `shapes` lists the
        model's input shapes for the message."""

    def get_config(self):
        return dict(self.rates)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        options = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({options})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    __hash__ = object.__hash__


def register(cls):
    """Registers a method class as a Keras serializable of this package."""
    return keras.saving.register_keras_serializable(package="mixup_model")(cls)
