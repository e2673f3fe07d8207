"""`MosaicResult`: what running a model over one mosaic decided, whatever the model's task."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rcm.models import Task
from rcm.outputs import Decision, MosaicSummary, Status, Unit


@dataclass(frozen=True)
class MosaicResult:
    """What `classify_mosaic` or `detect_mosaic` decided and where it wrote it.

    Attributes:
        output: The output folder.
        task: The model's task.
        status: ``ok``, or ``no_tissue`` when nothing was run.
        decision: ``suspicious``, ``not suspicious`` or ``no tissue``.
        score: The mosaic score.
        probability: The calibrated probability of the score (None when the model
            is not calibrated).
        coverage_at_threshold: Share of tissue at or above the threshold.
        unit: What the model ran on: ``tiles`` (classifiers) or ``windows``.
        run: How many tiles or windows went through the model.
        total: How many the grid has.
        instances: Objects found (None for classifiers).
        timings: Seconds per step (``tissue_s``, ``classify_s`` or ``windows_s``...).

    """

    output: Path
    task: Task
    status: Status
    decision: Decision
    score: float
    coverage_at_threshold: float
    unit: Unit
    run: int
    total: int
    instances: int | None = None
    probability: float | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, output: Path, summary: MosaicSummary, timings: dict[str, float]) -> MosaicResult:
        """The result an output's summary describes."""
        if summary.tiles is not None:
            unit: Unit = "tiles"
            run, total, instances = summary.tiles.classified, summary.tiles.total, None
        else:
            assert summary.windows is not None and summary.instances is not None
            unit, run, total = "windows", summary.windows.run, summary.windows.total
            instances = summary.instances.count
        verdict = summary.verdict
        return cls(
            output=output,
            task=summary.task,
            status=verdict.status,
            decision=verdict.decision,
            score=verdict.score,
            coverage_at_threshold=verdict.coverage_at_threshold,
            unit=unit,
            run=run,
            total=total,
            instances=instances,
            probability=verdict.probability,
            timings=timings,
        )
