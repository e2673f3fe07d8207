"""A photo set's gallery: relative links, model boxes solid, expert boxes dashed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rcm.render import GalleryPhoto, class_colour, photo_picture, write_photo_gallery


def _photo() -> GalleryPhoto:
    return GalleryPhoto(
        rgb=np.zeros((256, 512, 3), np.uint8),
        title="a/<b>.jpg",
        lines=("melanoma 0.900",),
        boxes=np.array([[10.0, 10.0, 100.0, 100.0]]),
        labels=np.array([1]),
        scores=np.array([0.9]),
        truth=np.array([[200.0, 50.0, 400.0, 200.0]]),
        truth_labels=np.array([0]),
    )


def test_model_boxes_are_solid_and_expert_boxes_dashed() -> None:
    picture = np.asarray(photo_picture(_photo(), ("melanoma", "naevus")))
    assert picture.shape == (256, 512, 3)  # already 512 px wide: not rescaled
    bottom = picture[98, 20:90]  # the model box's bottom edge, under no label
    assert (np.abs(bottom.astype(int) - class_colour(1)).sum(axis=1) < 60).all()
    top = picture[50, 200:399]  # the expert box's top edge: dashes and gaps
    lit = (np.abs(top.astype(int) - class_colour(0)).sum(axis=1) < 60).mean()
    assert 0.3 < lit < 0.7


def test_the_gallery_page_links_its_pictures_relatively_and_escapes_names(
    tmp_path: Path,
) -> None:
    page = write_photo_gallery(tmp_path, [_photo(), _photo()], ("melanoma", "naevus"), title="t")
    text = page.read_text()
    assert text.count('src="gallery/') == 2 and "a/&lt;b&gt;.jpg" in text
    assert sorted(p.name for p in (tmp_path / "gallery").iterdir()) == ["0001.jpg", "0002.jpg"]
