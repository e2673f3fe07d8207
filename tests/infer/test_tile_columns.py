"""tiles.csv: one column per class and one for the summed score, never two of a name."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from rcm.errors import OutputFormatError
from rcm.infer import classify_mosaic
from rcm.io import open_mosaic
from rcm.models import LoadedModel, ModelMeta
from rcm.outputs import TileTable
from tests.infer.test_classify import TileMean
from tests.io.writers import write_tiff

FIXTURE = Path(__file__).parents[1] / "fixtures" / "release-0.1.0" / "classifier" / "tiles.csv"


def _table(classes: tuple[str, ...], probabilities: np.ndarray) -> TileTable:
    count = len(probabilities)
    return TileTable(
        windows=np.tile(np.array([0, 0, 8, 8]), (count, 1)),
        positions=np.zeros((count, 2), np.int64),
        tissue=np.ones(count),
        classes=classes,
        probabilities=probabilities,
        suspicious=probabilities[:, -1],
    )


def _header(path: Path) -> list[str]:
    with path.open(newline="") as handle:
        return next(csv.reader(handle))


@pytest.mark.parametrize(
    ("classes", "columns"),
    [
        (("benign", "lesion"), ["p_benign", "p_lesion"]),
        (("benign", "suspicious"), ["p_benign", "p_class_suspicious"]),
        (
            ("suspicious", "class_suspicious", "class_x"),
            ["p_class_suspicious", "p_class_class_suspicious", "p_class_x"],
        ),
    ],
)
def test_class_columns_never_repeat_the_summed_column(
    tmp_path: Path, classes: tuple[str, ...], columns: list[str]
) -> None:
    probabilities = np.full((2, len(classes)), 1 / len(classes))
    table = _table(classes, probabilities)
    table.write(tmp_path / "tiles.csv")
    header = _header(tmp_path / "tiles.csv")
    assert header[8:] == [*columns, "p_suspicious"] and len(set(header)) == len(header)
    back = TileTable.read(tmp_path / "tiles.csv")
    assert back.classes == classes
    assert np.allclose(back.probabilities, probabilities)


def test_a_classifier_with_a_class_named_suspicious_writes_distinct_columns(
    tmp_path: Path,
) -> None:
    image = np.full((96, 96), 200, np.uint8)
    meta = ModelMeta(
        architecture="none",
        classes=("benign", "suspicious"),
        positive=("suspicious",),
        tile_px=32,
        mean=(0.0,),
        std=(1.0,),
    )
    model = LoadedModel(TileMean().eval(), meta, "sha256:test", "memory")
    mosaic = open_mosaic(write_tiff(tmp_path / "m.tif", image))
    classify_mosaic(mosaic, model, tmp_path / "out")
    header = _header(tmp_path / "out" / "tiles.csv")
    assert header[-3:] == ["p_benign", "p_class_suspicious", "p_suspicious"]
    table = TileTable.read(tmp_path / "out" / "tiles.csv")
    assert table.classes == ("benign", "suspicious")


def test_a_0_1_0_table_still_reads() -> None:
    table = TileTable.read(FIXTURE)
    assert table.classes == ("benign", "lesion") and table.classified.sum() > 0


@pytest.mark.parametrize(
    "row", [[np.nan, 0.5], [0.5, np.inf], [np.inf, np.inf]], ids=["part-nan", "inf", "all-inf"]
)
def test_a_table_refuses_non_finite_probabilities_of_a_classified_tile(row: list[float]) -> None:
    probabilities = np.array([[0.5, 0.5], row])
    with pytest.raises(ValueError, match="tile 1"):
        _table(("benign", "lesion"), probabilities)


def test_reading_refuses_non_finite_cells(tmp_path: Path) -> None:
    path = tmp_path / "tiles.csv"
    _table(("benign", "lesion"), np.array([[0.5, 0.5], [0.25, 0.75]])).write(path)
    path.write_text(path.read_text().replace("0.75,0.75", "nan,0.75"))
    with pytest.raises(OutputFormatError, match="tile 1") as info:
        TileTable.read(path)
    assert info.value.path == str(path)
