"""The files one stage writes and another reads: typed, versioned, one reader and writer each.

- `MosaicSummary` (``summary.json`` of an `rcm infer` output, every task) with
  its parts `Verdict`, `MosaicRecord`, `ModelRecord`, `MapLayout`,
  `TilesBlock`, `WindowsBlock`, `InstancesBlock`;
- `TileTable` (``tiles.csv``) and `WindowTable` (``windows.csv``);
- `ExplanationSummary` and `ExplanationTable` (``explanation/summary.json``,
  ``explanation/tiles.csv``);
- `DetectionResults` (``instances.json`` of a window run or a photo detector, COCO results);
- a photo run's `PhotoRunSummary` (``summary.json``, with `PhotoModelRecord`,
  `PhotoSourceRecord`, `SkippedPhoto`), `PhotoPredictions` (``predictions.csv``)
  and `SkippedPhotos` (``skipped.csv``);
- `EvaluationDocument` (``metrics.json`` of ``rcm evaluate``, with its
  `CalibrationMetrics` and `ReliabilityTable`) and, for a photo run,
  `PhotoEvaluationDocument` (with `PhotoCounts`, `PhotoEvaluationSettings`, `InputProblem`);
- a batch job's records: `Manifest` (``_job/manifests/ID.json``), `JobPlan`
  (``_job/plan.json``) and `Failure` rows (``_job/failures.csv``).

Each is read with ``Model.read(path)`` and written with ``model.write(path)``.
CSV tables have no place for a version: the ``summary.json`` of their folder
versions them. The common rule (``schema_version``, refusing newer files,
atomic writes) is `rcm.io.read_document` / `write_document`, which the split
files and the model store index follow too; readers raise `OutputFormatError`
(an `rcm.errors.InputError`) naming the file and the reason.
"""

from rcm.errors import OutputFormatError
from rcm.io import VERSION_KEY, read_document, require, write_document
from rcm.outputs._evaluation import (
    EVALUATION_VERSION,
    CalibrationMetrics,
    EvaluationCounts,
    EvaluationDocument,
    EvaluationSettings,
    Interval,
    Problem,
    ReliabilityTable,
)
from rcm.outputs._explanation import (
    EXPLANATION,
    EXPLANATION_VERSION,
    ExplanationSummary,
    ExplanationTable,
)
from rcm.outputs._instances import INSTANCES, DetectionResults
from rcm.outputs._jobs import (
    JOB_FOLDER,
    Failure,
    FileIdentity,
    JobPlan,
    Manifest,
    MosaicState,
    PlanEntry,
    job_folder,
    read_failures,
    write_failures,
)
from rcm.outputs._photo_evaluation import (
    PHOTO_EVALUATION_VERSION,
    InputProblem,
    PhotoCounts,
    PhotoEvaluationDocument,
    PhotoEvaluationSettings,
)
from rcm.outputs._photo_outputs import (
    PHOTO_SOURCE_KINDS,
    PHOTO_SUMMARY_VERSION,
    PREDICTIONS,
    SKIPPED,
    PhotoModelRecord,
    PhotoPredictions,
    PhotoRunSummary,
    PhotoSourceKind,
    PhotoSourceRecord,
    SkippedPhoto,
    SkippedPhotos,
    category_column,
)
from rcm.outputs._summary import SUMMARY, SUMMARY_VERSION, MosaicSummary, summary_path
from rcm.outputs._summary_parts import (
    DECISIONS,
    STATUSES,
    Decision,
    InstancesBlock,
    MapLayout,
    ModelRecord,
    MosaicRecord,
    Status,
    TilesBlock,
    Unit,
    Verdict,
    WindowsBlock,
)
from rcm.outputs._tables import TILES, WINDOWS, TileTable, WindowTable

__all__ = [
    "PHOTO_EVALUATION_VERSION",
    "InputProblem",
    "PhotoCounts",
    "PhotoEvaluationDocument",
    "PhotoEvaluationSettings",
    "PHOTO_SOURCE_KINDS",
    "PHOTO_SUMMARY_VERSION",
    "PREDICTIONS",
    "SKIPPED",
    "PhotoModelRecord",
    "PhotoPredictions",
    "PhotoRunSummary",
    "PhotoSourceKind",
    "PhotoSourceRecord",
    "SkippedPhoto",
    "SkippedPhotos",
    "category_column",
    "INSTANCES",
    "DetectionResults",
    "EVALUATION_VERSION",
    "JOB_FOLDER",
    "EvaluationCounts",
    "EvaluationDocument",
    "EvaluationSettings",
    "Failure",
    "FileIdentity",
    "Interval",
    "JobPlan",
    "CalibrationMetrics",
    "ReliabilityTable",
    "Manifest",
    "MosaicState",
    "PlanEntry",
    "Problem",
    "job_folder",
    "read_failures",
    "write_failures",
    "DECISIONS",
    "EXPLANATION",
    "EXPLANATION_VERSION",
    "STATUSES",
    "SUMMARY",
    "SUMMARY_VERSION",
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
