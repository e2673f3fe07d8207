"""The training log: one CSV row per epoch and a PNG of the curves, rewritten each epoch."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from rcm.io import atomic_output


def write_log(path: Path, history: list[dict[str, float]]) -> None:
    """Write every epoch so far (rewritten whole, so a resumed run's log has no repeats)."""
    if not history:
        return
    columns = list(dict.fromkeys(key for row in history for key in row))
    with atomic_output(path, overwrite=True) as partial, partial.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in history:
            writer.writerow({key: _format(row.get(key)) for key in columns})


def write_curves(path: Path, history: list[dict[str, float]], monitor: str) -> None:
    """Training loss and the validation metric against the epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5), dpi=100)
    left.plot(epochs, [row["train_loss"] for row in history], marker="o", label="train")
    if all("val_loss" in row for row in history):
        left.plot(epochs, [row["val_loss"] for row in history], marker="o", label="validation")
    left.set(xlabel="epoch", ylabel="loss", title="loss")
    left.legend()
    key = f"val_{monitor}"
    right.plot(epochs, [row.get(key, math.nan) for row in history], marker="o", color="C2")
    right.set(xlabel="epoch", ylabel=monitor, title=f"validation {monitor}")
    for axis in (left, right):
        axis.grid(alpha=0.3)
    figure.tight_layout()
    with atomic_output(path, overwrite=True) as partial:
        figure.savefig(partial, format="png", metadata={"Software": None})
    plt.close(figure)


def _format(value: float | None) -> str:
    if value is None:
        return ""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"
