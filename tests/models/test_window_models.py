"""Detector and segmenter families, importing foreign weights, and the Detectron2 adapter."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from rcm.cli.main import main
from rcm.errors import BackendMissingError, InputError
from rcm.models import (
    ModelMeta,
    WindowDetections,
    detectron2_available,
    import_weights,
    window_family,
)

needs_detectron2 = pytest.mark.skipif(
    not detectron2_available(), reason="detectron2 is not installed"
)


def test_torchvision_detectors_keep_the_window_size_and_take_gray_input() -> None:
    family = window_family("maskrcnn", "detector")
    model = family.build(num_classes=2, in_chans=1, window_px=96, backbone="resnet18").eval()
    with torch.no_grad():
        seen: list[tuple[int, ...]] = []
        model.backbone.register_forward_hook(lambda _m, x, _o: seen.append(tuple(x[0].shape)))
        assert family.configure is not None and family.detect is not None
        family.configure(model, 0.0, 3)
        found = family.detect(model, torch.rand(2, 1, 96, 96))
    assert seen == [(2, 1, 96, 96)]  # torchvision's default would have resized to 800 px
    assert len(found) == 2 and all(isinstance(f, WindowDetections) for f in found)
    for detections in found:
        assert len(detections.boxes) <= 3
        assert detections.masks is not None and detections.masks.shape[1:] == (96, 96)
        assert (detections.labels >= 0).all() and (detections.labels < 2).all()


def test_segmenters_give_class_probabilities_and_need_windows_of_32() -> None:
    family = window_family("fpn", "segmenter")
    model = family.build(num_classes=3, in_chans=1, window_px=64, encoder="resnet18").eval()
    assert family.segment is not None
    with torch.no_grad():
        probabilities = family.segment(model, torch.rand(2, 1, 64, 64))
    assert probabilities.shape == (2, 3, 64, 64)
    torch.testing.assert_close(probabilities.sum(1), torch.ones(2, 64, 64))
    with pytest.raises(ValueError, match="multiple of 32"):
        family.build(num_classes=3, in_chans=1, window_px=100)


def test_unknown_architecture_and_settings_are_named() -> None:
    with pytest.raises(ValueError, match="unknown detector architecture 'yolo'"):
        window_family("yolo", "detector")
    with pytest.raises(ValueError, match="does not take the setting"):
        window_family("fpn", "segmenter").build(
            num_classes=2, in_chans=1, window_px=64, backbone="resnet18"
        )


def test_import_a_torchvision_state_dict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RCM_HOME", str(tmp_path / "home"))
    family = window_family("fasterrcnn", "detector")
    torch.manual_seed(0)
    network = family.build(num_classes=2, in_chans=1, window_px=128, backbone="resnet18")
    checkpoint = tmp_path / "trained.pth"
    torch.save({"model": network.state_dict(), "epoch": 3}, checkpoint)
    common = ["models", "import", str(checkpoint), "--architecture", "fasterrcnn"]
    common += ["--window", "128", "--setting", "backbone=resnet18"]
    assert main([*common, "--classes", "lesion,other", "--positive", "lesion", "--name", "fr"]) == 0
    entry = json.loads((tmp_path / "home" / "models" / "index.json").read_text())
    assert "fr" in json.dumps(entry)
    # Weights of a 2-class detector described as 3 classes: refused, nothing stored.
    assert main([*common, "--classes", "a,b,c", "--name", "fr3"]) == 2
    assert "fr3" not in (tmp_path / "home" / "models" / "index.json").read_text()


def test_weights_for_another_class_count_name_the_mismatch(tmp_path: Path) -> None:
    family = window_family("fpn", "segmenter")
    network = family.build(num_classes=2, in_chans=1, window_px=64, encoder="resnet18")
    checkpoint = tmp_path / "seg.pt"
    torch.save(network.state_dict(), checkpoint)
    meta = ModelMeta(
        architecture="fpn",
        task="segmenter",
        classes=("background", "a", "b"),
        positive=("a",),
        tile_px=64,
        settings={"encoder": "resnet18"},
    )
    with pytest.raises(InputError, match=r"weights do not fit fpn with 3 classes.*another shape"):
        import_weights(checkpoint, meta)


def test_a_missing_detectron2_config_is_named(tmp_path: Path) -> None:
    checkpoint = tmp_path / "model.pth"
    torch.save({"model": {}}, checkpoint)
    code = main(
        [
            "models",
            "import",
            str(checkpoint),
            "--architecture",
            "detectron2",
            "--name",
            "d2",
            "--classes",
            "a",
            "--detectron2-config",
            str(tmp_path / "missing.yaml"),
        ]
    )
    assert code == 2


@pytest.mark.skipif(detectron2_available(), reason="detectron2 is installed")
def test_detectron2_missing_gives_an_install_hint(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("MODEL:\n  MASK_ON: True\n")
    from rcm.models._detectron2 import resolve_config

    with pytest.raises(BackendMissingError, match="pip install"):
        resolve_config(config)


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8)
)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (BOMB, "aliases are expanded"),
        ("MODEL: !!python/object/apply:os.system [echo hi]\n", "not valid YAML"),
    ],
    ids=["alias-bomb", "python-tag"],
)
def test_detectron2_configs_are_read_bounded_and_safe_first(
    tmp_path: Path, text: str, reason: str
) -> None:
    """Every file of a config's _BASE_ chain passes rcm's YAML reader before yacs sees it."""
    from rcm.models._detectron2 import resolve_config

    (tmp_path / "base.yaml").write_text(text)
    config = tmp_path / "config.yaml"
    config.write_text('_BASE_: "base.yaml"\nMODEL:\n  MASK_ON: True\n')
    with pytest.raises(InputError, match=rf"base\.yaml: cannot read: .*{reason}"):
        resolve_config(config)
    with pytest.raises(InputError, match=rf"base\.yaml: cannot read: .*{reason}"):
        resolve_config(tmp_path / "base.yaml")


D2_BASE = """
MODEL:
  META_ARCHITECTURE: "GeneralizedRCNN"
  MASK_ON: True
  PIXEL_MEAN: [110.0]
  PIXEL_STD: [40.0]
  BACKBONE: {NAME: "build_resnet_fpn_backbone"}
  RESNETS: {DEPTH: 18, RES2_OUT_CHANNELS: 64, OUT_FEATURES: ["res2", "res3", "res4", "res5"]}
  FPN: {IN_FEATURES: ["res2", "res3", "res4", "res5"]}
  ANCHOR_GENERATOR: {SIZES: [[32], [64], [128], [256], [512]], ASPECT_RATIOS: [[0.5, 1.0, 2.0]]}
  RPN: {IN_FEATURES: ["p2", "p3", "p4", "p5", "p6"], POST_NMS_TOPK_TEST: 100}
  ROI_HEADS: {NAME: "StandardROIHeads", IN_FEATURES: ["p2", "p3", "p4", "p5"], NUM_CLASSES: 2}
  ROI_BOX_HEAD: {NAME: "FastRCNNConvFCHead", NUM_FC: 2, POOLER_RESOLUTION: 7}
  ROI_MASK_HEAD: {NAME: "MaskRCNNConvUpsampleHead", NUM_CONV: 4, POOLER_RESOLUTION: 14}
