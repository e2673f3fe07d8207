"""Batch-job files: a typed, validated description of what `rcm run` does.

A job file (YAML, conventionally under ``pipelines/``) names the mosaics (a CSV
manifest or a glob) or, for a photo model, the photo sets (``photos.sets``: a
COCO file, VOC folder or folder of photos each, one task per set), the stages
(convert, infer, evaluate) with their options, the output root, and the cluster.
Relative paths are relative to the job file.
`JobFile` is the file as written, read with `rcm.config`'s rules (unknown keys are
errors, so a typo never silently falls back to a default); `load_job` turns it
into the `JobSpec` that runs, with the mosaics listed.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rcm.config import custom, from_mapping, normal_path, optional, read_yaml
from rcm.data import read_csv_table
from rcm.errors import bad_input
from rcm.io import Compressor, ZarrWriteOptions
from rcm.jobs.cluster import ClusterSpec, read_cluster
from rcm.pipeline.evaluate import EvaluateOptions

_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")  # the whole id (fullmatch: no "m1\n")
_ZARR = ZarrWriteOptions()  # the defaults of `rcm convert`


def _normal(path: Path) -> Path:
    """`path` without ``..`` or ``.`` parts."""
    return Path(os.path.normpath(path))


def _model(value: Any, base: Path | None) -> str:
    """A model file (made relative to the job file) or the name of a model in the store."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"must be a model file or a store name, got {value!r}")
    folder = base or Path()
    if (folder / value).exists() or "/" in value or value.endswith((".safetensors", ".pt")):
        return str(normal_path(value, base))
    return value


def _options(value: Any, base: Path | None) -> dict[str, Any]:
    if value is None:  # "options:" with every line commented out
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a mapping, got {type(value).__name__}")
    return dict(value)


def _cluster(value: Any, base: Path | None) -> ClusterSpec:
    return read_cluster(value or {}, where="", base=base)


_EVALUATE = EvaluateOptions()  # the defaults of `rcm evaluate`


@dataclass(frozen=True)
class MosaicEntry:
    """One mosaic of the job: its id (names its outputs) and file."""

    mosaic_id: str
    path: Path


@dataclass(frozen=True)
class MosaicSource:
    """The ``mosaics:`` section: a CSV manifest (columns mosaic_id, path) or a glob.

    Attributes:
        manifest: The manifest; its paths are relative to its own folder.
        glob: A pattern (``**`` matches folders); ids are the file names up to the
            first dot.

    """

    manifest: Path | None = field(default=None, metadata=custom(optional(normal_path)))
    glob: Path | None = field(default=None, metadata=custom(optional(normal_path)))

    def __post_init__(self) -> None:
        if (self.manifest is None) == (self.glob is None):
            raise ValueError("needs exactly one of 'manifest' (a CSV) or 'glob'")


@dataclass(frozen=True)
class PhotoSet:
    """One photo set of a photo job: its id (names its output ``OUTPUT/ID.rcm``) and path."""

    id: str
    path: Path = field(metadata=custom(normal_path))


@dataclass(frozen=True)
class PhotoSets:
    """The ``photos:`` section: the photo sets a photo model runs over, one task per set."""

    sets: tuple[PhotoSet, ...]


@dataclass(frozen=True)
class ConvertStage:
    """Convert each mosaic to OME-Zarr (``OUTPUT/ID.zarr``) before inference reads it.

    The options and defaults are those of ``rcm convert``.

    Attributes:
        chunk: Edge of a zarr chunk in pixels, a power of two.
        shard: Edge of a shard, a power of two >= chunk; 0 writes no shards.
        compressor: Codec of the chunks.
        compression_level: Codec level (zstd 1-22, blosc 1-9).

    """

    chunk: int = _ZARR.chunk
    shard: int = _ZARR.shard
    compressor: Compressor = _ZARR.compressor
    compression_level: int = _ZARR.compression_level

    def __post_init__(self) -> None:
        if self.compression_level < 1:
            raise ValueError(f"compression_level must be at least 1, got {self.compression_level}")
        self.write_options()  # ZarrWriteOptions checks chunk and shard

    def write_options(self) -> ZarrWriteOptions:
        """The options `write_ome_zarr` takes (workers: one per core of the task)."""
        return ZarrWriteOptions(
            chunk=self.chunk,
            shard=self.shard,
            compressor=self.compressor,
            compression_level=self.compression_level,
        )


@dataclass(frozen=True)
class InferStage:
    """Run a model over each mosaic (``OUTPUT/ID.rcm``), as ``rcm infer`` does.

    Attributes:
        model: A model file, or the name of a model in the store.
        options: Fields of `ClassifyOptions` or `WindowOptions` (by the model's task),
            checked against the model when the job is planned.
        explain: Add Grad-CAM explanations (tile classifiers).

    """

    model: str = field(metadata=custom(_model))
    options: dict[str, Any] = field(default_factory=dict, metadata=custom(_options))
    explain: bool = False


