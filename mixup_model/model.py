"""`MixupModel`: a `keras.Model` whose training step trains on mixup batches."""

import contextlib
import functools
import threading
import warnings

import keras
import numpy as np
from keras import ops
from keras import tree
from keras.src.models.functional import Functional
from keras.src.models.functional import functional_from_config

from mixup_model import settings
from mixup_model.arguments import argument_error
from mixup_model.arguments import check_bool
from mixup_model.arguments import check_box_fraction_range
from mixup_model.arguments import check_open_fraction
from mixup_model.backend import current as backend
from mixup_model.draws import validate_lambda_mode
from mixup_model.methods import BATCH_METHODS
from mixup_model.methods import METHOD_KEYS
from mixup_model.methods import METHOD_OF_RATE
from mixup_model.methods import fmix
from mixup_model.methods import manifold
from mixup_model.methods import regmixup
from mixup_model.methods import resizemix
from mixup_model.methods import transmix
from mixup_model.methods.cutmix import BOX_RANKS
from mixup_model.methods.cutmix import image_size_of
from mixup_model.methods.cutmix import static_cut_dims
from mixup_model.mixing import batch_size_of
from mixup_model.mixing import describe_inputs
from mixup_model.mixing import first_cut_input
from mixup_model.mixing import mix_inputs
from mixup_model.mixing import selected_inputs
from mixup_model.params import identity_params
from mixup_model.pipeline import pipeline_base
from mixup_model.pipeline import with_pipeline
from mixup_model.recipe import MethodOptions
from mixup_model.recipe import recipe_probs
from mixup_model.recipe import sample_recipe_params
from mixup_model.sampling import sample_batch_params
from mixup_model.sampling import validate_mode
from mixup_model.settings import RATE_NAMES
from mixup_model.settings import Rates
from mixup_model.step import MixedStep
from mixup_model.targets import mix_targets
from mixup_model.targets import validate_label_smoothing

# Key of the mixup random state in a model's weights store (`.keras` files,
# `save_weights`, `ModelCheckpoint`, `BackupAndRestore`). Keras does not
# save `SeedGenerator` state by itself; without it a resumed run would replay
# the lambda sequence from the seed.
SEED_STATE_KEY = "mixup_seed_state"

# Key of the current rates (alpha, cutmix_alpha, prob, switch_prob): a
# schedule may have moved them away from the constructor's values.
RATES_KEY = "mixup_rates"


def _functional_init_arguments(args, kwargs):
    # The same test Keras uses to tell `Model(inputs, outputs)` apart.
    return (
        len(args) == 2
        or (len(args) == 1 and "outputs" in kwargs)
        or ("inputs" in kwargs and "outputs" in kwargs)
    )


def _rate_property(name):
    def getter(self):
        return self.current_rates()[name]

    def setter(self, value):
        self._set_rate(name, value)

    return property(
        getter,
        setter,
        doc=f"The current `{name}`; settable during training (no retrace).",
    )


