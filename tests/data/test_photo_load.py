"""The photo pixel rule: `read_photo` (EXIF orientation with boxes, one RGB rule, pixel budget)."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps

from rcm.data import PhotoPixels, orient_boxes, read_photo
from rcm.data._photo_images import ImageInfo, inspect_images
from rcm.errors import InputError

WIDTH, HEIGHT = 40, 24  # not square, so a quarter turn is caught
BOX = (5, 3, 17, 9)  # x_min, y_min, x_max, y_max in stored pixels (continuous)
ORIENTATION = 0x0112


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return exif.tobytes()


def _painted(mode: str = "RGB") -> Image.Image:
    """Black image with the box painted white (exactly the box's pixels)."""
    pixels = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    x0, y0, x1, y1 = BOX
    pixels[y0:y1, x0:x1] = 255
    return Image.fromarray(pixels).convert(mode)


def _save(image: Image.Image, path: Path, **options: Any) -> Path:
    image.save(path, **options)
    return path


def _white_region(rgb: np.ndarray) -> tuple[int, int, int, int]:
    """The bounding box (continuous xyxy) of the pixels painted white."""
    rows, cols = np.nonzero(rgb.min(axis=2) > 127)
    return (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)


# --- EXIF orientation --------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_boxes_move_as_exif_transpose_moves_pixels(
    tmp_path: Path, orientation: int, suffix: str
) -> None:
    path = _save(_painted(), tmp_path / f"a{suffix}", exif=_exif(orientation))
    photo = read_photo(path, np.array([BOX]))
    with Image.open(path) as image:
        expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    assert photo.orientation == orientation
    np.testing.assert_array_equal(photo.rgb, expected)
    assert tuple(photo.boxes[0]) == _white_region(photo.rgb)
    # and the white region is exactly the box: every pixel inside, none outside
    x0, y0, x1, y1 = (int(v) for v in photo.boxes[0])
    assert (photo.rgb[y0:y1, x0:x1] == 255).all()
    assert int((photo.rgb == 255).all(axis=2).sum()) == (x1 - x0) * (y1 - y0)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_jpeg_orientation(tmp_path: Path, orientation: int) -> None:
    path = _save(_painted(), tmp_path / "a.jpg", exif=_exif(orientation), quality=100)
    photo = read_photo(path, np.array([BOX, (0, 0, WIDTH, HEIGHT)]))
    assert _white_region(photo.rgb) == tuple(photo.boxes[0])
    upright = (HEIGHT, WIDTH) if orientation in (5, 6, 7, 8) else (WIDTH, HEIGHT)
    assert photo.rgb.shape[:2] == (upright[1], upright[0])
    assert tuple(photo.boxes[1]) == (0, 0, *upright)  # the whole image stays the whole image


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_headers_give_the_stored_size_and_the_orientation(tmp_path: Path, suffix: str) -> None:
    """What `rcm data photos` and the COCO/VOC checks compare boxes against: stored pixels."""
    path = _save(_painted(), tmp_path / f"a{suffix}", exif=_exif(6))
    info = inspect_images(tmp_path, [path.name], 1)[path.name]
    assert isinstance(info, ImageInfo)
    assert (info.width, info.height, info.orientation) == (WIDTH, HEIGHT, 6)
    photo = read_photo(path)
    assert photo.rgb.shape == (WIDTH, HEIGHT, 3)  # upright: a quarter turn


def test_xmp_orientation_is_applied_as_pillow_does(tmp_path: Path) -> None:
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf='
        b'"http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="8"/>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    path = _save(_painted(), tmp_path / "a.jpg", xmp=xmp, quality=100)
    photo = read_photo(path, np.array([BOX]))
    with Image.open(path) as image:
        expected = ImageOps.exif_transpose(image).size
    assert photo.orientation == 8 and photo.rgb.shape[1::-1] == expected
    assert _white_region(photo.rgb) == tuple(photo.boxes[0])


@pytest.mark.parametrize("value", [0, 9, 255])
def test_an_invalid_orientation_reads_upright(tmp_path: Path, value: int) -> None:
    path = _save(_painted(), tmp_path / "a.png", exif=_exif(value))
    photo = read_photo(path, np.array([BOX]))
    assert photo.orientation == 1 and tuple(photo.boxes[0]) == BOX


