"""mixup data augmentation inside Keras's compiled training step."""

import keras

from mixup_model.versions import check_keras_version

# Before anything that needs a newer Keras: one clear error instead.
check_keras_version(keras.__version__)

from mixup_model.beta import sample_beta
from mixup_model.callbacks import MixupOff
from mixup_model.callbacks import MixupScheduler
from mixup_model.callbacks import linear_ramp
from mixup_model.calibration import ExpectedCalibrationError
from mixup_model.methods import CutMix
from mixup_model.methods import FMix
from mixup_model.methods import Mixup
from mixup_model.methods import ResizeMix
from mixup_model.methods.cutmix import paste_boxes
from mixup_model.methods.cutmix import paste_segments
from mixup_model.methods.mixup import blend
from mixup_model.methods.mixup import sample_mix_params
from mixup_model.mixing import mix_inputs
from mixup_model.params import MixParams
from mixup_model.recipe import OneOf
from mixup_model.sampling import sample_batch_params
from mixup_model.targets import mix_targets
from mixup_model.model import MixupModel
from mixup_model.functional import FunctionalMixupModel
from mixup_model.ood import auroc
from mixup_model.ood import max_softmax_probability
from mixup_model.ood import msp_auroc
from mixup_model.statistics import MixupStatistics
from mixup_model.tensorboard import MixupTensorBoard

__version__ = "0.2.0"

__all__ = [
    "CutMix",
    "ExpectedCalibrationError",
    "FMix",
    "FunctionalMixupModel",
    "MixParams",
    "Mixup",
    "MixupModel",
    "MixupOff",
    "MixupScheduler",
    "MixupStatistics",
    "MixupTensorBoard",
    "OneOf",
    "ResizeMix",
    "auroc",
    "blend",
    "linear_ramp",
    "max_softmax_probability",
    "mix_inputs",
    "mix_targets",
    "msp_auroc",
    "paste_boxes",
    "paste_segments",
    "sample_beta",
    "sample_batch_params",
    "sample_mix_params",
]
