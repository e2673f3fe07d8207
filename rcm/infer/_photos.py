"""`infer_photos`: a photo classifier or photo detector over a whole photo set, one folder out.

```
photo_inputs(source)  -> the photos in source order (one, a folder, COCO, VOC)
batch_slices          -> fixed batches; each has a digest of its listing
PhotoJournal          -> .OUT.run: shards of batches already run (kept across interruptions)
PhotoReader           -> threads decode the other batches ahead (read_photo, fit_photo)
PhotoRunner           -> the device: logits or boxes per batch -> one shard per batch
assemble              -> every shard in source order -> predictions, instances, skipped
atomic_output(OUT)    -> summary.json, predictions.csv, [instances.json], [skipped.csv],
                         gallery.html + gallery/: the folder appears complete or not at all
```
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import timm
import torch
import torchvision

from rcm._version import __version__
from rcm.errors import InputError
from rcm.infer._accumulate import progress_bar
from rcm.infer._photo_assemble import AssembledPhotos, assemble, write_gallery_page
from rcm.infer._photo_inputs import PhotoInputs, photo_inputs
from rcm.infer._photo_journal import PhotoJournal, Shard, batch_digest
from rcm.infer._photo_models import PhotoRunner
from rcm.infer._photo_options import PhotoDetectorOptions, PhotoOptions, photo_workers
from rcm.infer._photo_reader import PhotoBatch, PhotoReader, batch_slices
from rcm.infer._runner import pick_device
from rcm.io import atomic_output, check_output
from rcm.models import PHOTO_TASKS, LoadedModel, Task
from rcm.outputs import INSTANCES as INSTANCES_FILE
from rcm.outputs import (
    PREDICTIONS,
    SKIPPED,
    SUMMARY,
    InstancesBlock,
    PhotoModelRecord,
    PhotoRunSummary,
    PhotoSourceRecord,
    SkippedPhotos,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhotoRunResult:
    """What a photo run wrote.

    Attributes:
        output: The output folder.
        task: The model's task.
        images: Photos with a row in ``predictions.csv``.
        skipped: Photos left out (unreadable, with ``skip_unreadable``).
        batches: Batches in the set.
        reused: Batches taken from an interrupted run's partial, not run again.
        instances: A detector's boxes kept (None for classifiers).
        timings: Seconds per step (``photos_s``: decoding and the model; ``write_s``).

    """

    output: Path
    task: Task
    images: int
    skipped: int
    batches: int
    reused: int
    instances: int | None = None
    timings: dict[str, float] = field(default_factory=dict)


def infer_photos(
    source: str | os.PathLike[str] | PhotoInputs,
    model: LoadedModel,
    output: str | os.PathLike[str],
    *,
    options: PhotoOptions | None = None,
    model_name: str | None = None,
    overwrite: bool = False,
    resume: bool = True,
    progress: bool = False,
) -> PhotoRunResult:
    """Run a photo model over every photo of `source` and write one output folder.

    Args:
        source: A photo, a folder of photos, a COCO ``.json`` or a VOC folder (or
            their `PhotoInputs`).
        model: A loaded photo classifier or photo detector.
        output: The folder to create (atomically).
        options: The run's options (`PhotoOptions`; `PhotoDetectorOptions` for detectors).
        model_name: The model's store name, for provenance.
        overwrite: Replace an existing output once the new one is complete.
        resume: Continue the partial of an interrupted run of the same output (same
            model, batch size, device, versions): its batches are not run again.
        progress: Show a progress bar.

    Raises:
        InputError: If the model is not a photo model, or a photo cannot be read.
        OutputError: If the output exists (without `overwrite`) or cannot be written.

    """
    if model.meta.task not in PHOTO_TASKS:
        raise InputError(model.path, f"a {model.meta.task} is not a photo model")
    started = time.perf_counter()
    options = options or PhotoOptions()
    inputs = source if isinstance(source, PhotoInputs) else photo_inputs(source)
    target = check_output(output, overwrite=overwrite)
    device = pick_device(options.device)
    runner = PhotoRunner(model, device, _min_score(options))
    slices = batch_slices(len(inputs.items), options.batch_size)
    digests = [batch_digest([inputs.items[p] for p in part]) for part in slices]
    journal = PhotoJournal(target, _identity(model, options, device))
    with journal.opened(resume=resume):
        reused = _run_batches(journal, digests, inputs, runner, options, progress)
        timings = {"photos_s": time.perf_counter() - started}
        shards = [journal.read(number) for number in range(len(slices))]
        assembled = assemble(inputs, shards, model.meta, options)
        with atomic_output(target, overwrite=overwrite) as partial:
            partial.mkdir()
            _write(partial, assembled, inputs, model, model_name, options, timings, started)
        journal.remove()
    return PhotoRunResult(
        output=target,
        task=model.meta.task,
        images=len(assembled.predictions),
        skipped=len(assembled.skipped),
        batches=len(slices),
        reused=len(reused),
        instances=assembled.box_count,
        timings={**timings, "total_s": time.perf_counter() - started},
    )


def _min_score(options: PhotoOptions) -> float | None:
    return options.min_score if isinstance(options, PhotoDetectorOptions) else None


def _run_batches(
    journal: PhotoJournal,
    digests: list[str],
    inputs: PhotoInputs,
    runner: PhotoRunner,
    options: PhotoOptions,
    progress: bool,
) -> list[int]:
    """Run every batch the partial does not hold yet, a shard each; return those reused."""
    reused = journal.reusable(digests)
    if reused:
        log.info(
            "%s: continuing, %d of %d batches already run",
            journal.output,
            len(reused),
            len(digests),
        )
    todo = [number for number in range(len(digests)) if number not in set(reused)]
    reader = PhotoReader(
        inputs.items,
        todo,
        batch_size=options.batch_size,
        prepare=runner.prepare,
        workers=photo_workers(options.workers, runner.device.type == "cuda"),
        prefetch=options.prefetch,
        max_pixels=options.max_pixels,
        skip_unreadable=options.skip_unreadable,
    )
    with progress_bar(len(todo), "batch", "photos", progress) as bar:
        for batch in reader:
            journal.write(batch.number, _shard(batch, digests[batch.number], runner, inputs))
            bar.update(1)
    return reused


def _identity(model: LoadedModel, options: PhotoOptions, device: torch.device) -> dict:
    """What a shard's raw results depend on (not the gallery, workers or skipping)."""
    return {
        "model": model.checksum,
        "task": str(model.meta.task),
        "batch_size": options.batch_size,
        "max_pixels": options.max_pixels,
        "min_score": _min_score(options),
        "device": device.type,
        "versions": _versions(),
    }


