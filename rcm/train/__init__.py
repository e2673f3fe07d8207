"""Training (``rcm train``): mosaic classifiers, detectors, segmenters; photo classifiers."""

from rcm.train._config import (
    AugmentConfig,
    DataConfig,
    ModelConfig,
    OptimConfig,
    PhotoConfig,
    RuntimeConfig,
    TrainConfig,
    load_config,
)
from rcm.train._loop import fit
from rcm.train._run import describe, train
from rcm.train._schedule import WarmupCosine
from rcm.train._state import TrainResult, TrainState

__all__ = [
    "AugmentConfig",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "PhotoConfig",
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
