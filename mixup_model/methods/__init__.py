"""The mixing methods, one module each.

A batch method (`mixup`, `cutmix`; `resizemix` and `fmix` are not yet part
of `MixupModel`'s recipe) has the same three parts, with the arguments the
method needs:

- `draw(...)`: its random parameters for one batch, from a stateless seed
  (lambdas; CutMix's boxes or segments);
- apply: those parameters applied to an input (`blend`, `paste`);
- `own_weights(...)`: each example's weight of its own target (CutMix's
  also per pixel, for dense targets).

`mixup_model.sampling.sample_batch_params` combines mixup and CutMix into
one recipe (`prob`, `switch_prob`, `mode`), drawing each through its
module, and `mixup_model.mixing` and `mixup_model.targets` apply the
result. Each registered module names the method (`NAME`) and the
`MixupModel` rate that switches it on (`RATE`); `MixupModel` reads the
registry to tell which rates switch a method on.

The step methods change the train step itself rather than the batch:
`manifold` (mix a layer's activations), `regmixup` (a clean and a mixed
loss from one forward pass) and `transmix` (CutMix's label weights from the
attention of the step's forward pass).

Adding a batch method means a module with these parts, its entry in
`BATCH_METHODS`, its place in the recipe and its documentation.
"""

from mixup_model.methods import cutmix
from mixup_model.methods import fmix
from mixup_model.methods import mixup
from mixup_model.methods import resizemix

# The batch methods, in the order the recipe draws them. A method's key in
# `method_probs` (and its index in `MixParams.method`) is its module's name.
BATCH_METHODS = (mixup, cutmix, resizemix, fmix)
METHOD_KEYS = tuple(method.__name__.rsplit(".", 1)[-1] for method in BATCH_METHODS)

# The rate that switches each batch method on, to its method.
METHOD_OF_RATE = {method.RATE: method for method in BATCH_METHODS}
