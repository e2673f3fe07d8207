"""A photo set's gallery: each photo with its boxes or top categories, in one HTML page.

``gallery.html`` links ``gallery/NNNN.jpg`` by relative paths, so the folder
opens in a browser wherever it is copied. Model boxes are solid in their
category's colour with the score (the best `DRAWN_BOXES`); expert boxes are
dashed in the colour of their category (gray for one the model does not have).
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from rcm.render._colours import class_colour

GALLERY_EDGE = 512  # longer edge of a gallery picture
DRAWN_BOXES = 20  # model boxes drawn per photo at most (the best), so the photo stays visible
_TRUTH_GRAY = (150, 150, 150)
_DASH = 8


@dataclass(frozen=True)
class GalleryPhoto:
    """One photo of the gallery and what to draw on it.

    Attributes:
        rgb: ``(H, W, 3)`` uint8 upright pixels.
        title: Its name (the ``image`` of ``predictions.csv``).
        lines: Caption lines under it (top categories with probabilities...).
        boxes: ``(N, 4)`` model boxes ``xyxy`` in `rgb`'s pixels.
        labels: ``(N,)`` their category index (colour and name).
        scores: ``(N,)`` their scores.
        truth: ``(M, 4)`` expert boxes ``xyxy``.
        truth_labels: ``(M,)`` category index of each expert box (-1: not a model category).

    """

    rgb: np.ndarray
    title: str
    lines: tuple[str, ...] = ()
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    truth: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    truth_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def photo_picture(photo: GalleryPhoto, categories: Sequence[str]) -> Image.Image:
    """The photo scaled to `GALLERY_EDGE`, expert boxes dashed, model boxes solid with scores."""
    height, width = photo.rgb.shape[:2]
    scale = GALLERY_EDGE / max(height, width)  # small photos enlarged, so labels fit
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = Image.fromarray(photo.rgb).resize(size, Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    for box, label in zip(photo.truth * scale, photo.truth_labels, strict=True):
        colour = class_colour(int(label)) if label >= 0 else _TRUTH_GRAY
        _dashed_rectangle(draw, box, colour)
    best = np.argsort(-np.asarray(photo.scores), kind="stable")[:DRAWN_BOXES]
    for index in best[::-1]:  # the best drawn last, on top
        box, label, score = photo.boxes[index] * scale, photo.labels[index], photo.scores[index]
        colour = class_colour(int(label))
        x0, y0, x1, y1 = (float(v) for v in box)
        draw.rectangle((x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)), outline=colour, width=2)
        text = f"{categories[int(label)]} {float(score):.2f}"
        left, top, right, bottom = draw.textbbox((x0 + 2, y0 + 1), text, font=font)
        draw.rectangle((left - 1, top - 1, right + 1, bottom + 1), fill=colour)
        draw.text((x0 + 2, y0 + 1), text, fill=(255, 255, 255), font=font)
    return image


def _dashed_rectangle(draw: ImageDraw.ImageDraw, box: np.ndarray, colour: tuple) -> None:
    x0, y0, x1, y1 = (float(v) for v in box)
    x1, y1 = max(x0, x1 - 1), max(y0, y1 - 1)
    for (ax, ay), (bx, by) in (
        ((x0, y0), (x1, y0)),
        ((x1, y0), (x1, y1)),
        ((x1, y1), (x0, y1)),
        ((x0, y1), (x0, y0)),
    ):
        length = max(abs(bx - ax), abs(by - ay))
        steps = max(1, int(length // _DASH))
        for step in range(0, steps, 2):
            t0, t1 = step / steps, min(1.0, (step + 1) / steps)
            start = (ax + (bx - ax) * t0, ay + (by - ay) * t0)
            end = (ax + (bx - ax) * t1, ay + (by - ay) * t1)
            draw.line((start, end), fill=colour, width=2)


def write_photo_gallery(
    folder: str | os.PathLike[str],
    photos: Sequence[GalleryPhoto],
    categories: Sequence[str],
    *,
    title: str,
    legend: str = "",
) -> Path:
    """Write ``gallery.html`` and ``gallery/NNNN.jpg`` into `folder`; return the page.

    Args:
        folder: The output folder (being written).
        photos: The photos, in the order shown.
        categories: The model's categories (names of labels, legend colours).
        title: The page's heading.
        legend: One line under the heading (what is drawn how).

    """
    root = Path(folder)
    pictures = root / "gallery"
    pictures.mkdir(exist_ok=True)
    cells = []
    for number, photo in enumerate(photos, start=1):
        name = f"{number:04d}.jpg"
        photo_picture(photo, categories).save(pictures / name, format="JPEG", quality=90)
        caption = "".join(f"<br>{html.escape(line)}" for line in photo.lines)
        cells.append(
            f'<figure><img src="gallery/{name}" alt="{html.escape(photo.title)}">'
            f"<figcaption><b>{html.escape(photo.title)}</b>{caption}</figcaption></figure>"
        )
    swatches = " ".join(
        f'<span style="color:rgb{class_colour(index)}">&#9632; {html.escape(name)}</span>'
        for index, name in enumerate(categories)
    )
    page = root / "gallery.html"
    page.write_text(
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(legend)}</p><p>{swatches}</p>"
        f'<div class="grid">{"".join(cells) or "<p>no photos</p>"}</div></body></html>\n',
        encoding="utf-8",
    )
    return page


_STYLE = (
    "body{font-family:sans-serif;margin:1em}"
    ".grid{display:flex;flex-wrap:wrap;gap:12px}"
    "figure{margin:0;width:" + str(GALLERY_EDGE) + "px}"
    "img{max-width:100%;display:block}"
    "figcaption{font-size:13px;word-break:break-all}"
)
