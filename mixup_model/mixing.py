"""Applying a batch's `MixParams` to the model's inputs (or activations).

Which inputs are mixed (the dtype rule, or `mixed_inputs`), and for each
mixed tensor which method applies: CutMix's region for images, videos and
sequences in the examples that CutMix, mixup's blend otherwise
(`mixup_model.methods`). `mixup_model.targets` mixes the targets the same
way. Everything is `keras.ops` code that runs inside every backend's
compiled train step (XLA included).
"""

from keras import ops
from keras import tree

from mixup_model import recipe
from mixup_model.backend import current as backend
from mixup_model.methods.cutmix import BOX_RANKS
from mixup_model.methods.cutmix import SEGMENT_RANK
from mixup_model.methods.cutmix import cut_of
from mixup_model.methods.cutmix import paste
from mixup_model.methods.mixup import blend
from mixup_model.tensors import dtype_name

# Moved to their own modules (one per method, `mixup_model.targets`,
# `mixup_model.params`); importable from here as before.
from mixup_model.methods.cutmix import box_mask  # noqa: F401,E402
from mixup_model.methods.cutmix import image_size_of  # noqa: F401,E402
from mixup_model.methods.cutmix import paste_boxes  # noqa: F401,E402
from mixup_model.methods.cutmix import paste_segments  # noqa: F401,E402
from mixup_model.methods.cutmix import static_cut_dims  # noqa: F401,E402
from mixup_model.methods.mixup import sample_mix_params  # noqa: F401,E402
from mixup_model.params import MixParams  # noqa: F401,E402
from mixup_model.targets import MixedTargets  # noqa: F401,E402
from mixup_model.targets import mix_targets  # noqa: F401,E402
from mixup_model.targets import target_kind  # noqa: F401,E402
from mixup_model.targets import validate_label_smoothing  # noqa: F401,E402


def mix_tensor(x, params, data_format=None):
    """Mixes one tensor: the CutMix cut (a box for images and videos, a
    segment for sequences) for the examples that CutMix, else a blend with
    the example's lambda."""
    x = ops.convert_to_tensor(x)
    if params.method is not None:  # a recipe with ResizeMix or FMix
        return recipe.apply(x, params, data_format)
    if cut_of(x, params) is None:
        return blend(x, params)
    cutmix = params.cutmix
    # A cut without a switch, or a switch fixed when sampling (CutMix is
    # the only method): no conditional in the step.
    if cutmix is None or isinstance(cutmix, bool):
        if cutmix is False:
            return blend(x, params)
        return paste(x, params, data_format)
    if len(cutmix.shape) == 0 and backend.CONDITIONALS_IN_GRAPH:
        # Per batch, one or the other: only the chosen one is computed.
        # (Without an in-graph conditional, the per-example form below
        # selects with the scalar: a mixup batch's boxes are empty.)
        return ops.cond(
            cutmix,
            lambda: paste(x, params, data_format),
            lambda: blend(x, params),
        )
    # Per example: CutMix examples keep their own image (lam = 1) in the
    # blend, and the others have empty cuts, which paste nothing. The cuts
    # come from the unblended partners, as in timm.
    blended = blend(x, params._replace(lam=ops.where(cutmix, 1.0, params.lam)))
    return paste(x, params, data_format, into=blended)


def _top_level_names(x):
    if isinstance(x, dict):
        return list(x.keys())
    return list(range(len(x)))


def blended_by_default(dtype):
    """The dtype rule: whether an input of `dtype` is mixed unless told.

    Floating inputs are blended; unsigned integers (`uint8`, `uint16`
    images) are blended as floats. Signed integers (token ids, segment ids,
    positions) and booleans (masks) are not: a blend of two ids is no id.
    `mixed_inputs` overrides the rule.
    """
    name = dtype_name(dtype)
    return "float" in name or name.startswith("uint")


def _dtype_of(leaf):
    # The array's own dtype where it has one: PyTorch has no uint16 tensor,
    # and converting first would turn a uint16 image into int32.
    dtype = getattr(leaf, "dtype", None)
    return ops.convert_to_tensor(leaf).dtype if dtype is None else dtype