@keras.saving.register_keras_serializable(package="mixup_model")
class MixupModel(backend.TrainStep, keras.Model):
    """A Keras model that trains on mixup batches (Zhang et al., 2018).

    Each training batch is mixed with a random permutation of itself inside
    the compiled train step: `x' = lam * x + (1 - lam) * x[perm]`, and the
    targets the same way, with `lam ~ Beta(alpha, alpha)`. `evaluate`,
    `predict` and `test_step` are untouched and see clean data.

    The same step holds the rest of the mixing family: CutMix (Yun et al.,
    2019) with `cutmix_alpha`, ResizeMix with `resizemix_alpha`, FMix with
    `fmix_alpha`, timm's `prob` and `switch_prob` (or `method_probs` for
    any of these methods), manifold mixup (Verma et al., 2019) with
    `mix_layer`, and label smoothing.

    Three ways to build one:

    1. Wrap an existing model: `MixupModel(model, alpha=0.2)`.
    2. Subclass: `class Net(MixupModel)` with layers in `__init__` (pass
       `**kwargs` on to `super().__init__`) and a `call`.
    3. Functional: `MixupModel(inputs=..., outputs=..., alpha=0.2)`, which
       returns a `FunctionalMixupModel`.

    Targets: one-hot or soft float targets are blended like the inputs.
    Integer class labels (shape `(batch,)` or `(batch, 1)`, for a sparse
    loss) and sample weights (`sample_weight=`, `class_weight=`) are handled
    by decomposing the loss as `lam * L(y) + (1 - lam) * L(y[perm])`, each
    weight staying with its own example's term. Dict or list targets (one
    per output) are all mixed with the same lambda. Per-pixel targets
    (segmentation masks: an output `(batch, H, W, K)` for image inputs of
    size `(H, W)`) take CutMix's box pixel by pixel, as the image does; see
    `mixup_model.mix_targets`.

    Training metrics are computed on the mixed batch: against the blended
    targets, or, for integer labels, against the label with the larger
    weight. Training accuracy therefore measures agreement with the
    dominant source and is lower than clean accuracy; use `evaluate` or
    `validation_data` for clean numbers.

    Schedules: `alpha`, `cutmix_alpha`, `prob` and `switch_prob` live in a
    variable (`mixup_rates`) that the step reads, so setting them (for
    example from `mixup_model.MixupScheduler` or `mixup_model.MixupOff`)
    takes effect at the next step without re-tracing it. Which methods the
    step contains is fixed at construction: a method built with a
    concentration of 0 cannot be scheduled on later (set it to 0 instead to
    pause it).

    Args:
        model: The `keras.Model` to wrap, or `None` when subclassing.
        alpha: mixup's concentration `Beta(alpha, alpha)`, a finite float
            >= 0; `0` turns mixup off. Defaults to `0.2`, the keras.io
            example's value. With `alpha = cutmix_alpha = 0` (and no label
            smoothing) training is exactly the wrapped model's own.
        cutmix_alpha: CutMix's concentration; `0` (default) turns it off.
            CutMix pastes a box from the partner image (inputs of rank 4;
            for videos of rank 5, one box through all frames; for sequences
            of rank 3, a segment of steps), one per example, and weights the
            labels by the exact pasted area (length) after clipping.
        cutmix_minmax: Optional `(low, high)`, `0 < low < high <= 1` (timm's
            `cutmix_minmax`): each box's height and width are drawn
            uniformly between these fractions of the image's (independently,
            so boxes need not be square), placed where they fit inside the
            image, in place of a box from `cutmix_alpha`, which then only
            switches CutMix on; the label weight is the box's area.
        correct_lam: With CutMix, weight the labels by the area actually
            pasted (`True`, default), or (`False`, timm's
            `correct_lam=False`) by the drawn lambda even where clipping at
            the border shrank the box.
        target_threshold: Optional float in (0, 1) (timm's
            `bce_target_thresh`): after mixing and smoothing, training
            targets above it become 1 and the rest 0, for multi-label
            training with sigmoid outputs and binary cross-entropy. Needs
            dense targets; with sample weights, a mixed example is weighted
            `lam * w + (1 - lam) * w[perm]`.
        prob: Probability that a batch is mixed at all (default 1).
        switch_prob: With both methods on, the probability that a batch
            uses CutMix rather than mixup (default 0.5).
        lambda_mode: `"per_sample"` (default) draws one lambda per example,
            `"per_batch"` one lambda per batch (the paper's reference code).
        mode: What one draw of `prob` and `switch_prob` decides for
            (timm's `mode`): `"batch"` (default) mixes the whole batch or
            none of it, with one method; `"elem"` decides for each example
            (mixed or not, mixup or CutMix); `"pair"` for each pair of
            partners, which are each other's partners with one lambda (and
            box), so their two mixes are complementary. `"pair"` and
            `"elem"` need `lambda_mode="per_sample"`.
        label_smoothing: Smooths the (mixed) training targets, a float in
            [0, 1); needs one-hot or soft targets. Defaults to 0.
        mix_layer: Name of a layer whose outputs are mixed instead of the
            inputs (manifold mixup): the model runs on the clean batch up to
            that layer, its activations are mixed, and the rest runs on
            them. This is how mixup reaches inputs that cannot be blended,
            such as token ids (name the embedding layer).
        mixed_inputs: The names (dict keys) or positions (list indices,
            `[0]` for a single input) of the inputs to mix. Defaults to the
            dtype rule: floating and unsigned integer inputs (`uint8`
            images) are mixed; signed integer and boolean inputs (ids,
            masks) are taken from the primary example. If no input is
            mixed (and no `mix_layer` is set), the first training step
            raises a `ValueError` instead of mixing the targets alone.
        regmixup_eta: RegMixup's weight eta of the mixed loss (Pinto et
            al., 2022), a finite float >= 0; `0` (default) turns it off.
            With eta > 0 each step trains on the clean batch and its mixed
            copy in one forward pass (of twice the batch, so batch
            normalisation sees both) on the loss `L(clean) + eta *
            L(mixed)`, with the compiled loss and the sample weights on
            each half; the training metrics are the clean half's. The paper
            pairs it with a large `alpha` (10 or 20). Needs mixup or CutMix
            on; see `mixup_model.methods.regmixup`.
        transmix_layer: TransMix (Chen et al., 2022), for vision
            transformers trained with CutMix: the name of the attention
            layer whose class-token attention reweighs the labels, a
            `keras.layers.MultiHeadAttention` or a block holding one (a
            KerasHub ViT block; name the last). The layer must see the class
            token first, then the patches in row-major order. A CutMix
            example's partner label gets the mean of the pasted area and
            the attention's share on the pasted patches, as the official
            `transmix_label` computes it; mixup examples keep their lambda.
            Needs `cutmix_alpha` > 0 and image inputs; see
            `mixup_model.methods.transmix`. Defaults to None (off).
        resizemix_alpha: ResizeMix's concentration (Qin et al., 2020, as
            mmpretrain's `ResizeMix`); `0` (default) turns it off. The whole
            partner image is shrunk (bilinear) into a box of the example
            whose side follows from lambda ~ Beta(alpha, alpha) scaled into
            `resizemix_lam_range`; the label weight is the area left. Images
            and videos (one box and scale through all frames).
        resizemix_lam_range: ResizeMix's `(lam_min, lam_max)`, default
            `(0.1, 0.8)`, mmpretrain's.
        fmix_alpha: FMix's concentration (Harris et al., 2020); `0`
            (default) turns it off. A binary mask from low-frequency
            Fourier noise keeps exactly `lam` of each example (ceil or
            floor of `lam * N` cells) and takes the rest from the partner;
            the label weight is the mask's mean. Sequences (1-D masks),
            images (2-D) and videos (3-D); per-pixel targets take the mask.
        fmix_decay_power: FMix's decay power of the noise's spectrum,
            default 3 (larger: smoother masks).
        fmix_max_soft: FMix's soft edge in [0, 0.5], default 0 (binary).
        method_probs: Optional dict from `"mixup"`, `"cutmix"`,
            `"resizemix"`, `"fmix"` to probabilities adding up to 1, one for
            each method that is on: each batch (pair, example, by `mode`)
            that is mixed uses one method, chosen with these probabilities,
            as mmpretrain's `RandomBatchAugment`. Defaults to equal
            probabilities when ResizeMix or FMix is on, and to `switch_prob`
            for mixup and CutMix alone; it replaces `switch_prob`.
        seed: Optional int seeding the mixup random generator, for
            reproducible runs. The generator's state is saved with the
            weights, so a resumed run continues the sequence.
        **kwargs: Passed to `keras.Model` (`name`, `trainable`, ...).

    Raises:
        ValueError: a setting is out of range (each error names the
            argument and what was received), `cutmix_alpha` or
            `mixed_inputs` is combined with `mix_layer`, or, at the first
            training step, `mix_layer` is not a layer of the model or
            nothing would be mixed.
        TypeError: `model` is not a `keras.Model`, or `inputs`/`outputs`
            are given to a subclass that is not functional.

    Example:

    ```python
    inner = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model = MixupModel(inner, alpha=0.2, seed=1)
    model.compile("adam", "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=2)
    model.evaluate(x_test, y_test)  # clean data
    ```
    """

    def __new__(cls, *args, **kwargs):
        # `keras.Model.__init__` turns a subclass called with
        # `(inputs, outputs)` into a Functional subclass by rewriting its
        # `__bases__`, which would break every later wrapped or subclassed
        # MixupModel. Route that call to a dedicated class instead.
        if cls is MixupModel and _functional_init_arguments(args, kwargs):
            return FunctionalMixupModel.__new__(
                FunctionalMixupModel, *args, **kwargs
            )
        # A KerasHub task keeps its preprocessing (`mixup_model.pipeline`).
        base = pipeline_base(args[0] if args else kwargs.get("model"))
        if base is not None:
            cls = with_pipeline(cls, base)
        return super().__new__(cls, *args, **kwargs)

    def __init__(
        self,
        model=None,
        *,
        alpha=0.2,
        cutmix_alpha=0.0,
        prob=1.0,
        switch_prob=0.5,
        lambda_mode="per_sample",
        label_smoothing=0.0,
        mix_layer=None,
        mixed_inputs=None,
        seed=None,
        cutmix_minmax=None,
        correct_lam=True,
        target_threshold=None,
        mode="batch",
        regmixup_eta=0.0,
        transmix_layer=None,
        resizemix_alpha=0.0,
        resizemix_lam_range=(0.1, 0.8),
        fmix_alpha=0.0,
        fmix_decay_power=3.0,
        fmix_max_soft=0.0,
        method_probs=None,
        **kwargs,
    ):
        if not isinstance(self, Functional) and _functional_init_arguments(
            (), kwargs
        ):
            raise TypeError(
                f"{type(self).__name__} got `inputs` and `outputs`. Build a "
                "functional model with `MixupModel(inputs=..., outputs=...)`"
                ", or subclass `mixup_model.FunctionalMixupModel` for a "
                "functional subclass."
            )
        if model is not None and not isinstance(model, keras.Model):
            raise argument_error(
                "model",
                "a keras.Model to wrap (or None when subclassing MixupModel)",
                model,
            )
        rates = [
            settings.validate_rate(name, value)
            for name, value in zip(
                RATE_NAMES,
                (alpha, cutmix_alpha, prob, switch_prob, resizemix_alpha, fmix_alpha),
            )
        ]
        lambda_mode = validate_lambda_mode(lambda_mode)
        mode = validate_mode(mode, lambda_mode)
        label_smoothing = validate_label_smoothing(label_smoothing)
        mix_layer = manifold.validate_mix_layer(mix_layer)
        mixed_inputs = settings.validate_mixed_inputs(mixed_inputs)
        seed = settings.validate_seed(seed)
        cutmix_minmax = check_box_fraction_range("cutmix_minmax", cutmix_minmax)
        correct_lam = check_bool("correct_lam", correct_lam)
        if target_threshold is not None:
            target_threshold = check_open_fraction("target_threshold", target_threshold)
        regmixup_eta = regmixup.validate_regmixup_eta(regmixup_eta)
        transmix_layer = transmix.validate_transmix_layer(transmix_layer)
        options = MethodOptions(
            cutmix_minmax=cutmix_minmax,
            correct_lam=correct_lam,
            resizemix_range=resizemix.validate_lam_range(resizemix_lam_range),
            fmix_decay_power=fmix.validate_decay_power(fmix_decay_power),
            fmix_max_soft=fmix.validate_max_soft(fmix_max_soft),
        )
        named_rates = Rates(*rates)
        probs = recipe_probs(
            method_probs,
            {key: getattr(named_rates, method.RATE)
             for key, method in zip(METHOD_KEYS, BATCH_METHODS)},
            named_rates.switch_prob,
        )
        settings.check_combinations(
            rates, mix_layer=mix_layer, mixed_inputs=mixed_inputs,
            cutmix_minmax=cutmix_minmax, regmixup_eta=regmixup_eta,
            transmix_layer=transmix_layer, alpha=alpha, cutmix_alpha=cutmix_alpha,
        )
        super().__init__(**kwargs)
        self.model = model
        self.lambda_mode = lambda_mode
        self.mode = mode
        self.label_smoothing = label_smoothing
        self.mix_layer = mix_layer
        self.seed = seed
        self.correct_lam = correct_lam
        self.target_threshold = target_threshold
        # Read when the step is traced: fixed at construction.
        object.__setattr__(self, "_regmixup_eta", regmixup_eta)
        self.transmix_layer = transmix_layer
        # Set past Keras's attribute tracking: settings, not layer state.
        object.__setattr__(self, "mixed_inputs", mixed_inputs)
        object.__setattr__(self, "cutmix_minmax", cutmix_minmax)
        object.__setattr__(self, "method_options", options)
        # None: the two-method recipe (`switch_prob`); else each method's
        # probability in `mixup_model.recipe.METHODS` order.
        object.__setattr__(self, "_recipe_probs", probs)
        object.__setattr__(
            self, "method_probs", None if method_probs is None else dict(method_probs)
        )
        object.__setattr__(
            self, "_constructor_rates", dict(zip(RATE_NAMES, rates))
        )
        # What the traced step contains; fixed, so that no rate change
        # can require a retrace.
        object.__setattr__(self, "_uses_mixup", rates[0] > 0)
        object.__setattr__(self, "_uses_cutmix", rates[1] > 0)
        object.__setattr__(self, "_uses_resizemix", named_rates.resizemix_alpha > 0)
        object.__setattr__(self, "_uses_fmix", named_rates.fmix_alpha > 0)
        # State like the random state, not a weight: set past Keras's
        # attribute tracking (a tracked variable would be a weight) and
        # listed in `variables` below, so that it travels through JAX's
        # step state; saved by `save_own_variables`.
        object.__setattr__(
            self,
            "mixup_rates",
            keras.Variable(
                np.array(rates, "float32"),
                trainable=False,
                dtype="float32",
                name="mixup_rates",
            ),
        )
        self.mixup_seed_generator = keras.random.SeedGenerator(
            seed, name="mixup_seed_generator"
        )
        object.__setattr__(
            self,
            "_step_draws",
            backend.StepDraws(self.mixup_seed_generator, self.mixup_rates),
        )
        if model is not None and model.built:
            self.built = True

    @property
    def regmixup_eta(self):
        """RegMixup's weight of the mixed loss (read-only: the traced step
        holds it)."""
        return self._regmixup_eta

    alpha = _rate_property("alpha")
    cutmix_alpha = _rate_property("cutmix_alpha")
    prob = _rate_property("prob")
    switch_prob = _rate_property("switch_prob")
    resizemix_alpha = _rate_property("resizemix_alpha")
    fmix_alpha = _rate_property("fmix_alpha")

    @property
    def variables(self):
        """Keras's variables, plus the mixup rates and, while
        `MixupTensorBoard` records, its statistics: model state like the
        random state, but not weights."""
        variables = super().variables
        rates = self.__dict__.get("mixup_rates")  # None until __init__ made it
        if rates is not None:
            variables.append(rates)
        if self.mixup_statistics is not None:
            variables += self.mixup_statistics.variables
        return variables

    def _lacks_method(self, name, value):
        """Whether rate `name` would switch on a method the step lacks."""
        method = METHOD_OF_RATE.get(name)
        return method is not None and value > 0 and self._constructor_rates[name] == 0

    def _set_rate(self, name, value):
        value = settings.validate_rate(name, value)
        if name == "switch_prob" and self._recipe_probs is not None:
            raise ValueError(
                "Cannot set `switch_prob`: this model's recipe chooses its "
                "methods by `method_probs` (ResizeMix or FMix is on, or "
                "`method_probs` was given), which `switch_prob` does not "
                f"change. Received: switch_prob={value!r}"
            )
        if self._lacks_method(name, value):
            raise ValueError(
                f"Cannot set `{name}` to {value}: this model was built with "
                f"{name}=0, so its train step has no {METHOD_OF_RATE[name].NAME}. "
                f"Build it with {name} > 0 (and schedule {name}=0 to pause it)."
            )
        rates = ops.convert_to_numpy(self.mixup_rates).copy()
        rates[RATE_NAMES.index(name)] = value
        self.mixup_rates.assign(rates)

    def call(self, inputs, training=None):
        if self.model is None:
            raise NotImplementedError(
                f"{type(self).__name__} must implement `call()`, or wrap a "
                "model: `MixupModel(model, alpha=...)`."
            )
        return self.model(inputs, training=training)

    # -- Mixing ---------------------------------------------------------------

    @property
    def _mixes_inputs(self):
        """Whether the traced step mixes the batch (static)."""
        return self._uses_mixup or self._cuts

    @property
    def _cuts(self):
        """Whether the traced step pastes regions of an input (static)."""
        return self._uses_cutmix or self._uses_resizemix or self._uses_fmix

    @property
    def _mixes_targets(self):
        """Whether the traced step changes the targets at all (static)."""
        return self._mixes_inputs or self.label_smoothing > 0

    def sample_mix_params(self, batch_size, image_size=None, mask_shape=None):
        """Draws the `MixParams` of one batch, with the current rates.

        Each call advances the model's random state. Each replica of a
        `tf.distribute` strategy (or each PyTorch process) folds its replica
        id into the seed, so replicas mix their local batches independently.

        Args:
            batch_size: Number of examples, an int or scalar int tensor.
            image_size: The sizes CutMix and ResizeMix cut along, needed
                for them: `(height, width)` of images (boxes) or `(steps,)`
                of sequences (segments).
            mask_shape: The static shape of FMix's masks, needed for FMix:
                `(steps,)`, `(height, width)` or `(frames, height, width)`.
        """
        sampler = functools.partial(
            self._draw_mix_params, batch_size, image_size, mask_shape
        )
        return self._step_draws(sampler, key=(batch_size, image_size, mask_shape))

    def _draw_mix_params(self, batch_size, image_size, mask_shape, seed, rates):
        """The draw from the step's seed and the rates' values: a function
        of these alone (eager PyTorch draws several steps at once)."""
        seed = backend.as_seed(seed)
        rates = Rates(*ops.unstack(rates, axis=0))
        if self._recipe_probs is not None:
            return sample_recipe_params(
                batch_size,
                backend.replica_seed(seed),
                rates=tuple(getattr(rates, method.RATE) for method in BATCH_METHODS),
                probs=self._recipe_probs,
                prob=rates.prob,
                lambda_mode=self.lambda_mode,
                mode=self.mode,
                cut_sizes=image_size,
                mask_shape=mask_shape,
                options=self.method_options,
            )
        sequence_length = None
        if image_size is not None and len(image_size) == 1:
            (sequence_length,), image_size = image_size, None
        return sample_batch_params(
            batch_size,
            backend.replica_seed(seed),
            alpha=rates.alpha,
            cutmix_alpha=rates.cutmix_alpha,
            prob=rates.prob,
            switch_prob=rates.switch_prob,
            lambda_mode=self.lambda_mode,
            image_size=image_size,
            sequence_length=sequence_length,
            mixup=self._uses_mixup,
            cutmix=self._uses_cutmix,
            cutmix_minmax=self.cutmix_minmax,
            correct_lam=self.correct_lam,
            mode=self.mode,
        )

    def _cut_input(self, x):
        """The input that CutMix, ResizeMix and FMix cut (None without
        them), or raises."""
        if not self._cuts:
            return None
        rate = next(
            name for name, on in (
                ("cutmix_alpha", self._uses_cutmix),
                ("resizemix_alpha", self._uses_resizemix),
                ("fmix_alpha", self._uses_fmix),
            ) if on
        )
        cut = first_cut_input(x, self.mixed_inputs)
        shapes = [tuple(t.shape) for t in tree.flatten(x)]
        if self._uses_resizemix and (cut is None or len(cut.shape) not in BOX_RANKS):
            raise ValueError(
                "`resizemix_alpha` > 0 needs an image input of rank 4 "
                "(batch, height, width, channels) or a video input of rank 5 "
                "(batch, frames, height, width, channels) to paste resized "
                f"partners into; the model's inputs have shapes {shapes}."
            )
        if cut is None:
            raise ValueError(
                f"`{rate}` > 0 needs an image input of rank 4 "
                "(batch, height, width, channels), a video input of rank 5 "
                "(batch, frames, height, width, channels) or a sequence input "
                "of rank 3 (batch, steps, channels) to paste cuts into; the "
                f"model's inputs have shapes {shapes}."
            )
        if self._uses_resizemix and None in static_cut_dims(cut):
            raise ValueError(
                "`resizemix_alpha` > 0 needs the height and width of the "
                "images it pastes into to be known when the step is traced "
                "(the resize has static shapes); the model's inputs have "
                f"shapes {shapes}."
            )
        if self._uses_fmix and None in fmix.mask_shape_of(cut):
            raise ValueError(
                "`fmix_alpha` > 0 needs the sizes of the input it masks to be "
                "known when the step is traced (FMix's Fourier noise has a "
                f"static shape); the model's inputs have shapes {shapes}."
            )
        return cut

    def _begin_mixed_step(self, data):
        """Draws and applies the batch's mixing; the backend's `train_step`
        runs it before Keras's own step.

        Returns:
            None when the step is Keras's unchanged (nothing to mix or
            record), else `(MixedStep, data with the mixed inputs)`.
        """
        statistics = self.mixup_statistics
        if not self._mixes_targets and statistics is None:
            return None
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        batch_size = batch_size_of(x)
        mixes = self._mixes_inputs
        manifold_step = mixes and self.mix_layer is not None
        if mixes and not manifold_step:
            self._check_inputs_are_mixed(x)  # before anything is drawn
        cut_input = self._cut_input(x) if mixes and not manifold_step else None
        if mixes:
            # `mask_shape` only with FMix: a subclass's `sample_mix_params`
            # written before it existed keeps working without it.
            masks = {"mask_shape": fmix.mask_shape_of(cut_input)} if self._uses_fmix else {}
            params = self.sample_mix_params(
                batch_size,
                image_size=None if cut_input is None else image_size_of(cut_input),
                **masks,
            )
            self._warn_if_loss_smooths_labels()
        else:  # targets only smoothed, or statistics to record
            params = identity_params(batch_size)
        mixed_x = x
        if manifold_step:
            manifold.hook_mix_layer(self)
        elif mixes:
            mixed_x = mix_inputs(x, params, self.mixed_inputs)
        if statistics is not None:
            clean_pred = None
            if statistics.clean_accuracy:
                clean_pred = ops.stop_gradient(self(x, training=False))
            # The mixed batch exactly as the model sees it (with `mix_layer`
            # there is no mixed input to show).
            statistics.update(params, None if manifold_step else mixed_x, y, clean_pred)
        step = MixedStep(
            params,
            manifold_pending=manifold_step,
            cut_dims=None if cut_input is None else static_cut_dims(cut_input),
        )
        if mixes and self.transmix_layer is not None:
            transmix.capture_attention(self, cut_input)
            step.wants_attention = True
        if mixes and self.regmixup_eta > 0:
            # One forward pass over the clean batch and its mixed copy (with
            # `mix_layer`, the hook mixes the second half of its outputs).
            mixed_x = regmixup.begin(step, x, mixed_x, batch_size)
        return step, keras.utils.pack_x_y_sample_weight(mixed_x, y, sample_weight)

    @contextlib.contextmanager
    def _mixing(self, step):
        """Makes `compute_loss`, `compute_metrics` and the `mix_layer` hook
        of this model see `step` while Keras's own train step is traced
        (it does the forward pass, loss scaling, gradients and metrics)."""
        steps = self._traced_steps()
        steps.current = step
        try:
            yield
        finally:
            steps.current = None

    def _check_inputs_are_mixed(self, x):
        """Raises unless at least one input will be mixed.

        Mixed targets with unmixed inputs would train the model towards
        partner labels of examples it never saw: label noise, not mixup.
        """
        if any(tree.flatten(selected_inputs(x, self.mixed_inputs))):
            return
        raise ValueError(
            "MixupModel has no input to mix: its inputs are "
            f"{describe_inputs(x)}, and signed integer and boolean inputs "
            "(ids, masks) are never blended unless named in `mixed_inputs`. "
            "Mixing only the targets would train on partner labels of inputs "
            "the model never sees. For token ids, mix their embeddings: "
            f"pass {self._embedding_suggestion()} (manifold mixup). To blend "
            "an input anyway, list it in `mixed_inputs=[...]`. Received: "
            f"mixed_inputs={self.mixed_inputs!r}."
        )

    def _embedding_suggestion(self):
        """`mix_layer='<the model's token embedding>'` (of the largest
        vocabulary, not a segment's), for error messages."""
        embeddings = [
            layer
            for layer in self._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, keras.layers.Embedding)
        ]
        if embeddings:
            tokens = max(embeddings, key=lambda layer: layer.input_dim)
            return f"`mix_layer={tokens.name!r}`, the model's token embedding"
        return "`mix_layer=` the name of the embedding layer"

    def _warn_if_loss_smooths_labels(self):
        if self.__dict__.get("_warned_loss_smoothing"):
            return
        smoothing = [
            getattr(loss, "label_smoothing", 0) or 0
            for loss in tree.flatten(self.loss)
            if loss is not None
        ]
        if any(value > 0 for value in smoothing):
            warnings.warn(
                f"The compiled loss has label_smoothing={max(smoothing)} and "
                "this MixupModel mixes the targets too: mixed targets are "
                "already soft, and the two tend not to combine well (see the "
                "keras.io mixup example). Prefer one of them, or "
                "MixupModel(label_smoothing=...) to smooth explicitly.",
                UserWarning,
                stacklevel=2,
            )
            object.__setattr__(self, "_warned_loss_smoothing", True)

    @property
    def mixup_statistics(self):
        """The `MixupStatistics` recorded by the train step, or None."""
        return self.__dict__.get("_mixup_statistics")

    def set_mixup_statistics(self, statistics):
        """Starts (or with None, stops) recording `MixupStatistics`.

        `mixup_model.MixupTensorBoard` calls this. The train step is traced
        once per statistics object and `compile`, so switching back and forth
        between fits does not trace it again. The statistics are not part of
        the model's state and are never saved with it.
        """
        # Kept past Keras's attribute tracking: none of this is model state.
        traced = self.__dict__.setdefault("_traced_train_functions", {})
        # Keras makes a new compile config at each `compile()`, which also
        # drops its traced step: a step cached under another one is stale.
        compiled_as = getattr(self, "_compile_config", None)
        current = self.mixup_statistics
        if self.train_function is not None:
            traced[id(current)] = (current, compiled_as, self.train_function)
        object.__setattr__(self, "_mixup_statistics", statistics)
        cached = traced.get(id(statistics))
        fresh = (
            cached is not None
            and cached[0] is statistics
            and cached[1] is compiled_as
        )
        self.train_function = cached[2] if fresh else None

    def _traced_steps(self):
        # Per thread: `tf.distribute` traces each replica's step in its own
        # thread.
        steps = self.__dict__.get("_steps")
        if steps is None:
            steps = threading.local()
            object.__setattr__(self, "_steps", steps)
        return steps

    def _traced_step(self):
        """The `MixedStep` of the train step being traced, else None."""
        return getattr(self._traced_steps(), "current", None)

    def _mixed_targets(self, y, y_pred, sample_weight, for_loss=False):
        """The `MixedTargets` of the batch being trained, else None.

        Computed once for the loss and the metrics where the backend runs
        both on the same tensors (TensorFlow, PyTorch); on JAX, afresh for
        each (see `LOSS_VALUES_REACH_METRICS`). With TransMix only the
        loss's targets take the attention's weights (on JAX the attention
        lives inside the gradient's trace, which the metrics run outside);
        the metrics' take the pasted areas, on every backend.
        """
        step = self._traced_step()
        if step is None or y is None or not self._mixes_targets:
            return None
        manifold.check_layer_was_called(step, self.mix_layer)
        arguments = (y, y_pred, sample_weight)
        if step.targets is not None and all(
            a is b for a, b in zip(step.targets[0], arguments)
        ):
            return step.targets[1]
        transmixed = step.wants_attention and for_loss
        params = transmix.step_params(step, self) if transmixed else step.params
        targets = mix_targets(
            y, y_pred, sample_weight, params,
            label_smoothing=self.label_smoothing,
            target_threshold=self.target_threshold,
            cut_dims=step.cut_dims,
        )
        if self.LOSS_VALUES_REACH_METRICS and not transmixed:
            step.targets = (arguments, targets)
        return targets

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        step = self._traced_step()
        if step is not None and step.clean_size is not None and y is not None:
            return regmixup.loss(self, x, y, y_pred, sample_weight, training, step)
        targets = self._mixed_targets(y, y_pred, sample_weight, for_loss=True)
        if targets is None:
            return super().compute_loss(
                x, y, y_pred, sample_weight, training=training
            )
        return self._loss_of_terms(x, targets.loss_terms, y_pred, training)

    def _loss_of_terms(self, x, terms, y_pred, training, regularization=True):
        """The sum of the compiled loss over `[(y, sample_weight)]` terms.

        With `regularization`, the first term goes through Keras's
        `compute_loss`, which also adds the regularization and `add_loss`
        terms, exactly once.
        """
        (first_y, first_w), *more_terms = terms
        if regularization:
            loss = super().compute_loss(x, first_y, y_pred, first_w, training=training)
        elif self._compile_loss is not None:
            loss = self._compile_loss(first_y, y_pred, first_w)
        else:
            return ops.zeros(())
        for term_y, term_w in more_terms:
            if self._compile_loss is not None:
                loss = loss + self._compile_loss(term_y, y_pred, term_w)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        step = self._traced_step()
        if step is not None and step.clean_size is not None and y is not None:
            # RegMixup: the metrics of the clean half, against its own targets.
            clean_pred = regmixup.clean_outputs(y_pred, step)
            return super().compute_metrics(x, y, clean_pred, sample_weight)
        targets = self._mixed_targets(y, y_pred, sample_weight)
        if targets is None:
            return super().compute_metrics(x, y, y_pred, sample_weight)
        return super().compute_metrics(
            x, targets.metric_y, y_pred, targets.metric_sample_weight
        )

    def summary(self, *args, expand_nested=None, print_fn=None, **kwargs):
        """Keras's summary, with a wrapped model's layers and the mixup settings.

        Args:
            expand_nested: As in `keras.Model.summary`; defaults to `True`
                for a wrapped model, whose layers are otherwise one row.
            *args, print_fn, **kwargs: As in `keras.Model.summary`.
        """
        if expand_nested is None:
            expand_nested = self.model is not None
        super().summary(
            *args, expand_nested=expand_nested, print_fn=print_fn, **kwargs
        )
        shown = {**self.mixup_config(), **self.current_rates()}
        text = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        (print_fn or print)(f" Mixup: {text}")

    # -- Saving ---------------------------------------------------------------

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store[SEED_STATE_KEY] = ops.convert_to_numpy(self.mixup_seed_generator.state)
        store[RATES_KEY] = ops.convert_to_numpy(self.mixup_rates)

    def load_own_variables(self, store):
        ours = (SEED_STATE_KEY, RATES_KEY)
        own = {k: store[k] for k in store.keys() if k not in ours}
        super().load_own_variables(own)
        if SEED_STATE_KEY in store.keys():
            self.mixup_seed_generator.state.assign(store[SEED_STATE_KEY])
        if RATES_KEY in store.keys():
            stored = np.asarray(store[RATES_KEY], "float32")
            # Saved before the later rates existed: they keep this model's.
            rates = ops.convert_to_numpy(self.mixup_rates).copy()
            rates[: len(stored)] = stored
            for index, name in enumerate(RATE_NAMES[: len(stored)]):
                if self._lacks_method(name, rates[index]):
                    # E.g. a mixup checkpoint loaded into a baseline model:
                    # the weights load, the method stays off.
                    warnings.warn(
                        f"The loaded weights were trained with {name}="
                        f"{rates[index]:g}, but this model was built with "
                        f"{name}=0; it keeps {name}=0.",
                        UserWarning,
                        stacklevel=2,
                    )
                    rates[index] = 0.0
            self.mixup_rates.assign(rates)

    def current_rates(self):
        """The rates as the step uses them now (a schedule may move them)."""
        rates = ops.convert_to_numpy(self.mixup_rates)
        return dict(zip(RATE_NAMES, map(settings.decimal, rates)))

    def mixup_config(self):
        """The mixup settings, as passed to the constructor."""
        return {
            **self._constructor_rates,
            "lambda_mode": self.lambda_mode,
            "mode": self.mode,
            "label_smoothing": self.label_smoothing,
            "mix_layer": self.mix_layer,
            "mixed_inputs": (
                None if self.mixed_inputs is None else list(self.mixed_inputs)
            ),
            "seed": self.seed,
            "cutmix_minmax": (
                None if self.cutmix_minmax is None else list(self.cutmix_minmax)
            ),
            "correct_lam": self.correct_lam,
            "target_threshold": self.target_threshold,
            "regmixup_eta": self.regmixup_eta,
            "transmix_layer": self.transmix_layer,
            "resizemix_lam_range": list(self.method_options.resizemix_range),
            "fmix_decay_power": self.method_options.fmix_decay_power,
            "fmix_max_soft": self.method_options.fmix_max_soft,
            "method_probs": (
                None if self.method_probs is None else dict(self.method_probs)
            ),
        }

    def get_config(self):
        if self.model is None:
            config = super().get_config()
        else:
            config = {
                "name": self.name,
                "trainable": self.trainable,
                "model": keras.saving.serialize_keras_object(self.model),
            }
        config.update(self.mixup_config())
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if isinstance(config.get("model"), dict):
            config = dict(config)
            config["model"] = keras.saving.deserialize_keras_object(
                config["model"], custom_objects=custom_objects
            )
            return cls(**config)
        return super().from_config(config, custom_objects=custom_objects)


