"""Explanations clinicians can check: Grad-CAM maps of tile classifiers, stitched to mosaics.

torch is imported on first use (PEP 562), as in `rcm.infer`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rcm._lazy import lazy_attributes

if TYPE_CHECKING:
    from rcm.explain._gradcam import class_activation_maps
    from rcm.explain._options import CamMethod, ExplainOptions
    from rcm.explain._run import ExplainResult, explain_output

_HOME = {
    "CamMethod": "_options",
    "class_activation_maps": "_gradcam",
    "ExplainOptions": "_options",
    "ExplainResult": "_run",
    "explain_output": "_run",
}
__all__ = [
    "CamMethod",
    "ExplainOptions",
    "ExplainResult",
    "class_activation_maps",
    "explain_output",
]


__getattr__ = lazy_attributes(__name__, _HOME)
