"""The files one stage writes and another reads: typed, versioned, one reader and writer each.

- `MosaicSummary` (``summary.json`` of an `rcm infer` output, every task) with
  its parts `Verdict`, `MosaicRecord`, `ModelRecord`, `MapLayout`,
  `TilesBlock`, `WindowsBlock`, `InstancesBlock`;
- `TileTable` (``tiles.csv``) and `WindowTable` (``windows.csv``);
- `ExplanationSummary` and `ExplanationTable` (``explanation/summary.json``,
  ``explanation/tiles.csv``).

Each is read with ``Model.read(path)`` and written with ``model.write(path)``.
CSV tables have no place for a version: the ``summary.json`` of their folder
versions them. The common rule (``schema_version``, refusing newer files,
atomic writes) is in `rcm.outputs._document`; readers raise `OutputFormatError`
(an `rcm.errors.InputError`) naming the file and the reason.
"""

from rcm.outputs._document import (
    VERSION_KEY,
    OutputFormatError,
    read_document,
    require,
    write_document,
)
from rcm.outputs._explanation import (
    EXPLANATION,
    EXPLANATION_VERSION,
    ExplanationSummary,
    ExplanationTable,
)
from rcm.outputs._summary import SUMMARY, SUMMARY_VERSION, MosaicSummary, summary_path
from rcm.outputs._summary_parts import (
    DECISIONS,
    STATUSES,
    TASKS,
    Decision,
    InstancesBlock,
    MapLayout,
    ModelRecord,
    MosaicRecord,
    Status,
    Task,
    TilesBlock,
    Unit,
    Verdict,
    WindowsBlock,
)
from rcm.outputs._tables import TILES, WINDOWS, TileTable, WindowTable

__all__ = [
    "DECISIONS",
    "EXPLANATION",
    "EXPLANATION_VERSION",
    "STATUSES",
    "SUMMARY",
    "SUMMARY_VERSION",
    "TASKS",
    "TILES",
    "VERSION_KEY",
    "WINDOWS",
    "Decision",
    "ExplanationSummary",
    "ExplanationTable",
    "InstancesBlock",
    "MapLayout",
    "ModelRecord",
    "MosaicRecord",
    "MosaicSummary",
    "OutputFormatError",
    "Status",
    "Task",
    "TileTable",
    "TilesBlock",
    "Unit",
    "Verdict",
    "WindowTable",
    "WindowsBlock",
    "read_document",
    "require",
    "write_document",
    "summary_path",
]
