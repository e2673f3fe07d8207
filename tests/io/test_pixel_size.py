from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from rcm.errors import InputError
from rcm.io import open_mosaic
from rcm.io._pixelsize import resolve_pixel_size, um_per_unit
from tests.io.writers import write_pillow, write_tiff

IMAGE = np.zeros((40, 30), np.uint8)


def test_found_value_is_used() -> None:
    size = resolve_pixel_size(0.5, 0.5, "TIFF resolution tags")
    assert (size.um_per_px, size.source, size.notes) == (0.5, "TIFF resolution tags", ())


def test_missing_is_reported_not_guessed() -> None:
    size = resolve_pixel_size(None, None, "TIFF resolution tags")
    assert size.um_per_px is None and "unknown" in size.notes[0]


@pytest.mark.parametrize("value", [352.78, 0.0001])
def test_implausible_is_ignored_and_reported(value: float) -> None:
    size = resolve_pixel_size(value, value, "TIFF resolution tags")
    assert size.um_per_px is None and "implausible" in size.notes[0]


def test_anisotropic_is_reported() -> None:
    size = resolve_pixel_size(0.5, 0.6, "OME metadata")
    assert size.um_per_px == 0.5 and "not square" in size.notes[0]


def test_override_wins_and_is_validated() -> None:
    assert resolve_pixel_size(352.0, 352.0, "x", override=0.7).um_per_px == 0.7
    with pytest.raises(InputError, match="positive"):
        resolve_pixel_size(None, None, "x", override=-1.0)


def test_units() -> None:
    assert um_per_unit("µm") == um_per_unit("micrometer") == um_per_unit("\\u00B5m") == 1.0
    assert um_per_unit("nm") == 1e-3
    assert um_per_unit("parsec") is None


def test_72_dpi_tiff_is_not_trusted(tmp_path: Path) -> None:
    path = write_tiff(tmp_path / "a.tif", IMAGE, resolution=(72.0, 72.0), resolutionunit="INCH")
    info = open_mosaic(path).info
    assert info.um_per_px is None and any("implausible" in note for note in info.notes)


def test_tiff_without_unit_is_unknown(tmp_path: Path) -> None:
    path = write_tiff(tmp_path / "a.tif", IMAGE, resolution=(2.0, 2.0), resolutionunit="NONE")
    assert open_mosaic(path).info.um_per_px is None


def test_ome_nanometres(tmp_path: Path) -> None:
    path = tmp_path / "a.ome.tif"
    tifffile.imwrite(
        path,
        IMAGE,
        metadata={
            "PhysicalSizeX": 650,
            "PhysicalSizeXUnit": "nm",
            "PhysicalSizeY": 650,
            "PhysicalSizeYUnit": "nm",
        },
    )
    assert open_mosaic(path).info.um_per_px == pytest.approx(0.65)


def test_jpeg_at_72_dpi(tmp_path: Path) -> None:
    path = write_pillow(tmp_path / "a.jpg", np.zeros((20, 20, 3), np.uint8), dpi=(72, 72))
    assert open_mosaic(path).info.um_per_px is None