def test_orient_boxes_of_fractional_boxes_keeps_their_size() -> None:
    boxes = np.array([[1.25, 2.5, 10.75, 7.0]])
    for orientation in range(1, 9):
        moved = orient_boxes(boxes, orientation, WIDTH, HEIGHT)
        size = moved[0, 2:] - moved[0, :2]
        expected = (9.5, 4.5) if orientation < 5 else (4.5, 9.5)
        np.testing.assert_allclose(size, expected)
        assert (moved[0, :2] >= 0).all()


def test_no_boxes_gives_an_empty_array(tmp_path: Path) -> None:
    photo = read_photo(_save(_painted(), tmp_path / "a.png", exif=_exif(6)))
    assert photo.boxes.shape == (0, 4)


def test_pixels_are_writable(tmp_path: Path) -> None:
    """Training hands them to torch.from_numpy, which warns on read-only arrays."""
    photo = read_photo(_save(_painted(), tmp_path / "a.png"))
    assert photo.rgb.flags.writeable and photo.rgb.flags.c_contiguous


# --- the RGB rule ------------------------------------------------------------------------


def _gray(dtype: str = "uint8") -> np.ndarray:
    top = np.iinfo(dtype).max
    return np.linspace(0, top, WIDTH * HEIGHT).round().astype(dtype).reshape(HEIGHT, WIDTH)


def test_gray_8_bit_is_repeated(tmp_path: Path) -> None:
    gray = _gray()
    photo = read_photo(_save(Image.fromarray(gray), tmp_path / "a.png"))
    np.testing.assert_array_equal(photo.rgb, np.repeat(gray[:, :, None], 3, axis=2))


def test_gray_16_bit_is_scaled_to_8_bits(tmp_path: Path) -> None:
    gray = _gray("uint16")
    path = _save(Image.fromarray(gray), tmp_path / "a.png")
    with Image.open(path) as image:
        assert image.mode.startswith("I")  # really a 16-bit image
    photo = read_photo(path)
    expected = np.rint(gray * (255 / 65535)).astype(np.uint8)
    np.testing.assert_array_equal(photo.rgb[:, :, 1], expected)
    assert photo.rgb[:, :, 0].max() == 255 and photo.rgb[:, :, 0].min() == 0


def test_rgb_and_rgba_keep_the_stored_colours(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (HEIGHT, WIDTH, 4), dtype=np.uint8)
    rgba[..., 3] = 0  # fully transparent: the stored colours are still the colours
    photo = read_photo(_save(Image.fromarray(rgba), tmp_path / "a.png"))
    np.testing.assert_array_equal(photo.rgb, rgba[..., :3])
    photo = read_photo(_save(Image.fromarray(rgba[..., :3]), tmp_path / "b.png"))
    np.testing.assert_array_equal(photo.rgb, rgba[..., :3])


def test_gray_with_alpha(tmp_path: Path) -> None:
    gray = _gray()
    la = np.stack([gray, np.full_like(gray, 7)], axis=2)
    photo = read_photo(_save(Image.fromarray(la, mode="LA"), tmp_path / "a.png"))
    np.testing.assert_array_equal(photo.rgb, np.repeat(gray[:, :, None], 3, axis=2))


