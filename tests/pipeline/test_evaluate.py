from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rcm.errors import InputError
from rcm.metrics import auroc
from rcm.outputs import OutputFormatError
from rcm.outputs._evaluation import EvaluationDocument, Interval, Problem
from rcm.pipeline.evaluate import EvaluateOptions, EvaluationInputError, evaluate_outputs
from tests.report.fake_outputs import write_outputs

FIXTURE = Path(__file__).parents[1] / "fixtures" / "release-0.1.0" / "evaluation" / "metrics.json"
FAST = EvaluateOptions(bootstrap=20)


@pytest.fixture
def cohort(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """16 mosaics of 8 patients: their outputs, the manifest, labels and scores."""
    rng = np.random.default_rng(3)
    labels = np.array([0, 1] * 8)
    scores = np.round(np.clip(labels * 0.3 + rng.uniform(0, 0.7, 16), 0, 1), 4)
    ids = [f"m{i:02d}" for i in range(16)]
    outputs = write_outputs(tmp_path / "outputs", dict(zip(ids, scores.tolist(), strict=True)))
    truth = tmp_path / "truth.csv"
    truth.write_text(
        "mosaic_id,patient_id,label\n"
        + "".join(
            f"{mosaic},p{i // 2},{'malignant' if label else 'benign'}\n"
            for i, (mosaic, label) in enumerate(zip(ids, labels, strict=True))
        )
    )
    return outputs, truth, labels, scores


def test_result_and_document_round_trip(cohort: tuple, tmp_path: Path) -> None:
    outputs, truth, labels, scores = cohort
    result = evaluate_outputs(outputs, truth, tmp_path / "evaluation", options=FAST)
    assert result.metrics_path == tmp_path / "evaluation" / "metrics.json"
    assert result.report_path.read_text().startswith("<!DOCTYPE html>")
    document = result.document
    assert document.counts.mosaics == 16 and document.counts.patients == 8
    assert document.auroc is not None and document.note is None
    assert document.auroc.estimate == pytest.approx(auroc(labels.astype(bool), scores))
    assert document.auroc.low <= document.auroc.estimate <= document.auroc.high
    assert document.auroc.resamples == 20 and document.options.bootstrap == 20
    assert set(document.inputs) == {"manifest"} | {f"m{i:02d}/summary.json" for i in range(16)}
    assert result.problems == () and document.problems == ()
    assert EvaluationDocument.read(result.metrics_path) == document
    assert json.loads(result.metrics_path.read_text())["schema_version"] == 1


def test_errors_raise_with_every_problem_and_write_nothing(
    cohort: tuple, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs, truth, _, _ = cohort
    truth.write_text(truth.read_text() + "m01,p9,benign\nm30,p30,maybe\n")
    with pytest.raises(EvaluationInputError) as caught:
        evaluate_outputs(outputs, truth, tmp_path / "evaluation", options=FAST)
    assert isinstance(caught.value, InputError) and caught.value.path == str(truth)
    assert "2 problem(s) with the inputs" in str(caught.value)
    assert [(p.severity, p.mosaic_id) for p in caught.value.problems] == [
        ("error", "m01"),
        ("error", "m30"),
    ]
    assert "listed twice" in caught.value.problems[0].message
    assert not (tmp_path / "evaluation").exists()
    assert capsys.readouterr() == ("", "")  # the library never prints


def test_unreadable_summaries_are_error_problems(cohort: tuple, tmp_path: Path) -> None:
    outputs, truth, _, _ = cohort
    damaged = outputs / "m02.rcm" / "summary.json"
    damaged.write_text("{not json")
    newer = outputs / "m04.rcm" / "summary.json"
    newer.write_text(json.dumps({**json.loads(newer.read_text()), "schema_version": 9}))
    with pytest.raises(EvaluationInputError, match="2 problem") as caught:
        evaluate_outputs(outputs, truth, tmp_path / "e", options=FAST)
    errors = [p for p in caught.value.problems if p.severity == "error"]
    assert [p.mosaic_id for p in errors] == ["m02", "m04"]
    assert errors[0].message.startswith(f"unreadable {damaged} (cannot read summary.json")
    assert errors[1].message.startswith(f"unreadable {newer} (summary.json has schema_version 9")


def test_warnings_come_back_and_strict_makes_them_errors(cohort: tuple, tmp_path: Path) -> None:
    outputs, truth, _, _ = cohort
    truth.write_text(truth.read_text() + "m99,p99,benign\n")
    result = evaluate_outputs(outputs, truth, tmp_path / "lenient", options=FAST)
    message = "no prediction (no output folder with summary.json); left out"
    warning = Problem("warning", "m99", message)
    assert result.problems == (warning,) and result.document.problems == (warning,)
    strict = EvaluateOptions(bootstrap=20, strict=True)
    with pytest.raises(EvaluationInputError, match="--strict counts warnings") as caught:
        evaluate_outputs(outputs, truth, tmp_path / "strict", options=strict)
    assert caught.value.problems == (warning,)
    assert not (tmp_path / "strict").exists()


def test_readers_with_scores_and_their_threshold(cohort: tuple, tmp_path: Path) -> None:
    outputs, truth, labels, _ = cohort
    reads = tmp_path / "reads.csv"
    reads.write_text(
        "reader,mosaic_id,call\n"
        + "".join(f"dr_s,m{i:02d},{0.7 if label else 0.3}\n" for i, label in enumerate(labels))
    )
    result = evaluate_outputs(outputs, truth, tmp_path / "e", options=FAST, readers=reads)
    (reader,) = result.document.metrics["readers"]
    assert reader["sensitivity"] == 1.0 and reader["specificity"] == 1.0
    assert result.document.inputs["readers"].startswith("sha256:")
    high = EvaluateOptions(bootstrap=20, reader_threshold=0.8)  # every call is now negative
    result = evaluate_outputs(outputs, truth, tmp_path / "f", options=high, readers=reads)
    (reader,) = result.document.metrics["readers"]
    assert reader["sensitivity"] == 0.0 and reader["specificity"] == 1.0


def test_compare_and_overwrite(cohort: tuple, tmp_path: Path) -> None:
    outputs, truth, labels, scores = cohort
    flipped = {f"m{i:02d}": 1 - score for i, score in enumerate(scores.tolist())}
    other = write_outputs(tmp_path / "other", flipped)
    out = tmp_path / "e"
    evaluate_outputs(outputs, truth, out, options=FAST)
    with pytest.raises(InputError, match="already exists"):
        evaluate_outputs(outputs, truth, out, options=FAST, compare=other)
    result = evaluate_outputs(outputs, truth, out, options=FAST, compare=other, overwrite=True)
    comparison = result.document.metrics["comparison"]
    assert comparison["other"] == str(other) and comparison["cases"] == 16
    this = auroc(labels.astype(bool), scores)
    assert comparison["auroc"] == pytest.approx({"this": this, "other": 1 - this})
    assert comparison["delong"]["p_value"] < 0.05
    assert EvaluationDocument.read(out / "metrics.json").metrics["comparison"] == comparison


def test_one_class_cohort_has_a_note(tmp_path: Path) -> None:
    outputs = write_outputs(tmp_path / "outputs", {"a": 0.2, "b": 0.4})
    truth = tmp_path / "truth.csv"
    truth.write_text("mosaic_id,patient_id,label\na,p1,benign\nb,p2,Benign\n")
    document = evaluate_outputs(outputs, truth, tmp_path / "e", options=FAST).document
    assert document.auroc is None and document.counts.negative == 2
    assert document.note is not None and "both positive and negative" in document.note
    assert EvaluationDocument.read(tmp_path / "e" / "metrics.json") == document


def test_file_of_release_0_1_0_reads() -> None:
    document = EvaluationDocument.read(FIXTURE)
    assert document.counts.mosaics == 12 and document.counts.positive == 6
    assert document.auroc == Interval(0.888888888888889, 0.5068750000000001, 1.0, 0.95, 20, 0)
    assert document.problems[0].mosaic_id == "m99"
    assert document.options.bootstrap == 20 and document.versions == {"rcm": "0.1.0"}
    assert document.inputs["manifest"].startswith("sha256:")
    assert document.metrics["readers"][0]["reader"] == "dr_a"
    assert document.tile_auroc is None  # no expert masks
    assert document.to_json() == json.loads(FIXTURE.read_text())  # nothing lost


def test_newer_file_is_refused(tmp_path: Path) -> None:
    data = json.loads(FIXTURE.read_text())
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({**data, "schema_version": 2}))
    with pytest.raises(OutputFormatError, match="newer than this rcm reads"):
        EvaluationDocument.read(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("counts"), "lacks counts"),
        (lambda d: d["counts"].update(mosaics=True), "counts.mosaics must be int"),
        (lambda d: d["auroc"].update(low="0.5"), "auroc.low must be float"),
        (lambda d: d["options"].update(color="red"), "options has unknown field"),
        (lambda d: d["problems"][0].update(severity="info"), "severity must be error or warning"),
        (lambda d: d.update(inputs={"manifest": 3}), "inputs must be an object of strings"),
    ],
)
def test_malformed_file_is_refused_naming_the_part(tmp_path: Path, edit, message: str) -> None:
    data = json.loads(FIXTURE.read_text())
    edit(data)
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(data))
    with pytest.raises(OutputFormatError, match=message):
        EvaluationDocument.read(path)


