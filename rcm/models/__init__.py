"""Models behind one small interface: timm classifiers, self-describing model files, a store."""

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
    "Architecture",
    "LoadedModel",
    "ModelMeta",
    "ModelStore",
    "StoreEntry",
    "build_classifier",
    "load_model",
    "rcm_home",
    "read_meta",
    "register_classifier",
    "resolve_architecture",
    "save_model",
]
