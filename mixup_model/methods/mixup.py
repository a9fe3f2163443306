"""mixup (Zhang et al., ICLR 2018): blend each example with its partner.

- `Mixup(alpha)`: the method; its draw is lambda ~ Beta(alpha, alpha), one
  per example (or per batch), and it has no region: every example of it is
  blended whole, `x' = lam * x + (1 - lam) * x[perm]` (`blend`), for a tensor
  of any rank, and keeps `lam` of its own target.
- `sample_mix_params`: lambdas and a partner permutation, for one batch.
"""

from keras import ops

from mixup_model.backend import current as backend
from mixup_model.convex import blend  # noqa: F401 (mixup's application, here since 0.1.0)
from mixup_model.draws import MIN_CONCENTRATION
from mixup_model.draws import sample_lambda
from mixup_model.draws import sample_permutation
from mixup_model.draws import validate_lambda_mode
from mixup_model.methods.base import BatchMethod
from mixup_model.methods.base import register
from mixup_model.params import MixParams

@register
class Mixup(BatchMethod):
    """mixup: each example blended whole with its partner.

    Args:
        alpha: The concentration of `Beta(alpha, alpha)`, a finite float
            >= 0 (0 pauses the method in a recipe). The keras.io example
            uses 0.2, timm's ImageNet recipes 0.8.

    Example:

    >>> Mixup(0.2)
    Mixup(alpha=0.2)
    """

    key = "mixup"
    caption = "mixup"
    seed_fold = None  # the first half of the step's seed, as 0.1.0 drew it
    flat_arguments = {"alpha": "alpha"}
    pastes = False

    def __init__(self, alpha=1.0):
        super().__init__(alpha)

    def draw(self, batch_size, rates, seed, sizes, lambda_mode="per_sample"):
        # The concentration is clamped to a small positive value: a rate
        # scheduled to 0 pauses the method by the recipe's gate while the
        # draw still runs.
        alpha = ops.maximum(rates["alpha"], MIN_CONCENTRATION)
        return sample_lambda(batch_size, alpha, seed, lambda_mode), None


def sample_mix_params(batch_size, alpha, seed, lambda_mode="per_sample"):
    """Draws lambda ~ Beta(alpha, alpha) and a random partner permutation.

    Args:
        batch_size: Number of examples, a Python int or scalar int tensor.
        alpha: Beta concentration, a float > 0 (or a float tensor).
        seed: A stateless seed, an integer tensor of shape `(2,)`.
        lambda_mode: `"per_sample"` draws one lambda per example (as the
            keras.io example does); `"per_batch"` draws one lambda for the
            whole batch (as the paper's reference code does).

    Returns:
        A `MixParams` for mixup.

    Raises:
        ValueError: `lambda_mode` is neither `"per_sample"` nor
            `"per_batch"`.

    Example:

    >>> params = sample_mix_params(4, alpha=0.2, seed=[0, 1])
    >>> tuple(params.lam.shape)
    (4,)
    >>> sorted(ops.convert_to_numpy(params.perm).tolist())  # a permutation
    [0, 1, 2, 3]
    """
    validate_lambda_mode(lambda_mode)
    lam_seed, perm_seed = backend.split(backend.as_seed(seed), 2)
    return MixParams(
        lam=sample_lambda(batch_size, alpha, lam_seed, lambda_mode),
        perm=sample_permutation(batch_size, perm_seed),
    )
