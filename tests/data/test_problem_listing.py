"""Errors that gather many problems name the first five, then how many more there are."""

from __future__ import annotations

from pathlib import Path

import pytest

from rcm.data import read_labelled_mosaics, read_split
from rcm.errors import InputError


def test_a_split_file_names_five_repeated_items_then_the_rest(tmp_path: Path) -> None:
    rows = ["item_id,patient_id,category,split"]
    for k in range(8):  # items a0..a6 twice each, so 7 repeats
        rows += [f"a{k},p{k},c,train"] * (2 if k < 7 else 1)
    path = tmp_path / "split.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(InputError) as caught:
        read_split(path)
    reason = caught.value.reason
    assert reason.startswith("line 3: item a0 is also on line 2; line 5: item a1")
    assert "item a4 is also" in reason and "item a5 is also" not in reason
    assert reason.endswith("; and 2 more")


def test_a_manifest_names_five_problems_then_the_rest(tmp_path: Path) -> None:
    (tmp_path / "m.tif").write_bytes(b"")
    rows = ["mosaic_id,patient_id,label,mosaic"]
    rows += [f"m{k},p{k},maybe,m.tif" for k in range(6)]
    path = tmp_path / "manifest.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(InputError) as caught:
        read_labelled_mosaics(path)
    reason = caught.value.reason
    assert reason.count("label 'maybe' is neither") == 5
    assert reason.startswith("line 2: label 'maybe'")
    assert reason.endswith("; and 1 more")