@pytest.mark.parametrize("transparency", ["index", "table"])
def test_palette_with_transparency_expands_without_warnings(
    tmp_path: Path, transparency: str
) -> None:
    palette = np.array([[0, 0, 0], [200, 10, 30], [5, 250, 90]], dtype=np.uint8)
    indices = (np.arange(WIDTH * HEIGHT) % 3).reshape(HEIGHT, WIDTH).astype(np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette(palette.ravel().tolist())
    option: Any = 1 if transparency == "index" else bytes([255, 0, 128])
    path = _save(image, tmp_path / "a.png", transparency=option)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        photo = read_photo(path)
    np.testing.assert_array_equal(photo.rgb, palette[indices])


def test_cmyk_jpeg_is_converted(tmp_path: Path) -> None:
    image = _painted().convert("CMYK")
    path = _save(image, tmp_path / "a.jpg", quality=100)
    with Image.open(path) as stored:
        assert stored.mode == "CMYK"
        expected = np.asarray(stored.convert("RGB"))
    photo = read_photo(path, np.array([BOX]))
    np.testing.assert_array_equal(photo.rgb, expected)
    assert _white_region(photo.rgb) == BOX


def test_one_bit(tmp_path: Path) -> None:
    path = _save(_painted("1"), tmp_path / "a.png")
    photo = read_photo(path)
    assert set(np.unique(photo.rgb)) == {0, 255}
    assert _white_region(photo.rgb) == BOX


def test_float_and_32_bit_photos_are_refused(tmp_path: Path) -> None:
    values = np.linspace(0, 1, WIDTH * HEIGHT, dtype=np.float32).reshape(HEIGHT, WIDTH)
    path = _save(Image.fromarray(values, mode="F"), tmp_path / "f.tif")
    with pytest.raises(InputError, match=r"f\.tif.*not supported"):
        read_photo(path)
    wide = (np.arange(WIDTH * HEIGHT, dtype=np.int32) * 1000).reshape(HEIGHT, WIDTH)
    path = _save(Image.fromarray(wide, mode="I"), tmp_path / "i.tif")
    with pytest.raises(InputError, match=r"i\.tif.*32-bit"):
        read_photo(path)


# --- budget and broken files ---------------------------------------------------------------


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` but holds a few bytes of pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # over 89 Mpx
@pytest.mark.parametrize("side", [13_000, 200_000])  # over the budget; over Pillow's limit too
def test_a_bomb_is_refused_before_decoding(tmp_path: Path, side: int) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(side, 12_000))
    with pytest.raises(InputError, match=r"bomb\.png.*pixel"):
        read_photo(path)


def test_the_budget_is_a_parameter(tmp_path: Path) -> None:
    path = _save(_painted(), tmp_path / "a.png")
    with pytest.raises(InputError, match=r"a\.png: 40 x 24 photo is over the 959 pixel budget"):
        read_photo(path, max_pixels=959)
    assert read_photo(path, max_pixels=960).rgb.shape == (HEIGHT, WIDTH, 3)


def _encoded(kind: str) -> bytes:
    buffer = io.BytesIO()
    rng = np.random.default_rng(1)
    noisy = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    noisy.save(buffer, format=kind, exif=_exif(6))
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["PNG", "JPEG"])
@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9, 0.99])
def test_truncated_files_name_the_file(tmp_path: Path, kind: str, keep: float) -> None:
    data = _encoded(kind)
    path = tmp_path / f"cut.{kind.lower()}"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(InputError, match=rf"cut\.{kind.lower()}"):
        read_photo(path)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
@pytest.mark.parametrize("kind", ["PNG", "JPEG"])
def test_corrupt_bytes_give_input_errors_or_pixels(tmp_path: Path, kind: str) -> None:
    """Flipped bytes anywhere: either a clean InputError naming the file, or valid pixels."""
    data = _encoded(kind)
    rng = np.random.default_rng(2)
    path = tmp_path / f"bad.{kind.lower()}"
    for _ in range(60):
        broken = bytearray(data)
        for position in rng.integers(0, len(data), 4):
            broken[position] = int(rng.integers(0, 256))
        path.write_bytes(bytes(broken))
        try:
            photo = read_photo(path, np.array([[1, 1, 5, 5]]))
        except InputError as error:
            assert error.path == str(path)
        else:
            assert isinstance(photo, PhotoPixels)


def test_missing_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.jpg: photo not found"):
        read_photo(tmp_path / "nope.jpg")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(InputError, match=r"notes\.jpg: not a readable image"):
        read_photo(text)
    with pytest.raises(InputError, match="not a readable image"):
        read_photo(tmp_path)  # a folder
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.png"):
        read_photo(tmp_path / "empty.png")


def test_boxes_must_be_n_by_4(tmp_path: Path) -> None:
    path = _save(_painted(), tmp_path / "a.png")
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        read_photo(path, np.array([1.0, 2.0, 3.0]))
