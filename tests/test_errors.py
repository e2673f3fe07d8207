from __future__ import annotations

import pytest

from rcm.errors import InputError, bad_input


def test_bad_input_turns_value_errors_into_input_errors() -> None:
    with pytest.raises(InputError, match=r"^cfg\.yaml: too big$") as info, bad_input("cfg.yaml"):
        raise ValueError("too big")
    assert info.value.path == "cfg.yaml" and isinstance(info.value.__cause__, ValueError)
    with pytest.raises(InputError, match=r"^no path$") as info, bad_input():
        raise ValueError("no path")
    assert info.value.path is None


def test_bad_input_leaves_other_errors_alone_unless_named() -> None:
    with pytest.raises(KeyError), bad_input():
        raise KeyError("x")
    with pytest.raises(InputError, match="'x'"), bad_input(kinds=(KeyError,)):
        raise KeyError("x")
    with bad_input():
        pass


def test_bad_input_can_say_what_is_wrong() -> None:
    with (
        pytest.raises(InputError, match=r"^m\.pt: not a model file \(bad magic\)$"),
        bad_input("m.pt", kinds=(OSError,), what="not a model file"),
    ):
        raise OSError("bad magic")
