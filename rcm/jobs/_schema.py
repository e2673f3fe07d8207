"""Batch-job files: a typed, validated description of what `rcm run` does.

A job file (YAML, conventionally under ``pipelines/``) names the mosaics (a CSV
manifest or a glob), the stages (convert, infer, evaluate) with their options,
the output root, and the cluster. Relative paths are relative to the job file.
Every problem is reported with the job file's name; unknown keys are errors,
so a typo never silently falls back to a default.
"""

from __future__ import annotations

import csv
import glob
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rcm.errors import InputError
from rcm.jobs.cluster import ClusterSpec

_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
TOP_KEYS = ("name", "mosaics", "output", "stages", "cluster", "retries", "um_per_px")


@dataclass(frozen=True)
class MosaicEntry:
    """One mosaic of the job: its id (names its outputs) and file."""

    mosaic_id: str
    path: Path


@dataclass(frozen=True)
class ConvertStage:
    """Convert each mosaic to OME-Zarr (``OUTPUT/ID.zarr``) before inference reads it."""

    chunk: int = 1024


@dataclass(frozen=True)
class InferStage:
    """Run a model over each mosaic (``OUTPUT/ID.rcm``), as ``rcm infer`` does.

    Attributes:
        model: A model file, or the name of a model in the store.
        options: Fields of `ClassifyOptions` or `WindowOptions` (by the model's task).
        explain: Add Grad-CAM explanations (tile classifiers).

    """

    model: str
    options: dict[str, Any] = field(default_factory=dict)
    explain: bool = False


@dataclass(frozen=True)
class EvaluateStage:
    """Evaluate the cohort once every mosaic is done (``OUTPUT/evaluation``)."""

    truth: Path
    bootstrap: int = 2000
    readers: Path | None = None


@dataclass(frozen=True)
class JobSpec:
    """A whole batch job."""

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


def load_job(path: str | os.PathLike[str]) -> JobSpec:
    """Read and validate a job file.

    Raises:
        InputError: Naming the job file and every reason it cannot run.

    """
    source = Path(path)
    try:
        data = yaml.safe_load(source.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise InputError(source, f"cannot read job file ({error})") from error
    try:
        return _job(data, source)
    except (ValueError, TypeError, KeyError) as error:
        raise InputError(source, str(error)) from error


def _job(data: Any, source: Path) -> JobSpec:
    mapping = _mapping(data, "the job", TOP_KEYS)
    base = source.resolve().parent
    for required in ("mosaics", "output", "stages"):
        if required not in mapping:
            raise ValueError(f"missing {required!r}")
    stages = _mapping(mapping["stages"], "stages", ("convert", "infer", "evaluate"))
    if "infer" not in stages:
        raise ValueError("stages need 'infer' (convert and evaluate are optional)")
    retries = mapping.get("retries", 2)
    if not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a whole number >= 0, got {retries!r}")
    um_per_px = mapping.get("um_per_px")
    if um_per_px is not None and (not isinstance(um_per_px, int | float) or um_per_px <= 0):
        raise ValueError(f"um_per_px must be a positive number, got {um_per_px!r}")
    return JobSpec(
        name=str(mapping.get("name", source.stem)),
        source=source,
        mosaics=_mosaics(mapping["mosaics"], base),
        output=_path(base, mapping["output"]),
        infer=_infer(stages["infer"], base),
        convert=_convert(stages["convert"]) if stages.get("convert") is not None else None,
        evaluate=_evaluate(stages["evaluate"], base) if stages.get("evaluate") else None,
        cluster=ClusterSpec.from_mapping(
            mapping.get("cluster") or {}, source=str(source), base=base
        ),
        retries=retries,
        um_per_px=um_per_px,
    )


def _path(base: Path, value: Any) -> Path:
    """`value` relative to the job file's folder (absolute paths stay), without ``..``."""
    return Path(os.path.normpath(base / str(value)))


def _mapping(value: Any, what: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be a mapping, got {type(value).__name__}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)} in {what}: use {', '.join(allowed)}")
    return value


def _mosaics(value: Any, base: Path) -> tuple[MosaicEntry, ...]:
    """From ``{manifest: CSV}`` (columns mosaic_id, path) or ``{glob: PATTERN}``."""
    spec = _mapping(value, "mosaics", ("manifest", "glob"))
    if ("manifest" in spec) == ("glob" in spec):
        raise ValueError("mosaics needs exactly one of 'manifest' (a CSV) or 'glob'")
    entries: list[MosaicEntry] = []
    if "glob" in spec:
        pattern = str(_path(base, spec["glob"]))  # absolute patterns stay absolute
        for found in sorted(glob.glob(pattern, recursive=True)):  # noqa: PTH207
            path = Path(found)
            entries.append(MosaicEntry(path.name.split(".")[0], path))
    else:
        manifest = _path(base, spec["manifest"])
        with _open_manifest(manifest) as handle:
            reader = csv.DictReader(handle)
            missing = {"mosaic_id", "path"} - set(reader.fieldnames or ())
            if missing:
                raise ValueError(f"{manifest}: missing column(s) {', '.join(sorted(missing))}")
            for row in reader:
                entries.append(MosaicEntry(row["mosaic_id"], _path(manifest.parent, row["path"])))
    if not entries:
        raise ValueError("no mosaics: the manifest is empty or the glob matches nothing")
    bad = [entry.mosaic_id for entry in entries if not _ID.match(entry.mosaic_id)]
    if bad:
        raise ValueError(
            f"mosaic id {bad[0]!r} is not usable as a folder name (letters, digits, '.', "
            "'_', '-'; not starting with '.')"
        )
    ids = [entry.mosaic_id for entry in entries]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ValueError(f"mosaic id(s) listed twice: {', '.join(twice[:10])}")
    return tuple(entries)


def _open_manifest(path: Path) -> Any:
    try:
        return path.open(newline="")
    except OSError as error:
        raise ValueError(f"cannot read the mosaic manifest {path} ({error})") from error


def _infer(value: Any, base: Path) -> InferStage:
    spec = _mapping(value, "stages.infer", ("model", "options", "explain"))
    if "model" not in spec:
        raise ValueError("stages.infer needs 'model' (a model file or a store name)")
    model = str(spec["model"])
    if (base / model).exists() or "/" in model or model.endswith((".safetensors", ".pt")):
        model = str(_path(base, model))
    options = spec.get("options") or {}
    if not isinstance(options, Mapping):
        raise ValueError("stages.infer.options must be a mapping")
    return InferStage(model, dict(options), bool(spec.get("explain", False)))


def _convert(value: Any) -> ConvertStage:
    spec = _mapping(value or {}, "stages.convert", ("chunk",))
    return ConvertStage(**spec)


def _evaluate(value: Any, base: Path) -> EvaluateStage:
    spec = _mapping(value, "stages.evaluate", ("truth", "bootstrap", "readers"))
    if "truth" not in spec:
        raise ValueError("stages.evaluate needs 'truth' (the ground-truth manifest)")
    readers = spec.get("readers")
    return EvaluateStage(
        truth=_path(base, spec["truth"]),
        bootstrap=int(spec.get("bootstrap", 2000)),
        readers=_path(base, readers) if readers else None,
    )
