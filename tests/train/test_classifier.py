"""Training a tile classifier end to end on a tiny synthetic cohort."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
import yaml
from safetensors.torch import save_file

from rcm.cli.main import main
from rcm.data._labelled import read_labelled_mosaics
from rcm.data._splits import Split, write_split
from rcm.data._synthetic_cohort import write_synthetic_cohort
from rcm.data._tiles import LESION, TileDataset, TileLabelRule, label_tiles
from rcm.errors import InputError
from rcm.metrics import auroc
from rcm.models import ModelStore, load_model
from rcm.models._inputs import normalise
from rcm.train import load_config, train
from rcm.train._checkpoint import config_changes
from rcm.train._distributed import Processes, pick_training_device
from rcm.train._epoch import process_share
from tests.train.resume import train_straight_and_resumed

SPLIT = {  # patients with lesions are the even ones
    "train": ("P000", "P001", "P002", "P003"),
    "validation": ("P004", "P005"),
    "test": ("P006", "P007"),
}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 patients, one 1024 px mosaic each; a fixed patient-level split."""
    folder = tmp_path_factory.mktemp("cohort")
    manifest = write_synthetic_cohort(folder, patients=8, mosaics_per_patient=1, size=1024, seed=3)
    mosaics = read_labelled_mosaics(manifest)
    part = {patient: name for name, patients in SPLIT.items() for patient in patients}
    split = Split(
        assignment={m.mosaic_id: part[m.patient_id] for m in mosaics},
        patient_of={m.mosaic_id: m.patient_id for m in mosaics},
        category_of={m.mosaic_id: m.category for m in mosaics},
    )
    write_split(split, folder / "split.csv")
    return folder


def write_config(folder: Path, cohort: Path, **sections: dict) -> Path:
    config = {
        "task": "classifier",
        "data": {"manifest": str(cohort / "manifest.csv"), "split": str(cohort / "split.csv")},
        "model": {"architecture": "resnet10t", "tile_px": 32, "um_per_px": 1.0},
        "optim": {"epochs": 3, "batch_size": 32, "lr": 3e-3, "examples_per_epoch": 320},
        "runtime": {"workers": 0, "device": "cpu"},
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_training_learns_and_beats_chance_on_held_out_mosaics(cohort: Path, tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, cohort))
    result, _ = train(config, tmp_path / "run", progress=False)

    history = result.state.history
    assert len(history) == 3 and history[-1]["train_loss"] < history[0]["train_loss"]
    for name in (
        "model.safetensors",
        "checkpoints/last.pt",
        "log.csv",
        "curves.png",
        "config.json",
    ):
        assert (tmp_path / "run" / name).is_file(), name
    model = load_model(result.model_path)
    assert model.meta.classes == ("benign", "lesion") and model.meta.um_per_px == 1.0
    assert model.meta.provenance["split"]["validation"] == ["P004-M0", "P005-M0"]

    # Held-out tiles: the test patients, never seen in training or validation.
    test = [
        m for m in read_labelled_mosaics(cohort / "manifest.csv") if m.patient_id in SPLIT["test"]
    ]
    rule = TileLabelRule(tile_px=32, um_per_px=1.0)
    dataset = TileDataset(label_tiles(test, rule), rule)
    tiles = torch.stack([dataset[i][0] for i in range(len(dataset))])
    with torch.inference_mode():
        scores = torch.softmax(model.module(normalise(tiles, model.meta)), 1)[:, 1].numpy()
    held_out = auroc(dataset.labels == LESION, scores)
    assert held_out > 0.8, held_out


