"""Command-line flags generated from option fields, and options built back from them.

A flag's name, type, choices and help come from the field (`rcm._fields.Option`),
so the CLI cannot drift from the options it fills. Flags default to None: an
option not given keeps its dataclass default, which differs between tasks (a
classifier's overlap is 0, a window model's 0.25) and is shown in the help.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Sequence
from typing import Any

from rcm._fields import Option, choices, option_of
from rcm.errors import InputError

Kind = tuple[str, type]  # (what the help calls it, an options dataclass)


def flag_name(name: str, option: Option) -> str:
    return option.flag or "--" + name.replace("_", "-")


def add_option_flags(group: Any, kinds: Sequence[Kind], names: Sequence[str]) -> None:
    """Add one flag per field in `names`, described by the first of `kinds` that has it."""
    for name in names:
        having = [(label, kind) for label, kind in kinds if name in _fields(kind)]
        field = _fields(having[0][1])[name]
        option = option_of(field)
        assert option is not None and option.cli, f"{name} is not a command-line option"
        hints = typing.get_type_hints(having[0][1])
        annotation = hints[name]
        flag = flag_name(name, option)
        if annotation is bool:
            group.add_argument(
                flag,
                dest=name,
                action="store_const",
                const=not field.default,
                default=None,
                help=option.help,
            )
            continue
        allowed = choices(annotation)
        group.add_argument(
            flag,
            dest=name,
            type=None if allowed else _scalar(annotation),
            choices=list(allowed) if allowed else None,
            default=None,
            help=option.help + _defaults(name, having),
        )


def cli_fields(kind: type) -> list[str]:
    """The fields of an options dataclass that are offered as flags, in order."""
    return [
        field.name
        for field in dataclasses.fields(kind)
        if (option := option_of(field)) is not None and option.cli
    ]


def given(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    """The options among `names` that were set on the command line."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def refuse_foreign(values: dict[str, Any], kinds: Sequence[Kind], kind: type, what: str) -> None:
    """An option that does not apply to the model is an error, not silently ignored."""
    fields = _fields(kind)
    foreign = [name for name in values if name not in fields]
    if foreign:
        options = {name: option_of(field) for _, k in kinds for name, field in _fields(k).items()}
        flags = ", ".join(flag_name(name, options[name] or Option("")) for name in foreign)
        raise InputError(None, f"{flags} does not apply to {what}")


def _fields(kind: type) -> dict[str, dataclasses.Field]:
    return {field.name: field for field in dataclasses.fields(kind)}


def _scalar(annotation: Any) -> type:
    for kind in (int, float, str):
        if annotation is kind or kind in typing.get_args(annotation):
            return kind
    return str


def _defaults(name: str, having: Sequence[Kind]) -> str:
    values = [(label, _fields(kind)[name].default) for label, kind in having]
    if values[0][1] is None:
        return ""
    if len({repr(value) for _, value in values}) == 1:
        return f" (default {values[0][1]})"
    return " (default " + ", ".join(f"{value} for {label}" for label, value in values) + ")"
