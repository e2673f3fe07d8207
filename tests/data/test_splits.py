"""Patient-level stratified splits: no leaks, deterministic, stratified, files round-trip."""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rcm.cli.main import main
from rcm.data._splits import (
    Split,
    check_split_covers,
    read_split,
    split_by_patient,
    write_split,
)
from rcm.errors import InputError, OutputError


@st.composite
def cohorts(draw: st.DrawFn) -> tuple[list[str], list[str], list[str]]:
    """Random cohorts: 3..60 patients, 1..6 items each, 1..4 categories."""
    n_categories = draw(st.integers(1, 4))
    items, patients, categories = [], [], []
    for p in range(draw(st.integers(3, 60))):
        for k in range(draw(st.integers(1, 6))):
            items.append(f"p{p}-m{k}")
            patients.append(f"p{p}")
            categories.append(f"c{draw(st.integers(0, n_categories - 1))}")
    return items, patients, categories


@st.composite
def fraction_sets(draw: st.DrawFn) -> list[tuple[str, float]]:
    weights = draw(st.lists(st.integers(1, 20), min_size=1, max_size=3))
    return [(f"s{k}", w / sum(weights)) for k, w in enumerate(weights)]


@settings(max_examples=100, deadline=None)
@given(cohorts(), fraction_sets(), st.integers(0, 2**32), st.randoms(use_true_random=False))
def test_random_cohorts_never_leak_and_are_order_independent(
    cohort: tuple[list[str], list[str], list[str]],
    fractions: list[tuple[str, float]],
    seed: int,
    shuffler: random.Random,
) -> None:
    items, patients, categories = cohort
    split = split_by_patient(items, patients, categories, fractions=fractions, seed=seed)
    assert sorted(split.assignment) == sorted(items)
    assigned = [item for name in split.names for item in split.items(name)]
    assert sorted(assigned) == sorted(items)  # every item exactly once
    owners = Counter(p for name in split.names for p in split.patients(name))
    assert set(owners) == set(patients)
    assert max(owners.values()) == 1  # no patient in two splits
    assert all(split.patients(name) for name in split.names)  # no empty split

    rows = list(zip(items, patients, categories, strict=True))
    shuffler.shuffle(rows)
    again = split_by_patient(*map(list, zip(*rows, strict=True)), fractions=fractions, seed=seed)
    assert again == split


def _large_cohort(seed: int = 1) -> tuple[list[str], list[str], list[str]]:
    rng = random.Random(seed)
    items, patients, categories = [], [], []
    for p in range(400):
        for k in range(2):
            items.append(f"m{p:03d}-{k}")
            patients.append(f"p{p:03d}")
            categories.append(rng.choices(["bcc", "mel", "nevus"], [0.1, 0.3, 0.6])[0])
    return items, patients, categories


@pytest.mark.parametrize("seed", [0, 7])
def test_large_cohort_is_stratified(seed: int) -> None:
    split = split_by_patient(*_large_cohort(), seed=seed)
    summary = split.summary()
    for name, part in summary["splits"].items():
        assert part["share"] == pytest.approx(part["target_share"], abs=0.01), name
        for category, counts in part["categories"].items():
            overall = summary["categories"][category]["share"]
            assert counts["share"] == pytest.approx(overall, abs=0.03), (name, category)


def test_seed_changes_the_split() -> None:
    cohort = _large_cohort()
    assert split_by_patient(*cohort, seed=0) != split_by_patient(*cohort, seed=1)


