"""The rates a schedule moves, by name, in one float32 variable.

A `MixupModel` keeps the rates of its recipe (`prob`, `switch_prob`) and of
its methods (`"cutmix.alpha"`) in a variable that the compiled step reads,
so that setting one (`MixupScheduler`, `MixupOff`, `model.cutmix_alpha =
...`) takes effect at the next step without a retrace. The variable holds
every registered method's rates in a fixed order, whether the model has the
method or not (0 then), so that a checkpoint loads into any model:
0.1.0's four slots first, then ResizeMix's and FMix's, then the rates of
methods registered later. Each rate is also known by its flat name, the
`MixupModel` argument that sets it (`cutmix_alpha`).
"""

import warnings

import numpy as np

from mixup_model.arguments import check_concentration
from mixup_model.arguments import check_probability
from mixup_model.methods import BATCH_METHODS
from mixup_model.methods import METHODS_BY_KEY

# The recipe's rates, and their values where a model has no recipe.
RECIPE_RATES = {"prob": 1.0, "switch_prob": 0.5}

# The order of the slots in the files of 0.1.0 (four) and 0.2.0 (six).
_SAVED_ORDER = ("mixup.alpha", "cutmix.alpha", "prob", "switch_prob", "resizemix.alpha", "fmix.alpha")


def _slots():
    names = list(_SAVED_ORDER)
    for method in BATCH_METHODS:
        names += [f"{method.key}.{r}" for r in method.rate_names if f"{method.key}.{r}" not in names]
    return tuple(names)


def _flat_names():
    """`{flat name: qualified name}`: `alpha` is `mixup.alpha`, ..."""
    names = {name: name for name in RECIPE_RATES}
    for method in BATCH_METHODS:
        for flat, argument in method.flat_arguments.items():
            if argument in method.rate_names:
                names[flat] = f"{method.key}.{argument}"
    return names


SLOTS = _slots()
FLAT_NAMES = _flat_names()
_DISPLAY = {qualified: flat for flat, qualified in FLAT_NAMES.items()}


def display_name(qualified):
    """How a rate is shown: its flat name where it has one."""
    return _DISPLAY.get(qualified, qualified)


def qualified_name(name, method=None, argument="name"):
    """`"cutmix.alpha"` for `("alpha", method="cutmix")`, `"cutmix_alpha"`
    or `"cutmix.alpha"`; raises for a rate no registered method has, naming
    the caller's `argument`."""
    given = name
    if method is not None:
        name = f"{method}.{name}"
    name = FLAT_NAMES.get(name, name)
    if name not in SLOTS:
        choices = sorted(set(FLAT_NAMES) | set(SLOTS))
        received = f"{argument}={given!r}" + ("" if method is None else f", method={method!r}")
        raise ValueError(
            f"`{argument}` must be one of the rates: a recipe's (`prob`, "
            "`switch_prob`), a method's by its key and name (`'alpha'` with "
            f"`method='cutmix'`, or 'cutmix.alpha'), or its flat name. Choices: "
            f"{choices}. Received: {received}"
        )
    return name


def validate(name, value, shown=None):
    """`value` as a float in the range of rate `name` (qualified), or raises
    naming it as `shown`."""
    shown = shown or display_name(name)
    if name in RECIPE_RATES:
        return check_probability(shown, value)
    return check_concentration(shown, value)


class RateLayout:
    """The slots of one model's rates variable, and which its step reads.

    Args:
        recipe: The model's `OneOf`, or None.
    """

    def __init__(self, recipe):
        self.recipe = recipe
        own = {} if recipe is None else recipe.rates
        self.in_step = frozenset(own)
        self.initial = np.array(
            [own.get(name, RECIPE_RATES.get(name, 0.0)) for name in SLOTS], "float32"
        )

    def unpack(self, values):
        """`{qualified name: scalar}` of a rates tensor."""
        return {name: values[index] for index, name in enumerate(SLOTS)}

    def index(self, name):
        return SLOTS.index(name)

    def lacks(self, name, value):
        """Whether setting `name` to `value` would switch on a method that
        the model's step lacks."""
        return name not in RECIPE_RATES and value > 0 and name not in self.in_step

    def check_settable(self, name, value, shown):
        """Raises if the step cannot take `value` for rate `name`."""
        recipe = self.recipe
        if (
            name == "switch_prob" and recipe is not None and len(recipe.methods) > 1
            and recipe.switch_prob is None
        ):
            raise ValueError(
                "Cannot set `switch_prob`: this model's recipe chooses its "
                "methods by their probabilities (`probs`, or `method_probs`), "
                f"which `switch_prob` does not change. Received: switch_prob={value!r}"
            )
        if self.lacks(name, value):
            method = METHODS_BY_KEY[name.split(".")[0]]
            raise ValueError(
                f"Cannot set `{shown}` to {value}: this model was built with "
                f"{shown}=0, so its train step has no {method.caption}. Build it "
                f"with {shown} > 0 (and schedule {shown}=0 to pause it)."
            )

    def loaded(self, stored, current):
        """The rates to assign after loading `stored` (saved with as many
        slots as its release had: the others keep `current`), with a
        warning for a method the step lacks (it stays off)."""
        stored = np.asarray(stored, "float32")
        rates = np.array(current, "float32").copy()
        rates[: len(stored)] = stored[: len(rates)]
        for index, name in enumerate(SLOTS[: len(stored)]):
            if self.lacks(name, rates[index]):
                # E.g. a mixup checkpoint loaded into a baseline model: the
                # weights load, the method stays off.
                shown = display_name(name)
                warnings.warn(
                    f"The loaded weights were trained with {shown}="
                    f"{rates[index]:g}, but this model was built with "
                    f"{shown}=0; it keeps {shown}=0.",
                    UserWarning,
                    stacklevel=3,
                )
                rates[index] = 0.0
        return rates


def decimal(value):
    """A float32 as the shortest decimal that rounds to it (0.2, not
    0.20000000298...), so that rates read back as they were set."""
    return float(str(np.float32(value)))
