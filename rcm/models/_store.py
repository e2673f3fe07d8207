"""The local model store: named model files under ``$RCM_HOME/models``.

``rcm models add FILE --name swin`` copies a model file into the store and
records its checksum; ``rcm infer mosaic.tif --model swin`` then finds it by
name and refuses it if the stored file was deleted or altered since.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from rcm.errors import InputError, bad_input
from rcm.io import atomic_output, file_checksum, read_document, write_document
from rcm.models._modelfile import read_meta

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def rcm_home() -> Path:
    """``$RCM_HOME``, else ``$XDG_DATA_HOME/rcm``, else ``~/.local/share/rcm``."""
    if os.environ.get("RCM_HOME"):
        return Path(os.environ["RCM_HOME"]).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "rcm"


INDEX_VERSION = 1  # schema_version of index.json (rcm 0.1.0: a bare list, version 0)


@dataclass(frozen=True)
class StoreEntry:
    """One named model in the store."""

    name: str
    file: str
    checksum: str
    architecture: str
    classes: tuple[str, ...]
    tile_px: int
    um_per_px: float | None
    added: str


class ModelStore:
    """Named model files in one folder, with an index of their checksums."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else rcm_home() / "models"
        self.index_path = self.root / "index.json"

    def entries(self) -> list[StoreEntry]:
        """Every model in the store, sorted by name."""
        if not self.index_path.exists():
            return []
        bad = (TypeError, KeyError)
        with bad_input(self.index_path, kinds=bad, what="model store index has a bad entry"):
            entries = [
                StoreEntry(**{**item, "classes": tuple(item["classes"])})
                for item in _index_rows(self.index_path)
            ]
        return sorted(entries, key=lambda entry: entry.name)

    def add(self, file: str | os.PathLike[str], name: str, *, replace: bool = False) -> StoreEntry:
        """Copy a model file into the store under `name` (validated first)."""
        self.check_name(name, replace=replace)
        meta = read_meta(file)
        existing = {entry.name: entry for entry in self.entries()}
        suffix = Path(file).suffix.lower() or ".safetensors"
        stored = self.root / f"{name}{suffix}"
        self.root.mkdir(parents=True, exist_ok=True)
        with atomic_output(stored, overwrite=True) as partial:
            shutil.copyfile(file, partial)
        entry = StoreEntry(
            name=name,
            file=stored.name,
            checksum=file_checksum(stored),
            architecture=meta.architecture,
            classes=meta.classes,
            tile_px=meta.tile_px,
            um_per_px=meta.um_per_px,
            added=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        existing[name] = entry
        self._write_index(list(existing.values()))
        return entry

    def check_name(self, name: str, *, replace: bool = False) -> None:
        """Raise unless `name` is a valid model name that is free (or may be replaced)."""
        if not _NAME.match(name):
            raise InputError(None, f"model name {name!r} must be letters, digits, '.', '_' or '-'")
        if not replace and any(entry.name == name for entry in self.entries()):
            raise InputError(
                None,
                f"a model named {name!r} is already in {self.root} (pass --replace to replace it)",
            )

    def remove(self, name: str) -> None:
        """Delete a model and its file."""
        entries = {entry.name: entry for entry in self.entries()}
        if name not in entries:
            raise InputError(None, f"no model named {name!r} in {self.root}")
        (self.root / entries.pop(name).file).unlink(missing_ok=True)
        self._write_index(list(entries.values()))

    def resolve(self, name: str) -> Path:
        """The file of model `name`, after checking it is unchanged.

        Raises:
            InputError: If there is no such model, its file is gone, or its
                checksum changed; the message says how to get a model.

        """
        entries = {entry.name: entry for entry in self.entries()}
        if name not in entries:
            raise InputError(
                None,
                f"no model named {name!r} in the model store {self.root}. Add a trained "
                f"model file with `rcm models add FILE --name {name}` or pass --weights FILE "
                "(`rcm models list` shows what is there)",
            )
        entry = entries[name]
        path = self.root / entry.file
        if not path.is_file():
            raise InputError(
                path,
                f"file of model {name!r} is missing from the store; "
                f"add it again with `rcm models add FILE --name {name} --replace`",
            )
        if file_checksum(path) != entry.checksum:
            raise InputError(
                path,
                f"file of model {name!r} was altered since it was added "
                "(checksum mismatch); add it again with `rcm models add ... --replace`",
            )
        return path

    def _write_index(self, entries: list[StoreEntry]) -> None:
        rows = [asdict(entry) for entry in sorted(entries, key=lambda entry: entry.name)]
        self.root.mkdir(parents=True, exist_ok=True)
        write_document(self.index_path, {"models": rows}, INDEX_VERSION)


def _index_rows(path: Path) -> list[dict]:
    """The index's entries; rcm 0.1.0 wrote a bare list (version 0), later an object."""
    unreadable = (OSError, json.JSONDecodeError)
    with bad_input(path, kinds=unreadable, what="model store index is unreadable"):
        raw = json.loads(path.read_text())
    if isinstance(raw, list):
        return raw
    data, _ = read_document(path, "model store index", INDEX_VERSION)
    if not isinstance(data.get("models"), list):
        raise InputError(path, "model store index lacks its list of models")
    return data["models"]
