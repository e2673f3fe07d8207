"""Calibration in `rcm evaluate`: Brier score, calibration error and the reliability diagram."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rcm.cli.main import main
from rcm.outputs import EvaluationDocument, OutputFormatError
from rcm.pipeline.evaluate import EvaluateOptions, evaluate_outputs
from tests.report.fake_outputs import write_outputs

FAST = EvaluateOptions(bootstrap=30)
RELEASE_0_1_0 = Path(__file__).parents[1] / "fixtures" / "release-0.1.0"


def _cohort(folder: Path, *, calibrated: int = 12) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """12 mosaics of 6 patients; the first `calibrated` of them carry a probability."""
    labels = np.array([0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 1], bool)
    probability = np.array([0.05, 0.95, 0.12, 0.31, 0.38, 0.66, 0.72, 0.81, 0.99, 0.18, 0.5, 1.0])
    ids = [f"m{i:02d}" for i in range(12)]
    outputs = write_outputs(
        folder / "outputs",
        {mosaic: 0.1 + 0.05 * i for i, mosaic in enumerate(ids)},
        probabilities=dict(zip(ids[:calibrated], probability.tolist(), strict=False)),
        calibration_method="platt" if calibrated else None,
    )
    truth = folder / "truth.csv"
    truth.write_text(
        "mosaic_id,patient_id,label\n"
        + "".join(
            f"{m},p{i // 2},{'malignant' if y else 'benign'}\n"
            for i, (m, y) in enumerate(zip(ids, labels, strict=True))
        )
    )
    return outputs, truth, labels, probability


@pytest.fixture(scope="module")
def calibrated_metrics(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """metrics.json of the calibrated cohort."""
    folder = tmp_path_factory.mktemp("calibrated")
    outputs, truth, _, _ = _cohort(folder)
    result = evaluate_outputs(outputs, truth, folder / "e", options=FAST)
    return json.loads(result.metrics_path.read_text())


def _ece_by_hand(probability: np.ndarray, labels: np.ndarray) -> float:
    """Ten bins [0, 0.1), ..., [0.9, 1.0]: |observed share - mean probability|, case-weighted."""
    total = 0.0
    for low in np.arange(10) / 10:
        high = low + 0.1
        inside = (probability >= low) & ((probability < high) | (high > 0.99))
        if inside.any():
            total += inside.sum() * abs(labels[inside].mean() - probability[inside].mean())
    return total / len(probability)


def test_brier_and_ece_of_the_calibrated_probabilities_are_the_hand_computed_ones(
    tmp_path: Path,
) -> None:
    outputs, truth, labels, probability = _cohort(tmp_path)
    result = evaluate_outputs(outputs, truth, tmp_path / "e", options=FAST)
    calibration = result.document.calibration
    assert calibration is not None and calibration.calibrated and calibration.method == "platt"
    assert calibration.brier is not None and calibration.expected_calibration_error is not None
    assert calibration.brier.estimate == pytest.approx(np.mean((probability - labels) ** 2))
    ece = calibration.expected_calibration_error
    assert ece.estimate == pytest.approx(_ece_by_hand(probability, labels))
    assert calibration.brier.low <= calibration.brier.estimate <= calibration.brier.high
    assert calibration.brier.resamples + calibration.brier.skipped == 30
    bins = calibration.reliability
    assert bins is not None and bins.counts == (1, 2, 0, 2, 0, 1, 1, 1, 1, 3)
    assert bins.mean_probability[2] is None and bins.fraction_positive[9] == 1.0
    assert bins.mean_probability[3] == pytest.approx((0.31 + 0.38) / 2)
    assert bins.fraction_positive[3] == 0.5
    assert EvaluationDocument.read(result.metrics_path) == result.document
    report = result.report_path.read_text()
    assert "<h2>Calibration</h2>" in report and "id='reliability'" in report
    assert "data:image/png;base64," in report.split("id='reliability'")[1][:80]
    assert f"Brier score {calibration.brier.estimate:.3f}" in report


@pytest.mark.parametrize(
    ("calibrated", "note"),
    [(0, "the outputs carry no calibrated probability"), (5, "only 5 of 12 outputs carry")],
)
def test_outputs_without_a_probability_get_a_note_and_no_numbers(
    calibrated: int, note: str, tmp_path: Path
) -> None:
    outputs, truth, _, _ = _cohort(tmp_path, calibrated=calibrated)
    result = evaluate_outputs(outputs, truth, tmp_path / "e", options=FAST)
    calibration = result.document.calibration
    assert calibration is not None and not calibration.calibrated
    assert calibration.note is not None and note in calibration.note
    assert calibration.brier is None and calibration.reliability is None
    data = json.loads(result.metrics_path.read_text())["calibration"]
    assert data["brier"] is None and data["expected_calibration_error"] is None
    report = result.report_path.read_text()
    assert "Not calibrated: " in report and "id='reliability'" not in report


def test_outputs_of_rcm_0_1_0_evaluate_as_not_calibrated(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    for mosaic_id in ("a", "b"):
        (outputs / f"{mosaic_id}.rcm").mkdir(parents=True)
        source = RELEASE_0_1_0 / "classifier" / "summary.json"
        (outputs / f"{mosaic_id}.rcm" / "summary.json").write_text(source.read_text())
    truth = tmp_path / "truth.csv"
    truth.write_text("mosaic_id,patient_id,label\na,p1,benign\nb,p2,malignant\n")
    assert (
        main(["evaluate", str(outputs), "--truth", str(truth), "--out", str(tmp_path / "e")]) == 0
    )
    document = EvaluationDocument.read(tmp_path / "e" / "metrics.json")
    assert document.calibration is not None and not document.calibration.calibrated


def test_metrics_json_without_calibration_reads_as_none() -> None:
    document = EvaluationDocument.read(RELEASE_0_1_0 / "evaluation" / "metrics.json")
    assert document.calibration is None and "calibration" not in document.to_json()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.update(calibrated="yes"), "calibration.calibrated must be true or false"),
        (lambda c: c.update(brier=None), "numbers exactly when it is calibrated"),
        (lambda c: c["reliability"].update(counts=[1.5]), "counts must be integers"),
        (lambda c: c["reliability"].update(edges=[0, 1]), "one more edge than counts"),
        (lambda c: c["brier"].update(low="0.1"), "calibration.brier.low must be float"),
        (lambda c: c.pop("method"), "calibration must have the fields"),
    ],
)
def test_a_damaged_calibration_block_is_refused(
    edit: object, message: str, calibrated_metrics: dict, tmp_path: Path
) -> None:
    data = json.loads(json.dumps(calibrated_metrics))
    edit(data["calibration"])  # type: ignore[operator]
    (tmp_path / "metrics.json").write_text(json.dumps(data))
    with pytest.raises(OutputFormatError, match=message):
        EvaluationDocument.read(tmp_path / "metrics.json")
