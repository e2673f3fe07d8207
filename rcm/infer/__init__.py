"""Running models over mosaics: prefetching tile reader, device runner, per-mosaic outputs.

Attributes are imported on first use (PEP 562): torch and timm take seconds to
import, and commands that never run a model should not pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rcm._lazy import lazy_attributes

if TYPE_CHECKING:
    from rcm.infer._classify import ClassifyResult, classify_mosaic
    from rcm.infer._options import ClassifyOptions
    from rcm.infer._reader import TileBatch, TileReader
    from rcm.infer._runner import Predictor, pick_device, prepare
    from rcm.infer._window_options import WindowOptions
    from rcm.infer._windows import WindowResult, detect_mosaic

_HOME = {
    "ClassifyOptions": "_options",
    "ClassifyResult": "_classify",
    "classify_mosaic": "_classify",
    "TileBatch": "_reader",
    "TileReader": "_reader",
    "Predictor": "_runner",
    "pick_device": "_runner",
    "prepare": "_runner",
    "WindowOptions": "_window_options",
    "WindowResult": "_windows",
    "detect_mosaic": "_windows",
}
__all__ = [
    "ClassifyOptions",
    "ClassifyResult",
    "Predictor",
    "TileBatch",
    "TileReader",
    "WindowOptions",
    "WindowResult",
    "classify_mosaic",
    "detect_mosaic",
    "pick_device",
    "prepare",
]


__getattr__ = lazy_attributes(__name__, _HOME)