def selected_inputs(x, include=None):
    """Which leaves of an input get mixed: a structure of bools like `x`.

    By default (`include=None`) the dtype rule of `blended_by_default`
    decides, for a single tensor and for each leaf of a dict or list of
    inputs alike. `include` names the inputs to mix instead: dict keys or
    list positions, or `[0]` for a single tensor.
    """
    if include is None:
        return tree.map_structure(
            lambda leaf: blended_by_default(_dtype_of(leaf)),
            x,
        )
    if not tree.is_nested(x):
        names = [0]
    elif isinstance(x, (dict, list, tuple)):
        names = _top_level_names(x)
    else:
        raise ValueError(
            "`mixed_inputs` names inputs of a dict or list input, but the "
            f"model input is a {type(x).__name__}."
        )
    unknown = [name for name in include if name not in names]
    if unknown:
        raise ValueError(
            f"`mixed_inputs` names {unknown}, which are not inputs of the "
            f"model; its inputs are {names}."
        )
    chosen = set(include)
    if not tree.is_nested(x):
        return 0 in chosen
    if isinstance(x, dict):
        return {
            k: tree.map_structure(lambda _, c=k in chosen: c, v)
            for k, v in x.items()
        }
    return type(x)(
        tree.map_structure(lambda _, c=i in chosen: c, v) for i, v in enumerate(x)
    )


def _leaves_with_paths(x, path=()):
    """`(path, leaf)` of a nested input, dict keys in sorted order as
    `keras.tree.flatten` has them (`keras.tree.flatten_with_path` is newer
    than Keras 3.6)."""
    if isinstance(x, dict):
        for key in sorted(x):
            yield from _leaves_with_paths(x[key], path + (key,))
    elif isinstance(x, (list, tuple)):
        for index, item in enumerate(x):
            yield from _leaves_with_paths(item, path + (index,))
    else:
        yield path, x


def describe_inputs(x):
    """`"token_ids: int32 (None, 12), ..."`: the inputs with their dtypes,
    for error messages."""
    parts = []
    for path, leaf in _leaves_with_paths(x):
        leaf = ops.convert_to_tensor(leaf)
        name = "/".join(str(p) for p in path) or "input"
        parts.append(f"{name}: {dtype_name(leaf.dtype)} {tuple(leaf.shape)}")
    return ", ".join(parts)


def mix_inputs(x, params, include=None, data_format=None):
    """Mixes a model input: a tensor, or a nested structure of tensors.

    Which inputs are mixed follows the dtype rule of `blended_by_default`
    (floats and unsigned integers are mixed, signed integers and booleans
    are kept from the primary example), unless `include` names the inputs
    to mix (see `selected_inputs`). Every mixed input uses the same lambda
    and permutation; in a CutMix batch, image inputs (rank 4) and video
    inputs (rank 5) get the boxes (or sequence inputs, rank 3, the
    segments) and the other mixed inputs are blended with the pasted-area
    lambda.

    Args:
        x: The batch's inputs: a tensor, or a list/tuple/dict of them.
        params: The batch's `MixParams`.
        include: `None` (the dtype rule), or the names (dict keys) or
            positions of the inputs to mix.
        data_format: The images' `"channels_last"` or `"channels_first"`.

    Returns:
        `x`'s structure with the selected inputs mixed.

    Raises:
        ValueError: `include` names an input that `x` does not have.

    Example:

    >>> params = MixParams(lam=np.array([0.5, 1.0], "float32"),
    ...                    perm=np.array([1, 0], "int32"))
    >>> batch = {"pixels": np.array([[0.0], [2.0]], "float32"),
    ...          "token_ids": np.array([[3], [7]], "int32")}
    >>> mixed = mix_inputs(batch, params)
    >>> ops.convert_to_numpy(mixed["pixels"]).tolist()  # blended
    [[1.0], [2.0]]
    >>> ops.convert_to_numpy(mixed["token_ids"]).tolist()  # kept
    [[3], [7]]
    """
    selection = selected_inputs(x, include)
    if not tree.is_nested(x):
        return mix_tensor(x, params, data_format) if selection else x
    return tree.map_structure(
        lambda leaf, mix: (
            mix_tensor(leaf, params, data_format)
            if mix
            else ops.convert_to_tensor(leaf)
        ),
        x,
        selection,
    )


def first_cut_input(x, include=None):
    """The mixed input that CutMix cuts: the first image (rank 4) or video
    (rank 5), else the first sequence (rank 3); None if there is none."""
    leaves = [
        leaf
        for leaf, mix in zip(
            tree.flatten(x), tree.flatten(selected_inputs(x, include))
        )
        if mix and leaf is not None
    ]
    candidates = [leaf for leaf in leaves if len(leaf.shape) in BOX_RANKS] + [
        leaf for leaf in leaves if len(leaf.shape) == SEGMENT_RANK
    ]
    return candidates[0] if candidates else None


def batch_size_of(x):
    """The dynamic batch size of a (possibly nested) input."""
    first = next(leaf for leaf in tree.flatten(x) if leaf is not None)
    return ops.shape(first)[0]


