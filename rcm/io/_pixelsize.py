"""Pixel size: one place that decides what a mosaic's microns-per-pixel is.

Readers report what the file says; `resolve_pixel_size` applies the user's override
and rejects values no microscope or camera produces (a TIFF written at the common
72 dpi default would otherwise claim 353 um/px).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rcm.errors import InputError

PLAUSIBLE_UM_PER_PX = (0.01, 100.0)
_ANISOTROPY_TOLERANCE = 0.01

# Length units as found in OME-XML, NGFF axes and TIFF/ImageJ metadata, in microns.
UNIT_IN_UM = {
    "um": 1.0,
    "µm": 1.0,
    "\u03bcm": 1.0,
    "micron": 1.0,
    "microns": 1.0,
    "micrometer": 1.0,
    "nm": 1e-3,
    "nanometer": 1e-3,
    "mm": 1e3,
    "millimeter": 1e3,
    "cm": 1e4,
    "centimeter": 1e4,
    "m": 1e6,
    "meter": 1e6,
    "inch": 25400.0,
}


@dataclass(frozen=True)
class PixelSize:
    """A resolved pixel size with its origin and any notes for the user."""

    um_per_px: float | None
    source: str | None
    notes: tuple[str, ...] = ()


def resolve_pixel_size(
    found_x: float | None,
    found_y: float | None,
    source: str,
    override: float | None = None,
) -> PixelSize:
    """Combine what a file says about its pixel size with the user's override.

    Args:
        found_x: Microns per pixel along x from the file, None when absent.
        found_y: Microns per pixel along y from the file, None when absent.
        source: Name of the metadata the values came from, for provenance.
        override: Value given by the user (``--um-per-px``); wins when set.

    Returns:
        The pixel size, or None with a note saying why it is unknown.

    Raises:
        InputError: If the override is not a positive finite number.

    """
    if override is not None:
        if not math.isfinite(override) or override <= 0:
            raise InputError(None, f"--um-per-px must be a positive number, got {override}")
        unusual = () if _plausible(override) else (f"--um-per-px {override:g} is unusual",)
        return PixelSize(float(override), "user", unusual)
    if found_x is None or not math.isfinite(found_x) or found_x <= 0:
        return PixelSize(None, None, ("pixel size unknown: pass --um-per-px",))
    notes: list[str] = []
    if found_y is not None and abs(found_y - found_x) > _ANISOTROPY_TOLERANCE * found_x:
        notes.append(f"pixels are not square ({found_x:g} x {found_y:g} um); using the x size")
    if not _plausible(found_x):
        notes.append(
            f"ignored implausible pixel size {found_x:g} um/px from {source}: pass --um-per-px"
        )
        return PixelSize(None, None, tuple(notes))
    return PixelSize(float(found_x), source, tuple(notes))


def um_per_unit(unit: str | None) -> float | None:
    """Microns in one `unit` (``"um"``, ``"nanometer"``...), None if unknown."""
    if unit is None:
        return None
    return UNIT_IN_UM.get(unit.strip().lower().replace("\\u00b5", "µ"))


def _plausible(um_per_px: float) -> bool:
    low, high = PLAUSIBLE_UM_PER_PX
    return low <= um_per_px <= high
