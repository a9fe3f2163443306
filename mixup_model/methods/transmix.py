"""TransMix (Chen et al., CVPR 2022): CutMix's label weights from attention.

For a vision transformer trained with CutMix, TransMix weighs the pasted
partner's label by how much the class token attends to the pasted patches,
not only by the pasted area. This module states the official code
(`Beckschen/TransMix`, `transmix.py`, `Mixup_transmix.transmix_label`) in
`keras.ops`, per example (the official code pastes one box per batch):

- the attention `a` is the class token's row of the last block's attention,
  its softmax averaged over the heads, over the patches (the class token's
  attention to itself left out): `mean(attn[:, :, 0, 1:], heads)`;
- the pasted box is mapped onto the patch grid as
  `nn.Upsample(size=grid)` maps the image-sized mask (nearest: grid row `i`
  takes image row `floor(i * H / rows)`);
- the partner's weight is `(area + a_in / (a_in + a_out)) / 2`, the mean of
  the pasted area's fraction and the attention's share on the pasted
  patches; the example's own weight is one minus it.

The attention is captured from the training step's own forward pass
(`AttentionCapture`), and no gradient flows through the weights (the
official code detaches the map).
"""

import math
import weakref

import keras
from keras import ops

from mixup_model.layers import layer_named

# The attention layers TransMix reads: Keras's own, also inside KerasHub's
# ViT blocks (`ViTEncoderBlock.mha`).
ATTENTION_LAYERS = (keras.layers.MultiHeadAttention,)


def validate_transmix_layer(value):
    """Returns `value`, a layer name or None, or raises."""
    if value is not None and not (isinstance(value, str) and value):
        raise ValueError(
            "`transmix_layer` must be the name of the attention layer "
            "(a keras.layers.MultiHeadAttention, or a block that holds one, "
            f"such as a KerasHub ViT block), or None. Received: transmix_layer={value!r}"
        )
    return value


def find_attention_layer(model, name):
    """The `MultiHeadAttention` that `name` names in `model`: the layer
    itself, or the only one inside the named layer (a transformer block).

    Raises:
        ValueError: No layer has that name, or it holds no attention layer,
            or several.
    """
    layer = layer_named(model, name, "transmix_layer")
    if not isinstance(layer, ATTENTION_LAYERS):
        inner = [
            sub for sub in layer._flatten_layers(include_self=False, recursive=True)
            if isinstance(sub, ATTENTION_LAYERS)
        ]
        if len(inner) != 1:
            raise ValueError(
                f"`transmix_layer`={name!r} must be a keras.layers.MultiHeadAttention "
                "or hold exactly one (as a transformer block does); it holds "
                f"{len(inner)}. Received: transmix_layer={name!r}"
            )
        layer = inner[0]
    if getattr(layer, "_flash_attention", False):
        raise ValueError(
            f"`transmix_layer`={name!r} computes flash attention, which "
            "cannot return its attention scores, and TransMix needs them: "
            "build the layer with `flash_attention=False` (and leave "
            "`keras.config.enable_flash_attention()` off)."
        )
    return layer


class AttentionCapture:
    """Records an attention layer's scores during one model's train step.

    The layer's `call` is wrapped once. While `step_of()` returns a step
    that waits for attention, the wrapper asks the layer for its scores
    (`return_attention_scores=True`), keeps them on the step
    (`step.attention`) and returns the output alone; at any other time
    (prediction, evaluation, another model sharing the layer) the layer is
    unchanged. Its last call in the step wins: the last block's attention.
    """

    def __init__(self, layer, step_of):
        self.layer = layer
        original_call = layer.call
        step_of = weakref.WeakMethod(step_of)

        def call(*args, **kwargs):
            owner_step = step_of()
            step = None if owner_step is None else owner_step()
            if step is None or not step.wants_attention:
                return original_call(*args, **kwargs)
            wanted = kwargs.get("return_attention_scores", False)
            kwargs["return_attention_scores"] = True
            outputs, scores = original_call(*args, **kwargs)
            step.attention = scores
            return (outputs, scores) if wanted else outputs

        object.__setattr__(layer, "call", call)


def class_token_attention(scores):
    """`(batch, patches)`: the class token's (token 0) attention to every
    other token, averaged over the heads, from scores `(batch, heads,
    tokens, tokens)`."""
    return ops.mean(ops.convert_to_tensor(scores)[:, :, 0, 1:], axis=1)


