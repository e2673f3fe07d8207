"""Options of `rcm infer` over clinical photographs (photo classifiers and photo detectors).

Described once (`rcm._fields.Option`), as `RunOptions`: the checks, the CLI
flags and job files' ``stages.infer.options`` all use this description.
"""

from __future__ import annotations

from dataclasses import dataclass

from rcm._fields import POSITIVE, UNIT, Option, Range, check_fields, described
from rcm.data import MAX_PHOTO_PIXELS


@dataclass(frozen=True)
class PhotoOptions:
    """How a photo set is decoded, batched and shown.

    Attributes:
        batch_size: Photos per forward pass (halved on GPU out-of-memory).
        device: ``auto``, ``cpu`` or ``cuda[:n]``.
        workers: Threads decoding photos ahead of the model; None uses 2 on CPU
            and 6 on a GPU.
        prefetch: Batches decoded ahead of the model.
        gallery: Photos shown in ``gallery.html`` (the highest-scoring first); 0: none.
        skip_unreadable: Leave out photos that cannot be read (listed in
            ``summary.json`` and ``skipped.csv``) instead of stopping the run.
        max_pixels: Pixel budget of one photo (larger ones are refused).

    """

    batch_size: int = described(16, Option("photos per forward pass", POSITIVE))
    device: str = described("auto", Option("auto, cpu or cuda[:N]"))
    workers: int | None = described(
        None, Option("threads decoding photos (default 2 on CPU, 6 on a GPU)", POSITIVE)
    )
    prefetch: int = described(4, Option("batches decoded ahead of the model", POSITIVE, cli=False))
    gallery: int = described(48, Option("photos shown in gallery.html (0: none)", Range(0)))
    skip_unreadable: bool = described(
        False,
        Option("leave out unreadable photos (listed in skipped.csv) instead of stopping"),
    )
    max_pixels: int = described(
        MAX_PHOTO_PIXELS, Option("pixel budget of one photo", POSITIVE, cli=False)
    )

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class PhotoDetectorOptions(PhotoOptions):
    """A photo detector's options: those of every photo model, and which boxes are kept.

    Attributes:
        batch_size: Photos per forward pass (detectors resize each photo to the
            model's ``min_size``, so batches are smaller than a classifier's).
        min_score: Boxes scoring below this are dropped by the detector, for every
            architecture (``instances.json``, the gallery, and the ``p_<category>``
            columns: the best kept box's score, 0 without one).

    """

    batch_size: int = described(4, Option("photos per forward pass", POSITIVE))
    min_score: float = described(0.05, Option("least detection score kept", UNIT))


def photo_workers(requested: int | None, cuda: bool) -> int:
    """Decoding threads: as asked, else 2 on CPU (the model uses every core) and 6 on a GPU."""
    return requested or (6 if cuda else 2)
