"""Options of `rcm infer` for detectors and segmenters (sliding windows), one typed object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from rcm.stitch._tiles import Blend

TissuePolicy = Literal["auto", "detect", "all"]


@dataclass(frozen=True)
class WindowOptions:
    """How a mosaic is cut into windows, run, stitched, merged and scored.

    Attributes:
        threshold: Map probability at or above which tissue is suspicious.
        coverage: Share of tissue that must be suspicious for a suspicious mosaic.
        window_px: Window edge in mosaic pixels; None uses the model's window
            (rescaled when the model and mosaic pixel sizes are known). An image
            smaller than the window runs as one window.
        overlap: Fraction of a window shared with its neighbours.
        min_tissue: Windows with less tissue than this fraction are not run.
        tissue: ``detect`` the bright-on-dark RCM tissue; ``all`` runs every
            window (clinical photographs); ``auto`` is ``all`` for colour images.
        blend: Weight of a window's pixels where windows overlap.
        margin: Mosaic pixels at each inner window edge given no weight (margin
            cropping), since outputs near a window's edge see less context.
        batch_size: Windows per forward pass (halved on GPU out-of-memory).
        device: ``auto``, ``cpu`` or ``cuda[:n]``.
        map_max_edge: The stitched maps' longer edge is at most this (a power-of-two
            fraction of the mosaic), so their memory does not grow with the mosaic.
        read_workers: Reader threads; None uses 1 on CPU and 4 on a GPU.
        min_score: Detections below this score are dropped in each window.
        max_detections: Detections kept per window at most.
        mask_threshold: Mask probability at which a pixel belongs to an object.
        merge: ``nmm`` unites the pieces of an object seen by several windows (union
            of boxes and masks); ``nms`` keeps the best piece.
        merge_metric: Overlap measure for merging: ``ios`` (intersection over the
            smaller box, which joins a piece with the whole) or ``iou``.
        merge_threshold: Overlap at or above which two detections are one object.

    """

    threshold: float = 0.5
    coverage: float = 0.01
    window_px: int | None = None
    overlap: float = 0.25
    min_tissue: float = 0.05
    tissue: TissuePolicy = "auto"
    blend: Blend = "cosine"
    margin: int = 0
    batch_size: int = 4
    device: str = "auto"
    map_max_edge: int = 4096
    read_workers: int | None = None
    min_score: float = 0.05
    max_detections: int = 100
    mask_threshold: float = 0.5
    merge: Literal["nmm", "nms"] = "nmm"
    merge_metric: Literal["ios", "iou"] = "ios"
    merge_threshold: float = 0.5

    def __post_init__(self) -> None:
        for name in ("threshold", "min_score", "mask_threshold"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0 < self.coverage <= 1 or not 0 < self.merge_threshold <= 1:
            raise ValueError("coverage and merge_threshold must be in (0, 1]")
        if not 0 <= self.overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {self.overlap}")
        if not 0 < self.min_tissue <= 1:
            raise ValueError(f"min_tissue must be in (0, 1], got {self.min_tissue}")
        if self.window_px is not None and self.window_px < 16:
            raise ValueError(f"window_px must be at least 16, got {self.window_px}")
        if self.margin < 0 or self.batch_size < 1 or self.max_detections < 1:
            raise ValueError("margin must be >= 0; batch_size and max_detections positive")
        if (self.read_workers or 1) < 1 or self.map_max_edge < 16:
            raise ValueError("read_workers and map_max_edge must be positive")
        for name, allowed in (
            ("tissue", get_args(TissuePolicy)),
            ("blend", get_args(Blend)),
            ("merge", ("nmm", "nms")),
            ("merge_metric", ("ios", "iou")),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
