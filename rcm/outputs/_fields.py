"""Typed access to the fields of a document read back, every problem named with its file."""

from __future__ import annotations

import os
from typing import Any

from rcm.errors import OutputFormatError


class Fields:
    """The fields of one JSON object of a document, each read with its expected type.

    Bools are not numbers: ``true`` where a number belongs is refused, as is a
    missing key, so a reader never meets a `KeyError` or a wrong type later.
    """

    def __init__(self, path: str | os.PathLike[str], kind: str, data: Any, where: str = "") -> None:
        self.path, self.kind, self.where = path, kind, where
        if not isinstance(data, dict):
            raise self.error(f"{where or kind} must be a JSON object")
        self.data: dict[str, Any] = data

    def error(self, reason: str) -> OutputFormatError:
        """The error naming this file and `reason`."""
        return OutputFormatError(self.path, f"{self.kind}: {reason}")

    def _get(self, key: str) -> Any:
        if key not in self.data:
            raise self.error(f"lacks {self._name(key)}")
        return self.data[key]

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def _bad(self, key: str, expected: str) -> OutputFormatError:
        return self.error(f"{self._name(key)} must be {expected}, got {self.data[key]!r}")

    def has(self, key: str) -> bool:
        """Whether `key` is present."""
        return key in self.data

    def number(self, key: str) -> float:
        """A number (an int stays an int, so a file reads and writes back unchanged)."""
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._bad(key, "a number")
        return value

    def optional_number(self, key: str) -> float | None:
        """A number or null (absent reads as null)."""
        return None if self.data.get(key) is None else self.number(key)

    def nullable_number(self, key: str) -> float | None:
        """A number or null that must be present."""
        return None if self._get(key) is None else self.number(key)

    def nullable_choice(self, key: str, choices: tuple[str, ...]) -> Any:
        """One of `choices` or null, present."""
        return None if self._get(key) is None else self.choice(key, choices)

    def integer(self, key: str) -> int:
        """An integer."""
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(key, "an integer")
        return value

    def text(self, key: str) -> str:
        """A string."""
        value = self._get(key)
        if not isinstance(value, str):
            raise self._bad(key, "a string")
        return value

    def optional_text(self, key: str) -> str | None:
        """A string or null (absent reads as null)."""
        return None if self.data.get(key) is None else self.text(key)

    def choice(self, key: str, choices: tuple[str, ...]) -> Any:
        """One of `choices` (the values of a Literal)."""
        value = self._get(key)
        if value not in choices:
            raise self._bad(key, "one of " + ", ".join(repr(c) for c in choices))
        return value

    def integers(self, key: str, length: int | None = None) -> tuple[int, ...]:
        """A list of integers, of `length` items when given."""
        value = self._get(key)
        ok = isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        )
        if not ok or (length is not None and len(value) != length):
            raise self._bad(key, f"a list of {length or 'some'} integers")
        return tuple(value)

    def texts(self, key: str) -> tuple[str, ...]:
        """A list of strings."""
        value = self._get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._bad(key, "a list of strings")
        return tuple(value)

    def mapping(self, key: str) -> dict[str, Any]:
        """A JSON object kept as plain JSON."""
        value = self._get(key)
        if not isinstance(value, dict):
            raise self._bad(key, "a JSON object")
        return value

    def nested(self, key: str) -> Fields:
        """The fields of the JSON object under `key`."""
        self._get(key)
        return Fields(self.path, self.kind, self.data[key], self._name(key))
