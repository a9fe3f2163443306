"""timm's two-method sampler, `sample_batch_params`: mixup and CutMix with
`prob`, `switch_prob` and `mode`, as a function of rates that may be
tensors. It draws through the recipe `OneOf([Mixup, CutMix],
switch_prob=...)` (`mixup_model.recipe`), whose streams are 0.1.0's.
"""

from mixup_model.methods.cutmix import CutMix
from mixup_model.methods.mixup import Mixup
from mixup_model.recipe import OneOf
from mixup_model.sizes import InputSizes

# Where they were before; importable from here as before.
from mixup_model.draws import LAMBDA_MODES  # noqa: F401,E402
from mixup_model.draws import pair_partners  # noqa: F401,E402
from mixup_model.draws import sample_lambda  # noqa: F401,E402
from mixup_model.draws import validate_lambda_mode  # noqa: F401,E402
from mixup_model.methods.cutmix import sample_boxes  # noqa: F401,E402
from mixup_model.methods.cutmix import sample_segments  # noqa: F401,E402
from mixup_model.methods.mixup import sample_mix_params  # noqa: F401,E402
from mixup_model.params import identity_params  # noqa: F401,E402
from mixup_model.recipe import MODES  # noqa: F401,E402
from mixup_model.recipe import draw_partners_and_gates  # noqa: F401,E402
from mixup_model.recipe import validate_mode  # noqa: F401,E402


def sample_batch_params(
    batch_size,
    seed,
    *,
    alpha,
    cutmix_alpha=0.0,
    prob=1.0,
    switch_prob=0.5,
    lambda_mode="per_sample",
    image_size=None,
    sequence_length=None,
    mixup=True,
    cutmix=False,
    cutmix_minmax=None,
    correct_lam=True,
    mode="batch",
):
    """Draws a batch's `MixParams` with timm's semantics for the rates.

    With `mode="batch"` the batch is mixed with probability `prob`, and when
    both methods are on, it is a CutMix batch with probability
    `switch_prob`, else a mixup batch. With `mode="elem"` each example makes
    these choices for itself (and draws its own lambda); with `mode="pair"`
    each pair of examples does, and the two examples of a pair are each
    other's partners with the same lambda (and box), so their mixes are
    complementary, as timm's `mode="pair"`. A method whose concentration is
    0 is off. An unmixed example gets lam = 1 and an empty box, which leave
    its inputs and targets exactly unchanged.

    Args:
        batch_size: Number of examples, a Python int or scalar int tensor.
        seed: A stateless seed of shape `(2,)`.
        alpha, cutmix_alpha, prob, switch_prob: Rates, Python floats or
            float32 scalar tensors (read from variables by `MixupModel`).
        lambda_mode: `"per_sample"` or `"per_batch"` lambda.
        image_size: `(height, width)` of the images: CutMix pastes boxes.
        sequence_length: `T` of the sequences, in place of `image_size`:
            CutMix pastes segments along time (`mixup_model.methods.cutmix.sample_segments`).
        mixup, cutmix: Which methods the step contains (static: they decide
            what is traced). With `mixup` alone and `prob = 1` the draw is
            exactly `sample_mix_params(batch_size, alpha, seed)`'s.
        cutmix_minmax: `None`, or the `(low, high)` range of CutMix box
            sides (segment lengths) as fractions of the image's (sequence's),
            drawn uniformly in place of a box from `cutmix_alpha`.
        correct_lam: CutMix's label weight is the pasted area (`True`), or
            the drawn lambda even where the box was clipped (`False`).
        mode: `"batch"`, `"pair"` or `"elem"`: what shares one draw of
            `prob`, `switch_prob` and the method.

    Returns:
        A `MixParams` of the recipe `[Mixup, CutMix]` (or the one that is
        on): with both, `method` is 1 for the examples (or the batch) that
        CutMix, and `regions[1]` holds their boxes (`cutmix.Boxes`) or
        segments (`cutmix.Segments`).

    Raises:
        ValueError: neither `mixup` nor `cutmix` is on, `cutmix` is on
            without `image_size` or `sequence_length`, `mode` or
            `lambda_mode` is unknown, or `lambda_mode="per_batch"` is
            combined with a per-example `mode`.

    Example:

    >>> params = sample_batch_params(8, [0, 1], alpha=0.2, cutmix_alpha=1.0,
    ...                              image_size=(32, 32), cutmix=True)
    >>> tuple(params.regions[1].box.shape)  # [top, bottom, left, right) per example
    (8, 4)
    >>> params = sample_batch_params(6, [0, 1], alpha=1.0, mode="pair")
    >>> perm = ops.convert_to_numpy(params.perm)
    >>> bool((perm[perm] == np.arange(6)).all())  # partners in pairs
    True
    """
    if not (mixup or cutmix):
        raise ValueError(
            "sample_batch_params needs `mixup` or `cutmix` on. Received: "
            f"mixup={mixup!r}, cutmix={cutmix!r}"
        )
    sizes = None
    if cutmix:
        if image_size is None and sequence_length is None:
            raise ValueError(
                "CutMix needs the `image_size` (or `sequence_length`) of the "
                "batch. Received: image_size=None, sequence_length=None"
            )
        sizes = InputSizes(tuple(image_size) if image_size is not None else (sequence_length,))
    # The rates are the draw's arguments (tensors, perhaps); the methods'
    # own values are placeholders.
    methods = ([Mixup()] if mixup else []) + (
        [CutMix(minmax=cutmix_minmax, correct_lam=correct_lam)] if cutmix else []
    )
    recipe = OneOf(
        methods, switch_prob=0.5 if len(methods) == 2 else None, mode=mode,
        lambda_mode=lambda_mode,
    )
    rates = {"prob": prob, "switch_prob": switch_prob, "mixup.alpha": alpha,
             "cutmix.alpha": cutmix_alpha}
    return recipe.draw(batch_size, seed, rates, sizes)
