"""`rcm train` says plainly that it cannot train photo detectors yet (exit 2, not a crash)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rcm.errors import InputError
from rcm.train import load_config
from rcm.train._photo_run import photo_task


def test_training_a_photo_detector_is_refused_clearly(tmp_path: Path) -> None:
    config_path = tmp_path / "detector.yaml"
    config_path.write_text("data:\n  coco: photos.coco.json\n  split: split.csv\n")
    config = load_config(config_path, task="detector")
    assert config.task == "photo-detector"
    with pytest.raises(InputError, match="cannot train a photo-detector yet"):
        photo_task(config, photos=None)  # type: ignore[arg-type]  # refused before photos are used