def patch_grid(num_patches, image_size):
    """`(rows, cols)` of the patch grid: `num_patches` patches in the
    image's aspect ratio (a square grid for a square image, as the official
    code assumes).

    Raises:
        ValueError: No grid of that aspect holds `num_patches` patches.
    """
    height, width = image_size
    rows = int(round(math.sqrt(num_patches * height / width)))
    cols = num_patches // max(rows, 1)
    if rows * cols != num_patches or rows < 1:
        raise ValueError(
            f"TransMix cannot lay {num_patches} patch tokens on a grid of the "
            f"image's aspect {height}x{width}: the attention layer should see "
            "the class token first, then the patches in row-major order. "
            f"Received: {num_patches} patch tokens, image_size={image_size}"
        )
    return rows, cols


def box_on_grid(box, image_size, grid):
    """Float `(batch, rows * cols)`: 1 for each patch whose nearest image
    pixel (`nn.Upsample(size=grid)`, mode nearest) lies in the example's
    half-open box `[top, bottom) x [left, right)`, else 0."""
    height, width = image_size
    rows, cols = grid
    box = ops.convert_to_tensor(box, "int32")
    # Integer arithmetic: floor(i * H / rows) exactly.
    row_pixels = (ops.arange(rows, dtype="int32") * height) // rows
    col_pixels = (ops.arange(cols, dtype="int32") * width) // cols
    in_rows = ops.logical_and(
        row_pixels[None, :] >= box[:, 0:1], row_pixels[None, :] < box[:, 1:2]
    )
    in_cols = ops.logical_and(
        col_pixels[None, :] >= box[:, 2:3], col_pixels[None, :] < box[:, 3:4]
    )
    inside = ops.logical_and(in_rows[:, :, None], in_cols[:, None, :])
    return ops.reshape(ops.cast(inside, "float32"), (-1, rows * cols))


def own_weights(params, scores, image_size):
    """Each example's weight of its own label under TransMix.

    Args:
        params: The batch's `MixParams`, with CutMix boxes.
        scores: The attention scores of the step's forward pass, `(batch,
            heads, tokens, tokens)`, the class token first.
        image_size: `(H, W)` of the cut image.

    Returns:
        float32 `(batch,)`: for an example that CutMix pasted into, one
        minus the mean of the pasted area's fraction and the class token's
        attention share on the pasted patches; `params.lam` for the others
        (a mixup example, or one left unmixed).
    """
    attention = ops.cast(ops.stop_gradient(class_token_attention(scores)), "float32")
    height, width = image_size
    mask = box_on_grid(params.box, image_size, patch_grid(attention.shape[1], image_size))
    on_box = ops.sum(mask * attention, axis=1)
    total = ops.sum(attention, axis=1)
    share = ops.where(total > 0, on_box / ops.where(total > 0, total, 1.0), 0.0)
    box = ops.cast(ops.convert_to_tensor(params.box, "int32"), "float32")
    area = (box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2]) / float(height * width)
    transmix = 1.0 - (area + share) / 2.0
    cutmix = params.cutmix
    lam = ops.convert_to_tensor(params.lam, "float32")
    if cutmix is None or cutmix is False:
        return lam
    if cutmix is True:
        return transmix
    return ops.where(ops.convert_to_tensor(cutmix), transmix, lam)


def capture_attention(model, cut_input):
    """Makes `model.transmix_layer` record its attention in `model`'s train
    step (wrapped once per model), or raises if the cut input is not an
    image of static size."""
    shape = tuple(cut_input.shape)
    if len(shape) != 4 or None in shape[1:3]:
        raise ValueError(
            "`transmix_layer` reweighs CutMix boxes of images by the "
            "attention on their patches: the cut input must be an image "
            "(batch, height, width, channels) of static height and width. "
            f"Received: an input of shape {shape}."
        )
    if model.__dict__.get("_attention_capture") is None:
        layer = find_attention_layer(model, model.transmix_layer)
        object.__setattr__(
            model, "_attention_capture", AttentionCapture(layer, model._traced_step)
        )


def step_params(step, transmix_layer):
    """The step's `MixParams` with TransMix's label weights, from the
    attention its forward pass recorded (with RegMixup, the mixed half's)."""
    if step.attention is None:
        raise ValueError(
            f"`transmix_layer`={transmix_layer!r} was not called in "
            "the model's forward pass, so TransMix has no attention."
        )
    scores = step.attention
    if step.clean_size is not None:  # RegMixup: the mixed half's
        scores = scores[step.clean_size:]
    lam = own_weights(step.params, scores, step.cut_dims)
    return step.params._replace(lam=lam)