@dataclass(frozen=True)
class EvaluateStage:
    """Evaluate the cohort once every mosaic is done (``OUTPUT/evaluation``), as ``rcm evaluate``.

    Attributes:
        truth: Ground-truth manifest CSV.
        bootstrap: Bootstrap resamples.
        readers: Clinicians' reads (CSV), or None.
        seed: Seed of the bootstrap.
        reader_threshold: Reader score counted as a positive call.
        target_sensitivity: Sensitivity of the reported operating point.
        target_specificity: Specificity of the reported operating point.

    """

    truth: Path = field(metadata=custom(normal_path))
    bootstrap: int = _EVALUATE.bootstrap
    readers: Path | None = field(default=None, metadata=custom(optional(normal_path)))
    seed: int = _EVALUATE.seed
    reader_threshold: float = _EVALUATE.reader_threshold
    target_sensitivity: float = _EVALUATE.target_sensitivity
    target_specificity: float = _EVALUATE.target_specificity

    def __post_init__(self) -> None:
        self.options()  # checked when the job file is read, not after every mosaic ran

    def options(self) -> EvaluateOptions:
        """The options of `rcm evaluate` this stage gives."""
        return EvaluateOptions(
            bootstrap=self.bootstrap,
            seed=self.seed,
            target_sensitivity=self.target_sensitivity,
            target_specificity=self.target_specificity,
            reader_threshold=self.reader_threshold,
        )


@dataclass(frozen=True)
class Stages:
    """The ``stages:`` section: inference, with conversion before and evaluation after."""

    infer: InferStage
    convert: ConvertStage | None = None
    evaluate: EvaluateStage | None = None


@dataclass(frozen=True)
class JobFile:
    """A job file as written (its mosaics not yet listed): mosaics or photo sets, not both."""

    output: Path = field(metadata=custom(normal_path))
    stages: Stages
    mosaics: MosaicSource | None = None
    photos: PhotoSets | None = None
    name: str | None = None
    cluster: ClusterSpec = field(default_factory=ClusterSpec, metadata=custom(_cluster))
    retries: int = 2
    um_per_px: float | None = None
    allow_missing_chunks: bool = False

    def __post_init__(self) -> None:
        if (self.mosaics is None) == (self.photos is None):
            raise ValueError("needs exactly one of 'mosaics' or 'photos' (photo sets)")
        if self.photos is not None and (self.stages.convert or self.stages.evaluate):
            raise ValueError("photo sets take the infer stage only (no convert or evaluate)")
        if self.retries < 0:
            raise ValueError(f"retries must be a whole number >= 0, got {self.retries!r}")
        if self.um_per_px is not None and self.um_per_px <= 0:
            raise ValueError(f"um_per_px must be a positive number, got {self.um_per_px!r}")


@dataclass(frozen=True)
class JobSpec:
    """A whole batch job.

    Attributes:
        photos: Whether `mosaics` are photo sets (ids and paths of the ``photos:``
            section) run by a photo model.

    """

    name: str
    source: Path
    mosaics: tuple[MosaicEntry, ...]
    output: Path
    infer: InferStage | None
    convert: ConvertStage | None = None
    evaluate: EvaluateStage | None = None
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    retries: int = 2
    um_per_px: float | None = None
    allow_missing_chunks: bool = False
    photos: bool = False


def load_job(path: str | os.PathLike[str]) -> JobSpec:
    """Read and validate a job file.

    Raises:
        InputError: Naming the job file and every reason it cannot run.

    """
    source = Path(path)
    data = read_yaml(source)
    with bad_input(source, kinds=(ValueError, TypeError, KeyError)):
        job = from_mapping(JobFile, data, base=source.resolve().parent)
        if job.output.exists() and not job.output.is_dir():
            raise ValueError(f"output: {job.output} is an existing file, not a folder")
        return JobSpec(
            name=job.name or source.stem,
            source=source,
            mosaics=_mosaics(job.mosaics) if job.mosaics else _photo_sets(job.photos),
            output=job.output,
            infer=job.stages.infer,
            convert=job.stages.convert,
            evaluate=job.stages.evaluate,
            cluster=job.cluster,
            retries=job.retries,
            um_per_px=job.um_per_px,
            allow_missing_chunks=job.allow_missing_chunks,
            photos=job.photos is not None,
        )


def _mosaics(source: MosaicSource) -> tuple[MosaicEntry, ...]:
    """The mosaics a manifest lists or a glob matches, with checked, distinct ids."""
    entries: list[MosaicEntry] = []
    if source.glob is not None:
        for found in sorted(glob.glob(str(source.glob), recursive=True)):  # noqa: PTH207
            path = Path(found)
            entries.append(MosaicEntry(path.name.split(".")[0], path))
    else:
        assert source.manifest is not None  # one of the two, checked on construction
        manifest = source.manifest
        for row in read_csv_table(manifest, ("mosaic_id", "path"), "mosaic manifest"):
            entries.append(MosaicEntry(row["mosaic_id"], _normal(manifest.parent / row["path"])))
    if not entries:
        raise ValueError("no mosaics: the manifest is empty or the glob matches nothing")
    return _checked_ids(entries, "mosaic")


def _photo_sets(source: PhotoSets | None) -> tuple[MosaicEntry, ...]:
    """The photo sets as entries (id, path), with checked, distinct ids."""
    assert source is not None  # mosaics or photos, checked on construction
    if not source.sets:
        raise ValueError("photos.sets lists no photo set")
    return _checked_ids([MosaicEntry(item.id, item.path) for item in source.sets], "photo set")


def _checked_ids(entries: list[MosaicEntry], noun: str) -> tuple[MosaicEntry, ...]:
    bad = [entry.mosaic_id for entry in entries if not _ID.fullmatch(entry.mosaic_id)]
    if bad:
        raise ValueError(
            f"{noun} id {bad[0]!r} is not usable as a folder name (letters, digits, '.', "
            "'_', '-'; not starting with '.')"
        )
    ids = [entry.mosaic_id for entry in entries]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ValueError(f"{noun} id(s) listed twice: {', '.join(twice[:10])}")
    return tuple(entries)
