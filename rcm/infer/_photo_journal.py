"""The partial of a photo run: one shard file per finished batch, so a big run can continue.

A photo run over ``OUT`` works in the hidden folder ``.OUT.run`` beside it:

- ``identity.json``: what the results depend on (model checksum, task, batch
  size, device type, framework versions). A partial with another identity is
  cleared when the run starts.
- ``shards/NNNNNN.npz``: batch ``NNNNNN``'s raw results (a classifier's logits,
  a detector's boxes), each photo's size and content hash, and the digest of
  the batch's listing (names, ids, file sizes and times). Written whole under a
  temporary name and renamed, so a shard is there complete or not at all.
- ``lock``: held by the run, so two runs never write one partial.

A rerun of the same command finds the shards whose batch digest still matches
and runs only the other batches; the output folder is assembled from the
shards in source order, so it is the same byte for byte whether the run was
interrupted or not. The partial is removed once the output is in place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rcm.errors import OutputError
from rcm.infer._photo_inputs import PhotoItem
from rcm.io import LockHeld, held_lock, output_errors, this_process

log = logging.getLogger(__name__)
IDENTITY = "identity.json"
SHARDS = "shards"


@dataclass(frozen=True, eq=False)
class Shard:
    """The raw results of one batch.

    Attributes:
        digest: The batch's listing digest when it ran.
        positions: ``(n,)`` source positions.
        sizes: ``(n, 2)`` ``width, height`` (0 for unreadable photos).
        hashes: ``(n,)`` sha256 hex of each photo ("" when unreadable).
        errors: ``(n,)`` why a photo is unreadable ("" when read).
        logits: A classifier's ``(n, C)`` float32 logits (zeros where unreadable).
        counts: A detector's ``(n,)`` boxes per photo.
        boxes: ``(K, 4)`` float32 ``xyxy`` of all boxes, photo after photo.
        scores: ``(K,)`` float32.
        labels: ``(K,)`` int64 0-based category.

    """

    digest: str
    positions: np.ndarray
    sizes: np.ndarray
    hashes: np.ndarray
    errors: np.ndarray
    logits: np.ndarray | None = None
    counts: np.ndarray | None = None
    boxes: np.ndarray | None = None
    scores: np.ndarray | None = None
    labels: np.ndarray | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays stored (None fields left out)."""
        values = {name: getattr(self, name) for name in _ARRAYS}
        return {name: value for name, value in values.items() if value is not None}


_ARRAYS = (
    "positions",
    "sizes",
    "hashes",
    "errors",
    "logits",
    "counts",
    "boxes",
    "scores",
    "labels",
)


def batch_digest(items: Sequence[PhotoItem]) -> str:
    """What a batch's shard is valid for: its photos' names, ids, sizes and times."""
    digest = hashlib.sha256()
    for item in items:
        try:
            stat = item.path.stat()
            seen = f"{stat.st_size}:{stat.st_mtime_ns}"
        except OSError:
            seen = "missing"
        digest.update(f"{item.image}\0{item.image_id}\0{seen}\n".encode())
    return digest.hexdigest()


class PhotoJournal:
    """The partial folder of one photo output.

    Args:
        output: The output folder the run makes.
        identity: What the results depend on (plain JSON).

    """

    def __init__(self, output: Path, identity: Mapping[str, Any]) -> None:
        self.output = output
        self.folder = output.with_name(f".{output.name}.run")
        self.identity = dict(identity)

    @contextmanager
    def opened(self, *, resume: bool) -> Iterator[PhotoJournal]:
        """Hold the partial for the block: kept when its identity matches and `resume`.

        Raises:
            OutputError: If another run holds it, or it cannot be written.

        """
        with output_errors(self.output, self.folder):
            self.folder.mkdir(parents=True, exist_ok=True)
            try:
                with held_lock(self.folder / "lock", this_process(), remove=False):
                    self._start(resume)
                    try:
                        yield self
                    except BaseException:
                        self._keep_if_useful()
                        raise
            except LockHeld as held:
                raise OutputError(
                    self.output, f"is being written by another run ({held.holder})"
                ) from None

    def _start(self, resume: bool) -> None:
        path = self.folder / IDENTITY
        text = json.dumps(self.identity, indent=2, sort_keys=True)
        if resume and path.is_file() and path.read_text() == text:
            return
        if (self.folder / SHARDS).exists():
            log.info(
                "%s: starting over (the partial run was of another model or options)", self.output
            )
            shutil.rmtree(self.folder / SHARDS)
        (self.folder / SHARDS).mkdir()
        path.write_text(text)

    def _keep_if_useful(self) -> None:
        """After a failure: keep the partial only when it holds a batch to continue from."""
        shards = self.folder / SHARDS
        if shards.is_dir() and any(shards.glob("*.npz")):
            log.info("%s: batches already run are kept in %s", self.output, self.folder)
        else:
            self.remove()

    def _path(self, number: int) -> Path:
        return self.folder / SHARDS / f"{number:06d}.npz"

    def reusable(self, digests: Sequence[str]) -> list[int]:
        """The batches whose shard exists and still matches its listing digest."""
        found = []
        for number, digest in enumerate(digests):
            path = self._path(number)
            if path.is_file() and self._digest(path) == digest:
                found.append(number)
        return found

    @staticmethod
    def _digest(path: Path) -> str | None:
        try:
            with np.load(path, allow_pickle=False) as data:
                return str(data["digest"])
        except (OSError, ValueError, KeyError):
            return None  # damaged (a disk fault): run the batch again

    def write(self, number: int, shard: Shard) -> None:
        """Store batch `number`'s results, whole or not at all."""
        path = self._path(number)
        partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
        with partial.open("wb") as handle:
            np.savez(handle, **{"digest": np.array(shard.digest), **shard.arrays()})  # type: ignore[arg-type]
        partial.replace(path)

    def read(self, number: int) -> Shard:
        """Batch `number`'s results."""
        with np.load(self._path(number), allow_pickle=False) as data:
            values = {name: data[name] for name in _ARRAYS if name in data}
            return Shard(digest=str(data["digest"]), **values)

    def remove(self) -> None:
        """Delete the partial (the output is in place)."""
        shutil.rmtree(self.folder, ignore_errors=True)
