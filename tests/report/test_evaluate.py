from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rcm.cli.main import main
from rcm.metrics import auroc
from rcm.outputs import MosaicSummary
from rcm.outputs._evaluation import EvaluationDocument
from tests.report.fake_outputs import write_outputs


def _outputs(folder: Path, cases: list[tuple[str, float]]) -> None:
    """Fake `rcm infer` outputs: only summary.json matters to evaluation."""
    write_outputs(folder, dict(cases))


def run_evaluate(*arguments: object) -> dict:
    """`rcm evaluate ARGUMENTS` must succeed; return its metrics.json."""
    words = [str(argument) for argument in arguments]
    assert main(["evaluate", *words]) == 0
    return json.loads((Path(words[words.index("--out") + 1]) / "metrics.json").read_text())


def _manifest(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.write_text("mosaic_id,patient_id,label\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows))
    return path


@pytest.fixture
def cohort(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 60)
    scores = np.clip(labels * 0.3 + rng.uniform(0, 0.7, 60), 0, 1)
    ids = [f"m{i:03d}" for i in range(60)]
    _outputs(tmp_path / "outputs", list(zip(ids, scores.tolist(), strict=True)))
    rows = [
        (mosaic, f"p{i // 2}", "malignant" if label else "benign")
        for i, (mosaic, label) in enumerate(zip(ids, labels, strict=True))
    ]
    return tmp_path / "outputs", _manifest(tmp_path / "truth.csv", rows), labels, scores


def test_metrics_and_report(
    cohort: tuple[Path, Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    outputs, truth, labels, scores = cohort
    out = tmp_path / "report"
    metrics = run_evaluate(
        str(outputs), "--truth", str(truth), "--out", str(out), "--bootstrap", "200"
    )
    assert metrics["counts"] == {
        "mosaics": 60,
        "patients": 30,
        "positive": int(labels.sum()),
        "negative": int(60 - labels.sum()),
    }
    assert metrics["auroc"]["estimate"] == pytest.approx(auroc(labels, scores))
    assert metrics["auroc"]["low"] <= metrics["auroc"]["estimate"] <= metrics["auroc"]["high"]
    at = metrics["operating_points"]["at threshold"]
    assert at["tp"] + at["fn"] == labels.sum()
    assert metrics["confusion_matrix"]["counts"] == [[at["tn"], at["fp"]], [at["fn"], at["tp"]]]
    assert metrics["inputs"]["manifest"].startswith("sha256:")
    page = (out / "report.html").read_text()
    assert "<img alt='ROC curve'" in page and "data:image/png;base64," in page
    assert "m000" in page and "http" not in page  # offline: no external resources


@pytest.mark.parametrize(
    ("edit", "message", "strict_only"),
    [
        ("duplicate", "listed twice", False),
        ("unknown-label", "neither a positive", False),
        ("missing-prediction", "no prediction", True),
        ("unlabelled-output", "no label in the manifest", True),
    ],
)
def test_manifest_problems(
    cohort: tuple[Path, Path, np.ndarray, np.ndarray],
    tmp_path: Path,
    edit: str,
    message: str,
    strict_only: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    outputs, truth, _, _ = cohort
    lines = truth.read_text().splitlines()
    if edit == "duplicate":
        lines.append(lines[1].replace("p0", "p99"))
    elif edit == "unknown-label":
        lines[1] = lines[1].rsplit(",", 1)[0] + ",maybe"
    elif edit == "missing-prediction":
        lines.append("m999,p999,benign")
    else:
        _outputs(outputs, [("extra", 0.4)])
    truth.write_text("\n".join(lines) + "\n")
    out = tmp_path / "r"
    code = main(
        ["evaluate", str(outputs), "--truth", str(truth), "--out", str(out), "--bootstrap", "50"]
    )
    err = capsys.readouterr().err
    assert message in err
    assert code == (0 if strict_only else 2)
    if strict_only:
        strict = main(
            [
                "evaluate",
                str(outputs),
                "--truth",
                str(truth),
                "--out",
                str(tmp_path / "s"),
                "--bootstrap",
                "50",
                "--strict",
            ]
        )
        assert strict == 2 and not (tmp_path / "s").exists()
    else:
        assert not out.exists()


def test_bad_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "outputs").mkdir()
    truth = tmp_path / "truth.csv"
    truth.write_text("id,label\nm1,benign\n")
    assert main(["evaluate", str(tmp_path / "outputs"), "--truth", str(truth)]) == 2
    assert "lacks column(s) mosaic_id, patient_id" in capsys.readouterr().err


def test_readers(cohort: tuple[Path, Path, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    outputs, truth, labels, _ = cohort
    reads = tmp_path / "reads.csv"
    lines = ["reader,mosaic_id,call"]
    for reader, flip in (("dr_a", 0), ("dr_b", 7)):
        for index, label in enumerate(labels):
            call = bool(label) != (flip and index % flip == 0)
            lines.append(f"{reader},m{index:03d},{'malignant' if call else 'benign'}")
    reads.write_text("\n".join(lines) + "\n")
    out = tmp_path / "report"
    metrics = run_evaluate(
        str(outputs),
        "--truth",
        str(truth),
        "--readers",
        str(reads),
        "--out",
        str(out),
        "--bootstrap",
        "50",
    )
    readers = {r["reader"]: r for r in metrics["readers"]}
    assert readers["dr_a"]["sensitivity"] == 1.0 and readers["dr_a"]["specificity"] == 1.0
    assert readers["dr_b"]["sensitivity"] < 1.0 and "average" in readers
    assert "readers" in metrics["inputs"]
    assert "<h2>Readers</h2>" in (out / "report.html").read_text()


def test_expert_masks_give_tile_and_pixel_metrics(tmp_path: Path) -> None:
    import csv

    import torch

    from rcm.data import make_spec, write_synthetic
    from rcm.models import ModelMeta, build_network, save_model

    meta = ModelMeta(
        architecture="test_efficientnet",
        classes=("benign", "suspicious"),
        positive=("suspicious",),
        tile_px=64,
        um_per_px=0.5,
    )
    torch.manual_seed(0)
    weights = save_model(tmp_path / "m.safetensors", build_network(meta), meta)
    rows = ["mosaic_id,patient_id,label,mask"]
    for index, lesions in enumerate((2, 0, 1)):
        mosaic = tmp_path / "data" / f"s{index}.tif"
        write_synthetic(make_spec(500, 450, seed=index, lesions=lesions), mosaic)
        assert (
            main(
                [
                    "infer",
                    str(mosaic),
                    "--weights",
                    str(weights),
                    "--out",
                    str(tmp_path / "outputs" / f"s{index}.rcm"),
                    "--no-progress",
                ]
            )
            == 0
        )
        rows.append(
            f"s{index},p{index},{'malignant' if lesions else 'benign'},data/s{index}.lesions.zarr"
        )
    truth = tmp_path / "truth.csv"
    truth.write_text("\n".join(rows) + "\n")
    out = tmp_path / "report"
    metrics = run_evaluate(
        str(tmp_path / "outputs"), "--truth", str(truth), "--out", str(out), "--bootstrap", "50"
    )
    classified = 0
    for index in range(3):
        with (tmp_path / "outputs" / f"s{index}.rcm" / "tiles.csv").open() as handle:
            classified += sum(1 for row in csv.DictReader(handle) if row["p_suspicious"])
    assert metrics["tile_level"]["tiles"] == classified
    assert 0 < metrics["tile_level"]["positive"] < classified
    assert 0.0 <= metrics["tile_level"]["auroc"]["estimate"] <= 1.0
    tile_auroc = EvaluationDocument.read(out / "metrics.json").tile_auroc
    assert tile_auroc is not None and tile_auroc.low <= tile_auroc.estimate <= tile_auroc.high
    assert set(metrics["segmentation"]["per_mosaic"]) == {"s0", "s1", "s2"}
    assert 0.0 <= metrics["segmentation"]["pooled"]["dice"] <= 1.0
    dice_ci = metrics["segmentation"]["pooled_dice_ci"]
    assert dice_ci["low"] <= dice_ci["estimate"] <= dice_ci["high"]
    assert "Against expert lesion masks" in (out / "report.html").read_text()


def test_compare_two_models(
    cohort: tuple[Path, Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    outputs, truth, labels, scores = cohort
    noisy = np.clip(scores + np.random.default_rng(9).normal(0, 0.4, len(scores)), 0, 1)
    _outputs(tmp_path / "other", [(f"m{i:03d}", float(s)) for i, s in enumerate(noisy)])
    out = tmp_path / "report"
    run_evaluate(
        str(outputs),
        "--truth",
        str(truth),
        "--compare",
        str(tmp_path / "other"),
        "--out",
        str(out),
        "--bootstrap",
        "100",
    )
    comparison = json.loads((out / "metrics.json").read_text())["comparison"]
    assert comparison["cases"] == 60
    assert comparison["auroc"]["this"] == pytest.approx(auroc(labels, scores))
    assert comparison["auroc"]["other"] == pytest.approx(auroc(labels, noisy))
    assert 0 <= comparison["delong"]["p_value"] <= 1
    difference = comparison["paired_bootstrap"]["difference"]
    assert difference["low"] <= difference["estimate"] <= difference["high"]
    assert "Compared with" in (out / "report.html").read_text()


def test_detection_outputs_give_map_and_froc(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    rows = ["mosaic_id,patient_id,label,coco"]
    for index in range(4):
        boxes = [[float(x), float(y), 60.0, 40.0] for x, y in rng.uniform(0, 400, (3, 2))]
        truth = {
            "images": [{"id": 1, "height": 500, "width": 500}],
            "categories": [{"id": 1, "name": "atypical"}],
            "annotations": [
                {
                    "id": k + 1,
                    "image_id": 1,
                    "category_id": 1,
                    "bbox": box,
                    "area": 2400.0,
                    "iscrowd": 0,
                }
                for k, box in enumerate(boxes)
            ],
        }
        (tmp_path / f"gt{index}.json").write_text(json.dumps(truth))
        _outputs(tmp_path / "outputs", [(f"d{index}", 0.3 + 0.2 * (index % 2))])
        found = [{"category_id": 1, "bbox": box, "score": 0.9} for box in boxes[:2]]
        found.append({"category_id": 1, "bbox": [450.0, 450.0, 30.0, 30.0], "score": 0.5})
        (tmp_path / "outputs" / f"d{index}.rcm" / "instances.json").write_text(json.dumps(found))
        rows.append(f"d{index},p{index},{'malignant' if index % 2 else 'benign'},gt{index}.json")
    (tmp_path / "truth.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "report"
    metrics = run_evaluate(
        str(tmp_path / "outputs"),
        "--truth",
        str(tmp_path / "truth.csv"),
        "--out",
        str(out),
        "--bootstrap",
        "50",
    )
    # Two of three lesions found exactly per mosaic, before one false positive each.
    assert metrics["detection"]["AP50"] == pytest.approx(2 / 3, abs=0.02)
    assert metrics["froc"]["at"]["0.125"] == pytest.approx(2 / 3)
    assert metrics["froc"]["at"]["8.0"] == pytest.approx(2 / 3)
    assert metrics["detection"]["per_category"]["atypical"] > 0
    page = (out / "report.html").read_text()
    assert "<h2>Detection</h2>" in page and "FROC curve" in page


def test_fuzzy_masks_from_raters(tmp_path: Path) -> None:
    import dask.array as da

    from rcm.io import write_ome_zarr
    from rcm.outputs import TileTable
    from rcm.report._cohort import Case
    from rcm.report._lesions import lesion_metrics

    out = tmp_path / "m.rcm"
    write_outputs(tmp_path, {"m": 0.9})  # its summary names the 100 x 100 mosaic below
    summary = MosaicSummary.read(out / "summary.json")
    replace(summary, mosaic=replace(summary.mosaic, shape=(100, 100))).write(out / "summary.json")
    suspicious = np.zeros((100, 100), np.uint8)
    suspicious[:50] = 1
    write_ome_zarr(da.from_array(suspicious), out / "mask.zarr", um_per_px=None)
    TileTable(
        windows=np.array([[0, 0, 50, 100], [50, 0, 100, 100]]),
        positions=np.array([[0, 0], [1, 0]]),
        tissue=np.ones(2),
        classes=("benign", "suspicious"),
        probabilities=np.array([[0.1, 0.9], [0.9, 0.1]]),
        suspicious=np.array([0.9, 0.1]),
    ).write(out / "tiles.csv")
    raters = np.zeros((100, 100), np.float32)
    raters[:50] = 1.0
    raters[50:] = 0.5  # half the raters marked the lower half
    write_ome_zarr(da.from_array(raters), tmp_path / "raters.zarr", um_per_px=None)
    case = Case("m", "p", "malignant", True, 0.9, "suspicious", out, tmp_path / "raters.zarr")
    metrics = lesion_metrics([case], n_resamples=10)
    pooled = metrics["segmentation"]["pooled"]
    assert pooled["sensitivity"] == pytest.approx(5000 / 7500)
    assert pooled["dice"] == pytest.approx(2 * 5000 / (5000 + 7500))
    assert metrics["tile_level"]["positive"] == 2  # mean rater share 1.0 and 0.5 >= 0.5


def test_diagnoses_and_reader_scores(
    cohort: tuple[Path, Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    outputs, truth, labels, scores = cohort
    diagnoses = np.where(
        labels == 1, np.where(np.arange(60) % 2, "melanoma", "lentigo_maligna"), "nevus"
    )
    lines = truth.read_text().splitlines()
    lines = [lines[0] + ",diagnosis"] + [
        f"{line},{d}" for line, d in zip(lines[1:], diagnoses, strict=True)
    ]
    truth.write_text("\n".join(lines) + "\n")
    reads = tmp_path / "reads.csv"
    reads.write_text(
        "reader,mosaic_id,call\n"
        + "".join(f"dr_s,m{i:03d},{0.8 if label else 0.2}\n" for i, label in enumerate(labels))
    )
    out = tmp_path / "report"
    metrics = run_evaluate(
        str(outputs),
        "--truth",
        str(truth),
        "--readers",
        str(reads),
        "--out",
        str(out),
        "--bootstrap",
        "50",
    )
    assert metrics["by_diagnosis"]["melanoma"] == pytest.approx(
        auroc(diagnoses == "melanoma", scores)
    )
    assert set(metrics["by_diagnosis"]) == {"melanoma", "lentigo_maligna", "nevus"}
    reader = metrics["readers"][0]
    assert reader["sensitivity"] == 1.0 and reader["specificity"] == 1.0


def test_one_label_rule_for_manifests_and_reads() -> None:
    from rcm.data._labelled import NEGATIVE_LABELS, POSITIVE_LABELS
    from rcm.report import label_truth

    assert all(label_truth(word.upper()) is True for word in POSITIVE_LABELS)
    assert all(label_truth(word.title()) is False for word in NEGATIVE_LABELS)
    assert label_truth("maybe") is None and label_truth("") is None
