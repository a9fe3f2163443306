"""TransMix (Chen et al., CVPR 2022): CutMix's label weights from attention.

For a vision transformer trained with CutMix, TransMix weighs the pasted
partner's label by how much the class token attends to the pasted patches,
not only by the pasted area. This module states the official code
(`Beckschen/TransMix`, `transmix.py`, `Mixup_transmix.transmix_label`) in
`keras.ops`, per example (the official code pastes one box per batch):

- the attention `a` is the class token's row of the last block's attention,
  its softmax averaged over the heads, over the patches:
  `mean(attn[:, :, 0, 1:], heads)` in the official code, whose models
  (timm's ViT and DeiT without distillation) lay out their tokens as
  `[class, patches]`. Here the patches are the last `rows * cols` tokens of
  the patch grid (`patch_grid_of`, from the model's patch embedding), so
  tokens between the class token and the patches are left out as the class
  token itself is: DeiT's distillation token (`[class, distillation,
  patches]`, KerasHub's `DeiTBackbone`), register tokens (`[class,
  registers, patches]`, DINOv2). The class token is token 0, whose output
  KerasHub's classifiers read (`pooling="token"`; `DeiTImageClassifier`
  too: its head reads the class token alone);
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

import weakref

import keras
from keras import ops

from mixup_model.layers import layer_named
from mixup_model.methods import cutmix
from mixup_model.params import uses

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


def class_token_attention(scores, num_patches):
    """`(batch, patches)`: the class token's (token 0) attention to the
    last `num_patches` tokens (the patches), averaged over the heads, from
    scores `(batch, heads, tokens, tokens)`."""
    return ops.mean(ops.convert_to_tensor(scores)[:, :, 0, -num_patches:], axis=1)


def _patch_sizes(model):
    """The distinct `(height, width)` patch sizes of the model's patch
    embeddings: convolutions whose kernel is their stride, larger than one
    pixel, without padding (ViT's, DeiT's and DINOv2's)."""
    sizes = set()
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.Conv2D):
            kernel, strides = tuple(layer.kernel_size), tuple(layer.strides)
            if kernel == strides and max(kernel) > 1 and layer.padding == "valid":
                sizes.add(kernel)
    return sorted(sizes)


def patch_grid_of(model, image_size, transmix_layer):
    """`(rows, cols)` of the patch grid of `model`'s images of `image_size`,
    read from its patch embedding (a `Conv2D` with kernel = strides).

    Raises:
        ValueError: The model has no such convolution, or several of
            different sizes.
    """
    sizes = _patch_sizes(model)
    if len(sizes) != 1:
        found = "none" if not sizes else f"several sizes, {sizes}"
        raise ValueError(
            "TransMix lays the attention's patch tokens on the patch grid, "
            "which it reads from the model's patch embedding: a Conv2D whose "
            "kernel size equals its strides (ViT's, DeiT's). This model has "
            f"{found}. Received: transmix_layer={transmix_layer!r}"
        )
    (patch_height, patch_width), = sizes
    height, width = image_size
    return height // patch_height, width // patch_width


def check_token_layout(num_tokens, grid, image_size, transmix_layer):
    """Raises unless the attention sees a class token (and maybe others,
    such as DeiT's distillation token) before the grid's patches."""
    rows, cols = grid
    if num_tokens is None or num_tokens > rows * cols:
        return
    height, width = image_size
    layout = (
        f"it sees {num_tokens} tokens, and the {height}x{width} images "
        f"have {rows}x{cols} = {rows * cols} patches"
    )
    if num_tokens == rows * cols:
        problem = (
            f"{layout}: no class token before the patches (a ViT with "
            "`use_class_token=False` pools its patches instead)"
        )
    else:
        problem = f"{layout}: fewer tokens than patches"
    raise ValueError(
        "TransMix weighs CutMix's labels by the class token's attention to "
        f"the patches, but `transmix_layer`={transmix_layer!r} has no class "
        f"token: {problem}. Use a model whose attention sees the class token "
        "first and the patches last (`[class, ..., patches]`), or CutMix "
        f"without `transmix_layer`. Received: transmix_layer={transmix_layer!r}"
    )


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