@keras.saving.register_keras_serializable(package="mixup_model")
class FunctionalMixupModel(MixupModel, Functional):
    """A functional `MixupModel`: `MixupModel(inputs=..., outputs=...)`.

    It is a real Keras functional model (`layers`, `get_layer`, `summary`,
    serialization) that trains with mixup. Subclass it for a functional
    subclass that builds its graph in `__init__`.

    Args:
        inputs: The model's input tensor(s), from `keras.Input`.
        outputs: The model's output tensor(s).
        name: Optional model name.
        **kwargs: The mixup settings of `MixupModel` (`alpha`,
            `cutmix_alpha`, `prob`, `switch_prob`, `lambda_mode`,
            `label_smoothing`, `mix_layer`, `mixed_inputs`, `seed`,
            `cutmix_minmax`, `correct_lam`, `target_threshold`, `mode`,
            `regmixup_eta`, `transmix_layer`, `resizemix_alpha`,
            `resizemix_lam_range`, `fmix_alpha`, `fmix_decay_power`,
            `fmix_max_soft`, `method_probs`), and `keras.Model` arguments
            (`trainable`, ...).

    Example:

    ```python
    inputs = keras.Input((16,))
    outputs = keras.layers.Dense(3, activation="softmax")(inputs)
    model = MixupModel(inputs=inputs, outputs=outputs, alpha=0.4)
    ```
    """

    # `(inputs, outputs, name=None, **kwargs)`, spelled `(*args, **kwargs)`:
    # Keras serializes the graph of a Functional subclass only if it
    # recognises the constructor as functional, and Keras 3.6 to 3.14 see
    # `Functional.__init__` itself as `(*args, **kwargs)` (a decorator wraps
    # it); Keras 3.15 accepts that form too.
    def __init__(self, *args, **kwargs):
        if len(args) > len(_FUNCTIONAL_ARGUMENTS):
            raise TypeError(
                "FunctionalMixupModel takes (inputs, outputs, name=None) "
                "positionally; pass the mixup settings by name. Received: "
                f"{len(args)} positional arguments, the last "
                f"{args[len(_FUNCTIONAL_ARGUMENTS):]!r}"
            )
        for name, value in zip(_FUNCTIONAL_ARGUMENTS, args):
            if name in kwargs:
                raise TypeError(
                    f"FunctionalMixupModel got `{name}` both by position and "
                    f"by name. Received: {name}={kwargs[name]!r}"
                )
            kwargs[name] = value
        # MixupModel.__init__ forwards `inputs`/`outputs` to
        # `Functional.__init__`, next in the MRO.
        super().__init__(**kwargs)

    call = Functional.call

    def get_config(self):
        config = Functional.get_config(self)
        config.update(self.mixup_config())
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if cls.__init__ is not FunctionalMixupModel.__init__ or not all(
            key in config for key in _GRAPH_CONFIG_KEYS
        ):
            # A subclass with a constructor of its own, or a config without
            # a graph: Keras's fallback, `cls(**config)`.
            return super().from_config(config, custom_objects=custom_objects)
        # Keras rebuilds the graph; the settings are passed on here, since
        # Keras before 3.7 drops every key it does not know.
        graph = functional_from_config(
            _FunctionalArguments, dict(config), custom_objects=custom_objects
        )
        mixup_settings = {
            k: v
            for k, v in config.items()
            if k not in _GRAPH_CONFIG_KEYS + ("name", "trainable")
        }
        return cls(
            inputs=graph.inputs,
            outputs=graph.outputs,
            name=graph.name,
            trainable=graph.trainable,
            **mixup_settings,
        )


_FUNCTIONAL_ARGUMENTS = ("inputs", "outputs", "name")
_GRAPH_CONFIG_KEYS = ("layers", "input_layers", "output_layers")


class _FunctionalArguments:
    """What `functional_from_config` passes to the class it rebuilds: the
    graph's input and output tensors, as a `FunctionalMixupModel` takes them."""

    def __init__(self, inputs, outputs, name=None, trainable=True, **unused):
        self.inputs = inputs
        self.outputs = outputs
        self.name = name
        self.trainable = True if trainable is None else trainable
