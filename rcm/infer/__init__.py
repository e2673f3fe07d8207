"""Running models over mosaics and photo sets: prefetching readers, device runners, outputs.

Attributes are imported on first use (PEP 562): torch and timm take seconds to
import, and commands that never run a model should not pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rcm._lazy import lazy_attributes

if TYPE_CHECKING:
    from rcm.infer._accumulate import MapAccumulator, progress_bar
    from rcm.infer._classify import classify_mosaic
    from rcm.infer._options import ClassifyOptions, RunOptions
    from rcm.infer._photo_inputs import (
        PhotoInputs,
        PhotoItem,
        looks_like_mosaic,
        looks_like_photos,
        photo_inputs,
        photo_set_digest,
    )
    from rcm.infer._photo_options import PhotoDetectorOptions, PhotoOptions
    from rcm.infer._photos import PhotoRunResult, infer_photos
    from rcm.infer._reader import TileBatch, TileReader
    from rcm.infer._result import MosaicResult
    from rcm.infer._runner import Predictor, pick_device, prepare
    from rcm.infer._shared import read_workers
    from rcm.infer._window_options import WindowOptions
    from rcm.infer._windows import detect_mosaic

_HOME = {
    "PhotoInputs": "_photo_inputs",
    "PhotoItem": "_photo_inputs",
    "looks_like_mosaic": "_photo_inputs",
    "looks_like_photos": "_photo_inputs",
    "photo_inputs": "_photo_inputs",
    "photo_set_digest": "_photo_inputs",
    "PhotoDetectorOptions": "_photo_options",
    "PhotoOptions": "_photo_options",
    "PhotoRunResult": "_photos",
    "infer_photos": "_photos",
    "ClassifyOptions": "_options",
    "RunOptions": "_options",
    "MapAccumulator": "_accumulate",
    "MosaicResult": "_result",
    "classify_mosaic": "_classify",
    "TileBatch": "_reader",
    "TileReader": "_reader",
    "Predictor": "_runner",
    "pick_device": "_runner",
    "prepare": "_runner",
    "progress_bar": "_accumulate",
    "read_workers": "_shared",
    "WindowOptions": "_window_options",
    "detect_mosaic": "_windows",
}
__all__ = [
    "PhotoDetectorOptions",
    "PhotoInputs",
    "PhotoItem",
    "PhotoOptions",
    "PhotoRunResult",
    "infer_photos",
    "looks_like_mosaic",
    "looks_like_photos",
    "photo_inputs",
    "photo_set_digest",
    "ClassifyOptions",
    "MapAccumulator",
    "MosaicResult",
    "Predictor",
    "RunOptions",
    "TileBatch",
    "TileReader",
    "WindowOptions",
    "classify_mosaic",
    "detect_mosaic",
    "pick_device",
    "prepare",
    "progress_bar",
    "read_workers",
]


__getattr__ = lazy_attributes(__name__, _HOME)
