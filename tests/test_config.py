"""rcm.config: the one set of rules from YAML to frozen dataclasses."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from rcm.config import (
    ConfigError,
    apply_overrides,
    custom,
    from_mapping,
    load,
    normal_path,
    optional,
    read_yaml,
)
from rcm.errors import InputError


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Inner:
    batch_size: int = 8
    rate: float = 0.5

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")


@dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner = field(default_factory=Inner)
    flag: bool = False
    mode: Literal["fast", "slow"] = "fast"
    limit: int | None = None
    sizes: tuple[int, ...] = ()
    pair: tuple[str, str] = ("a", "b")
    names: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    where: Path | None = None
    colour: Colour = Colour.RED


def build(**data: Any) -> Outer:
    return from_mapping(Outer, {"name": "x", **data})


def reason(data: dict[str, Any], where: str = "") -> str:
    with pytest.raises(ConfigError) as caught:
        from_mapping(Outer, {"name": "x", **data}, where=where)
    return str(caught.value)


def test_a_valid_mapping_builds_every_kind_of_field(tmp_path: Path) -> None:
    outer = from_mapping(
        Outer,
        {
            "name": "x",
            "inner": {"batch_size": 4, "rate": 1},
            "flag": True,
            "mode": "slow",
            "limit": None,
            "sizes": [1, 2],
            "pair": ["c", "d"],
            "names": ["n"],
            "extra": {"any": [1, {"thing": None}]},
            "where": "sub/file.txt",
            "colour": "blue",
        },
        base=tmp_path,
    )
    assert outer == Outer(
        "x",
        Inner(4, 1.0),
        True,
        "slow",
        None,
        (1, 2),
        ("c", "d"),
        ["n"],
        {"any": [1, {"thing": None}]},
        tmp_path / "sub" / "file.txt",
        Colour.BLUE,
    )
    assert type(outer.inner.rate) is float  # an int where a float goes becomes a float
    assert build() == Outer("x")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"inner": {"batch_size": True}}, "inner.batch_size: must be a whole number, got True"),
        ({"inner": {"batch_size": 2.0}}, "inner.batch_size: must be a whole number, got 2.0"),
        ({"flag": 1}, "flag: must be true or false, got 1"),
        ({"flag": "yes"}, "flag: must be true or false, got 'yes'"),
        ({"inner": {"rate": "0.5"}}, "inner.rate: must be a number, got '0.5'"),
        ({"inner": {"rate": False}}, "inner.rate: must be a number, got False"),
        ({"name": 7}, "name: must be a string, got 7 (quote it in YAML)"),
        ({"mode": "medium"}, "mode: must be one of fast, slow, got 'medium'"),
        ({"limit": "3"}, "limit: must be a whole number, got '3'"),
        ({"sizes": 3}, "sizes: must be a list, got 3"),
        ({"sizes": [1, "2"]}, "sizes[1]: must be a whole number, got '2'"),
        ({"pair": ["a"]}, "pair: must be a list of 2 values, got 1"),
        ({"names": [1]}, "names[0]: must be a string, got 1 (quote it in YAML)"),
        ({"extra": [1]}, "extra: must be a mapping, got list"),
        ({"where": 5}, "where: must be a path, got 5"),
        ({"colour": "green"}, "colour: must be one of red, blue, got 'green'"),
        ({"inner": "big"}, "inner: must be a mapping, got str"),
    ],
)
def test_each_type_rule_refuses_what_it_does_not_take(data: dict[str, Any], message: str) -> None:
    assert reason(data) == message


def test_unknown_keys_are_named_with_the_closest_and_the_allowed_ones() -> None:
    assert reason({"inner": {"batch_sise": 2}}) == (
        "inner: unknown key(s) batch_sise (did you mean batch_size?); "
        "allowed keys: batch_size, rate"
    )
    assert reason({"zzz": 1}).startswith("unknown key(s) zzz; allowed keys: name, inner, flag")
    several = reason({"flg": 1, "mdoe": 2})
    assert several.startswith(
        "unknown key(s) flg, mdoe (did you mean flag for flg, mode for mdoe?)"
    )


def test_missing_required_fields_are_named() -> None:
    with pytest.raises(ConfigError, match=r"^missing name$"):
        from_mapping(Outer, {})
    with pytest.raises(ConfigError, match=r"^job\.section: must be a mapping, got nothing$"):
        from_mapping(Outer, None, where="job.section")


def test_where_prefixes_every_key_path() -> None:
    message = reason({"inner": {"batch_size": True}}, where="stages.infer.options")
    assert message == "stages.infer.options.inner.batch_size: must be a whole number, got True"
    with pytest.raises(ConfigError) as caught:
        from_mapping(Outer, {"name": "x", "inner": {"rate": "x"}}, where="a")
    assert (caught.value.key, caught.value.reason) == ("a.inner.rate", "must be a number, got 'x'")


def test_post_init_errors_come_back_with_the_key_path() -> None:
    assert reason({"inner": {"batch_size": 0}}) == "inner: batch_size must be at least 1, got 0"


def test_optional_fields_take_null() -> None:
    assert build(limit=None, where=None) == Outer("x")
    assert build(limit=3).limit == 3


def test_paths_are_relative_to_base_unless_absolute_or_set_by_code(tmp_path: Path) -> None:
    assert build(where="f.txt").where == Path("f.txt")  # no base: as written
    assert from_mapping(Outer, {"name": "x", "where": "f.txt"}, base=tmp_path).where == (
        tmp_path / "f.txt"
    )
    absolute = str(tmp_path / "abs.txt")
    assert from_mapping(Outer, {"name": "x", "where": absolute}, base=Path("/else")).where == Path(
        absolute
    )
    given = {"name": "x", "where": Path("literal.txt")}
    assert from_mapping(Outer, given, base=tmp_path).where == Path("literal.txt")


@dataclass(frozen=True)
class Custom:
    folder: Path | None = field(default=None, metadata=custom(optional(normal_path)))
    even: int = field(default=0, metadata=custom(lambda value, base: _even(value)))


def _even(value: Any) -> int:
    if value % 2:
        raise ValueError(f"must be even, got {value}")
    return int(value)


def test_fields_with_their_own_rule(tmp_path: Path) -> None:
    built = from_mapping(Custom, {"folder": "a/../b", "even": 4}, base=tmp_path)
    assert built == Custom(tmp_path / "b", 4)
    assert from_mapping(Custom, {"folder": None}) == Custom()
    with pytest.raises(ConfigError, match=r"^sec\.even: must be even, got 3$"):
        from_mapping(Custom, {"even": 3}, where="sec")


def test_overrides_set_dotted_keys_read_as_yaml() -> None:
    data = {"name": "x", "inner": {"rate": 0.5}}
    changed = apply_overrides(Outer, data, ["inner.rate=1e-3", "sizes=[1, 2]", "where=out.txt"])
    assert changed == {
        "name": "x",
        "inner": {"rate": 0.001},
        "sizes": [1, 2],
        "where": Path("out.txt"),  # taken as written, not relative to the file
    }
    assert data == {"name": "x", "inner": {"rate": 0.5}}  # the input is left alone
    with pytest.raises(ConfigError, match="is not KEY=VALUE"):
        apply_overrides(Outer, data, ["inner.rate"])
    with pytest.raises(ConfigError, match="name is not a section"):
        apply_overrides(Outer, data, ["name.first=y"])


def test_load_reads_overrides_and_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("name: x\ninner: {rate: 2.0e-4, batch_size: 2}\nwhere: w.txt\n")
    loaded = load(Outer, path, overrides=["inner.batch_size=3"], base=tmp_path)
    assert loaded == Outer("x", Inner(3, 2.0e-4), where=tmp_path / "w.txt")
    with pytest.raises(InputError) as caught:
        load(Outer, path, overrides=["flag=1"])
    assert (caught.value.path, caught.value.reason) == (
        str(path),
        "flag: must be true or false, got 1",
    )


def test_read_yaml_reads_floats_as_yaml_1_2_and_refuses_what_is_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("a: 1e-3\nb: 2E5\nc: 1.0e5\nd: 12\ne: '1e-3'\n")
    assert read_yaml(path) == {"a": 0.001, "b": 200000.0, "c": 100000.0, "d": 12, "e": "1e-3"}
    path.write_text("a: [")
    with pytest.raises(InputError, match="not valid YAML"):
        read_yaml(path)
    with pytest.raises(InputError, match="cannot read"):
        read_yaml(tmp_path / "missing.yaml")


def test_a_config_error_survives_pickling() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(ConfigError("a.b", "must be a number, got 'x'")))
    assert (error.key, error.reason, str(error)) == (
        "a.b",
        "must be a number, got 'x'",
        "a.b: must be a number, got 'x'",
    )


def _laughs(levels: int, width: int = 10) -> str:
    """The billion laughs: each level lists the one before `width` times."""
    lines = ["a0: &a0 [lol]"]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (_laughs(9), "values once its aliases are expanded"),
        ("a: [" * 5000 + "]" * 5000, "nested deeper than"),
        ("a: &x [1]\nb: [" + ", ".join(["*x"] * 2000) + "]\n", "more than 1000 aliases"),
        ("a: &x [*x]\n", "refers to a node that contains it"),
        ("k: '" + "x" * (5 << 20) + "'\n", "larger than 4 MiB"),
    ],
    ids=["alias bomb", "deep", "many aliases", "recursive", "huge"],
)
def test_yaml_beyond_the_bounds_is_refused_at_once(tmp_path: Path, text: str, reason: str) -> None:
    import time

    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    started = time.perf_counter()
    with pytest.raises(InputError, match=reason) as caught:
        read_yaml(path)
    assert caught.value.path == str(path) and "\n" not in str(caught.value)
    assert time.perf_counter() - started < 5


def test_yaml_within_the_bounds_keeps_its_aliases(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(_laughs(3) + "deep: " + "[" * 50 + "]" * 50 + "\n")
    data = read_yaml(path)
    assert len(data["a3"]) == 10 and data["a3"][0][0] == [["lol"]] * 10


def test_an_unknown_key_that_is_not_plain_text_is_quoted_on_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        from_mapping(Inner, {"a\nb": 1})
    assert "unknown key(s) 'a\\nb'" in str(caught.value) and "\n" not in str(caught.value)
