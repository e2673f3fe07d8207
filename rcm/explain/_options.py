"""Options of `rcm explain` (and `rcm infer --explain`), one typed object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rcm._fields import POSITIVE, UNIT, Option, Range, check_fields, described

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

    method: CamMethod = described("gradcam", Option("class-activation method"))
    cut: float | None = described(
        None,
        Option(
            "explain tiles whose probability is at least this (default: the run's threshold, "
            "i.e. the suspicious tiles)",
            UNIT,
        ),
    )
    occlusion: float = described(
        0.1,
        Option(
            "share of a tile's pixels blocked in the faithfulness test", Range(0, 1, True, True)
        ),
    )
    faithfulness: bool = described(
        True,
        Option(
            "skip the occlusion test (two forward passes per explained tile)",
            flag="--no-faithfulness",
        ),
    )
    gallery: int = described(16, Option("tiles in the crop gallery", Range(0)))
    batch_size: int = described(16, Option("tiles per forward pass", POSITIVE, cli=False))
    device: str = described("auto", Option("auto, cpu or cuda[:N]", cli=False))
    seed: int = described(0, Option("seed of the random blocking", cli=False))

    def __post_init__(self) -> None:
        check_fields(self)
