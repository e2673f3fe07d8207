"""`train`: from a config to a trained model file, registered in the model store."""

from __future__ import annotations

import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import timm
import torch

from rcm._version import __version__
from rcm.data import LabelledMosaic, Split, check_split_covers, read_labelled_mosaics, read_split
from rcm.errors import InputError
from rcm.io import file_checksum, open_mosaic
from rcm.models import PHOTO_TASKS, ModelStore, StoreEntry, Task
from rcm.train._checkpoint import output_ready
from rcm.train._config import TrainConfig
from rcm.train._distributed import launched_rank
from rcm.train._loop import fit
from rcm.train._photo_run import photo_data_record, photo_task, training_photos
from rcm.train._state import TrainResult, TrainState
from rcm.train._task import TRAIN_SPLIT, VALIDATION_SPLIT, TrainTask


def train(
    config: TrainConfig,
    output: str | Path,
    *,
    name: str | None = None,
    replace: bool = False,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    store: ModelStore | None = None,
    on_epoch_end: Callable[[TrainState], None] | None = None,
) -> tuple[TrainResult, StoreEntry | None]:
    """Train the model `config` describes; write it into `output` and, with `name`, the store.

    Mosaic tasks read the training manifest, photo tasks the photo set (COCO
    file or VOC folder); both read the split's ``train`` and ``validation`` parts.

    Raises:
        InputError: For a bad manifest, photo set or split, examples without usable
            labels, or a training folder that is not empty (without `resume` or
            `overwrite`).

    """
    output = Path(output)
    store = store or ModelStore()
    if name is not None:  # before hours of training, not after
        store.check_name(name, replace=replace)
    if config.model.init is not None and not config.model.init.is_file():
        raise InputError(config.model.init, "initial weights (model.init) not found")
    main_process = launched_rank() == 0  # under torchrun, only rank 0 touches files
    if main_process:
        output_ready(output, resume=resume, overwrite=overwrite)
    task, provenance = _task_and_provenance(config)
    result = fit(
        task,
        config,
        output,
        resume=resume,
        progress=progress,
        provenance=provenance,
        on_epoch_end=on_epoch_end,
    )
    entry = None
    if name is not None and main_process and result.model_path.is_file():
        entry = store.add(result.model_path, name, replace=replace)
    return result, entry


def _task_and_provenance(config: TrainConfig) -> tuple[TrainTask, dict[str, Any]]:
    """The task's examples from the manifest or the photo set, and what the model file records."""
    if config.task in PHOTO_TASKS:
        photos = training_photos(config)
        data = {"photos": photo_data_record(photos.source)}
        return photo_task(config, photos), _provenance(config, photos.split, data)
    split, train_set, validation_set = _training_mosaics(config)
    manifest = {"path": str(config.manifest), "checksum": file_checksum(config.manifest)}
    task = _task(config, train_set, validation_set)
    return task, _provenance(config, split, {"manifest": manifest})


def _training_mosaics(
    config: TrainConfig,
) -> tuple[Split, list[LabelledMosaic], list[LabelledMosaic]]:
    """The split and its training and validation mosaics, checked against the manifest."""
    mosaics = read_labelled_mosaics(config.manifest)
    split = read_split(config.data.split)
    check_split_covers(split, [m.mosaic_id for m in mosaics], config.data.split)
    _check_same_patients(mosaics, split, config)
    chosen = {m.mosaic_id: m for m in mosaics}
    train_set = [chosen[i] for i in split.items(TRAIN_SPLIT) if i in chosen]
    validation_set = [chosen[i] for i in split.items(VALIDATION_SPLIT) if i in chosen]
    for part, items in ((TRAIN_SPLIT, train_set), (VALIDATION_SPLIT, validation_set)):
        if not items:
            raise InputError(config.data.split, f"the split has no {part} mosaics")
    return split, train_set, validation_set


def _provenance(config: TrainConfig, split: Split, data: dict[str, Any]) -> dict[str, Any]:
    """What the model file records of how it was made: versions, data files, split, seed."""
    return {
        "trained_with": f"rcm {__version__}",
        "versions": {
            "torch": torch.__version__,
            "timm": timm.__version__,
            "python": platform.python_version(),
        },
        **data,
        "split": {
            "path": str(config.data.split),
            "checksum": file_checksum(config.data.split),
            "train": list(split.items(TRAIN_SPLIT)),
            "validation": list(split.items(VALIDATION_SPLIT)),
        },
        "seed": config.runtime.seed,
    }


def _check_same_patients(mosaics: list[LabelledMosaic], split: Split, config: TrainConfig) -> None:
    """The split groups by the manifest's patients; another grouping could leak a patient."""
    moved = [m for m in mosaics if split.patient_of[m.mosaic_id] != m.patient_id]
    if moved:
        first = moved[0]
        raise InputError(
            config.data.split,
            f"patients differ from the manifest for {len(moved)} mosaic(s) (e.g. "
            f"{first.mosaic_id}: {split.patient_of[first.mosaic_id]} in the split, "
            f"{first.patient_id} in the manifest); make the split again from this manifest",
        )


def _task(
    config: TrainConfig, train_set: list[LabelledMosaic], validation_set: list[LabelledMosaic]
) -> TrainTask:
    um_per_px = config.model.um_per_px or _common_pixel_size(train_set, config)
    if config.task == Task.CLASSIFIER:
        from rcm.train._classifier import ClassifierTask

        return ClassifierTask(config, train_set, validation_set, um_per_px)
    if config.task == Task.DETECTOR:
        from rcm.train._detector import DetectorTask

        return DetectorTask(config, train_set, validation_set, um_per_px)
    from rcm.train._segmenter import SegmenterTask

    return SegmenterTask(config, train_set, validation_set, um_per_px)


def _common_pixel_size(mosaics: list[LabelledMosaic], config: TrainConfig) -> float | None:
    """The training mosaics' pixel size when they share one (else the config must set it)."""
    sizes = {size for m in mosaics if (size := open_mosaic(m.mosaic).info.um_per_px) is not None}
    if len(sizes) > 1:
        raise InputError(
            config.data.manifest,
            f"the training mosaics have different pixel sizes ({', '.join(map(str, sorted(sizes)))}"
            " um); set model.um_per_px so every tile covers the same area",
        )
    return sizes.pop() if sizes else None


def describe(result: TrainResult) -> dict[str, Any]:
    """A short JSON-ready account of a finished training run."""
    state = result.state
    return {
        "model": str(result.model_path),
        "epochs": state.epoch,
        "best_epoch": state.best_epoch,
        "best": state.best,
        "stopped_early": result.stopped_early,
    }
