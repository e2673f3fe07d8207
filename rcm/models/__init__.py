"""Models behind one small interface, self-describing model files and a store.

Classifiers come from timm, detectors from torchvision or Detectron2, segmenters
from segmentation_models_pytorch.

Attributes are imported on first use (PEP 562): torch and timm take seconds to
import. `Task`, `TASKS` and `ModelMeta` are plain data and cost nothing; any
other attribute first fills the window-model registry with rcm's families.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rcm.errors import BackendMissingError
    from rcm.models._build import build_network, family_of
    from rcm.models._calibration import CALIBRATION_METHODS, Calibration, CalibrationMethod
    from rcm.models._detectron2 import detectron2_available
    from rcm.models._families import (
        WINDOW_MODELS,
        WindowDetections,
        WindowFamily,
        WindowTask,
        register_window_model,
        window_family,
    )
    from rcm.models._import import detectron2_meta, import_weights
    from rcm.models._inputs import normalise, to_model_input, to_unit
    from rcm.models._load import LoadedModel, load_model
    from rcm.models._meta import TILE_PX_RANGE, ModelMeta
    from rcm.models._modelfile import (
        check_fits,
        read_meta,
        read_model_file,
        save_model,
        save_state,
    )
    from rcm.models._photo_detectors import (
        DEFAULT_BACKBONE,
        PHOTO_DETECTOR_DEFAULTS,
        PHOTO_DETECTOR_SETTINGS,
        PHOTO_DETECTORS,
        DetectionLimits,
        PhotoDetectOptions,
        PhotoDetectorSpec,
        PhotoTransform,
        build_photo_detector,
        check_photo_detector,
        detect_photos,
        photo_label_offset,
        resized_size,
    )
    from rcm.models._registry import (
        CLASSIFIERS,
        Architecture,
        build_classifier,
        register_classifier,
        resolve_architecture,
    )
    from rcm.models._smp_segmenters import WINDOW_MULTIPLE, build_smp_segmenter
    from rcm.models._store import ModelStore, StoreEntry, rcm_home
    from rcm.models._task import MOSAIC_TASKS, PHOTO_TASKS, TASKS, WINDOW_TASKS, Task
    from rcm.models._torchvision_detectors import build_torchvision_detector

_PLAIN = {
    "TASKS": "_task",
    "Task": "_task",
    "WINDOW_TASKS": "_task",
    "MOSAIC_TASKS": "_task",
    "PHOTO_TASKS": "_task",
    "Calibration": "_calibration",
    "CalibrationMethod": "_calibration",
    "CALIBRATION_METHODS": "_calibration",
    "ModelMeta": "_meta",
    "TILE_PX_RANGE": "_meta",
}
_HOME = {
    **_PLAIN,
    "BackendMissingError": "_detectron2",
    "build_network": "_build",
    "family_of": "_build",
    "detectron2_available": "_detectron2",
    "WINDOW_MODELS": "_families",
    "WindowDetections": "_families",
    "WindowFamily": "_families",
    "WindowTask": "_families",
    "register_window_model": "_families",
    "window_family": "_families",
    "detectron2_meta": "_import",
    "import_weights": "_import",
    "normalise": "_inputs",
    "to_model_input": "_inputs",
    "to_unit": "_inputs",
    "LoadedModel": "_load",
    "load_model": "_load",
    "check_fits": "_modelfile",
    "read_meta": "_modelfile",
    "read_model_file": "_modelfile",
    "save_model": "_modelfile",
    "save_state": "_modelfile",
    "DEFAULT_BACKBONE": "_photo_detectors",
    "PHOTO_DETECTORS": "_photo_detectors",
    "PHOTO_DETECTOR_DEFAULTS": "_photo_detectors",
    "PHOTO_DETECTOR_SETTINGS": "_photo_detectors",
    "DetectionLimits": "_photo_detectors",
    "PhotoDetectOptions": "_photo_detectors",
    "PhotoDetectorSpec": "_photo_detectors",
    "PhotoTransform": "_photo_detectors",
    "build_photo_detector": "_photo_detectors",
    "check_photo_detector": "_photo_detectors",
    "detect_photos": "_photo_detectors",
    "photo_label_offset": "_photo_detectors",
    "resized_size": "_photo_detectors",
    "CLASSIFIERS": "_registry",
    "Architecture": "_registry",
    "build_classifier": "_registry",
    "register_classifier": "_registry",
    "resolve_architecture": "_registry",
    "WINDOW_MULTIPLE": "_smp_segmenters",
    "build_smp_segmenter": "_smp_segmenters",
    "ModelStore": "_store",
    "StoreEntry": "_store",
    "rcm_home": "_store",
    "build_torchvision_detector": "_torchvision_detectors",
}
__all__ = [
    "Architecture",
    "BackendMissingError",
    "CLASSIFIERS",
    "LoadedModel",
    "ModelMeta",
    "ModelStore",
    "StoreEntry",
    "TASKS",
    "TILE_PX_RANGE",
    "Task",
    "WINDOW_MODELS",
    "WINDOW_MULTIPLE",
    "WINDOW_TASKS",
    "MOSAIC_TASKS",
    "PHOTO_TASKS",
    "DEFAULT_BACKBONE",
    "PHOTO_DETECTORS",
    "PHOTO_DETECTOR_SETTINGS",
    "PHOTO_DETECTOR_DEFAULTS",
    "DetectionLimits",
    "PhotoDetectOptions",
    "PhotoDetectorSpec",
    "PhotoTransform",
    "Calibration",
    "CalibrationMethod",
    "CALIBRATION_METHODS",
    "WindowDetections",
    "WindowFamily",
    "WindowTask",
    "build_classifier",
    "build_network",
    "build_photo_detector",
    "check_photo_detector",
    "build_smp_segmenter",
    "build_torchvision_detector",
    "check_fits",
    "detectron2_available",
    "detectron2_meta",
    "detect_photos",
    "family_of",
    "import_weights",
    "load_model",
    "normalise",
    "photo_label_offset",
    "rcm_home",
    "read_meta",
    "read_model_file",
    "resized_size",
    "register_classifier",
    "register_window_model",
    "resolve_architecture",
    "save_model",
    "save_state",
    "to_model_input",
    "to_unit",
    "window_family",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _PLAIN:  # registry lookups must see every built-in family
        importlib.import_module(f"{__name__}._adapters")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
