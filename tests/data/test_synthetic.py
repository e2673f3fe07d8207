from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zarr

from rcm.data import make_spec, write_synthetic
from rcm.data._synth_render import render_image, render_instances
from rcm.data.synthetic import class_array, image_array, instance_array, lesion_boxes
from rcm.io import open_mosaic

SPEC = make_spec(1500, 1300, seed=3, lesions=3)


def test_same_seed_same_pixels_different_seed_different() -> None:
    again = make_spec(1500, 1300, seed=3, lesions=3)
    other = make_spec(1500, 1300, seed=4, lesions=3)
    first = image_array(SPEC)[:600, :600].compute()
    np.testing.assert_array_equal(first, image_array(again)[:600, :600].compute())
    assert not np.array_equal(first, image_array(other)[:600, :600].compute())


def test_blocks_join_seamlessly() -> None:
    """Rendering any window directly equals cutting it from the block-wise mosaic."""
    full = image_array(SPEC).compute()
    ys, xs = np.arange(1000, 1100), np.arange(990, 1060)  # straddles a block corner
    rendered = render_image(SPEC, ys, xs)
    # Noise is seeded per generation block, so compare only the noise-free structure
    np.testing.assert_array_equal(
        render_instances(SPEC, ys, xs), instance_array(SPEC)[1000:1100, 990:1060].compute()
    )
    assert np.corrcoef(rendered.ravel(), full[1000:1100, 990:1060].ravel())[0, 1] > 0.9


def test_tissue_is_bright_on_dark_margins() -> None:
    image = image_array(SPEC).compute()
    border = np.concatenate(
        [image[:20].ravel(), image[-20:].ravel(), image[:, :20].ravel(), image[:, -20:].ravel()]
    )
    centre = image[600:900, 500:800]
    assert border.mean() < 20 < 60 < centre.mean()


def test_lesions_have_their_classes_and_exact_boxes() -> None:
    classes = class_array(SPEC).compute()
    instances = instance_array(SPEC).compute()
    assert {lesion.category for lesion in SPEC.lesions} == set(np.unique(classes)) - {0}
    boxes = lesion_boxes(SPEC)
    assert len(boxes) == len(SPEC.lesions) == 3
    for box in boxes:
        rows, cols = np.nonzero(instances == box.lesion.index)
        x, y, w, h = box.bbox
        assert (x, y, w, h) == (cols.min(), rows.min(), np.ptp(cols) + 1, np.ptp(rows) + 1)
        assert box.area == rows.size
        assert np.all(classes[rows, cols] == box.lesion.category)


def test_lesions_look_different_from_normal_skin() -> None:
    image = image_array(SPEC).compute().astype(np.float32)
    classes = class_array(SPEC).compute()
    normal = image[(classes == 0) & (image > 40)]
    for category in np.unique(classes)[1:]:
        lesion = image[classes == category]
        assert abs(lesion.mean() - normal.mean()) > 3 or abs(lesion.std() - normal.std()) > 3


def test_no_lesions() -> None:
    spec = make_spec(300, 300, seed=1, lesions=0)
    assert spec.lesions == () and not class_array(spec).compute().any()


def test_bad_spec() -> None:
    with pytest.raises(ValueError, match="at least 64"):
        make_spec(10, 10)
    with pytest.raises(ValueError, match="categories"):
        make_spec(300, 300, categories=(9,))


@pytest.mark.parametrize("name", ["mosaic.tif", "mosaic.zarr"])
def test_written_outputs(tmp_path: Path, name: str) -> None:
    spec = make_spec(700, 900, seed=2, lesions=2)
    written = write_synthetic(spec, tmp_path / name)
    mosaic = open_mosaic(written["mosaic"])
    assert mosaic.info.shape == (700, 900) and mosaic.info.um_per_px == 0.5
    np.testing.assert_array_equal(mosaic.data.compute(), image_array(spec).compute())
    mask = zarr.open_array(written["mask"] / "0", mode="r")[:]
    np.testing.assert_array_equal(mask, class_array(spec).compute())
    coco = json.loads(written["boxes"].read_text())
    assert coco["images"][0] == {"id": 1, "file_name": name, "height": 700, "width": 900}
    assert len(coco["annotations"]) == len(spec.lesions)
    assert {c["id"] for c in coco["categories"]} == {1, 2, 3}
    if name.endswith(".tif"):
        import tifffile

        with tifffile.TiffFile(written["mosaic"]) as tif:
            assert tif.is_bigtiff and tif.pages.first.is_tiled


def test_different_specs_never_share_graph_keys() -> None:
    one = make_spec(300, 300, seed=1, lesions=1)
    two = make_spec(300, 300, seed=1, lesions=2)
    assert image_array(one).name != image_array(two).name
    assert image_array(one).name == image_array(make_spec(300, 300, seed=1, lesions=1)).name