@pytest.mark.parametrize(
    "options",
    [
        {"bootstrap": 0},
        {"bootstrap": True},
        {"seed": 1.5},
        {"target_sensitivity": 1.2},
        {"reader_threshold": -0.1},
        {"strict": "yes"},
    ],
)
def test_options_are_checked(options: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        EvaluateOptions(**options)


def test_cli_prints_the_problems_of_the_library(
    cohort: tuple, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rcm.cli.main import main

    outputs, truth, _, _ = cohort
    shutil.rmtree(outputs / "m03.rcm")
    args = ["evaluate", str(outputs), "--truth", str(truth), "--bootstrap", "20"]
    assert main([*args, "--out", str(tmp_path / "e")]) == 0
    out, err = capsys.readouterr()
    assert err == (
        "rcm: warning: m03: no prediction (no output folder with summary.json); left out\n"
    )
    assert out.startswith("15 mosaics: AUROC ")
    assert main([*args, "--out", str(tmp_path / "s"), "--strict"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("rcm: warning: m03: no prediction")
    assert err[1] == f"rcm: error: {truth}: 1 problem(s) with the inputs (listed above); " + (
        "--strict counts warnings"
    )
    assert main([*args, "--out", str(tmp_path / "t"), "--target-sensitivity", "2"]) == 2
    assert "target_sensitivity must be in [0, 1], got 2.0" in capsys.readouterr().err
