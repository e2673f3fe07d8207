"""Option fields described once: help text, allowed range and command-line flag.

The options of every stage are frozen dataclasses whose fields are made with
`described`. The description is used three times, so it has one home:
`check_fields` validates an instance (its ``__post_init__`` calls it), the CLI
generates its flags from it (`rcm.cli._flags`), and job files build the same
objects through `rcm.config`. Allowed values of ``Literal`` fields come from the
type itself, so a choice is spelled once, where the type is defined.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import typing
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

FIELD_KEY = "rcm_option"


@dataclass(frozen=True)
class Range:
    """Numbers a field accepts: ``low`` / ``high`` bounds, each closed unless marked open."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def admits(self, value: float) -> bool:
        if isinstance(value, float) and math.isnan(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (
            self.high is not None and (value >= self.high if self.high_open else value > self.high)
        )

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"{'<' if self.high_open else '<='} {self.high:g}"


UNIT = Range(0, 1)
POSITIVE = Range(1)


@dataclass(frozen=True)
class Option:
    """What a user is told and allowed about one option.

    Attributes:
        help: One line for ``--help`` (without the default, which is added).
        range: Numbers allowed, if the option is a number.
        flag: The command-line flag, when not ``--`` + the name with dashes.
        cli: Whether ``rcm infer`` / ``rcm explain`` offer it as a flag.

    """

    help: str
    range: Range | None = None
    flag: str | None = None
    cli: bool = True


def described(default: Any, option: Option) -> Any:
    """A dataclass field with `default`, described by `option`."""
    return dataclasses.field(default=default, metadata={FIELD_KEY: option})


def option_of(field: dataclasses.Field) -> Option | None:
    """The description of a dataclass field, or None for plain fields."""
    found = field.metadata.get(FIELD_KEY)
    return found if isinstance(found, Option) else None


def choices(annotation: Any) -> tuple[Any, ...] | None:
    """The values of a ``Literal`` annotation (also inside ``X | None``), else None."""
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    for member in get_args(annotation):
        if get_origin(member) is Literal:
            return get_args(member)
    return None


def check_fields(instance: Any) -> None:
    """Check every described field of a dataclass instance against its range and choices.

    Raises:
        ValueError: Naming the first field out of bounds and what it accepts.

    """
    hints = typing.get_type_hints(type(instance))
    for field in dataclasses.fields(instance):
        option, value = option_of(field), getattr(instance, field.name)
        if option is None or value is None:
            continue
        _check_type(field.name, hints[field.name], value)
        allowed = choices(hints[field.name])
        if allowed is not None and value not in allowed:
            raise ValueError(
                f"{field.name} must be one of {', '.join(map(str, allowed))}, got {value!r}"
            )
        if option.range is not None and not option.range.admits(value):
            raise ValueError(f"{field.name} must be {option.range.describe()}, got {value}")


def _check_type(name: str, annotation: Any, value: Any) -> None:
    """Numbers must be numbers: a bool is not a count, a string is not a probability."""
    kinds = set(get_args(annotation)) | {annotation}
    whole = int in kinds and float not in kinds
    if whole and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if float in kinds and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
        raise ValueError(f"{name} must be a number, got {value!r}")
