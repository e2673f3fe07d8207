"""YAML as every rcm file is read: safe, YAML 1.2 floats, and bounded.

Floats as YAML 1.2 writes them: ``1e-3`` is a number, not the string PyYAML's
1.1 rules make of it. Every document is bounded (`MAX_YAML_BYTES`,
`MAX_YAML_ALIASES`, `MAX_YAML_DEPTH`, `MAX_YAML_NODES` once aliases are
expanded), so an alias bomb or a deeply nested file is refused before anything
is built from it. `rcm.config` reads every config file through here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from rcm.errors import InputError

MAX_YAML_BYTES = 4 << 20
MAX_YAML_ALIASES = 1000
MAX_YAML_DEPTH = 100
MAX_YAML_NODES = 1_000_000


class _TooLarge(yaml.YAMLError):
    """A YAML document beyond the bounds (its message says which)."""


class _Loader(yaml.SafeLoader):
    """Safe YAML with 1.2 floats (``1e-3`` and ``2E5`` are numbers), bounded in size.

    Aliases and nesting are counted while the document is composed; the size with
    every alias expanded is counted before anything is built from it.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise _TooLarge(f"more than {MAX_YAML_ALIASES} aliases")
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _TooLarge(f"nested deeper than {MAX_YAML_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {})
        return self.construct_document(node)


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Nodes in `node` with every alias expanded; raises past `MAX_YAML_NODES`.

    Each node is visited once (`sizes` remembers it), so the count itself is cheap.
    """
    known = sizes.get(id(node))
    if known is not None:
        if known < 0:
            raise _TooLarge("an alias refers to a node that contains it")
        return known
    sizes[id(node)] = -1
    total = 1
    if isinstance(node, yaml.SequenceNode):
        total += sum(_expanded_size(item, sizes) for item in node.value)
    elif isinstance(node, yaml.MappingNode):
        total += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    if total > MAX_YAML_NODES:
        raise _TooLarge(f"more than {MAX_YAML_NODES} values once its aliases are expanded")
    sizes[id(node)] = total
    return total


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """What a YAML file holds (safe loading, 1.2 floats).

    Raises:
        InputError: Naming the file, when it cannot be read or is not YAML.

    """
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_YAML_BYTES + 1)
        text = data.decode("utf-8")
    except OSError as error:
        raise InputError(path, f"cannot read ({error.strerror or error})") from error
    except UnicodeDecodeError as error:
        raise InputError(path, f"cannot read: not UTF-8 text ({error.reason})") from error
    if len(data) > MAX_YAML_BYTES:
        raise InputError(path, f"cannot read: larger than {MAX_YAML_BYTES >> 20} MiB of YAML")
    return parse_yaml(text, path)


def parse_yaml(text: str, path: str | os.PathLike[str] | None) -> Any:
    """What YAML `text` holds, with the bounds and rules of `read_yaml`.

    Raises:
        InputError: Naming `path`, when the text is not YAML or beyond the bounds.

    """
    try:
        return load_text(text)
    except _TooLarge as error:
        raise InputError(path, f"cannot read: YAML with {error}") from error
    except yaml.YAMLError as error:
        raise InputError(path, f"cannot read: not valid YAML ({_one_line(error)})") from error


def _one_line(error: yaml.YAMLError) -> str:
    return " ".join(str(error).split())


def load_text(text: str) -> Any:
    """What YAML `text` holds (bounded); raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
