"""Options of `rcm infer` for detectors and segmenters (sliding windows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rcm._fields import POSITIVE, UNIT, Option, Range, described
from rcm.infer._options import BATCH_SIZE, BLEND, MAP_MAX_EDGE, MIN_TISSUE, OVERLAP, RunOptions
from rcm.stitch import Blend, MergeMethod, OverlapMetric

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
            of boxes and masks, highest score); ``nms`` keeps the best piece.
            Only detections of different windows are merged: what the model
            returned for one window is kept as it is.
        merge_metric: How two detections of neighbouring windows are compared
            inside the strip both windows saw (mask pixels, or boxes for
            box-only models): ``iou``, ``ios`` (intersection over the smaller),
            or ``auto``: IoU of masks, IoS of boxes.
        merge_threshold: Overlap inside the strip at or above which two
            detections of neighbouring windows are one object.

    """

    overlap: float = described(0.25, OVERLAP)
    min_tissue: float = described(0.05, MIN_TISSUE)
    blend: Blend = described("cosine", BLEND)
    batch_size: int = described(4, BATCH_SIZE)
    map_max_edge: int = described(4096, MAP_MAX_EDGE)
    window_px: int | None = described(
        None,
        Option(
            "window edge in mosaic pixels (default: the model's window, rescaled by pixel size)",
            Range(16),
            flag="--window",
        ),
    )
    tissue: TissuePolicy = described(
        "auto",
        Option(
            "run windows on detected RCM tissue or everywhere; auto: everywhere for colour "
            "images such as clinical photographs"
        ),
    )
    margin: int = described(
        0, Option("pixels at inner window edges left out of the blend", Range(0))
    )
    min_score: float = described(0.05, Option("least detection score kept", UNIT))
    max_detections: int = described(100, Option("detections kept per window at most", POSITIVE))
    mask_threshold: float = described(
        0.5, Option("mask probability at which a pixel belongs to an object", UNIT, cli=False)
    )
    merge: MergeMethod = described(
        "nmm",
        Option(
            "unite the pieces of an object seen by several windows (nmm) or keep the best (nms)"
        ),
    )
    merge_metric: OverlapMetric = described(
        "auto",
        Option(
            "how detections of neighbouring windows are compared inside their shared strip: "
            "IoU, intersection over the smaller, or auto (IoU of masks, IoS of boxes)"
        ),
    )
    merge_threshold: float = described(
        0.5,
        Option(
            "overlap inside the shared strip at which detections of neighbouring windows are "
            "one object",
            Range(0, 1, low_open=True),
        ),
    )
