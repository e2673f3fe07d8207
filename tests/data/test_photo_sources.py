"""Reading photo sets: COCO files and VOC folders of rcm and of other tools, every problem named."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from rcm.cli.main import main
from rcm.data import (
    COCO_NAME,
    PhotoBox,
    from_coco,
    read_photo_csv,
    read_photo_source,
    read_voc,
    to_coco,
    write_coco,
    write_voc,
)
from rcm.data._photos import PhotoColumns
from rcm.errors import InputError

CATEGORIES = ("melanoma", "nevus", "lentigo")
COLUMNS_YAML = """\
columns:
  image: file
  patient_id: patient
  category: diagnosis
  box: [x1, y1, x2, y2]
categories: [melanoma, nevus, lentigo]
"""


def _image(path: Path, width: int = 32, height: int = 24, **save: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(width + height).integers(0, 256, (height, width, 3))
    Image.fromarray(pixels.astype(np.uint8)).save(path, **save)
    return path


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """A photos folder of other tools: a.jpg, b.png (32 x 24) and sub/c.jpg (20 x 30)."""
    root = tmp_path / "images"
    _image(root / "a.jpg")
    _image(root / "b.png")
    _image(root / "sub" / "c.jpg", 20, 30)
    return root


def _patients(path: Path, rows: str = "a.jpg,P1,F,40\nb.png,P1,F,40\nsub/c.jpg,P2,,\n") -> Path:
    path.write_text("image,patient_id,sex,age\n" + rows)
    return path


def _cvat_coco() -> dict[str, Any]:
    """A COCO file as CVAT, Label Studio or Roboflow write one: extra keys, no patients,
    category ids sparse and out of order, a crowd box."""
    image_extra = {"license": 0, "flickr_url": "", "coco_url": "", "date_captured": 0}
    return {
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": {"contributor": "", "date_created": "", "description": "", "version": ""},
        "categories": [
            {"id": 12, "name": "lentigo", "supercategory": ""},
            {"id": 3, "name": "melanoma", "supercategory": ""},
            {"id": 7, "name": "nevus", "supercategory": ""},
        ],
        "images": [
            {"id": 0, "width": 32, "height": 24, "file_name": "a.jpg", **image_extra},
            {"id": 5, "width": 32, "height": 24, "file_name": "b.png", **image_extra},
            {"id": 9, "width": 20, "height": 30, "file_name": "sub/c.jpg", **image_extra},
        ],
        "annotations": [
            _annotation(1, 0, 3, [2.5, 3, 10, 8]),
            _annotation(2, 0, 7, [0, 0, 5, 5], iscrowd=1),
            _annotation(3, 9, 12, [1, 2, 3, 4]),
        ],
    }


def _annotation(
    number: int, image_id: int, category_id: int, bbox: list[Any], **extra: Any
) -> dict[str, Any]:
    return {
        "id": number,
        "image_id": image_id,
        "category_id": category_id,
        "segmentation": [[0, 0, 1, 0, 1, 1]],
        "area": 1.0,
        "bbox": bbox,
        "iscrowd": 0,
        "attributes": {"occluded": False},
        **extra,
    }


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document))
    return path


# --- rcm's own files -----------------------------------------------------------------------


def _converted(tmp_path: Path, images: Path) -> tuple[Path, Any]:
    """`rcm data photos` run from another folder than the photos' and the outputs'."""
    table = tmp_path / "boxes.csv"
    table.write_text(
        "file,patient,diagnosis,x1,y1,x2,y2\n"
        "a.jpg,P1,lentigo,1.5,2,10,12.25\n"
        "a.jpg,P1,melanoma,0,0,32,24\n"
        "sub/c.jpg,P2,,,,,\n"
    )
    config = tmp_path / "columns.yaml"
    config.write_text(COLUMNS_YAML)
    out = tmp_path / "converted"
    argv = ["data", "photos", str(table), "--columns", str(config), "--out", str(out)]
    assert main([*argv, "--images-root", str(images), "--skip-invalid"]) == 0
    columns = PhotoColumns("file", "patient", "diagnosis", ("x1", "y1", "x2", "y2"), CATEGORIES)
    dataset, _ = read_photo_csv(table, columns, images)
    return out, dataset


def test_rcm_outputs_read_back_exactly_with_their_images_root(tmp_path: Path, images: Path) -> None:
    out, dataset = _converted(tmp_path, images)
    for source in (read_photo_source(out / COCO_NAME), read_photo_source(out)):
        assert source.images_root == images.resolve()  # from conversion.json
        assert source.dataset == dataset  # VOC too: the category order comes from the record
        assert source.image_path(source.dataset.images[0]).is_file()
        assert source.problems == ()
    assert read_photo_source(out / COCO_NAME).kind == "coco"
    assert read_photo_source(out).kind == "voc"
    coco = read_photo_source(out / COCO_NAME)
    assert [coco.image_id(r) for r in coco.dataset.images] == [1, 2]


def test_an_explicit_images_root_wins(tmp_path: Path, images: Path) -> None:
    out, _ = _converted(tmp_path, images)
    with pytest.raises(InputError, match="images root is not a folder"):
        read_photo_source(out / COCO_NAME, images_root=tmp_path / "elsewhere")
    record = json.loads((out / "conversion.json").read_text())
    record["images_root"] = str(tmp_path / "moved")
    (out / "conversion.json").write_text(json.dumps(record))
    with pytest.raises(InputError, match=r"moved: images root is not a folder \(recorded in"):
        read_photo_source(out / COCO_NAME)
    assert read_photo_source(out / COCO_NAME, images_root=images).images_root == images


def test_older_conversion_records_give_the_images_root_they_were_made_with(
    tmp_path: Path, images: Path
) -> None:
    out, dataset = _converted(tmp_path, images)
    record = json.loads((out / "conversion.json").read_text())
    del record["images_root"]  # rcm before it recorded the resolved root
    (out / "conversion.json").write_text(json.dumps(record))
    source = read_photo_source(out / COCO_NAME)
    assert source.images_root == images and source.dataset == dataset


def test_without_a_record_the_images_root_is_the_files_folder(tmp_path: Path, images: Path) -> None:
    path = _write(images / "instances.json", _cvat_coco())
    source = read_photo_source(path, patients=_patients(tmp_path / "patients.csv"))
    assert source.images_root == images


def test_crowd_boxes_round_trip_through_coco_and_voc(tmp_path: Path, images: Path) -> None:
    _, dataset = _converted(tmp_path, images)
    record = dataset.images[0]
    crowd = type(record)(
        **{**record.__dict__, "boxes": (PhotoBox("nevus", 0, 0, 4, 4, crowd=True),)}
    )
    changed = type(dataset)(dataset.categories, (crowd, *dataset.images[1:]))
    document = to_coco(changed)
    assert [a["iscrowd"] for a in document["annotations"]] == [1]
    assert from_coco(document) == changed
    write_voc(changed, tmp_path / "voc")
    assert "<difficult>1</difficult>" in (tmp_path / "voc" / "Annotations" / "a.xml").read_text()
    assert read_voc(tmp_path / "voc", CATEGORIES) == changed


def test_crowd_must_be_a_bool() -> None:
    with pytest.raises(ValueError, match="crowd must be True or False"):
        PhotoBox("nevus", 0, 0, 1, 1, crowd=1)  # type: ignore[arg-type]


# --- COCO files of other tools ------------------------------------------------------------


def test_a_foreign_coco_file_needs_patients(tmp_path: Path, images: Path) -> None:
    path = _write(tmp_path / "instances.json", _cvat_coco())
    with pytest.raises(InputError) as caught:
        read_photo_source(path, images_root=images)
    message = str(caught.value)
    assert message.startswith(f"{path}: 1 problem(s): 3 of 3 photo(s) have no patient id")
    assert "image,patient_id" in message and "--patients" in message
    assert "one patient per photo" in message


def test_a_foreign_coco_file_reads_with_a_patients_table(tmp_path: Path, images: Path) -> None:
    path = _write(tmp_path / "instances.json", _cvat_coco())
    source = read_photo_source(path, images_root=images, patients=_patients(tmp_path / "p.csv"))
    dataset = source.dataset
    assert dataset.categories == ("melanoma", "nevus", "lentigo")  # in id order: 3, 7, 12
    a, b, c = dataset.images
    assert (a.image, a.patient_id, a.sex, a.age) == ("a.jpg", "P1", "F", 40.0)
    assert a.boxes == (
        PhotoBox("melanoma", 2.5, 3, 10, 8),
        PhotoBox("nevus", 0, 0, 5, 5, crowd=True),
    )
    assert b.boxes == () and (c.image, c.patient_id, c.sex, c.age) == (
        "sub/c.jpg",
        "P2",
        None,
        None,
    )
    assert c.boxes == (PhotoBox("lentigo", 1, 2, 3, 4),)
    assert (c.width, c.height, c.depth) == (20, 30, 3)
    assert [source.image_id(r) for r in dataset.images] == [0, 5, 9]  # the file's own ids
    # rcm writes it back with ids 1..N and iscrowd from the crowd flag
    written = to_coco(dataset)
    assert [c["id"] for c in written["categories"]] == [1, 2, 3]
    assert [a["iscrowd"] for a in written["annotations"]] == [0, 1, 0]


def test_zero_based_category_ids(tmp_path: Path, images: Path) -> None:
    document = _cvat_coco()
    for category, number in zip(document["categories"], (2, 0, 1), strict=True):
        category["id"] = number
    for annotation, number in zip(document["annotations"], (0, 1, 2), strict=True):
        annotation["category_id"] = number
    path = _write(tmp_path / "instances.json", document)
    source = read_photo_source(path, images, _patients(tmp_path / "p.csv"))
    assert source.dataset.categories == ("melanoma", "nevus", "lentigo")
    assert [box.category for box in source.dataset.images[0].boxes] == ["melanoma", "nevus"]


def test_patient_ids_in_the_file_need_no_table(tmp_path: Path, images: Path) -> None:
    document = _cvat_coco()
    for image, patient in zip(document["images"], ("P1", "P1", 17), strict=True):
        image["patient_id"] = patient  # numbers too, as some tools write them
    source = read_photo_source(_write(tmp_path / "x.json", document), images)
    assert source.dataset.patients == ("17", "P1")


def test_patients_in_the_file_and_the_table_must_agree(tmp_path: Path, images: Path) -> None:
    document = _cvat_coco()
    document["images"][0]["patient_id"] = "P9"
    path = _write(tmp_path / "x.json", document)
    with pytest.raises(
        InputError,
        match=r"a\.jpg: image id 0: the annotations say patient P9.*p\.csv says patient P1",
    ):
        read_photo_source(path, images, _patients(tmp_path / "p.csv"))


def test_photos_missing_from_the_patients_table(tmp_path: Path, images: Path) -> None:
    path = _write(tmp_path / "x.json", _cvat_coco())
    table = _patients(tmp_path / "p.csv", "a.jpg,P1,,\nother.jpg,P7,,\n")  # extra rows are fine
    with pytest.raises(
        InputError,
        match=r"2 of 3 photo\(s\) have no patient id in the annotations or p\.csv "
        r"\(b\.png, sub/c\.jpg\)",
    ):
        read_photo_source(path, images, table)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("a.jpg,,,\n", "line 2: empty patient_id"),
        ("a.jpg,P1,,200\n", "line 2: age '200' is not 0..150 years"),
        ("a.jpg,P1,,x\n", "line 2: age 'x' is not a number"),
        ("a.jpg,P1,,\n../a.jpg,P1,,\n", "line 3: image path leads outside the images root"),
        ("a.jpg,P1,,\nb.png,P2,,\na.jpg,P3,,\n", "line 4: a.jpg has patient P3 but line 2 has P1"),
    ],
)
def test_patients_table_problems(tmp_path: Path, images: Path, rows: str, message: str) -> None:
    path = _write(tmp_path / "x.json", _cvat_coco())
    table = _patients(tmp_path / "p.csv", rows)
    with pytest.raises(
        InputError, match="p.csv: " + message.replace("(", r"\(").replace(")", r"\)")
    ):
        read_photo_source(path, images, table)


def test_patients_table_needs_its_columns(tmp_path: Path, images: Path) -> None:
    table = tmp_path / "p.csv"
    table.write_text("file,patient\na.jpg,P1\n")
    with pytest.raises(InputError, match=r"lacks column\(s\) image, patient_id"):
        read_photo_source(_write(tmp_path / "x.json", _cvat_coco()), images, table)


def _problem(tmp_path: Path, images: Path, change: Any) -> str:
    """The message of reading the CVAT-like file after `change` edits it."""
    document = copy.deepcopy(_cvat_coco())
    change(document)
    path = _write(tmp_path / "x.json", document)
    with pytest.raises(InputError) as caught:
        read_photo_source(path, images, _patients(tmp_path / "p.csv"))
    assert caught.value.path == str(path)
    return caught.value.reason


def test_missing_image_file(tmp_path: Path, images: Path) -> None:
    (images / "b.png").unlink()
    reason = _problem(tmp_path, images, lambda d: None)
    assert reason.startswith("1 problem(s): b.png: image id 5: image file not found")


def test_unreadable_image_file(tmp_path: Path, images: Path) -> None:
    (images / "b.png").write_bytes(b"not a png")
    assert "b.png: image id 5: not a readable image" in _problem(tmp_path, images, lambda d: None)


def test_box_outside_the_image(tmp_path: Path, images: Path) -> None:
    def outside(document: dict[str, Any]) -> None:
        document["annotations"][0]["bbox"] = [40, 3, 10, 8]

    reason = _problem(tmp_path, images, outside)
    assert (
        "a.jpg: annotation 1: box [40, 3, 10, 8] (x, y, width, height) is outside the 32 x 24 image"
        in reason
    )


def test_box_partly_outside_is_clipped_with_a_warning(tmp_path: Path, images: Path) -> None:
    document = _cvat_coco()
    document["annotations"][0]["bbox"] = [-1.5, 20, 10, 8]
    path = _write(tmp_path / "x.json", document)
    source = read_photo_source(path, images, _patients(tmp_path / "p.csv"))
    assert source.dataset.images[0].boxes[0] == PhotoBox("melanoma", 0, 20, 8.5, 4)
    (warning,) = source.problems
    assert warning.severity == "warning" and warning.image == "a.jpg"
    assert (
        "annotation 1: box [-1.5, 20, 10, 8] extends outside the 32 x 24 image: "
        "clipped to [0, 20, 8.5, 4]" in warning.message
    )
    with pytest.raises(InputError, match="extends outside"):
        from_coco(document | {"images": [i | {"patient_id": "P"} for i in document["images"]]})


def test_unknown_category_id(tmp_path: Path, images: Path) -> None:
    def unknown(document: dict[str, Any]) -> None:
        document["annotations"][2]["category_id"] = 4

    reason = _problem(tmp_path, images, unknown)
    assert "sub/c.jpg: annotation 3: unknown category id 4 (categories: 3, 7, 12)" in reason


def test_duplicate_image_id(tmp_path: Path, images: Path) -> None:
    def twice(document: dict[str, Any]) -> None:
        document["images"][1]["id"] = 0

    reason = _problem(tmp_path, images, twice)
    assert "b.png: image id 0: duplicate image id (also a.jpg)" in reason


def test_the_same_photo_under_two_ids(tmp_path: Path, images: Path) -> None:
    def twice(document: dict[str, Any]) -> None:
        document["images"][1]["file_name"] = "./a.jpg"

    assert "a.jpg: image id 5: the same photo as image id 0" in _problem(tmp_path, images, twice)


def test_annotation_on_an_unknown_image(tmp_path: Path, images: Path) -> None:
    def orphan(document: dict[str, Any]) -> None:
        document["annotations"].append(_annotation(4, 77, 3, [0, 0, 1, 1]))

    assert "annotation 4: on unknown image id 77" in _problem(tmp_path, images, orphan)


@pytest.mark.parametrize(
    ("bbox", "message"),
    [
        ([1, 2, 3], "bbox must be 4 finite numbers"),
        ([1, 2, "3", 4], "bbox must be 4 finite numbers"),
        ([1, 2, 3, None], "bbox must be 4 finite numbers"),
        ([1, 2, 0, 4], "has zero or negative width or height"),
        ([1, 2, 3, -4], "has zero or negative width or height"),
        (None, "bbox must be 4 finite numbers"),
    ],
)
def test_bad_bbox_values(tmp_path: Path, images: Path, bbox: Any, message: str) -> None:
    def bad(document: dict[str, Any]) -> None:
        document["annotations"][0]["bbox"] = bbox

    assert message in _problem(tmp_path, images, bad)


def test_bad_values_elsewhere(tmp_path: Path, images: Path) -> None:
    def bad(document: dict[str, Any]) -> None:
        document["annotations"][0]["iscrowd"] = 2
        document["images"][2]["width"] = 20.5
        document["categories"].append({"id": 3, "name": "other"})
        document["images"][1]["file_name"] = "/elsewhere/b.png"

    reason = _problem(tmp_path, images, bad)
    assert reason.startswith("4 problem(s): category id 3: id given twice ('melanoma' and 'other')")
    assert "b.png: image id 5: absolute image path outside the images root" in reason
    assert "sub/c.jpg: image id 9: width must be a whole number >= 1, got 20.5" in reason
    assert "a.jpg: annotation 1: iscrowd must be 0 or 1, got 2" in reason


def test_sizes_are_checked_against_the_image_files(tmp_path: Path, images: Path) -> None:
    def wrong(document: dict[str, Any]) -> None:
        document["images"][0]["width"] = 33

    reason = _problem(tmp_path, images, wrong)
    assert (
        "a.jpg: image id 0: the annotations say 33 x 24 but the image file is 32 x 24 pixels"
        in reason
    )


def test_sizes_of_the_turned_photo_name_the_exif_orientation(tmp_path: Path, images: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    _image(images / "a.jpg", exif=exif.tobytes())

    def upright(document: dict[str, Any]) -> None:
        document["images"][0].update(width=24, height=32)

    reason = _problem(tmp_path, images, upright)
    assert (
        "the annotations say 24 x 32, the upright size of this 32 x 24 photo "
        "with EXIF orientation 6" in reason
    )
    assert "Save the photos upright" in reason


def test_exif_orientation_is_a_warning(tmp_path: Path, images: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 3
    _image(images / "b.png", exif=exif.tobytes())
    path = _write(tmp_path / "x.json", _cvat_coco())
    (warning,) = read_photo_source(path, images, _patients(tmp_path / "p.csv")).problems
    assert warning.image == "b.png" and "EXIF orientation 3" in warning.message
    assert "stored 32 x 24 pixels" in warning.message


def test_sizes_may_be_left_out(tmp_path: Path, images: Path) -> None:
    document = _cvat_coco()
    for image in document["images"]:
        del image["width"], image["height"]
    source = read_photo_source(
        _write(tmp_path / "x.json", document), images, _patients(tmp_path / "p.csv")
    )
    assert [(r.width, r.height) for r in source.dataset.images] == [(32, 24), (32, 24), (20, 30)]
    with pytest.raises(InputError, match="no width and height given"):
        from_coco(document | {"images": [i | {"patient_id": "P"} for i in document["images"]]})


def test_many_problems_are_listed_five_then_how_many_more(tmp_path: Path, images: Path) -> None:
    def many(document: dict[str, Any]) -> None:
        for number in range(8):
            document["annotations"].append(_annotation(10 + number, 100 + number, 3, [0, 0, 1, 1]))

    reason = _problem(tmp_path, images, many)
    assert reason.startswith("8 problem(s): annotation 10: on unknown image id 100; ")
    assert reason.endswith("annotation 14: on unknown image id 104; and 3 more")


def test_structure_errors_name_the_file(tmp_path: Path, images: Path) -> None:
    path = tmp_path / "x.json"
    for text, message in (
        ("[]", "not a JSON object"),
        ('{"images": [], "categories": {}}', "'categories' must be a list of objects"),
        ('{"images": [1], "categories": []}', "'images' must be a list of objects"),
        ("{", "not JSON"),
    ):
        path.write_text(text)
        with pytest.raises(InputError, match=message) as caught:
            read_photo_source(path, images)
        assert caught.value.path == str(path)
    with pytest.raises(InputError, match="photo annotations not found"):
        read_photo_source(tmp_path / "nope.json")


def test_a_coco_file_without_annotations_lists_photos_without_boxes(
    tmp_path: Path, images: Path
) -> None:
    document = _cvat_coco()
    del document["annotations"]
    source = read_photo_source(
        _write(tmp_path / "x.json", document), images, _patients(tmp_path / "p.csv")
    )
    assert source.dataset.n_boxes == 0 and len(source.dataset.images) == 3


def test_written_coco_of_a_foreign_file_reads_back_exactly(tmp_path: Path, images: Path) -> None:
    path = _write(tmp_path / "x.json", _cvat_coco())
    dataset = read_photo_source(path, images, _patients(tmp_path / "p.csv")).dataset
    written = write_coco(dataset, images / "rcm.json")
    assert read_photo_source(written).dataset == dataset == from_coco(written)


# --- VOC folders of other tools ------------------------------------------------------------


def _labelimg_xml(filename: str, objects: str, size: tuple[int, int] = (32, 24)) -> str:
    return f"""<annotation>
	<folder>JPEGImages</folder>
	<filename>{filename}</filename>
	<path>/home/someone/JPEGImages/{filename}</path>
	<source><database>Unknown</database></source>
	<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>
	<segmented>0</segmented>
	{objects}
