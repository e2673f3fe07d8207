"""Photos decoded in a thread pool, several batches ahead of the model, handed out in order.

Each photo goes through `rcm.data.read_photo` (EXIF orientation, the RGB rule,
the pixel budget) and then the model's own preparation (a classifier's square
input). Batches are fixed slices of the source order, so what a batch holds
never depends on which thread finished first, and a batch can be run again on
its own (a continued run).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rcm.data import read_photo
from rcm.errors import InputError
from rcm.infer._photo_inputs import PhotoItem

_HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class DecodedPhoto:
    """One photo ready for the model, or the reason it could not be read.

    Attributes:
        position: Its index in the source order.
        pixels: The model's input (``(H, W, 3)`` uint8), None when unreadable.
        size: ``(width, height)`` upright; ``(0, 0)`` when unreadable.
        sha256: Hex digest of the file's bytes ("" when it cannot be opened).
        error: Why it is unreadable, None when it was read.

    """

    position: int
    pixels: np.ndarray | None
    size: tuple[int, int]
    sha256: str
    error: str | None = None


@dataclass(frozen=True)
class PhotoBatch:
    """Batch `number`: the photos at positions ``number * size ...`` of the source order."""

    number: int
    photos: tuple[DecodedPhoto, ...]

    @property
    def readable(self) -> list[DecodedPhoto]:
        """The photos that were read."""
        return [photo for photo in self.photos if photo.error is None]


def batch_slices(count: int, size: int) -> list[range]:
    """The source positions of each batch."""
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


class PhotoReader:
    """Iterate over the chosen batches of a photo set, decoded ahead in threads.

    Args:
        items: The photos in source order.
        numbers: The batches to read (ascending), of `batch_size` photos each.
        batch_size: Photos per batch.
        prepare: Upright RGB -> the model's input (runs in the reader threads).
        workers: Decoding threads.
        prefetch: Batches decoded ahead of the one handed out.
        max_pixels: Pixel budget of one photo.
        skip_unreadable: Hand out unreadable photos with their reason instead of
            raising.

    """

    def __init__(
        self,
        items: Sequence[PhotoItem],
        numbers: Sequence[int],
        *,
        batch_size: int,
        prepare: Callable[[np.ndarray], np.ndarray],
        workers: int,
        prefetch: int,
        max_pixels: int,
        skip_unreadable: bool,
    ) -> None:
        self.items, self.numbers, self.prepare = items, list(numbers), prepare
        self.slices = batch_slices(len(items), batch_size)
        self.workers, self.prefetch = workers, prefetch
        self.max_pixels, self.skip_unreadable = max_pixels, skip_unreadable

    def decode(self, position: int) -> DecodedPhoto:
        """Read one photo (in a reader thread)."""
        item = self.items[position]
        try:
            digest = _sha256(item.path)
            photo = read_photo(item.path, max_pixels=self.max_pixels)
        except InputError as error:
            if not self.skip_unreadable:
                raise
            return DecodedPhoto(position, None, (0, 0), "", error.reason)
        height, width = photo.rgb.shape[:2]
        return DecodedPhoto(position, self.prepare(photo.rgb), (width, height), digest)

    def __iter__(self) -> Iterator[PhotoBatch]:
        with ThreadPoolExecutor(self.workers, thread_name_prefix="rcm-photo") as pool:
            queue: deque[tuple[int, list[Future[DecodedPhoto]]]] = deque()
            numbers = iter(self.numbers)

            def submit() -> None:
                number = next(numbers, None)
                if number is not None:
                    futures = [pool.submit(self.decode, p) for p in self.slices[number]]
                    queue.append((number, futures))

            for _ in range(self.prefetch + 1):
                submit()
            try:
                while queue:
                    number, futures = queue.popleft()
                    photos = tuple(future.result() for future in futures)
                    submit()
                    yield PhotoBatch(number, photos)
            finally:  # stopped early (an error, an interrupt): drop what is queued
                for _, futures in queue:
                    for future in futures:
                        future.cancel()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while block := handle.read(_HASH_BLOCK):
                digest.update(block)
    except FileNotFoundError:
        raise InputError(path, "photo not found") from None
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror or error}") from None
    return digest.hexdigest()
