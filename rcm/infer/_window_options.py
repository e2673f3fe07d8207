"""Options of `rcm infer` for detectors and segmenters (sliding windows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rcm._fields import POSITIVE, UNIT, Option, Range
from rcm.infer._options import BATCH_SIZE, BLEND, MAP_MAX_EDGE, MIN_TISSUE, OVERLAP, RunOptions
from rcm.stitch import Blend
from rcm.stitch._merge import MergeMethod, OverlapMetric

TissuePolicy = Literal["auto", "detect", "all"]


@dataclass(frozen=True)
class WindowOptions(RunOptions):
    """How a mosaic is cut into windows, run, stitched, merged and scored.

    Attributes:
        window_px: Window edge in mosaic pixels; None uses the model's window
            (rescaled when the model and mosaic pixel sizes are known). An image
            smaller than the window runs as one window.
        tissue: ``detect`` the bright-on-dark RCM tissue; ``all`` runs every
            window (clinical photographs); ``auto`` is ``all`` for colour images.
        margin: Mosaic pixels at each inner window edge given no weight (margin
            cropping), since outputs near a window's edge see less context.
        min_score: Detections below this score are dropped in each window.
        max_detections: Detections kept per window at most.
        mask_threshold: Mask probability at which a pixel belongs to an object.
        merge: ``nmm`` unites the pieces of an object seen by several windows (union
            of boxes and masks); ``nms`` keeps the best piece.
        merge_metric: Overlap measure for merging: ``ios`` (intersection over the
            smaller box, which joins a piece with the whole) or ``iou``.
        merge_threshold: Overlap at or above which two detections are one object.

    """

    overlap: float = OVERLAP.field(0.25)
    min_tissue: float = MIN_TISSUE.field(0.05)
    blend: Blend = BLEND.field("cosine")
    batch_size: int = BATCH_SIZE.field(4)
    map_max_edge: int = MAP_MAX_EDGE.field(4096)
    window_px: int | None = Option(
        "window edge in mosaic pixels (default: the model's window, rescaled by pixel size)",
        Range(16),
        flag="--window",
    ).field(None)
    tissue: TissuePolicy = Option(
        "run windows on detected RCM tissue or everywhere; auto: everywhere for colour "
        "images such as clinical photographs"
    ).field("auto")
    margin: int = Option("pixels at inner window edges left out of the blend", Range(0)).field(0)
    min_score: float = Option("least detection score kept", UNIT).field(0.05)
    max_detections: int = Option("detections kept per window at most", POSITIVE).field(100)
    mask_threshold: float = Option(
        "mask probability at which a pixel belongs to an object", UNIT, cli=False
    ).field(0.5)
    merge: MergeMethod = Option(
        "unite the pieces of an object seen by several windows (nmm) or keep the best (nms)"
    ).field("nmm")
    merge_metric: OverlapMetric = Option(
        "overlap measure for merging: intersection over the smaller box, or IoU"
    ).field("ios")
    merge_threshold: float = Option(
        "overlap at which two detections are one object", Range(0, 1, low_open=True)
    ).field(0.5)