</annotation>
"""


def _object(name: str, box: tuple[Any, ...], difficult: str = "0") -> str:
    xmin, ymin, xmax, ymax = box
    return f"""<object><name>{name}</name><pose>Unspecified</pose><truncated>1</truncated>
	<occluded>0</occluded><difficult>{difficult}</difficult>
	<bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox>
	<attributes><attribute><name>rotation</name><value>0.0</value></attribute></attributes>
	</object>"""


@pytest.fixture
def voc(tmp_path: Path) -> Path:
    """A LabelImg / CVAT export: JPEGImages/ next to Annotations/, no patients."""
    folder = tmp_path / "voc"
    _image(folder / "JPEGImages" / "a.jpg")
    _image(folder / "JPEGImages" / "sub" / "c.jpg", 20, 30)
    notes = folder / "Annotations"
    (notes / "sub").mkdir(parents=True)
    objects = _object("melanoma", (3, 4, 12, 11)) + _object("nevus", (1, 1, 5, 5), "1")
    (notes / "a.xml").write_text(_labelimg_xml("a.jpg", objects))
    (notes / "sub" / "c.xml").write_text(_labelimg_xml("c.jpg", "", (20, 30)))
    (folder / "ImageSets" / "Main").mkdir(parents=True)
    (folder / "ImageSets" / "Main" / "default.txt").write_text("a\nsub/c\n")
    return folder


def test_a_foreign_voc_folder(tmp_path: Path, voc: Path) -> None:
    with pytest.raises(InputError, match=r"2 of 2 photo\(s\) have no patient id"):
        read_photo_source(voc)
    table = _patients(tmp_path / "p.csv", "a.jpg,P1,M,70\nsub/c.jpg,P2,,\n")
    source = read_photo_source(voc, patients=table)
    assert source.images_root == voc / "JPEGImages" and source.kind == "voc"
    a, c = source.dataset.images
    assert source.dataset.categories == ("melanoma", "nevus")
    assert a.boxes == (
        PhotoBox("melanoma", 2, 3, 10, 8),  # 1-based inclusive corners
        PhotoBox("nevus", 0, 0, 5, 5, crowd=True),  # difficult 1
    )
    assert (c.image, c.width, c.height, c.patient_id) == ("sub/c.jpg", 20, 30, "P2")
    assert (a.sex, a.age) == ("M", 70.0)
    assert [source.image_id(r) for r in source.dataset.images] == [1, 2]


def test_voc_filename_with_a_folder_is_relative_to_the_images_root(
    tmp_path: Path, voc: Path
) -> None:
    (voc / "Annotations" / "sub" / "c.xml").write_text(_labelimg_xml("sub/c.jpg", "", (20, 30)))
    source = read_photo_source(voc, patients=_patients(tmp_path / "p.csv"))
    assert [r.image for r in source.dataset.images] == ["a.jpg", "sub/c.jpg"]


def test_voc_problems_are_collected(tmp_path: Path, voc: Path) -> None:
    notes = voc / "Annotations"
    objects = (
        _object("melanoma", (40, 4, 50, 11))
        + _object("nevus", (5, 1, 4, 5))
        + _object("nevus", (1, 1, "x", 5))
    )
    (notes / "a.xml").write_text(
        _labelimg_xml("a.jpg", objects + _object("nevus", (1, 1, 2, 2), "yes"))
    )
    (notes / "b.xml").write_text("<annotation><filename>b.jpg</filename>")
    (notes / "d.xml").write_text(_labelimg_xml("d.jpg", ""))
    (notes / "e.xml").write_text(_labelimg_xml("a.jpg", ""))
    with pytest.raises(InputError) as caught:
        read_photo_source(
            voc, patients=_patients(tmp_path / "p.csv", "a.jpg,P1,,\nsub/c.jpg,P2,,\nd.jpg,P3,,\n")
        )
    assert caught.value.path == str(voc)
    reason = caught.value.reason
    assert (
        "a.jpg: Annotations/a.xml object 2: bndbox [5, 1, 4, 5] has zero or negative size" in reason
    )
    assert "a.jpg: Annotations/a.xml object 3: xmax 'x' is not a number" in reason
    assert "a.jpg: Annotations/a.xml object 4: <difficult> must be 0 or 1, got 'yes'" in reason
    assert "Annotations/b.xml: not well-formed XML" in reason
    assert "d.jpg: Annotations/d.xml: image file not found" in reason
    assert reason.startswith("7 problem(s)") and reason.endswith("and 2 more")
    # the rest: the box outside the image, and e.xml naming a.jpg again
    (notes / "b.xml").unlink()
    (notes / "d.xml").unlink()
    (notes / "a.xml").write_text(_labelimg_xml("a.jpg", _object("melanoma", (40, 4, 50, 11))))
    with pytest.raises(InputError) as caught:
        read_photo_source(
            voc, patients=_patients(tmp_path / "p.csv", "a.jpg,P1,,\nsub/c.jpg,P2,,\n")
        )
    reason = caught.value.reason
    assert (
        "a.jpg: Annotations/a.xml object 1: box [39, 3, 11, 8] (x, y, width, height) "
        "is outside the 32 x 24 image" in reason
    )
    assert "a.jpg: Annotations/e.xml: the same photo as Annotations/a.xml" in reason


def test_voc_with_a_category_list(tmp_path: Path, voc: Path) -> None:
    with pytest.raises(InputError, match=r"Annotations/a\.xml object 2: unknown category 'nevus'"):
        read_voc(voc, ["melanoma"])
