"""Calibrating a mosaic model on validation outputs, and the probability its outputs then carry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from rcm.cli.main import main
from rcm.errors import InputError
from rcm.io import file_checksum, open_mosaic
from rcm.models import (
    Calibration,
    LoadedModel,
    ModelMeta,
    ModelStore,
    build_network,
    load_model,
    read_meta,
    read_model_file,
    save_model,
    save_state,
)
from rcm.outputs import MosaicSummary
from rcm.pipeline.calibrate import calibrate_model
from rcm.pipeline.evaluate import EvaluationInputError
from rcm.pipeline.infer import infer_mosaic
from tests.report.fake_outputs import write_outputs

CLASSIFIER = ModelMeta(
    architecture="test_efficientnet", classes=("benign", "lesion"), positive=("lesion",), tile_px=64
)
IDS = [f"m{i:02d}" for i in range(20)]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("model")
    return save_model(folder / "classifier.safetensors", build_network(CLASSIFIER), CLASSIFIER)


def _cohort(
    folder: Path, model: Path, labels: list[int] | None = None
) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """20 mosaics of 10 patients made by `model`: outputs, manifest, labels and scores."""
    rng = np.random.default_rng(5)
    truth_labels = np.array(labels if labels is not None else [0, 1] * 10)
    scores = np.round(np.clip(0.25 * truth_labels + rng.uniform(0.2, 0.7, 20), 0, 1), 4)
    outputs = write_outputs(
        folder / "outputs",
        dict(zip(IDS, scores.tolist(), strict=True)),
        checksum=file_checksum(model),
    )
    truth = folder / "truth.csv"
    truth.write_text(
        "mosaic_id,patient_id,label\n"
        + "".join(
            f"{mosaic},p{i // 2},{'malignant' if label else 'benign'}\n"
            for i, (mosaic, label) in enumerate(zip(IDS, truth_labels, strict=True))
        )
    )
    return outputs, truth, truth_labels.astype(bool), scores


def test_platt_parameters_are_the_unpenalised_logistic_fit_and_the_weights_are_kept(
    model_file: Path, tmp_path: Path
) -> None:
    before = model_file.read_bytes()
    outputs, truth, labels, scores = _cohort(tmp_path, model_file)
    out = tmp_path / "calibrated.safetensors"
    result = calibrate_model(model_file, outputs, truth, out=out)
    calibration = result.calibration
    reference = LogisticRegression(C=np.inf, max_iter=1000).fit(scores[:, None], labels)
    assert calibration.slope == pytest.approx(reference.coef_[0, 0], rel=1e-3)
    assert calibration.intercept == pytest.approx(reference.intercept_[0], rel=1e-3)

    def loss(ab: np.ndarray) -> float:  # the Bernoulli negative log-likelihood, by hand
        z = ab[0] * scores + ab[1]
        return float(np.sum(np.logaddexp(0, z) - labels * z))

    by_hand = minimize(loss, np.zeros(2), method="BFGS").x
    np.testing.assert_allclose([calibration.slope, calibration.intercept], by_hand, rtol=1e-3)

    assert model_file.read_bytes() == before  # the original is untouched
    meta, state = read_model_file(out)
    _, original = read_model_file(model_file)
    assert state.keys() == original.keys()
    assert all(torch.equal(state[key], original[key]) for key in state)
    assert meta.calibrated == calibration and calibration.coverage_fraction == 0.01
    facts = meta.provenance["calibration"]
    assert facts["method"] == "platt" and facts["cases"] == 20 and facts["positive"] == 10
    assert facts["outputs"] == [str(outputs)] and facts["mosaics"] == IDS
    assert facts["model"]["checksum"] == file_checksum(model_file)
    probability = 1 / (1 + np.exp(-(calibration.slope * scores + calibration.intercept)))
    assert result.brier == pytest.approx(np.mean((probability - labels) ** 2))
    assert (result.cases, result.positive, result.path, result.name) == (20, 10, out, None)


def test_isotonic_is_monotone_and_is_scikit_learns_fit(model_file: Path, tmp_path: Path) -> None:
    outputs, truth, labels, scores = _cohort(tmp_path, model_file)
    out = tmp_path / "isotonic.safetensors"
    calibration = calibrate_model(
        model_file, outputs, truth, out=out, method="isotonic"
    ).calibration
    assert calibration.method == "isotonic" and read_meta(out).calibrated == calibration
    grid = np.linspace(-0.5, 1.5, 401)
    assert np.all(np.diff(calibration.probability(grid)) >= 0)
    reference = IsotonicRegression(out_of_bounds="clip").fit(scores, labels)
    np.testing.assert_allclose(calibration.probability(scores), reference.predict(scores))


def test_the_calibrated_classifier_writes_the_probability_of_its_score(
    model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rcm.data import make_spec, write_synthetic

    outputs, truth, _, _ = _cohort(tmp_path, model_file)
    calibrated = tmp_path / "calibrated.safetensors"
    calibration = calibrate_model(model_file, outputs, truth, out=calibrated).calibration
    mosaic = write_synthetic(make_spec(320, 300, seed=4, lesions=1), tmp_path / "mosaic.tif")
    argv = ["infer", str(mosaic["mosaic"]), "--weights", str(calibrated), "--no-progress"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 0
    summary = MosaicSummary.read(tmp_path / "run" / "summary.json")
    expected = float(calibration.probability(summary.score))
    assert summary.probability == pytest.approx(expected, abs=1e-12)
    assert summary.model.calibration_method == "platt"
    assert summary.model.meta["calibration"] == calibration.to_dict()
    assert f"probability {expected:.3f}, score {summary.score:.3f}" in capsys.readouterr().out

    # Scores at another coverage fraction are not what it was fitted on.
    assert main([*argv, "--out", str(tmp_path / "other"), "--coverage", "0.05"]) == 0
    other = MosaicSummary.read(tmp_path / "other" / "summary.json")
    assert other.probability is None and other.model.calibration_method == "platt"
    assert any("calibrated for scores at coverage 0.01, not 0.05" in n for n in other.notes)

    # The model it was calibrated from gives none.
    loaded = load_model(model_file)
    outcome = infer_mosaic(open_mosaic(mosaic["mosaic"]), loaded, tmp_path / "raw")
    assert outcome.result.probability is None
    assert MosaicSummary.read(tmp_path / "raw" / "summary.json").probability is None


def test_a_calibrated_window_model_writes_the_probability_too(tmp_path: Path) -> None:
    from rcm.infer import WindowOptions, detect_mosaic
    from tests.infer.test_windows import BLOB_META, Blobs, blob_image
    from tests.io.writers import write_tiff

    isotonic = Calibration("isotonic", knots_x=(0.0, 0.5, 1.0), knots_y=(0.1, 0.2, 0.8))
    meta = ModelMeta(**{**vars(BLOB_META), "calibration": isotonic.to_dict()})
    model = LoadedModel(Blobs(), meta, "sha256:test", "memory")
    path = write_tiff(tmp_path / "blobs.tif", blob_image()[0])
    options = WindowOptions(tissue="all", batch_size=4)
    result = detect_mosaic(open_mosaic(path), model, tmp_path / "out", options=options)
    summary = MosaicSummary.read(tmp_path / "out" / "summary.json")
    assert summary.task == "detector" and summary.model.calibration_method == "isotonic"
    assert summary.probability == pytest.approx(
        float(np.interp(summary.score, [0, 0.5, 1], [0.1, 0.2, 0.8]))
    )
    assert result.probability == summary.probability


def test_a_mosaic_model_is_not_calibrated_by_temperature() -> None:
    with pytest.raises(ValueError, match="a classifier is calibrated by platt or isotonic"):
        ModelMeta(**{**vars(CLASSIFIER), "calibration": Calibration("temperature").to_dict()})


def _calibrate_cli(model: Path | str, outputs: Path, truth: Path, *extra: str) -> list[str]:
    return [
        "models",
        "calibrate",
        str(model),
        "--outputs",
        str(outputs),
        "--truth",
        str(truth),
        *extra,
    ]


def test_the_command_adds_the_calibrated_model_to_the_store(
    model_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RCM_HOME", str(tmp_path / "home"))
    ModelStore().add(model_file, "tiny")
    outputs, truth, _, _ = _cohort(tmp_path, model_file)
    (outputs / "extra.rcm").mkdir()  # an output without a label: a warning, left out
    (outputs / "m00.rcm" / "summary.json").rename(outputs / "extra.rcm" / "summary.json")
    assert (
        main(_calibrate_cli("tiny", outputs, truth, "--name", "tiny-cal", "--method", "isotonic"))
        == 0
    )
    printed = capsys.readouterr()
    assert "has outputs but no label" in printed.err and "m00: no prediction" in printed.err
    assert "calibrated tiny (isotonic:" in printed.out and "on 19 mosaics" in printed.out
    assert read_meta(ModelStore().resolve("tiny-cal")).calibrated.method == "isotonic"  # type: ignore[union-attr]
    assert main(_calibrate_cli("tiny", outputs, truth, "--name", "tiny-cal")) == 2
    assert "already in" in capsys.readouterr().err
    assert main(_calibrate_cli("tiny", outputs, truth, "--name", "tiny-cal", "--replace")) == 0


def _split(path: Path, parts: dict[str, str]) -> Path:
    path.write_text(
        "item_id,patient_id,category,split\n"
        + "".join(f"{m},p{int(m[1:]) // 2},x,{part}\n" for m, part in parts.items())
    )
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("another model", "20 of 20 outputs were made by another model"),
        ("one class", "all 20 matched mosaics are negative"),
        ("train part", "2 output(s) are of mosaics outside the validation part, e.g. m00 (train)"),
        ("test part", "outside the validation part, e.g. m18 (test), m19 (test)"),
        ("not in split", "e.g. m19 (not in the split)"),
        ("trained on", "2 output(s) are of mosaics the model was trained on, e.g. m03, m04"),
        ("same file", "must not replace the model it is from"),
        ("train as part", "never on the mosaics the model trained on"),
        ("bad label", "1 problem(s) with the inputs"),
    ],
)
def test_refusals_exit_2_naming_the_reason(
    case: str, message: str, model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model.safetensors"
    meta, state = read_model_file(model_file)
    if case == "trained on":
        meta = ModelMeta(**{**vars(meta), "provenance": {"split": {"train": ["m03", "m04", "x"]}}})
    save_state(model, state, meta)
    labels = [0] * 20 if case == "one class" else None
    outputs, truth, _, _ = _cohort(tmp_path, model, labels)
    if case == "another model":
        scores = dict.fromkeys(IDS, 0.5)
        outputs = write_outputs(tmp_path / "foreign", scores, checksum="sha256:another")
    if case == "bad label":
        truth.write_text(truth.read_text().replace("m05,p2,malignant", "m05,p2,unsure"))
    extra = ["--out", str(model if case == "same file" else tmp_path / "new.safetensors")]
    parts = {m: "validation" for m in IDS}
    if case == "train part":
        parts.update(m00="train", m01="train")
    if case == "test part":
        parts.update(m18="test", m19="test")
    if case == "not in split":
        del parts["m19"]
    if case in ("train part", "test part", "not in split", "train as part"):
        extra += ["--split", str(_split(tmp_path / "split.csv", parts))]
    if case == "train as part":
        extra += ["--part", "train"]
    before = model.read_bytes()
    assert main(_calibrate_cli(model, outputs, truth, *extra)) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "new.safetensors").exists() and model.read_bytes() == before


def test_a_photo_model_is_refused(tmp_path: Path) -> None:
    photo = ModelMeta(
        architecture="resnet18",
        task="photo-classifier",
        classes=("melanoma", "naevus"),
        positive=("melanoma",),
        in_chans=3,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
    )
    model = save_state(tmp_path / "photo.safetensors", {"w": torch.zeros(1)}, photo)
    with pytest.raises(InputError, match="a photo-classifier is calibrated in training"):
        calibrate_model(model, tmp_path, tmp_path / "truth.csv", out=tmp_path / "x.safetensors")


def test_the_library_needs_one_destination_and_carries_every_problem(
    model_file: Path, tmp_path: Path
) -> None:
    outputs, truth, _, _ = _cohort(tmp_path, model_file)
    with pytest.raises(InputError, match="either --name"):
        calibrate_model(model_file, outputs, truth)
    with pytest.raises(InputError, match="either --name"):
        calibrate_model(model_file, outputs, truth, out=tmp_path / "a.safetensors", name="a")
    truth.write_text(truth.read_text() + "m01,p9,benign\n")
    with pytest.raises(EvaluationInputError) as caught:
        calibrate_model(model_file, outputs, truth, out=tmp_path / "a.safetensors")
    assert [(p.severity, p.mosaic_id) for p in caught.value.problems] == [("error", "m01")]


def test_outputs_may_be_several_folders(model_file: Path, tmp_path: Path) -> None:
    outputs, truth, _, _ = _cohort(tmp_path, model_file)
    folders = sorted(outputs.iterdir())
    result = calibrate_model(
        model_file, [folders[0], *folders[1:]], truth, out=tmp_path / "c.safetensors"
    )
    assert result.cases == 20
    facts = json.loads(read_meta(tmp_path / "c.safetensors").to_json())["provenance"]
    assert len(facts["calibration"]["outputs"]) == 20
    with pytest.raises(EvaluationInputError) as caught:
        calibrate_model(model_file, [outputs, folders[0]], truth, out=tmp_path / "d.safetensors")
    assert "has two outputs" in caught.value.problems[0].message
