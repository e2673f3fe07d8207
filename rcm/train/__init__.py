"""Training: classifiers, detectors and segmenters from labelled mosaics (``rcm train``)."""

from rcm.train._config import (
    AugmentConfig,
    DataConfig,
    ModelConfig,
    OptimConfig,
    RuntimeConfig,
    TrainConfig,
    load_config,
)
from rcm.train._loop import TrainResult, TrainState, WarmupCosine, fit
from rcm.train._run import describe, train

__all__ = [
    "AugmentConfig",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "RuntimeConfig",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "WarmupCosine",
    "describe",
    "fit",
    "load_config",
    "train",
]
