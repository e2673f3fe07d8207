"""Models behind one small interface, self-describing model files and a store.

Classifiers come from timm, detectors from torchvision or Detectron2, segmenters
from segmentation_models_pytorch.
"""

# Importing the adapter modules fills the registries (Detectron2 itself is imported lazily).
from rcm.errors import BackendMissingError
from rcm.models import _detectron2, _smp_segmenters, _torchvision_detectors  # noqa: F401
from rcm.models._build import build_network, family_of
from rcm.models._detectron2 import detectron2_available
from rcm.models._families import (
    WINDOW_MODELS,
    WindowDetections,
    WindowFamily,
    register_window_model,
    window_family,
)
from rcm.models._modelfile import LoadedModel, ModelMeta, load_model, read_meta, save_model
from rcm.models._registry import (
    CLASSIFIERS,
    Architecture,
    build_classifier,
    register_classifier,
    resolve_architecture,
)
from rcm.models._store import ModelStore, StoreEntry, rcm_home

__all__ = [
    "CLASSIFIERS",
    "WINDOW_MODELS",
    "Architecture",
    "BackendMissingError",
    "LoadedModel",
    "ModelMeta",
    "ModelStore",
    "StoreEntry",
    "WindowDetections",
    "WindowFamily",
    "build_classifier",
    "build_network",
    "detectron2_available",
    "family_of",
    "load_model",
    "rcm_home",
    "read_meta",
    "register_classifier",
    "register_window_model",
    "resolve_architecture",
    "save_model",
    "window_family",
]
