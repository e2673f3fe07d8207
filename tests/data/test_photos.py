"""Clinical photo tables: validation, COCO and VOC round trips, and ``rcm data photos``."""

from __future__ import annotations

import csv
import json
import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from rcm.cli.main import main
from rcm.data._coco import COCO_NAME, coco_bytes, from_coco, to_coco, write_coco
from rcm.data._photos import (
    PhotoBox,
    PhotoColumns,
    PhotoDataset,
    PhotoProblem,
    PhotoRecord,
    load_photo_columns,
    read_photo_csv,
    read_problems,
)
from rcm.data._voc import read_voc, voc_files, write_voc
from rcm.errors import InputError, OutputError

ROOT = Path(__file__).resolve().parents[2]
HEADER = ("file", "patient", "sex", "age", "diagnosis", "x1", "y1", "x2", "y2")
CATEGORIES = ("melanoma", "basal_cell_carcinoma", "melanocytic_nevus")
COLUMNS = PhotoColumns(
    image="file",
    patient_id="patient",
    sex="sex",
    age="age",
    category="diagnosis",
    box=("x1", "y1", "x2", "y2"),
    categories=CATEGORIES,
)
COLUMNS_YAML = """\
columns:
  image: file
  patient_id: patient
  sex: sex
  age: age
  category: diagnosis
  box: [x1, y1, x2, y2]
box_format: xyxy
categories: [melanoma, basal_cell_carcinoma, melanocytic_nevus]
"""


def _image(path: Path, width: int = 64, height: int = 48, mode: str = "RGB", **save: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(width * height)
    shape = (height, width, 3) if mode == "RGB" else (height, width)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path, **save)
    return path


def _table(folder: Path, rows: list[tuple[object, ...]], name: str = "boxes.csv") -> Path:
    path = folder / name
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def _read(
    folder: Path, rows: list[tuple[object, ...]], **options: bool
) -> tuple[PhotoDataset, list[PhotoProblem]]:
    return read_photo_csv(_table(folder, rows), COLUMNS, folder, **options)


