"""What `rcm infer` writes now equals what rcm 0.1.0 wrote, but for the added version fields.

The fixture's classifier output (tests/fixtures/release-0.1.0/classifier) is made
again the same way; files and paths differ only where the folder differs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from rcm.cli.main import main
from rcm.data import make_spec, write_synthetic
from rcm.models import ModelMeta, build_network, save_model

RELEASE = Path(__file__).resolve().parent.parent / "fixtures" / "release-0.1.0" / "classifier"


def _comparable(summary: dict[str, Any]) -> dict[str, Any]:
    """Without what names the folder it was made in, the versions, and the new fields."""
    added = ("schema_version", "task", "versions", "probability")
    kept = {k: v for k, v in summary.items() if k not in added}
    kept["mosaic"] = {k: v for k, v in kept["mosaic"].items() if k != "path"}
    kept["model"] = {
        k: v for k, v in kept["model"].items() if k not in ("file", "calibration_method")
    }
    return kept


def test_a_classifier_output_is_the_one_rcm_0_1_0_wrote(tmp_path: Path) -> None:
    mosaic = tmp_path / "mosaic.tif"
    write_synthetic(make_spec(320, 300, seed=4, lesions=1), mosaic)
    meta = ModelMeta(
        architecture="test_efficientnet",
        classes=("benign", "lesion"),
        positive=("lesion",),
        tile_px=64,
    )
    torch.manual_seed(0)
    weights = save_model(tmp_path / "classifier.safetensors", build_network(meta), meta)
    out = tmp_path / "classifier"
    argv = ["infer", str(mosaic), "--weights", str(weights), "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    now = json.loads((out / "summary.json").read_text())
    then = json.loads((RELEASE / "summary.json").read_text())
    assert now["schema_version"] == 2 and now["task"] == "classifier"
    assert now["probability"] is None and now["model"]["calibration_method"] is None
    assert _comparable(now) == _comparable(then)
    assert (out / "tiles.csv").read_bytes() == (RELEASE / "tiles.csv").read_bytes()
