"""mixup data augmentation inside Keras's compiled training step."""

from mixup_model.beta import sample_beta
from mixup_model.mixing import MixParams
from mixup_model.mixing import blend
from mixup_model.mixing import mix_inputs
from mixup_model.mixing import mix_targets
from mixup_model.mixing import sample_mix_params
from mixup_model.model import FunctionalMixupModel
from mixup_model.model import MixupModel
from mixup_model.statistics import MixupStatistics
from mixup_model.tensorboard import MixupTensorBoard

__version__ = "0.1.0"

__all__ = [
    "FunctionalMixupModel",
    "MixParams",
    "MixupModel",
    "MixupStatistics",
    "MixupTensorBoard",
    "blend",
    "mix_inputs",
    "mix_targets",
    "sample_beta",
    "sample_mix_params",
]
