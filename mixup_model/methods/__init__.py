"""The batch methods, one module each, behind one interface
(`mixup_model.methods.base.BatchMethod`).

A recipe (`mixup_model.recipe.OneOf`) draws one or several of them per batch,
pair or example, and `mixup_model.mixing` and `mixup_model.targets` apply
the draw through the regions' interface, knowing no method. The methods
that change the train step itself rather than the batch (manifold mixup,
RegMixup, TransMix) are in `mixup_model.steps`.

Adding a batch method: its module with a `BatchMethod` subclass, its line
below, a test against its reference, and its docstring in the guide.
"""

from mixup_model.methods.cutmix import CutMix
from mixup_model.methods.fmix import FMix
from mixup_model.methods.mixup import Mixup
from mixup_model.methods.resizemix import ResizeMix

# The registered methods, in their order in `MixupModel`'s flat arguments
# (a flat `method_probs` recipe draws them in this order).
BATCH_METHODS = (Mixup, CutMix, ResizeMix, FMix)

METHODS_BY_KEY = {method.key: method for method in BATCH_METHODS}