"""


@needs_detectron2
def test_detectron2_model_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rcm.data import make_spec, write_synthetic
    from rcm.models._detectron2 import build_detectron2, resolve_config

    monkeypatch.setenv("RCM_HOME", str(tmp_path / "home"))
    (tmp_path / "base.yaml").write_text(D2_BASE)
    config = tmp_path / "model.yaml"
    config.write_text('_BASE_: "base.yaml"\nMODEL:\n  ROI_HEADS: {SCORE_THRESH_TEST: 0.3}\n')
    torch.manual_seed(0)
    network = build_detectron2(
        num_classes=2, in_chans=1, window_px=128, config=resolve_config(config)
    )
    weights = {key: value for key, value in network.state_dict().items()}
    torch.save({"model": weights, "iteration": 10}, tmp_path / "model_final.pth")
    with (tmp_path / "model_final.pkl").open("wb") as handle:
        pickle.dump({"model": {k: v.numpy() for k, v in weights.items()}}, handle)

    common = ["models", "import", "--architecture", "detectron2", "--window", "128"]
    common += ["--detectron2-config", str(config), "--classes", "lesion,other"]
    assert main([*common, str(tmp_path / "model_final.pth"), "--name", "d2"]) == 0
    assert main([*common, str(tmp_path / "model_final.pkl"), "--name", "d2pkl"]) == 2
    assert (
        main([*common, str(tmp_path / "model_final.pkl"), "--name", "d2pkl", "--trust-pickle"]) == 0
    )
    wrong = [*common[:-1], "a,b,c", str(tmp_path / "model_final.pth"), "--name", "d2x"]
    assert main(wrong) == 2  # the config counts 2 classes

    mosaic = tmp_path / "mosaic.tif"
    write_synthetic(make_spec(256, 256, seed=1, lesions=1), mosaic)
    out = tmp_path / "out"
    code = main(
        [
            "infer",
            str(mosaic),
            "--model",
            "d2",
            "--out",
            str(out),
            "--no-progress",
            "--min-score",
            "0",
            "--max-detections",
            "5",
        ]
    )
    assert code == 0
    found = json.loads((out / "instances.json").read_text())
    assert found and all("segmentation" in item for item in found)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"]["architecture"] == "detectron2"