def test_few_patients_fill_every_split() -> None:
    split = split_by_patient(["a", "b", "c"], ["p1", "p2", "p3"], ["x", "x", "x"])
    assert [len(split.patients(n)) for n in split.names] == [1, 1, 1]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((["a", "b"], ["p", "q"], ["x"]), "2 item ids, 2 patient ids and 1 categories"),
        ((["a", "a", "b"], ["p", "q", "r"], ["x"] * 3), "item id(s) given twice: a"),
        ((["a", "b"], ["p", "q"], ["x"] * 2), "2 patient(s) cannot fill 3 splits"),
    ],
)
def test_bad_items(arguments: tuple[list[str], ...], message: str) -> None:
    with pytest.raises(InputError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        split_by_patient(*arguments)


@pytest.mark.parametrize(
    ("fractions", "message"),
    [
        ([("train", 0.5), ("test", 0.4)], "must sum to 1"),
        ([("train", 1.2), ("test", -0.2)], "must be positive"),
        ([("train", 0.5), ("train", 0.5)], "given twice"),
        ([("train", float("nan")), ("test", 1.0)], "must be positive"),
        ([], "no splits"),
    ],
)
def test_bad_fractions(fractions: list[tuple[str, float]], message: str) -> None:
    with pytest.raises(InputError, match=message):
        split_by_patient(["a", "b", "c"], ["p", "q", "r"], ["x"] * 3, fractions=fractions)


def test_split_refuses_a_leak() -> None:
    with pytest.raises(InputError, match="patient p is in splits test, train"):
        Split({"a": "train", "b": "test"}, {"a": "p", "b": "p"}, {"a": "x", "b": "x"})


def test_unknown_split_name() -> None:
    split = split_by_patient(["a", "b", "c"], ["p", "q", "r"], ["x"] * 3)
    with pytest.raises(InputError, match="no split named 'holdout'"):
        split.items("holdout")


def test_write_read_round_trip(tmp_path: Path) -> None:
    source = tmp_path / "table.csv"
    source.write_text("anything\n")
    split = split_by_patient(*_large_cohort(), seed=3)
    sidecar = write_split(split, tmp_path / "split.csv", source=source, options={"k": 1})
    assert sidecar == tmp_path / "split.json"
    assert read_split(tmp_path / "split.csv") == split
    document = json.loads(sidecar.read_text())
    assert document["seed"] == 3
    assert document["fractions"] == [["train", 0.7], ["validation", 0.15], ["test", 0.15]]
    assert document["source"]["checksum"].startswith("sha256:")
    assert document["options"] == {"k": 1}
    assert document["summary"] == split.summary()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["split.csv", "split.json", "table.csv"]


def test_written_bytes_are_reproducible(tmp_path: Path) -> None:
    for name in ("one", "two"):
        write_split(split_by_patient(*_large_cohort(), seed=5), tmp_path / f"{name}.csv")
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()


def test_read_without_sidecar(tmp_path: Path) -> None:
    split = split_by_patient(["a", "b", "c", "d"], ["p", "p", "q", "r"], ["x"] * 4)
    write_split(split, tmp_path / "split.csv")
    (tmp_path / "split.json").unlink()
    read = read_split(tmp_path / "split.csv")
    assert read.fractions is None and read.seed is None
    assert read.assignment == split.assignment
    assert read.names == ("test", "train", "validation")


def test_write_refuses_existing_and_json(tmp_path: Path) -> None:
    split = split_by_patient(["a", "b", "c"], ["p", "q", "r"], ["x"] * 3)
    write_split(split, tmp_path / "split.csv")
    with pytest.raises(OutputError, match="already exists"):
        write_split(split, tmp_path / "split.csv")
    write_split(split, tmp_path / "split.csv", overwrite=True)
    with pytest.raises(InputError, match=r"must not end in \.json"):
        write_split(split, tmp_path / "split.json")


def _write_rows(path: Path, rows: list[tuple[str, ...]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([("item_id", "patient_id", "category", "split"), *rows])
    return path


def test_read_rejects_a_leak_naming_the_patient(tmp_path: Path) -> None:
    path = _write_rows(
        tmp_path / "leak.csv",
        [("a", "p1", "x", "train"), ("b", "p2", "x", "test"), ("c", "p1", "x", "validation")],
    )
    with pytest.raises(InputError) as error:
        read_split(path)
    assert str(error.value).startswith(f"{path}: patient p1 is in splits train, validation")


def test_read_rejects_duplicates_and_missing_columns(tmp_path: Path) -> None:
    path = _write_rows(tmp_path / "dup.csv", [("a", "p1", "x", "train"), ("a", "p1", "x", "test")])
    with pytest.raises(InputError, match="line 3: item a is also on line 2"):
        read_split(path)
    bad = tmp_path / "bad.csv"
    bad.write_text("item_id,split\na,train\n")
    with pytest.raises(InputError, match="lacks column"):
        read_split(bad)


def test_read_rejects_a_stale_sidecar(tmp_path: Path) -> None:
    split = split_by_patient(["a", "b", "c"], ["p", "q", "r"], ["x"] * 3)
    write_split(split, tmp_path / "split.csv")
    with (tmp_path / "split.csv").open("a") as handle:
        handle.write("d,s,x,train\n")
    with pytest.raises(InputError, match="describes another version"):
        read_split(tmp_path / "split.csv")


def test_check_split_covers(tmp_path: Path) -> None:
    split = split_by_patient(["a", "b", "c"], ["p", "q", "r"], ["x"] * 3)
    check_split_covers(split, ["a", "c"], tmp_path / "split.csv")
    with pytest.raises(InputError, match=r"split\.csv: 2 item\(s\) .* not in the split: d, e"):
        check_split_covers(split, ["a", "d", "e"], tmp_path / "split.csv")


# --- the command ---------------------------------------------------------------------------


def _manifest(path: Path) -> Path:
    lines = ["mosaic_id,patient_id,label,mosaic,diagnosis"]
    for p in range(30):
        for k in range(1 + p % 3):
            diagnosis = "" if p == 4 else ["bcc", "mel", "nevus"][p % 3]
            label = "malignant" if diagnosis in ("bcc", "mel") else "benign"
            lines.append(f"m{p}-{k},p{p},{label},m{p}-{k}.tif,{diagnosis}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_cli_on_a_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = _manifest(tmp_path / "manifest.csv")
    out = tmp_path / "splits" / "split.csv"
    assert main(["data", "split", str(table), "--out", str(out), "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].split() == [
        "split",
        "items",
        "share",
        "target",
        "patients",
        "bcc",
        "benign",
        "mel",
        "nevus",
    ]
    assert "wrote" in printed
    rows = _read_csv(out)
    assert len(rows) == 60
    assert {r["category"] for r in rows if r["patient_id"] == "p4"} == {"benign"}  # label fallback
    split = read_split(out)
    assert split.seed == 2
    sidecar = json.loads((tmp_path / "splits" / "split.json").read_text())
    assert sidecar["options"]["id_column"] == "mosaic_id"
    assert sidecar["options"]["stratify_columns"] == ["diagnosis", "label"]
    assert main(["data", "split", str(table), "--out", str(out), "--seed", "2"]) == 2
    assert "already exists" in capsys.readouterr().err


def _photos(path: Path, *, disagree: bool = False) -> Path:
    lines = ["image_id,patient_id,sex,age,label,x,y,w,h"]
    for p in range(12):
        for image in range(2):
            for box in range(1 + image):  # the second image of each patient has two boxes
                label = "nevus" if p % 2 else "melanoma"
                if disagree and p == 5 and box == 1:
                    label = "melanoma"
                lines.append(f"img{p}_{image},pt{p},F,50,{label},{box},0,10,10")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_on_photos_with_repeated_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = _photos(tmp_path / "photos.csv")
    out = tmp_path / "split.csv"
    argv = ["data", "split", str(table), "--out", str(out)]
    assert main([*argv, "--fractions", "0.5", "0.5", "--names", "train", "test"]) == 0
    rows = _read_csv(out)
    assert len(rows) == 24  # images, not boxes
    assert {r["split"] for r in rows} == {"train", "test"}
    split = read_split(out)
    assert split.summary()["splits"]["train"]["categories"]["nevus"]["share"] == 0.5


def test_cli_no_stratify(tmp_path: Path) -> None:
    table = _photos(tmp_path / "photos.csv", disagree=True)
    out = tmp_path / "split.csv"
    assert main(["data", "split", str(table), "--out", str(out), "--no-stratify"]) == 0
    assert {r["category"] for r in _read_csv(out)} == {"all"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--fractions", "0.5", "0.5"], "2 --fractions but 3 --names"),
        (["--fractions", "0.5", "0.2", "0.2"], "must sum to 1"),
        (["--names", "a", "a", "b"], "given twice"),
        (["--id-column", "nope"], "lacks the --id-column nope"),
        (["--stratify-column", "nope"], "lacks the --stratify-column nope"),
        (["--patient-column", "nope"], "lacks column(s) nope"),
        (["--seed", "-1"], "seed must be >= 0"),
    ],
)
def test_cli_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    table = _photos(tmp_path / "photos.csv")
    out = tmp_path / "split.csv"
    assert main(["data", "split", str(table), "--out", str(out), *extra]) == 2
    error = capsys.readouterr().err
    assert message in error
    assert error.count("\n") == 1 and error.startswith("rcm: error: ")
    assert not list(tmp_path.glob("split*"))


def test_cli_rows_of_one_image_must_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = _photos(tmp_path / "photos.csv", disagree=True)
    assert main(["data", "split", str(table), "--out", str(tmp_path / "split.csv")]) == 2
    error = capsys.readouterr().err
    assert "line 19: img5_1 has patient pt5, category melanoma but line 18 has" in error
    assert error.count("\n") == 1


def test_cli_few_patients(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "tiny.csv"
    table.write_text("mosaic_id,patient_id,label\nm1,p1,benign\nm2,p2,malignant\n")
    assert main(["data", "split", str(table), "--out", str(tmp_path / "s.csv")]) == 2
    assert "2 patient(s) cannot fill 3 splits" in capsys.readouterr().err


def test_split_files_of_rcm_0_1_0_read_and_new_sidecars_are_versioned(tmp_path: Path) -> None:
    import json
    import shutil

    from rcm.data import read_split, write_split

    release = Path(__file__).resolve().parent.parent / "fixtures" / "release-0.1.0" / "split"
    for name in ("split.csv", "split.json"):
        shutil.copy(release / name, tmp_path / name)
    split = read_split(tmp_path / "split.csv")
    assert split.seed == 0 and split.fractions == (("train", 0.5), ("test", 0.5))
    assert sorted(split.assignment) == [f"m{i}" for i in range(1, 7)]
    sidecar = write_split(split, tmp_path / "again.csv")
    assert json.loads(sidecar.read_text())["schema_version"] == 1
    assert read_split(tmp_path / "again.csv").assignment == split.assignment
    sidecar.write_text(sidecar.read_text().replace('"schema_version": 1', '"schema_version": 2'))
    with pytest.raises(InputError, match="newer than this rcm"):
        read_split(tmp_path / "again.csv")
