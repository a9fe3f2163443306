"""The attributes a `MixupModel` has by name: each rate by its flat name
(`model.alpha`, `model.cutmix_alpha`, `model.prob`: settable, no retrace),
each flat option of its recipe (`model.cutmix_minmax`, `model.mode`) and
each other setting (`model.seed`), read-only: the traced step holds them."""

from mixup_model import flat
from mixup_model import rates
from mixup_model import settings


def _setting_property(name):
    return property(
        lambda self: self.__dict__[f"_{name}"],
        doc=f"`{name}`, fixed at construction: the traced step holds it.",
    )


def _option_property(name):
    return property(
        lambda self: flat.flat_option(self.recipe, name),
        doc=f"The flat option `{name}` of the recipe, fixed at construction.",
    )


def _rate_property(name):
    return property(
        lambda self: self.get_rate(name),
        lambda self, value: self.set_rate(name, value),
        doc=f"The current `{name}`; settable during training (no retrace).",
    )


def add_setting_attributes(cls):
    """Adds the properties above to the model class `cls`."""
    for name in rates.FLAT_NAMES:
        setattr(cls, name, _rate_property(name))
    for name in set(flat.FLAT_ARGUMENTS) - set(rates.FLAT_NAMES):
        setattr(cls, name, _option_property(name))
    for name in settings.SETTING_NAMES:
        setattr(cls, name, _setting_property(name))