def _only(problems: list[PhotoProblem]) -> PhotoProblem:
    assert len(problems) == 1, problems
    return problems[0]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Three images: two RGB (JPEG, PNG) in a subfolder and at the top, one grayscale."""
    _image(tmp_path / "clinic" / "a.jpg", 64, 48)
    _image(tmp_path / "b.png", 50, 40)
    _image(tmp_path / "c.png", 30, 20, mode="L")
    return tmp_path


VALID_ROWS: list[tuple[object, ...]] = [
    ("clinic/a.jpg", "P1", "F", 54, "melanoma", 1.7, 0.1, 40.65, 10.3),
    ("clinic/a.jpg", "P1", "F", 54, "melanocytic_nevus", 10, 12, 33.35, 47),
    ("b.png", "P2", "M", 61.5, "basal_cell_carcinoma", 0, 0, 50, 40),
    ("c.png", "P3", "", "", "", "", "", "", ""),
]


# --- the columns config -------------------------------------------------------------


def test_example_config_loads() -> None:
    columns = load_photo_columns(ROOT / "configs" / "photos-columns.yaml")
    assert len(columns.categories) == 13
    assert columns.box_format == "xyxy"
    assert columns.sex and columns.age and columns.images_root is None


def test_config_images_root_is_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "cfg").mkdir()
    path = tmp_path / "cfg" / "columns.yaml"
    path.write_text(COLUMNS_YAML + "images_root: ../photos\n")
    assert load_photo_columns(path).images_root == tmp_path / "photos"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (COLUMNS_YAML + "colour: red\n", "unknown key(s) colour"),
        (
            COLUMNS_YAML.replace("  age: age\n", "  age: age\n  weight: w\n"),
            "columns: unknown key(s) weight",
        ),
        (COLUMNS_YAML.replace("box_format: xyxy", "box_format: cxcywh"), "box_format"),
        (
            COLUMNS_YAML.replace("[x1, y1, x2, y2]", "[x1, y1, x2]"),
            "columns.box: must be a list of 4 values, got 3",
        ),
        (COLUMNS_YAML.replace("categories: [", "categories: [melanoma, "), "twice"),
        (COLUMNS_YAML.replace("  image: file\n", ""), "columns: missing image"),
        (COLUMNS_YAML.replace("patient_id: patient", "patient_id: 7"), "quote it"),
        (COLUMNS_YAML.replace("sex: sex", "sex: file"), "file mapped to more than one"),
        ("columns: [", "cannot read"),
    ],
)
def test_bad_config_names_the_reason(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "columns.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_photo_columns(path)
    assert caught.value.path == str(path)
    assert reason in caught.value.reason


# --- reading and validation ---------------------------------------------------------


def test_valid_table(photos: Path) -> None:
    dataset, problems = _read(photos, VALID_ROWS)
    assert [image.image for image in dataset.images] == ["b.png", "c.png", "clinic/a.jpg"]
    a = dataset.images[2]
    assert (a.width, a.height, a.depth, a.patient_id, a.sex, a.age) == (64, 48, 3, "P1", "F", 54)
    assert a.boxes[0] == PhotoBox("melanoma", 1.7, 0.1, 38.95, 10.2)
    assert a.boxes[1].xyxy == (10, 12, 33.35, 47)
    gray = dataset.images[1]
    assert (gray.depth, gray.sex, gray.age, gray.boxes) == (1, None, None, ())
    assert dataset.patients == ("P1", "P2", "P3") and dataset.n_boxes == 3
    problem = _only(problems)  # the image without boxes is kept, with a warning
    assert (problem.severity, problem.line, problem.image) == ("warning", 5, "c.png")
    assert "no lesion boxes" in problem.message


def test_xywh_boxes(photos: Path) -> None:
    columns = PhotoColumns(**{**vars(COLUMNS), "box_format": "xywh"})
    rows: list[tuple[object, ...]] = [("b.png", "P2", "M", 61, "melanoma", 2, 3, 10, 20)]
    dataset, problems = read_photo_csv(_table(photos, rows), columns, photos)
    assert problems == []
    assert dataset.images[0].boxes == (PhotoBox("melanoma", 2, 3, 10, 20),)


def _row(**changes: object) -> tuple[object, ...]:
    """A valid row of b.png (50 x 40) with some fields changed."""
    row = dict(zip(HEADER, ("b.png", "P2", "M", 61.5, "melanoma", 5, 5, 20, 20), strict=True))
    row.update(changes)
    return tuple(row.values())


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (_row(x1=60, x2=70), "is outside the 50 x 40 image"),
        (_row(y1=-30, y2=0), "is outside the 50 x 40 image"),
        (_row(x1=20, x2=5), "zero-area or inverted box"),
        (_row(y1=7, y2=7), "zero-area or inverted box"),
        (_row(diagnosis="Melanoma"), "did you mean 'melanoma'"),
        (_row(diagnosis="psoriasis"), "unknown category 'psoriasis'"),
        (_row(diagnosis=""), "box without a category"),
        (_row(x1="abc"), "x1 'abc' is not a number"),
        (_row(y2="nan"), "not a finite number"),
        (_row(x2=""), "incomplete box: empty x2"),
        (_row(age="fifty"), "age 'fifty' is not a number"),
        (_row(age=-3), "is not 0..150 years"),
        (_row(patient=""), "empty patient_id"),
        (_row(file=""), "empty image path"),
        (_row(file="../b.png"), "outside the images root"),
        (_row(file="missing.png"), "image file not found"),
    ],
)
def test_row_errors(photos: Path, row: tuple[object, ...], message: str) -> None:
    dataset, problems = _read(photos, [VALID_ROWS[0], row])
    problem = _only([p for p in problems if p.line == 3])
    assert problem.severity == "error"
    assert message in problem.message
    assert [image.image for image in dataset.images] == ["clinic/a.jpg"]  # the row is left out


def test_box_partly_outside_is_clipped_with_a_warning(photos: Path) -> None:
    dataset, problems = _read(photos, [_row(x1=-5.5, y1=30, x2=20, y2=41)])
    problem = _only(problems)
    assert (problem.severity, problem.line) == ("warning", 2)
    assert "clipped to [0, 30, 20, 40]" in problem.message
    assert dataset.images[0].boxes == (PhotoBox("melanoma", 0, 30, 20, 10),)


def test_strict_makes_warnings_errors_and_leaves_the_image_out(photos: Path) -> None:
    dataset, problems = _read(photos, [_row(x1=-5, x2=20)], strict=True)
    assert _only(problems).severity == "error"
    assert dataset.images == ()


def test_duplicate_rows_are_kept_once(photos: Path) -> None:
    dataset, problems = _read(photos, [_row(), _row(), _row(diagnosis="melanocytic_nevus")])
    problem = _only(problems)
    assert (problem.severity, problem.line) == ("warning", 3)
    assert "duplicate of line 2" in problem.message
    assert [box.category for box in dataset.images[0].boxes] == ["melanoma", "melanocytic_nevus"]


@pytest.mark.parametrize(
    ("change", "field"),
    [({"patient": "P9"}, "patient_id"), ({"sex": "F"}, "sex"), ({"age": 62}, "age")],
)
def test_an_image_with_two_patients_is_an_error(
    photos: Path, change: dict[str, object], field: str
) -> None:
    dataset, problems = _read(photos, [_row(), _row(x1=1, **change)])
    problem = _only(problems)
    assert (problem.severity, problem.line, problem.image) == ("error", 2, "b.png")
    assert f"{field} differs between rows" in problem.message
    assert "on line(s) 2;" in problem.message and "on line(s) 3" in problem.message
    assert dataset.images == ()


def test_one_bad_row_takes_its_whole_image_out(photos: Path) -> None:
    dataset, problems = _read(photos, [_row(), _row(x1=70, x2=80), _row(x1=1)])
    assert [(p.severity, p.line) for p in problems] == [("error", 2), ("error", 3)]
    assert "left out with its image because line(s) 3 have errors" in problems[0].message
    assert dataset.images == ()


def test_category_without_box_is_a_warning(photos: Path) -> None:
    dataset, problems = _read(photos, [_row(x1="", y1="", x2="", y2="")])
    assert [(p.severity, p.line) for p in problems] == [("warning", 2), ("warning", 2)]
    assert "without a box" in problems[0].message and "no lesion boxes" in problems[1].message
    assert dataset.images[0].boxes == ()


def test_row_with_the_wrong_number_of_fields(photos: Path) -> None:
    path = _table(photos, [_row()])
    path.write_text(path.read_text() + "b.png,P2\n")
    _, problems = read_photo_csv(path, COLUMNS, photos)
    problem = _only(problems)
    assert (problem.severity, problem.line) == ("error", 3)
    assert "2 fields, the header has 9" in problem.message


def _truncated(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda folder: _truncated(_image(folder / "b.png", 50, 40)), "not a readable image"),
        (lambda folder: _truncated(_image(folder / "b.png", 50, 40, format="JPEG")), "truncated"),
        (lambda folder: (folder / "b.png").write_bytes(b"not an image"), "not a readable image"),
    ],
)
def test_unreadable_images_are_errors(
    photos: Path, make: Callable[[Path], object], message: str
) -> None:
    make(photos)
    dataset, problems = _read(photos, [_row()])
    problem = _only(problems)
    assert (problem.severity, problem.line, problem.image) == ("error", 2, "b.png")
    assert message in problem.message
    assert dataset.images == ()


def test_data_after_the_jpeg_end_is_not_truncation(photos: Path) -> None:
    path = _image(photos / "b.png", 50, 40, format="JPEG")  # content decides, not the name
    path.write_bytes(path.read_bytes() + bytes(4096))  # like a phone's appended video
    dataset, problems = _read(photos, [_row()])
    assert problems == [] and len(dataset.images) == 1


def test_exif_orientation_is_a_warning(photos: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    _image(photos / "b.png", 50, 40, format="JPEG", exif=exif.tobytes())
    dataset, problems = _read(photos, [_row()])
    problem = _only(problems)
    assert (problem.severity, problem.line) == ("warning", 2)
    assert "EXIF orientation 6" in problem.message
    assert dataset.images[0].width == 50  # the stored frame


def test_problems_are_sorted_by_line_and_the_table_must_have_columns(photos: Path) -> None:
    _, problems = _read(photos, [_row(x1=70, x2=80), _row(file="clinic/a.jpg", patient="P1")])
    assert [p.line for p in problems] == sorted(p.line for p in problems)
    path = photos / "other.csv"
    path.write_text("file,patient\nb.png,P1\n")
    with pytest.raises(InputError, match="lacks column"):
        read_photo_csv(path, COLUMNS, photos)
    path.write_text(",".join(HEADER) + "\n")
    with pytest.raises(InputError, match="no rows"):
        read_photo_csv(path, COLUMNS, photos)


# --- COCO and VOC ---------------------------------------------------------------------


def test_coco_round_trip_is_exact(photos: Path, tmp_path: Path) -> None:
    dataset, _ = _read(photos, VALID_ROWS)
    assert from_coco(to_coco(dataset)) == dataset
    path = write_coco(dataset, tmp_path / "out" / "a.json")
    assert from_coco(path) == dataset
    document = json.loads(path.read_text())
    assert [c["id"] for c in document["categories"]] == [1, 2, 3]
    b_box, a_box = document["annotations"][:2]  # images in path order: b.png, c.png, clinic/a.jpg
    assert a_box["bbox"] == [1.7, 0.1, 38.95, 10.2]
    assert (a_box["id"], a_box["iscrowd"], a_box["image_id"], a_box["category_id"]) == (2, 0, 3, 1)
    assert b_box["bbox"] == [0, 0, 50, 40] and b_box["area"] == 2000  # integers stay integers
    assert document["images"][0] == {
        "id": 1,
        "file_name": "b.png",
        "width": 50,
        "height": 40,
        "depth": 3,
        "patient_id": "P2",
        "sex": "M",
        "age": 61.5,
    }


def test_voc_round_trip_is_exact(photos: Path, tmp_path: Path) -> None:
    dataset, _ = _read(photos, VALID_ROWS)
    annotations = write_voc(dataset, tmp_path / "voc")
    assert sorted(p.relative_to(annotations).as_posix() for p in annotations.rglob("*.xml")) == [
        "b.xml",
        "c.xml",
        "clinic/a.xml",
    ]
    assert read_voc(tmp_path / "voc", dataset.categories) == dataset
    assert read_voc(tmp_path / "voc").categories == tuple(sorted(CATEGORIES))


def test_voc_boxes_are_one_based_inclusive(photos: Path) -> None:
    dataset, _ = _read(photos, VALID_ROWS)
    text = voc_files(dataset)["b.xml"].decode()
    # x 0..50 continuous = pixel columns 0..49 = VOC 1..50
    for tag, value in (("xmin", 1), ("ymin", 1), ("xmax", 50), ("ymax", 40)):
        assert f"<{tag}>{value}</{tag}>" in text
    a = voc_files(dataset)["clinic/a.xml"].decode()
    assert "<xmin>2.7</xmin>" in a and "<xmax>40.65</xmax>" in a and "<ymax>10.3</ymax>" in a
    assert "<patient_id>P1</patient_id>" in a and "<age>54</age>" in a
    assert "<folder>clinic</folder>" in a and "<filename>a.jpg</filename>" in a


_coordinate = st.floats(min_value=0, max_value=4000, allow_subnormal=True)
_size = st.floats(min_value=1e-6, max_value=4000)


@settings(max_examples=60, deadline=None)
@given(boxes=st.lists(st.tuples(_coordinate, _coordinate, _size, _size), max_size=6))
def test_round_trips_are_exact_for_any_float_box(
    boxes: list[tuple[float, float, float, float]],
) -> None:
    record = PhotoRecord(
        "x/y.jpg",
        8001,
        8001,
        3,
        "P1",
        None,
        33.3,
        tuple(PhotoBox("melanoma", *box) for box in boxes),
    )
    dataset = PhotoDataset(CATEGORIES, (record,))
    assert from_coco(json.loads(coco_bytes(dataset))) == dataset
    with tempfile.TemporaryDirectory() as folder:
        write_voc(dataset, folder)
        assert read_voc(folder, CATEGORIES) == dataset


def test_output_does_not_depend_on_row_order(photos: Path) -> None:
    first, _ = _read(photos, VALID_ROWS)
    rows = list(VALID_ROWS)
    random.Random(1).shuffle(rows)
    rows.sort(key=lambda row: row[4] != "melanoma")  # keep the two boxes of a.jpg in order
    second, _ = read_photo_csv(_table(photos, rows, "shuffled.csv"), COLUMNS, photos)
    assert coco_bytes(first) == coco_bytes(second)
    assert voc_files(first) == voc_files(second)


@pytest.mark.parametrize("library", ["faster_coco_eval", "pycocotools.coco"])
def test_coco_output_loads_in_coco_tools(photos: Path, tmp_path: Path, library: str) -> None:
    module = pytest.importorskip(library)
    dataset, _ = _read(photos, VALID_ROWS)
    path = write_coco(dataset, tmp_path / "gt.json")
    coco = module.COCO(str(path))
    assert len(coco.getImgIds()) == 3 and len(coco.getAnnIds()) == 3
    assert coco.loadCats(3)[0]["name"] == "melanocytic_nevus"


def test_writers_refuse_to_overwrite(photos: Path, tmp_path: Path) -> None:
    dataset, _ = _read(photos, VALID_ROWS)
    write_coco(dataset, tmp_path / "a.json")
    write_voc(dataset, tmp_path / "voc")
    with pytest.raises(OutputError):
        write_coco(dataset, tmp_path / "a.json")
    with pytest.raises(OutputError):
        write_voc(dataset, tmp_path / "voc")
    write_voc(dataset, tmp_path / "voc", overwrite=True)


def test_voc_names_must_not_collide() -> None:
    records = tuple(PhotoRecord(name, 10, 10, 3, "P1", None, None) for name in ("a.jpg", "a.png"))
    with pytest.raises(InputError, match=r"would share the VOC file Annotations/a\.xml"):
        voc_files(PhotoDataset(CATEGORIES, records))


def test_bad_coco_and_voc_files_are_input_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"images": [], "annotations": [{"bbox": [0, 0, 1]}]}))
    with pytest.raises(InputError, match="categories"):
        from_coco(path)
    (tmp_path / "voc" / "Annotations").mkdir(parents=True)
    xml = tmp_path / "voc" / "Annotations" / "a.xml"
    xml.write_text('<!DOCTYPE a [<!ENTITY x "y">]><annotation/>')
    with pytest.raises(InputError, match="DOCTYPE"):
        read_voc(tmp_path / "voc")
    xml.write_text("<annotation><filename>a.jpg</filename></annotation>")
    with pytest.raises(InputError, match="no width and height given"):
        read_voc(tmp_path / "voc")


# --- the command ------------------------------------------------------------------------


def _cli(photos: Path, rows: list[tuple[object, ...]], *extra: str) -> tuple[int, Path]:
    config = photos / "columns.yaml"
    config.write_text(COLUMNS_YAML)
    out = photos / "out"
    table = _table(photos, rows)
    code = main(["data", "photos", str(table), "--columns", str(config), "--out", str(out), *extra])
    return code, out


def test_cli_writes_coco_voc_and_problems(photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _cli(photos, VALID_ROWS)
    assert code == 0
    captured = capsys.readouterr()
    assert "3 images, 3 boxes, 3 patients; 0 errors, 1 warnings" in captured.out
    assert "line 5: warning: c.png: no lesion boxes" in captured.err
    assert sorted(p.name for p in out.iterdir()) == [
        "Annotations",
        COCO_NAME,
        "conversion.json",
        "problems.csv",
    ]
    dataset, _ = _read(photos, VALID_ROWS)
    assert from_coco(out / COCO_NAME) == dataset
    assert read_voc(out, CATEGORIES) == dataset
    assert [p.line for p in read_problems(out / "problems.csv")] == [5]
    provenance = json.loads((out / "conversion.json").read_text())
    assert provenance["counts"] == {
        "images": 3,
        "boxes": 3,
        "patients": 3,
        "errors": 0,
        "warnings": 1,
    }


def test_cli_errors_write_nothing(photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _cli(photos, [*VALID_ROWS, _row(x1=70, x2=80)])
    assert code == 2
    assert not out.exists()
    assert not [p for p in photos.iterdir() if p.name.startswith(".out")]
    captured = capsys.readouterr()
    assert "line 6: error: b.png: box [70, 5, 80, 20]" in captured.err
    assert "line 4: error: b.png: left out with its image because line(s) 6" in captured.err
    assert "2 error(s)" in captured.err and "nothing written" in captured.err
    assert "2 images, 2 boxes, 2 patients; 2 errors, 1 warnings" in captured.out


def test_cli_skip_invalid_converts_the_rest(photos: Path) -> None:
    code, out = _cli(photos, [*VALID_ROWS, _row(x1=70, x2=80)], "--skip-invalid")
    assert code == 0
    problems = read_problems(out / "problems.csv")
    assert [(p.severity, p.line, p.image) for p in problems] == [
        ("error", 4, "b.png"),
        ("warning", 5, "c.png"),
        ("error", 6, "b.png"),
    ]
    assert [
        image["file_name"] for image in json.loads((out / COCO_NAME).read_text())["images"]
    ] == [
        "c.png",
        "clinic/a.jpg",
    ]


def test_cli_strict_counts_warnings(photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _cli(photos, VALID_ROWS, "--strict")
    assert code == 2 and not out.exists()
    assert "--strict counts warnings" in capsys.readouterr().err


def test_cli_format_and_overwrite(photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _cli(photos, VALID_ROWS, "--format", "coco")
    assert code == 0 and not (out / "Annotations").exists() and (out / COCO_NAME).exists()
    code, _ = _cli(photos, VALID_ROWS, "--format", "voc")
    assert code == 2 and "already exists" in capsys.readouterr().err
    code, _ = _cli(photos, VALID_ROWS, "--format", "voc", "--overwrite")
    assert code == 0 and (out / "Annotations").is_dir() and not (out / COCO_NAME).exists()


def test_cli_bad_config_is_an_input_error(photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = photos / "columns.yaml"
    config.write_text(COLUMNS_YAML + "colour: red\n")
    table = _table(photos, VALID_ROWS)
    code = main(
        ["data", "photos", str(table), "--columns", str(config), "--out", str(photos / "o")]
    )
    assert code == 2
    assert f"rcm: error: {config}: unknown key(s) colour" in capsys.readouterr().err
