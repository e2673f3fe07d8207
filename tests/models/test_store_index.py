"""The model store's index: versioned, and the index of rcm 0.1.0 (a bare list) still reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rcm.errors import InputError
from rcm.models import ModelStore

RELEASE = Path(__file__).resolve().parent.parent / "fixtures" / "release-0.1.0" / "store"


def test_the_index_of_rcm_0_1_0_reads_and_is_rewritten_versioned(tmp_path: Path) -> None:
    shutil.copy(RELEASE / "index.json", tmp_path / "index.json")
    store = ModelStore(tmp_path)
    (entry,) = store.entries()
    assert entry.name == "tiny" and entry.classes == ("benign", "lesion") and entry.tile_px == 64
    store.remove("tiny")  # any change rewrites the index in the current format
    written = json.loads((tmp_path / "index.json").read_text())
    assert written == {"models": [], "schema_version": 1}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"schema_version": 7, "models": []}', "newer than this rcm"),
        ('{"schema_version": 1}', "lacks its list of models"),
        ('[{"name": "x"}]', "bad entry"),
        ("[{", "unreadable"),
    ],
)
def test_a_bad_index_is_named(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "index.json").write_text(content)
    with pytest.raises(InputError, match=message):
        ModelStore(tmp_path).entries()
