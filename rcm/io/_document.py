"""The rule every versioned JSON file of rcm follows: one reader and one writer each.

Every file one stage writes and another reads carries ``schema_version``. The
version is raised when a field's meaning changes or a required field is added.
Files of rcm 0.1.0 carry none: they read as version 0 and each document's reader
upgrades them (or refuses them, saying why). A file from a newer rcm (a higher
version than this one knows) is refused with a message saying so, never guessed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rcm.errors import NewerFormatError, OutputFormatError
from rcm.io._atomic import atomic_file

VERSION_KEY = "schema_version"


def read_document(path: str | os.PathLike[str], kind: str, current: int) -> tuple[dict, int]:
    """The JSON object in `path` and its schema version (0 for files without one).

    Args:
        path: The file.
        kind: What the file is, for messages (``summary.json``, ``metrics.json``...).
        current: The newest version this rcm writes.

    Raises:
        OutputFormatError: If the file is missing, not JSON, not an object, or newer.

    """
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise OutputFormatError(path, f"cannot read {kind} ({error})") from error
    if not isinstance(data, dict):
        raise OutputFormatError(path, f"{kind} must hold a JSON object")
    version = data.get(VERSION_KEY, 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise OutputFormatError(path, f"{kind} has a bad {VERSION_KEY} {version!r}")
    if version > current:
        raise NewerFormatError(
            path,
            f"{kind} has {VERSION_KEY} {version}, newer than this rcm reads ({current}): "
            "upgrade rcm to read it",
        )
    return data, version


def document_text(data: dict[str, Any], version: int) -> str:
    """The file text of a document: sorted keys and two-space indents, so reruns match."""
    return json.dumps({**data, VERSION_KEY: version}, indent=2, sort_keys=True)


def write_document(path: str | os.PathLike[str], data: dict[str, Any], version: int) -> None:
    """Write `data` with its schema version through a temporary name and a rename.

    Readers see the old file or the new one, never half of one, even with
    several processes writing the same path.
    """
    with atomic_file(path) as partial:
        partial.write_text(document_text(data, version))


def require(path: str | os.PathLike[str], kind: str, data: dict, keys: tuple[str, ...]) -> None:
    """Refuse a document that lacks any of `keys`, naming them."""
    missing = [key for key in keys if key not in data]
    if missing:
        raise OutputFormatError(path, f"{kind} lacks {', '.join(missing)}")
