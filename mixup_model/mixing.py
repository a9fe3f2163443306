"""Applying a batch's `MixParams` to the model's inputs (or activations).

Which inputs are mixed (the dtype rule, or `mixed_inputs`), and how each
mixed tensor is mixed: every region of the draw that applies to it (a box
to images and videos, a segment to sequences, a mask to inputs of its
shape) is pasted from the partners into the examples that use it, and every
other example is blended whole with its lambda (`mixup_model.convex.blend`).
Nothing here knows a method: the regions say what they change
(`mixup_model.methods.base`). `mixup_model.targets` mixes the targets the
same way. Everything is `keras.ops` code that runs inside every backend's
compiled train step (XLA included).
"""

from keras import ops
from keras import tree

from mixup_model.backend import current as backend
from mixup_model.convex import blend
from mixup_model.params import uses
from mixup_model.shards import take_partners
from mixup_model.sizes import BOX_RANKS
from mixup_model.sizes import SEGMENT_RANK
from mixup_model.tensors import as_floating
from mixup_model.tensors import dtype_name

# Moved to their own modules; importable from here as before.
from mixup_model.params import MixParams  # noqa: F401,E402
from mixup_model.sizes import image_size_of  # noqa: F401,E402
from mixup_model.sizes import static_cut_dims  # noqa: F401,E402
from mixup_model.targets import MixedTargets  # noqa: F401,E402
from mixup_model.targets import mix_targets  # noqa: F401,E402
from mixup_model.targets import target_kind  # noqa: F401,E402
from mixup_model.targets import validate_label_smoothing  # noqa: F401,E402


def _applicable(x, params, data_format):
    """`[(index, region)]`: the draw's regions that change `x`."""
    return [
        (index, region)
        for index, region in enumerate(params.regions)
        if region is not None and region.applies_to(x, data_format)
    ]


def _paste_all(x, params, regions, data_format):
    """Every example blended with its lambda, except those whose method
    pastes a region of `x`: those keep their own values (lam = 1, exact),
    and each region is pasted in turn (the other methods' are empty). The
    pasted values come from the unblended partners, as in timm."""
    pastes = False
    for index, _ in regions:
        pastes = ops.logical_or(pastes, uses(params, index))
    mixed = blend(x, params._replace(lam=ops.where(pastes, 1.0, params.lam)))
    floating = as_floating(x)
    partners = take_partners(floating, params.perm)
    for _, region in regions:
        mixed = region.paste(floating, partners, mixed, data_format)
    return mixed


def _paste_chosen(x, params, index, data_format):
    """The batch's one method `index` applied to `x`: its region pasted
    (into `x` itself), or the blend where it has none for `x`."""
    region = params.regions[index] if index < len(params.regions) else None
    if region is None or not region.applies_to(x, data_format):
        return blend(x, params)
    floating = as_floating(x)
    return region.paste(floating, take_partners(floating, params.perm), floating, data_format)


def mix_tensor(x, params, data_format=None):
    """Mixes one tensor by each example's method (see the module)."""
    x = ops.convert_to_tensor(x)
    regions = _applicable(x, params, data_format)
    if not regions:
        return blend(x, params)
    method = params.method
    if method is None:  # one method: its region, empty where unmixed
        return _paste_chosen(x, params, regions[0][0], data_format)
    if isinstance(method, int):  # chosen for the batch, known on the host
        return _paste_chosen(x, params, method, data_format)
    if len(method.shape) == 0 and backend.conditional_in_graph(method):
        # Chosen for the batch: only the chosen method is computed.
        return ops.switch(method, [
            lambda index=index: _paste_chosen(x, params, index, data_format)
            for index in range(len(params.regions))
        ])
    return _paste_all(x, params, regions, data_format)


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