def test_resume_from_a_mid_run_checkpoint_gives_the_same_weights(
    cohort: Path, tmp_path: Path
) -> None:
    config = load_config(
        write_config(tmp_path, cohort, optim={"epochs": 2, "examples_per_epoch": 96})
    )
    result = train_straight_and_resumed(config, tmp_path)

    assert result.state.epoch == 2 and len(result.state.history) == 2
    last = [
        torch.load(tmp_path / run / "checkpoints/last.pt", weights_only=True)
        for run in ("straight", "resumed")
    ]
    assert all(torch.equal(last[0]["model"][k], last[1]["model"][k]) for k in last[0]["model"])
    assert (tmp_path / "resumed" / "log.csv").read_text().count("\n") == 3  # header + 2 epochs


def test_cli_train_then_infer_by_name(
    cohort: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RCM_HOME", str(tmp_path / "home"))
    config = write_config(tmp_path, cohort, optim={"epochs": 1, "examples_per_epoch": 64})
    # Local "ImageNet" weights: an RGB resnet10t, as timm publishes it.
    torch.manual_seed(1)
    imagenet = timm.create_model("resnet10t", num_classes=1000, in_chans=3)
    init = tmp_path / "resnet10t-imagenet.safetensors"
    save_file(imagenet.state_dict(), str(init))
    code = main(
        [
            "train",
            "classifier",
            "--config",
            str(config),
            "--out",
            str(tmp_path / "run"),
            "--name",
            "tiny",
            "--no-progress",
            "--set",
            "optim.lr=1e-3",
            "--init",
            str(init),
        ]
    )
    assert code == 0
    trained = load_model(tmp_path / "run" / "model.safetensors")
    assert trained.meta.provenance["config"]["model"]["init"] == str(init)
    # Two Adam steps move a weight by about the learning rate: the start was the file's.
    start = imagenet.state_dict()["layer4.0.conv1.weight"]
    after = trained.module.state_dict()["layer4.0.conv1.weight"]
    assert float((after - start).abs().max()) < 0.01
    assert "rcm infer MOSAIC --model tiny" in capsys.readouterr().out
    assert [entry.name for entry in ModelStore().entries()] == ["tiny"]
    mosaic = cohort / "P006-M0.zarr"
    assert (
        main(
            [
                "infer",
                str(mosaic),
                "--model",
                "tiny",
                "--out",
                str(tmp_path / "out.rcm"),
                "--no-progress",
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "out.rcm" / "summary.json").read_text())
    assert summary["model"]["name"] == "tiny"

    # A second run into the same folder must not silently start over.
    again = [
        "train",
        "classifier",
        "--config",
        str(config),
        "--out",
        str(tmp_path / "run"),
        "--no-progress",
    ]
    assert main(again) == 2
    assert "not empty: pass --resume" in capsys.readouterr().err


def test_bad_configs_are_named(cohort: Path, tmp_path: Path) -> None:
    path = write_config(tmp_path, cohort, optim={"epoch": 3})
    with pytest.raises(
        InputError, match=r"optim: unknown key\(s\) epoch \(did you mean epochs\?\)"
    ):
        load_config(path)
    path = write_config(tmp_path, cohort)
    with pytest.raises(
        InputError, match="config says task: classifier but the command says detector"
    ):
        load_config(path, task="detector")
    with pytest.raises(InputError, match=r"optim\.lr: must be a number, got 'fast'"):
        load_config(path, ["optim.lr=fast"])
    with pytest.raises(InputError, match="one value per input channel"):
        load_config(path, ["model.in_chans=3"])
    missing_init = load_config(path, paths={"model.init": tmp_path / "missing.safetensors"})
    with pytest.raises(InputError, match=r"missing\.safetensors: initial weights .* not found"):
        train(missing_init, tmp_path / "run", progress=False)
    with pytest.raises(InputError, match=r"data\.class_names maps mask values"):
        load_config(path, ["data.class_names={0: background}"])
    with pytest.raises(InputError, match="data: must be a mapping"):
        load_config(path, ["data=oops"])
    # Lesions are under 230 px across: no 256 px tile is all lesion.
    config = load_config(path, ["data.positive_at=1.0", "model.tile_px=128"])
    with pytest.raises(InputError, match="give no lesion tiles"):
        train(config, tmp_path / "run", progress=False)


def test_resume_refuses_another_config(cohort: Path, tmp_path: Path) -> None:
    config = load_config(
        write_config(tmp_path, cohort, optim={"epochs": 1, "examples_per_epoch": 32})
    )
    train(config, tmp_path / "run", progress=False)
    changed = load_config(
        write_config(tmp_path, cohort, optim={"epochs": 2, "examples_per_epoch": 32, "lr": 1e-4})
    )
    before = (tmp_path / "run" / "config.json").read_text()
    with pytest.raises(InputError, match=r"another config \(optim\.epochs, optim\.lr differ\)"):
        train(changed, tmp_path / "run", resume=True, progress=False)
    assert (tmp_path / "run" / "config.json").read_text() == before  # nothing rewritten
    assert (
        config_changes(
            {"runtime": {"workers": 8, "device": "cuda", "seed": 0}},
            {"runtime": {"workers": 2, "device": "auto", "seed": 0}},
        )
        == []
    )  # where and how fast it runs may change on resume


def test_a_split_made_with_other_patients_is_refused(cohort: Path, tmp_path: Path) -> None:
    mosaics = read_labelled_mosaics(cohort / "manifest.csv")
    part = {patient: name for name, patients in SPLIT.items() for patient in patients}
    moved = {m.mosaic_id: m.patient_id for m in mosaics}
    # The split was made when P001-M0 was filed under another patient; had that patient
    # been P004 (validation), P001-M0 would now leak into training.
    moved["P001-M0"] = "Q001"
    split = Split(
        assignment={m.mosaic_id: part[m.patient_id] for m in mosaics},
        patient_of=moved,
        category_of={m.mosaic_id: m.category for m in mosaics},
    )
    write_split(split, tmp_path / "other-split.csv")
    path = write_config(tmp_path, cohort, data={"split": str(tmp_path / "other-split.csv")})
    with pytest.raises(InputError, match="P001-M0: Q001 in the split, P001 in the manifest"):
        train(load_config(path), tmp_path / "run", progress=False)


def test_training_picks_a_cuda_device_by_index(monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert pick_training_device("auto") == torch.device("cuda", 0)
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert pick_training_device("cuda") == torch.device("cuda", 3)
    assert chosen == [torch.device("cuda", 0), torch.device("cuda", 3)]


@pytest.mark.slow
def test_torchrun_two_processes_train_one_model(cohort: Path, tmp_path: Path) -> None:
    # 65 draws over 2 processes: the draw is wrapped so both take the same batches.
    config = write_config(
        tmp_path, cohort, optim={"epochs": 1, "examples_per_epoch": 65, "batch_size": 16}
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RCM_HOME": str(tmp_path / "home")}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--standalone",
        "-m",
        "rcm",
        "train",
        "classifier",
        "--config",
        str(config),
        "--out",
        str(tmp_path / "ddp"),
        "--no-progress",
        "--name",
        "ddp",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert [entry.name for entry in ModelStore(tmp_path / "home" / "models").entries()] == ["ddp"]
    model = load_model(tmp_path / "ddp" / "model.safetensors")
    assert model.meta.provenance["epoch"] == 1
    log = (tmp_path / "ddp" / "log.csv").read_text().splitlines()
    assert len(log) == 2
    assert np.isfinite(float(log[1].split(",")[3]))


def test_processes_take_equal_shares_without_a_batch_of_one() -> None:
    draw = np.arange(65)
    shares = [process_share(draw, Processes(rank, 2, rank), 16) for rank in (0, 1)]
    assert [len(share) for share in shares] == [32, 32]  # 33 each, the 1-example batch dropped
    assert set(np.concatenate(shares)) <= set(draw)
    assert len(process_share(np.arange(17), Processes(), 16)) == 16
    assert len(process_share(np.arange(1), Processes(), 16)) == 1
