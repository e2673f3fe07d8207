"""One way from YAML to frozen dataclasses, with one set of rules for every config file.

`from_mapping` builds a dataclass from what YAML loaded, field by field from its
type hints; `load` reads a file, applies dotted ``key.sub=value`` overrides and
builds. The rules, the same for job files, cluster sections, training configs
and column maps:

- unknown keys are errors that name them, the allowed keys and the closest one;
- missing required fields are named;
- ``bool`` takes only true/false; ``int`` takes whole numbers but not booleans;
  ``float`` takes whole and decimal numbers but not booleans or strings;
  ``str`` takes only strings (a number where a string is expected is an error);
- ``Path`` comes from a string, relative to `base` when one is given (a ``Path``
  object set by code is taken as it is);
- ``Literal[...]`` checks membership, Enums are built from their values,
  ``X | None`` accepts null;
- ``tuple[T, ...]``, fixed ``tuple[A, B]`` and ``list[T]`` come from YAML lists,
  element by element; ``dict[...]`` passes a mapping through;
- nested dataclasses are built the same way, errors naming the dotted key path.

Then the dataclass's own ``__post_init__`` checks ranges; its ``ValueError`` or
``TypeError`` becomes a `ConfigError` naming the section. A field that needs its
own rule says so in its metadata: ``field(metadata=custom(read))``.

YAML is read with floats as YAML 1.2 writes them: ``1e-3`` is a number, not the
string PyYAML's 1.1 rules make of it; every document is bounded in size, aliases and
nesting (`rcm._yaml`: `read_yaml` and `parse_yaml`, the one way rcm reads YAML).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import difflib
import enum
import os
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from rcm._yaml import load_text, read_yaml
from rcm._yaml import parse_yaml as parse_yaml  # the public name, with read_yaml
from rcm.errors import bad_input

T = TypeVar("T")
Reader = Callable[[Any, Path | None], Any]
"""A field's own rule: ``read(value, base)`` returns the field's value or raises."""

_METADATA_KEY = "rcm.config"


class ConfigError(ValueError):
    """A config value that breaks a rule; the message starts with its dotted key path.

    Attributes:
        key: Dotted path of the key at fault (empty for the whole file).
        reason: What is wrong with it.

    """

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: {reason}" if key else reason)

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, str]]:
        return (ConfigError, (self.key, self.reason))  # picklable with its two arguments

    def under(self, prefix: str) -> ConfigError:
        """The same error with its key path inside section `prefix`."""
        return ConfigError(_join(prefix, self.key), self.reason)


def custom(read: Reader) -> dict[str, Reader]:
    """Field metadata that reads the field with `read` instead of by its type.

    ``read(value, base)`` gets the value as YAML loaded it and the `base` folder of
    relative paths; a ``ValueError`` or ``TypeError`` it raises is reported under the
    field's key path, a `ConfigError` under the path of its own key inside the field.
    """
    return {_METADATA_KEY: read}


def optional(read: Reader) -> Reader:
    """`read` for a field that may be null (null stays None)."""

    def read_optional(value: Any, base: Path | None) -> Any:
        return None if value is None else read(value, base)

    return read_optional


def normal_path(value: Any, base: Path | None) -> Path:
    """A field reader (``custom(normal_path)``): the ``Path`` rule, then ``..`` resolved.

    ``a/../b`` becomes ``b`` by the text alone (symbolic links are not followed), so
    paths relative to a file's folder compare equal to the paths they name.
    """
    if not isinstance(value, str) or not value:
        raise ValueError(f"must be a path, got {value!r}")
    return Path(os.path.normpath(value if base is None else base / value))


def from_mapping(cls: type[T], data: Any, *, where: str = "", base: Path | None = None) -> T:
    """Build the frozen dataclass `cls` from a mapping, checking every rule.

    Args:
        cls: The dataclass to build.
        data: What YAML loaded (a mapping, or anything else to be refused).
        where: Dotted key path of `data` in its file, prefixed to every message.
        base: Folder that relative ``Path`` fields are relative to; None keeps them
            as written.

    Raises:
        ConfigError: Naming the key path and the rule broken.

    """
    if not isinstance(data, Mapping):
        raise ConfigError(where, f"must be a mapping, got {_describe(data)}")
    fields = {spec.name: spec for spec in dataclasses.fields(cls) if spec.init}  # type: ignore[arg-type]
    unknown = sorted(_key_name(key) for key in data if key not in fields)
    if unknown:
        raise ConfigError(where, _unknown_keys(unknown, list(fields)))
    missing = [name for name, spec in fields.items() if _required(spec) and name not in data]
    if missing:
        raise ConfigError(where, f"missing {', '.join(missing)}")
    hints = typing.get_type_hints(cls)
    values = {
        name: _field_value(spec, hints[name], data[name], _join(where, name), base)
        for name, spec in fields.items()
        if name in data
    }
    try:
        return cls(**values)
    except ConfigError as error:
        raise error.under(where) from error
    except (TypeError, ValueError) as error:
        raise ConfigError(where, str(error)) from error


def apply_overrides(cls: type, data: Any, overrides: Sequence[str]) -> Any:
    """A copy of `data` with dotted ``key.sub=value`` overrides set (values read as YAML).

    A string set on a ``Path`` field of `cls` is taken as written (relative to the
    working directory), not relative to the file's folder.

    Raises:
        ConfigError: An override that is not ``KEY=VALUE``, or that names a key
            inside something that is not a section.

    """
    if not overrides or not isinstance(data, Mapping):
        return data  # nothing to set, or refused as "must be a mapping" when built
    result = copy.deepcopy(dict(data))
    for override in overrides:
        key, sep, text = override.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError("", f"override {override!r} is not KEY=VALUE (e.g. optim.lr=3e-4)")
        *sections, name = key.split(".")
        target = result
        for section in sections:
            if target.get(section) is None:
                target[section] = {}
            target = target[section]
            if not isinstance(target, dict):
                raise ConfigError(section, f"override {override!r}: {section} is not a section")
        try:
            value = load_text(text)
        except yaml.YAMLError as error:
            raise ConfigError(key, f"override {override!r} is not valid YAML") from error
        if isinstance(value, str) and _is_path_field(cls, [*sections, name]):
            value = Path(value)
        target[name] = value
    return result


def load(
    cls: type[T],
    path: str | os.PathLike[str],
    *,
    overrides: Sequence[str] = (),
    base: Path | None = None,
) -> T:
    """Read a YAML file, apply `overrides`, build `cls` (see `from_mapping`).

    Raises:
        InputError: Naming the file and, for a broken rule, the key path.

    """
    data = read_yaml(path)
    with bad_input(path, kinds=(ConfigError,)):
        return from_mapping(cls, apply_overrides(cls, data, overrides), base=base)


# --- one field ------------------------------------------------------------------


def _field_value(
    spec: dataclasses.Field[Any], hint: Any, value: Any, key: str, base: Path | None
) -> Any:
    read = spec.metadata.get(_METADATA_KEY)
    if read is None:
        return _convert(hint, value, key, base)
    try:
        return read(value, base)
    except ConfigError as error:
        raise error.under(key) from error
    except (TypeError, ValueError) as error:
        raise ConfigError(key, str(error)) from error


def _convert(hint: Any, value: Any, key: str, base: Path | None) -> Any:
    """`value` as type `hint`, or a `ConfigError` naming `key`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint):
        return from_mapping(hint, value, where=key, base=base)  # type: ignore[arg-type]
    if origin in (typing.Union, types.UnionType):
        return _convert_union(args, value, key, base)
    if origin is Literal:
        if not any(type(value) is type(choice) and value == choice for choice in args):
            raise ConfigError(key, f"must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if origin in (tuple, list):
        return _convert_sequence(origin, args, value, key, base)
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(key, f"must be a mapping, got {_describe(value)}")
        return dict(value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            choices = ", ".join(str(member.value) for member in hint)
            raise ConfigError(key, f"must be one of {choices}, got {value!r}") from None
    return _convert_scalar(hint, value, key, base)


def _convert_union(args: tuple[Any, ...], value: Any, key: str, base: Path | None) -> Any:
    if value is None and type(None) in args:
        return None
    choices = [arg for arg in args if arg is not type(None)]
    if len(choices) == 1:
        return _convert(choices[0], value, key, base)
    for choice in choices:
        try:
            return _convert(choice, value, key, base)
        except ConfigError:
            continue
    names = " or ".join(getattr(choice, "__name__", str(choice)) for choice in choices)
    raise ConfigError(key, f"must be {names}, got {value!r}")


def _convert_sequence(
    origin: type, args: tuple[Any, ...], value: Any, key: str, base: Path | None
) -> Any:
    if not isinstance(value, list | tuple):
        raise ConfigError(key, f"must be a list, got {value!r}")
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            raise ConfigError(key, f"must be a list of {len(args)} values, got {len(value)}")
        kinds = args
    else:
        kinds = (args[0] if args else Any,) * len(value)
    items = [
        _convert(kind, item, f"{key}[{i}]", base)
        for i, (kind, item) in enumerate(zip(kinds, value, strict=True))
    ]
    return tuple(items) if origin is tuple else items


def _convert_scalar(hint: Any, value: Any, key: str, base: Path | None) -> Any:
    if hint is bool:
        if type(value) is bool:
            return value
        raise ConfigError(key, f"must be true or false, got {value!r}")
    if hint is int:
        # bool is an int in Python; "workers: yes" is a typo, not 1.
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(key, f"must be a whole number, got {value!r}")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(key, f"must be a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        quote = " (quote it in YAML)" if _is_scalar(value) else ""
        raise ConfigError(key, f"must be a string, got {value!r}{quote}")
    if hint is Path:
        if isinstance(value, Path):
            return value  # set by code or an override: taken as it is
        if not isinstance(value, str) or not value:
            raise ConfigError(key, f"must be a path, got {value!r}")
        return Path(value) if base is None else base / value  # absolute paths stay
    raise TypeError(f"{key}: rcm.config cannot read fields of type {hint!r}")


# --- helpers --------------------------------------------------------------------


def _required(spec: dataclasses.Field[Any]) -> bool:
    return spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING


def _join(prefix: str, key: str) -> str:
    if not prefix or not key:
        return prefix or key
    return f"{prefix}{key}" if key.startswith("[") else f"{prefix}.{key}"


def _unknown_keys(unknown: list[str], allowed: list[str]) -> str:
    guesses = {name: difflib.get_close_matches(name, allowed, n=1) for name in unknown}
    close = {name: match[0] for name, match in guesses.items() if match}
    text = f"unknown key(s) {', '.join(unknown)}"
    if len(unknown) == 1 and close:
        text += f" (did you mean {close[unknown[0]]}?)"
    elif close:
        text += f" (did you mean {', '.join(f'{b} for {a}' for a, b in close.items())}?)"
    return f"{text}; allowed keys: {', '.join(allowed)}"


def _key_name(key: Any) -> str:
    """A key as a message shows it: quoted when it is not plain text (a newline, nothing)."""
    text = str(key)
    plain = isinstance(key, str) and text.isprintable() and text.strip() == text != ""
    return text if plain else repr(key)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    return type(value).__name__


def _is_scalar(value: Any) -> bool:
    return isinstance(value, int | float | datetime.date)


def _is_path_field(cls: type, parts: list[str]) -> bool:
    """Whether the dotted key `parts` names a ``Path`` field of dataclass `cls`."""
    hint: Any = cls
    for part in parts:
        if not dataclasses.is_dataclass(hint):
            return False
        hint = _without_none(typing.get_type_hints(hint).get(part))
    return hint is Path


def _without_none(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        choices = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return choices[0] if len(choices) == 1 else hint
    return hint
