"""Exceptions that the CLI turns into one-line messages and exit codes.

`InputError` means the user's input (a file, an option) is at fault: exit code 2.
Anything else escaping a command is an internal error: exit code 1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


class RcmError(Exception):
    """Base class of every error rcm raises on purpose."""


class InputError(RcmError):
    """Bad input: a file that cannot be used, or an option that makes no sense."""

    def __init__(self, path: str | os.PathLike[str] | None, reason: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.reason = reason
        super().__init__(reason if self.path is None else f"{self.path}: {reason}")


class MosaicReadError(InputError):
    """A mosaic file that cannot be opened or whose pixel data cannot be decoded."""


class OutputError(InputError):
    """An output location that cannot be written (exists, not writable, no parent)."""


class OutputFormatError(InputError):
    """A file rcm wrote earlier that cannot be read back: damaged, foreign or too new."""


class NewerFormatError(OutputFormatError):
    """A file written by a newer rcm (a schema version this one does not know)."""


class BackendMissingError(InputError):
    """A model needs an optional library that is not installed (the message says how to)."""

    def __init__(self, reason: str) -> None:
        super().__init__(None, reason)


@contextmanager
def bad_input(
    path: str | os.PathLike[str] | None = None,
    *,
    kinds: tuple[type[Exception], ...] = (ValueError,),
    what: str | None = None,
) -> Iterator[None]:
    """Re-raise the given exception kinds inside the block as `InputError` (exit 2).

    For checks that raise ValueError (or a library's own errors) where the fault
    is the user's. The message is the error's, prefixed with `path` when given.

    Args:
        path: The file at fault; None when it is an option.
        kinds: Exception types that mean bad input here.
        what: What is wrong with `path`; the message becomes ``"<what> (<error>)"``.

    Raises:
        InputError: From any exception of `kinds` raised in the block.

    """
    try:
        yield
    except kinds as error:
        raise InputError(path, str(error) if what is None else f"{what} ({error})") from error