def _versions() -> dict[str, str]:
    return {
        "rcm": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "timm": timm.__version__,
    }


def _shard(batch: PhotoBatch, digest: str, runner: PhotoRunner, inputs: PhotoInputs) -> Shard:
    """Run one batch's readable photos and keep the raw results with each photo's identity."""
    readable = batch.readable
    names = [inputs.items[photo.position].image for photo in readable]
    pixels = [photo.pixels for photo in readable if photo.pixels is not None]
    rows = [index for index, photo in enumerate(batch.photos) if photo.error is None]
    common = Shard(
        digest=digest,
        positions=np.array([photo.position for photo in batch.photos], np.int64),
        sizes=np.array([photo.size for photo in batch.photos], np.int64).reshape(-1, 2),
        hashes=np.array([photo.sha256 for photo in batch.photos], dtype="U64"),
        errors=np.array([photo.error or "" for photo in batch.photos], dtype=str),
    )
    if not runner.detector:
        logits = np.zeros((len(batch.photos), len(runner.meta.classes)), np.float32)
        if pixels:
            logits[rows] = runner.classify(pixels, names)
        return replace(common, logits=logits)
    found = runner.detect(pixels, names) if pixels else []
    counts = np.zeros(len(batch.photos), np.int64)
    counts[rows] = [len(boxes.scores) for boxes in found]
    return replace(
        common,
        counts=counts,
        boxes=np.concatenate([b.boxes for b in found] or [np.zeros((0, 4))]).astype(np.float32),
        scores=np.concatenate([b.scores for b in found] or [np.zeros(0)]).astype(np.float32),
        labels=np.concatenate([b.labels for b in found] or [np.zeros(0)]).astype(np.int64),
    )


def _write(
    folder: Path,
    assembled: AssembledPhotos,
    inputs: PhotoInputs,
    model: LoadedModel,
    model_name: str | None,
    options: PhotoOptions,
    timings: dict[str, float],
    started: float,
) -> None:
    assembled.predictions.write(folder / PREDICTIONS)
    detections = assembled.detections()
    if detections is not None:
        detections.write(folder / INSTANCES_FILE)
    if options.skip_unreadable:
        SkippedPhotos(assembled.skipped).write(folder / SKIPPED)
    title = f"{model_name or Path(model.path).name} on {inputs.path.name}"
    if options.gallery:
        write_gallery_page(folder, assembled, inputs, model.meta, options, title)
    timings["write_s"] = time.perf_counter() - started - timings["photos_s"]
    _summary(assembled, inputs, model, model_name, options, timings).write(folder / SUMMARY)


def _summary(
    assembled: AssembledPhotos,
    inputs: PhotoInputs,
    model: LoadedModel,
    model_name: str | None,
    options: PhotoOptions,
    timings: dict[str, float],
) -> PhotoRunSummary:
    meta = model.meta
    calibration = meta.calibrated
    instances = None
    if assembled.boxes is not None:
        labels = np.concatenate([b.labels for b in assembled.boxes] or [np.zeros(0, np.int64)])
        counts = np.bincount(labels, minlength=len(meta.classes))
        instances = InstancesBlock(
            int(counts.sum()), {name: int(n) for name, n in zip(meta.classes, counts, strict=True)}
        )
    return PhotoRunSummary(
        task=meta.task,
        model=PhotoModelRecord(
            name=model_name,
            file=os.fspath(model.path),
            checksum=model.checksum,
            architecture=meta.architecture,
            categories=tuple(meta.classes),
            positive=tuple(meta.positive),
            input_px=meta.tile_px,
            calibration=None if calibration is None else calibration.method,
            settings=dict(meta.settings),
        ),
        source=PhotoSourceRecord(
            path=os.fspath(inputs.path),
            kind=inputs.kind,
            images_root=os.fspath(inputs.images_root),
            checksum=_source_checksum(inputs, assembled),
        ),
        images=len(assembled.predictions),
        options=asdict(options),
        timings=timings,
        versions=_versions(),
        skipped=assembled.skipped,
        instances=instances,
    )


def _source_checksum(inputs: PhotoInputs, assembled: AssembledPhotos) -> str:
    """``sha256:`` over the annotation file's checksum and every photo's name and content."""
    digest = hashlib.sha256((inputs.annotation_checksum or "").encode() + b"\n")
    for item, sha in zip(inputs.items, assembled.hashes, strict=True):
        digest.update(f"{item.image}\0{sha}\n".encode())
    return f"sha256:{digest.hexdigest()}"
