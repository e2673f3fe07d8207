"""Options of `rcm explain` (and `rcm infer --explain`), one typed object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

CamMethod = Literal["gradcam", "gradcam++"]


@dataclass(frozen=True)
class ExplainOptions:
    """Which tiles are explained, how, and what is measured.

    Attributes:
        method: ``gradcam`` or ``gradcam++``.
        cut: Tiles whose suspicious probability is at least this are explained;
            None uses the run's threshold (the suspicious tiles).
        occlusion: Fraction of a tile's pixels blocked for the faithfulness test.
        faithfulness: Measure the score drop when the most explained pixels are
            blocked, against blocking as many random pixels (two more forward passes
            per explained tile).
        gallery: Highest-scoring explained tiles shown in the crop gallery.
        batch_size: Tiles per forward pass.
        device: ``auto``, ``cpu`` or ``cuda[:n]``.
        seed: Seed of the random blocking.

    """

    method: CamMethod = "gradcam"
    cut: float | None = None
    occlusion: float = 0.1
    faithfulness: bool = True
    gallery: int = 16
    batch_size: int = 16
    device: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in get_args(CamMethod):
            raise ValueError(f"method must be gradcam or gradcam++, got {self.method!r}")
        if self.cut is not None and not 0 <= self.cut <= 1:
            raise ValueError(f"cut must be in [0, 1], got {self.cut}")
        if not 0 < self.occlusion < 1:
            raise ValueError(f"occlusion must be in (0, 1), got {self.occlusion}")
        if self.gallery < 0 or self.batch_size < 1:
            raise ValueError("gallery must be >= 0 and batch_size positive")
