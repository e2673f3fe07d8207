"""Importing this module fills the window-model registry with rcm's own families.

Detectron2 itself is imported only when a Detectron2 model is built.
"""

import rcm.models._detectron2
import rcm.models._smp_segmenters
import rcm.models._torchvision_detectors  # noqa: F401