def check_recipe(recipe, name):
    """Raises unless the recipe holds CutMix, whose labels TransMix
    reweighs."""
    if recipe is None or not any(isinstance(m, cutmix.CutMix) for m in recipe.methods):
        raise ValueError(
            "`transmix_layer` reweighs CutMix's labels by attention, so it "
            "needs CutMix on: `cutmix_alpha` > 0, or CutMix in `mix`. Received: "
            f"transmix_layer={name!r}, mix={recipe!r}"
        )


def cutmix_boxes(params):
    """`(index, boxes)`: CutMix's place in the draw and its `Boxes`, or
    `(None, None)` if the draw has none."""
    for index, region in enumerate(params.regions):
        if isinstance(region, cutmix.Boxes):
            return index, region.box
    return None, None


def own_weights(params, scores, image_size, grid):
    """Each example's weight of its own label under TransMix.

    Args:
        params: The batch's `MixParams`, with CutMix boxes.
        scores: The attention scores of the step's forward pass, `(batch,
            heads, tokens, tokens)`: the class token first, the patches
            last.
        image_size: `(H, W)` of the cut image.
        grid: `(rows, cols)` of its patches.

    Returns:
        float32 `(batch,)`: for an example that CutMix pasted into, one
        minus the mean of the pasted area's fraction and the class token's
        attention share on the pasted patches; `params.lam` for the others
        (a mixup example, or one left unmixed).
    """
    index, box = cutmix_boxes(params)
    lam = ops.convert_to_tensor(params.lam, "float32")
    if box is None:
        return lam
    rows, cols = grid
    attention = ops.cast(
        ops.stop_gradient(class_token_attention(scores, rows * cols)), "float32"
    )
    height, width = image_size
    mask = box_on_grid(box, image_size, grid)
    on_box = ops.sum(mask * attention, axis=1)
    total = ops.sum(attention, axis=1)
    share = ops.where(total > 0, on_box / ops.where(total > 0, total, 1.0), 0.0)
    box = ops.cast(ops.convert_to_tensor(box, "int32"), "float32")
    area = (box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2]) / float(height * width)
    transmix = 1.0 - (area + share) / 2.0
    chosen = uses(params, index)
    if isinstance(chosen, bool):
        return transmix if chosen else lam
    return ops.where(chosen, transmix, lam)


class TransMix:
    """TransMix in a model's train step: the attention layer that
    `transmix_layer` names, captured once, and the label weights of each
    step from it.

    Args:
        name: The layer's name (`transmix_layer`).
    """

    def __init__(self, name):
        self.name = validate_transmix_layer(name)
        self.capture = None
        self.grid = None

    def begin(self, model, cut_input, step_of):
        """Before a step is traced: makes the layer of `model` record its
        attention while `step_of()` returns a step that waits for it, and
        reads the patch grid; raises if the cut input is not an image of
        static size or the model has no patch grid."""
        shape = tuple(cut_input.shape)
        if len(shape) != 4 or None in shape[1:3]:
            raise ValueError(
                "`transmix_layer` reweighs CutMix boxes of images by the "
                "attention on their patches: the cut input must be an image "
                "(batch, height, width, channels) of static height and width. "
                f"Received: an input of shape {shape}."
            )
        if self.capture is None:
            self.capture = AttentionCapture(find_attention_layer(model, self.name), step_of)
        self.grid = patch_grid_of(model, shape[1:3], self.name)

    def step_params(self, step):
        """The step's `MixParams` with TransMix's label weights, from the
        attention its forward pass recorded (with RegMixup, the mixed
        half's)."""
        if step.attention is None:
            raise ValueError(
                f"`transmix_layer`={self.name!r} was not called in "
                "the model's forward pass, so TransMix has no attention."
            )
        scores = step.attention
        if step.clean_size is not None:  # RegMixup: the mixed half's
            scores = scores[step.clean_size:]
        check_token_layout(scores.shape[-1], self.grid, step.cut_dims, self.name)
        lam = own_weights(step.params, scores, step.cut_dims, self.grid)
        return step.params._replace(lam=lam)
