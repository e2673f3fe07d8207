"""Every field of a model file's metadata is checked for type and range when it is read."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from rcm.cli.main import main
from rcm.errors import InputError
from rcm.models import ModelMeta, Task, read_meta

VALID: dict[str, Any] = {
    "format": "rcm-model/1",
    "architecture": "test_efficientnet",
    "classes": ["benign", "lesion"],
    "positive": ["lesion"],
    "in_chans": 1,
    "tile_px": 64,
    "um_per_px": 0.5,
    "mean": [0.5],
    "std": [0.25],
    "task": "classifier",
    "settings": {},
    "provenance": {},
}


def _header_file(path: Path, header: dict[str, Any] | str) -> Path:
    text = header if isinstance(header, str) else json.dumps(header)
    save_file({"w": torch.zeros(2)}, str(path), metadata={"rcm": text})
    return path


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("um_per_px", -1, "um_per_px must be a finite positive number"),
        ("um_per_px", 0, "um_per_px must be a finite positive number"),
        ("um_per_px", math.nan, "um_per_px must be a finite positive number, got NaN"),
        ("um_per_px", math.inf, "um_per_px must be a finite positive number"),
        ("um_per_px", "0.5", 'um_per_px must be a finite positive number, got "0.5"'),
        ("um_per_px", True, "um_per_px must be a finite positive number, got true"),
        ("tile_px", True, "tile_px must be an integer from 8 to 8192, got true"),
        ("tile_px", 64.5, "tile_px must be an integer from 8 to 8192, got 64.5"),
        ("tile_px", 1, "tile_px must be an integer from 8 to 8192, got 1"),
        ("tile_px", 10**6, "tile_px must be an integer from 8 to 8192"),
        ("tile_px", "64", "tile_px must be an integer"),
        ("in_chans", 2, "in_chans must be 1 or 3, got 2"),
        ("in_chans", True, "in_chans must be 1 or 3, got true"),
        ("classes", "ab", 'classes must be a list of names, got "ab"'),
        ("classes", ["a", "a"], "distinct"),
        ("classes", ["benign", ""], "classes must be non-empty names"),
        ("classes", ["benign", 3], "classes must be non-empty names"),
        ("classes", ["lesion"], "a classifier needs 2 or more distinct classes"),
        ("positive", "lesion", "positive must be a list of names"),
        ("positive", [], "positive classes must be among"),
        ("positive", ["lesion", "lesion"], "positive classes must be distinct"),
        ("positive", ["tumour"], "positive classes must be among"),
        ("mean", [math.nan], "mean must be finite numbers"),
        ("mean", 0.5, "mean must be a list of numbers"),
        ("mean", [0.5, 0.5], "mean and std need one value per input channel"),
        ("std", [0.0], "std must be finite positive numbers"),
        ("std", [-0.25], "std must be finite positive numbers"),
        ("std", ["0.25"], "std must be finite positive numbers"),
        ("architecture", "", "architecture must be a non-empty name"),
        ("architecture", 5, "architecture must be a non-empty name"),
        ("task", "regressor", "task must be one of classifier, detector, segmenter"),
        ("task", 1, "task must be one of classifier, detector, segmenter"),
        ("settings", ["encoder"], "settings must be a mapping of names to values"),
        ("settings", "x", "settings must be a mapping"),
        ("provenance", 3, "provenance must be a mapping"),
    ],
)
def test_a_bad_field_is_refused_naming_the_file_and_the_field(
    tmp_path: Path, field: str, value: Any, message: str
) -> None:
    path = _header_file(tmp_path / "bad.safetensors", {**VALID, field: value})
    with pytest.raises(InputError, match=message.replace("(", r"\(")) as info:
        read_meta(path)
    assert info.value.path == str(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({key: value for key, value in VALID.items() if key != "architecture"}, "architecture"),
        ({**VALID, "colour": "red"}, "unknown field colour"),
        ('["not", "a", "mapping"]', "not an rcm-model/1 model description"),
        ("{not json", "not an rcm-model/1 model description"),
    ],
)
def test_missing_unknown_and_malformed_headers(
    tmp_path: Path, header: dict[str, Any] | str, message: str
) -> None:
    path = _header_file(tmp_path / "bad.safetensors", header)
    with pytest.raises(InputError, match=message):
        read_meta(path)


def test_the_cli_refuses_a_bad_model_file_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _header_file(tmp_path / "bad.safetensors", {**VALID, "tile_px": True})
    assert main(["models", "show", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert str(path) in error and "tile_px" in error and len(error.splitlines()) == 1


def test_integers_are_numbers_and_lists_are_tuples() -> None:
    meta = ModelMeta.from_json(json.dumps({**VALID, "um_per_px": 1, "mean": [0], "std": [1]}))
    assert meta.um_per_px == 1.0 and isinstance(meta.um_per_px, float)
    assert meta.mean == (0.0,) and meta.std == (1.0,) and meta.classes == ("benign", "lesion")
    assert ModelMeta.from_json(meta.to_json()) == meta


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**9), 10**9)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
near_valid = {
    "architecture": st.sampled_from(["", "x", "maskrcnn"]),
    "classes": st.lists(st.sampled_from(["", "a", "b", "lesion", "benign"]), max_size=4),
    "positive": st.lists(st.sampled_from(["a", "b", "lesion", "x"]), max_size=3),
    "in_chans": st.integers(-1, 4),
    "tile_px": st.integers(-10, 10**5) | st.floats(0, 300),
    "um_per_px": st.floats(-1, 2) | st.none(),
    "mean": st.lists(st.floats(-1, 1), max_size=3),
    "std": st.lists(st.floats(-1, 1), max_size=3),
    "task": st.sampled_from(["classifier", "detector", "segmenter", "x"]),
    "settings": st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2),
    "provenance": st.dictionaries(st.text(max_size=4), json_values, max_size=2),
}
headers = st.fixed_dictionaries(
    {"format": st.just("rcm-model/1")},
    optional={name: json_values | strategy for name, strategy in near_valid.items()},
)


def _check_valid(meta: ModelMeta) -> None:
    assert isinstance(meta.task, Task)
    assert isinstance(meta.architecture, str) and meta.architecture
    for names in (meta.classes, meta.positive):
        assert isinstance(names, tuple) and all(isinstance(n, str) and n for n in names)
    assert len(set(meta.classes)) == len(meta.classes) and set(meta.positive) <= set(meta.classes)
    assert type(meta.in_chans) is int and meta.in_chans in (1, 3)
    assert type(meta.tile_px) is int and 8 <= meta.tile_px <= 8192
    assert meta.um_per_px is None or (type(meta.um_per_px) is float and meta.um_per_px > 0)
    assert all(type(v) is float and math.isfinite(v) for v in meta.mean)
    assert all(type(v) is float and math.isfinite(v) and v > 0 for v in meta.std)
    assert len(meta.mean) == len(meta.std) == meta.in_chans
    assert isinstance(meta.settings, dict) and isinstance(meta.provenance, dict)
    assert all(isinstance(key, str) for key in meta.settings)
    assert ModelMeta.from_json(meta.to_json()) == meta


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(headers)
def test_any_header_gives_valid_metadata_or_a_value_error(header: dict[str, Any]) -> None:
    try:
        meta = ModelMeta.from_json(json.dumps(header))
    except ValueError as error:
        assert str(error) and "\n" not in str(error)
        return
    _check_valid(meta)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(near_valid)), json_values)
def test_any_value_of_one_field_is_valid_or_refused_by_name(field: str, value: Any) -> None:
    try:
        meta = ModelMeta.from_json(json.dumps({**VALID, field: value}))
    except ValueError as error:
        named = field if field not in ("mean", "std") else ("mean", "std")
        assert any(name in str(error) for name in ([named] if isinstance(named, str) else named))
        return
    _check_valid(meta)
