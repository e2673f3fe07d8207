"""Typed output files: exact round trips, files of rcm 0.1.0, and bad files named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rcm.errors import InputError
from rcm.io import document_text
from rcm.outputs import (
    ExplanationSummary,
    ExplanationTable,
    MosaicSummary,
    OutputFormatError,
    TileTable,
    WindowTable,
)

RELEASE_0_1_0 = Path(__file__).parents[1] / "fixtures" / "release-0.1.0"


def test_a_classifier_summary_of_0_1_0_reads_as_a_classifier_and_writes_back_versioned(
    tmp_path: Path,
) -> None:
    path = RELEASE_0_1_0 / "classifier" / "summary.json"
    original = json.loads(path.read_text())
    summary = MosaicSummary.read(path)
    assert summary.task == "classifier" and summary.tiles is not None
    assert (summary.decision, summary.status) == ("not suspicious", "ok")
    assert summary.tiles.classified == 15 and summary.windows is None
    assert summary.model.architecture == "test_efficientnet"
    assert summary.mosaic.shape == (320, 300) and summary.map.scale == 1
    summary.write(tmp_path / "summary.json")
    assert summary.probability is None and summary.model.calibration_method is None
    upgraded = {**original, "task": "classifier", "probability": None}
    upgraded["model"] = {**original["model"], "calibration_method": None}
    assert (tmp_path / "summary.json").read_text() == document_text(upgraded, 2)
    assert MosaicSummary.read(tmp_path / "summary.json") == summary


def test_a_window_summary_of_0_1_0_reads_and_writes_back_with_version_2_nulls(
    tmp_path: Path,
) -> None:
    path = RELEASE_0_1_0 / "window" / "summary.json"
    original = json.loads(path.read_text())
    summary = MosaicSummary.read(path)
    assert summary.task == "segmenter" and summary.tiles is None
    assert summary.instances is not None and summary.instances.by_category == {"lesion": 9}
    assert summary.windows is not None and summary.windows.run == 8
    assert summary.model.meta["settings"] == {"encoder": "resnet18"}
    summary.write(tmp_path / "summary.json")
    upgraded = {**original, "probability": None}
    upgraded["model"] = {**original["model"], "calibration_method": None}
    assert (tmp_path / "summary.json").read_text() == document_text(upgraded, 2)


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (TileTable, "classifier/tiles.csv"),
        (WindowTable, "window/windows.csv"),
        (ExplanationTable, "explanation/tiles.csv"),
    ],
)
def test_tables_of_0_1_0_write_back_byte_for_byte(
    model: type[TileTable] | type[WindowTable] | type[ExplanationTable],
    name: str,
    tmp_path: Path,
) -> None:
    table = model.read(RELEASE_0_1_0 / name)
    assert len(table) > 0
    table.write(tmp_path / "table.csv")
    assert (tmp_path / "table.csv").read_bytes() == (RELEASE_0_1_0 / name).read_bytes()


def test_tile_table_keeps_unclassified_tiles_empty() -> None:
    table = TileTable.read(RELEASE_0_1_0 / "classifier" / "tiles.csv")
    assert table.classes == ("benign", "lesion")
    assert np.isnan(table.probabilities[0]).all() and not table.classified[0]
    assert table.classified.sum() == 15
    np.testing.assert_allclose(table.probabilities.sum(axis=1)[table.classified], 1, atol=1e-6)


def test_explanation_summary_of_0_1_0_reads_and_writes_back(tmp_path: Path) -> None:
    path = RELEASE_0_1_0 / "explanation" / "summary.json"
    summary = ExplanationSummary.read(path)
    assert summary.method == "gradcam" and summary.tiles_explained == 15
    summary.write(tmp_path / "summary.json")
    assert (tmp_path / "summary.json").read_text() == document_text(json.loads(path.read_text()), 1)


def test_a_class_named_suspicious_keeps_its_own_column(tmp_path: Path) -> None:
    table = TileTable(
        windows=np.array([[0, 0, 8, 8], [0, 8, 8, 16]]),
        positions=np.array([[0, 0], [0, 1]]),
        tissue=np.array([0.5, 0.0]),
        classes=("benign", "suspicious"),
        probabilities=np.array([[0.25, 0.75], [np.nan, np.nan]]),
        suspicious=np.array([0.75, np.nan]),
    )
    table.write(tmp_path / "tiles.csv")
    assert (tmp_path / "tiles.csv").read_text().splitlines()[1:] == [
        "0,0,0,0,0,8,8,0.5000,0.25,0.75,0.75",
        "1,0,1,0,8,8,16,0.0000,,,",
    ]
    back = TileTable.read(tmp_path / "tiles.csv")
    assert back.classes == table.classes
    np.testing.assert_array_equal(back.probabilities, table.probabilities)


@pytest.mark.parametrize("kind", ["classifier", "window"])
def test_a_summary_from_a_newer_rcm_is_refused(kind: str, tmp_path: Path) -> None:
    data = json.loads((RELEASE_0_1_0 / kind / "summary.json").read_text())
    (tmp_path / "summary.json").write_text(json.dumps({**data, "schema_version": 3}))
    with pytest.raises(OutputFormatError, match=r"schema_version 3, newer than this rcm reads"):
        MosaicSummary.read(tmp_path / "summary.json")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"score": None}, "score must be a number"),
        ({"threshold": True}, "threshold must be a number"),
        ({"decision": "maybe"}, "decision must be one of 'suspicious'"),
        ({"tiles": {"grid": [5, 5]}}, "lacks tiles.tile_px"),
        ({"mosaic": []}, "mosaic must be a JSON object"),
        ({"schema_version": 1}, "lacks task"),  # version 1 files must say their task
    ],
)
def test_a_damaged_summary_is_refused_naming_the_field(
    change: dict, message: str, tmp_path: Path
) -> None:
    data = json.loads((RELEASE_0_1_0 / "classifier" / "summary.json").read_text())
    (tmp_path / "summary.json").write_text(json.dumps({**data, **change}))
    with pytest.raises(InputError, match=message) as caught:
        MosaicSummary.read(tmp_path / "summary.json")
    assert caught.value.path == str(tmp_path / "summary.json")


def _version_2(tmp_path: Path, **change: object) -> Path:
    """The 0.1.0 classifier summary written by this rcm (version 2), then changed."""
    summary = MosaicSummary.read(RELEASE_0_1_0 / "classifier" / "summary.json")
    summary.write(tmp_path / "summary.json")
    data = json.loads((tmp_path / "summary.json").read_text())
    for key, value in change.items():
        if key == "model":
            assert isinstance(value, dict)
            data["model"] = {k: v for k, v in {**data["model"], **value}.items() if v != "DROP"}
        elif value == "DROP":
            del data[key]
        else:
            data[key] = value
    (tmp_path / "summary.json").write_text(json.dumps(data))
    return tmp_path / "summary.json"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"probability": "DROP"}, "lacks probability"),
        ({"probability": 1.5}, r"probability must be in \[0, 1\]"),
        ({"probability": True}, "probability must be a number"),
        ({"model": {"calibration_method": "DROP"}}, "lacks model.calibration_method"),
        ({"model": {"calibration_method": "guess"}}, "calibration_method must be one of"),
    ],
)
def test_a_version_2_summary_needs_its_probability_and_calibration_method(
    change: dict, message: str, tmp_path: Path
) -> None:
    with pytest.raises(OutputFormatError, match=message):
        MosaicSummary.read(_version_2(tmp_path, **change))


def test_a_version_2_summary_keeps_its_probability(tmp_path: Path) -> None:
    path = _version_2(tmp_path, probability=0.25, model={"calibration_method": "platt"})
    summary = MosaicSummary.read(path)
    assert summary.probability == 0.25 and summary.model.calibration_method == "platt"
    summary.write(tmp_path / "again.json")
    assert MosaicSummary.read(tmp_path / "again.json") == summary


def test_a_summary_missing_a_field_is_refused(tmp_path: Path) -> None:
    data = json.loads((RELEASE_0_1_0 / "window" / "summary.json").read_text())
    del data["instances"]
    (tmp_path / "summary.json").write_text(json.dumps(data))
    with pytest.raises(OutputFormatError, match=r"summary\.json: lacks instances"):
        MosaicSummary.read(tmp_path / "summary.json")
    with pytest.raises(OutputFormatError, match=r"cannot read summary\.json"):
        MosaicSummary.read(tmp_path / "missing.json")


def test_a_summary_needs_the_blocks_of_its_task() -> None:
    summary = MosaicSummary.read(RELEASE_0_1_0 / "classifier" / "summary.json")
    with pytest.raises(ValueError, match="a classifier summary has tiles"):
        MosaicSummary(**{**vars(summary), "tiles": None})


@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        ("classifier/tiles.csv", ("p_suspicious", "p_other"), "lacks column p_suspicious"),
        ("classifier/tiles.csv", ("0,0,64,64", "0,0,6x,64"), r"line 2, column y1: '6x'"),
        ("classifier/tiles.csv", ("0.4978823", "high"), r"line 3, column p_lesion: 'high'"),
        ("window/windows.csv", (",run", ",ran"), "lacks column run"),
        ("window/windows.csv", ("0.3918,1", "0.3918,2"), "column run must hold 0 or 1"),
        ("explanation/tiles.csv", ("0.4980403", "x"), r"line 2, column p_top_blocked: 'x'"),
        ("explanation/tiles.csv", ("\n1,0.4978823", "\n1,"), "p_suspicious has an empty cell"),
    ],
)
def test_a_damaged_table_is_refused_naming_file_and_cell(
    name: str, edit: tuple[str, str], message: str, tmp_path: Path
) -> None:
    path = tmp_path / Path(name).name
    shutil.copyfile(RELEASE_0_1_0 / name, path)
    path.write_text(path.read_text().replace(*edit, 1))
    reader = {"classifier": TileTable, "window": WindowTable}.get(name.split("/")[0])
    with pytest.raises(OutputFormatError, match=message) as caught:
        (reader or ExplanationTable).read(path)  # type: ignore[attr-defined]
    assert caught.value.path == str(path)


def test_explanation_rows_without_faithfulness_have_empty_cells(tmp_path: Path) -> None:
    nan = float("nan")
    table = ExplanationTable(
        np.array([3, 5]), np.array([0.5, 0.25]), np.array([nan, nan]), np.array([nan, nan])
    )
    table.write(tmp_path / "tiles.csv")
    assert (tmp_path / "tiles.csv").read_text().splitlines() == [
        "tile,p_suspicious,p_top_blocked,p_random_blocked",
        "3,0.5,,",
        "5,0.25,,",
    ]
    assert np.isnan(ExplanationTable.read(tmp_path / "tiles.csv").top_blocked).all()
