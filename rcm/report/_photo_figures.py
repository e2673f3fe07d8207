"""The figures of the photo report, drawn with matplotlib (no pyplot) as PNG data.

One grid of ROC curves (a panel per category, readers as points on it), one
grid of reliability diagrams (pooled first), the confusion matrix and the FROC
curves. Each returns an ``img src`` value.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

COLUMNS = 4
PANEL_INCHES = 2.6


UNIT_TICKS = (0.0, 0.5, 1.0)


def png(figure: Figure) -> str:
    """A figure as PNG data for an img src (margins set by the figure: drawn once)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _grid(panels: int) -> tuple[Figure, list[Any]]:
    columns = min(COLUMNS, max(1, panels))
    rows = math.ceil(panels / columns)
    height = PANEL_INCHES * rows + 0.8
    figure = Figure(figsize=(PANEL_INCHES * columns, height), dpi=90)
    axes = figure.subplots(rows, columns, squeeze=False).ravel().tolist()
    for unused in axes[panels:]:
        unused.set_axis_off()
    for axis in axes[:panels]:
        # Fixed ticks: matplotlib's tick search is most of a small panel's drawing time.
        axis.set(xlim=(0, 1), ylim=(0, 1.01), xticks=UNIT_TICKS, yticks=UNIT_TICKS)
        axis.tick_params(labelsize=7)
    bottom = 0.45 / height
    figure.subplots_adjust(
        left=0.09, right=0.98, bottom=bottom, top=1 - 0.4 / height, hspace=0.6, wspace=0.3
    )
    return figure, axes[:panels]


def roc_grid(metrics: dict[str, Any], categories: Sequence[str]) -> str:
    """One ROC panel per category with its AUROC, Youden point and the readers' points."""
    curves = metrics["roc"]
    shown = [name for name in categories if name in curves]
    figure, axes = _grid(len(shown))
    readers = (metrics.get("readers") or {}).get("per_category", {})
    for axis, name in zip(axes, shown, strict=True):
        auc = metrics["auroc"][name]
        axis.plot(curves[name]["fpr"], curves[name]["tpr"], color="tab:blue", linewidth=1.5)
        axis.plot([0, 1], [0, 1], ":", color="gray", linewidth=0.8)
        youden = metrics["operating_points"][name]["youden"]
        axis.plot(1 - youden["specificity"], youden["sensitivity"], "o", color="tab:orange")
        for reader in readers.get(name, []):
            marker = "D" if reader["reader"] == "average" else "^"
            axis.plot(1 - reader["specificity"], reader["sensitivity"], marker, color="black", ms=4)
        axis.set_title(f"{name}\nAUROC {auc['estimate']:.3f}", fontsize=9)
    if axes:
        axes[0].set_xlabel("1 - specificity", fontsize=8)
        axes[0].set_ylabel("sensitivity", fontsize=8)
    return png(figure)


def reliability_grid(calibration: dict[str, Any], categories: Sequence[str]) -> str:
    """Reliability diagrams: the pooled one first, then one per category."""
    entries = [("pooled", calibration["pooled"])]
    entries += [(name, calibration["per_category"][name]) for name in categories]
    figure, axes = _grid(len(entries))
    for axis, (name, entry) in zip(axes, entries, strict=True):
        bins = entry["bins"]
        counts = np.array(bins["counts"])
        used = counts > 0
        mean = np.array(bins["mean_probability"])[used]
        observed = np.array(bins["fraction_positive"])[used]
        axis.plot([0, 1], [0, 1], ":", color="gray", linewidth=0.8)
        axis.plot(mean, observed, "o-", color="tab:green", ms=3)
        axis.set_title(f"{name}\nECE {entry['ece']:.3f}, Brier {entry['brier']:.3f}", fontsize=9)
    axes[0].set_xlabel("mean probability", fontsize=8)
    axes[0].set_ylabel("fraction positive", fontsize=8)
    return png(figure)


def confusion_figure(block: dict[str, Any]) -> str:
    """The confusion matrix as a heat map, rows normalised, counts written in the cells."""
    counts = np.array(block["counts"], dtype=np.float64)
    names = block["categories"]
    size = max(4.0, 0.45 * len(names) + 1.5)
    figure = Figure(figsize=(size, size), dpi=90)
    axis = figure.subplots()
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.nan_to_num(counts / counts.sum(axis=1, keepdims=True))
    axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for row, column in np.ndindex(counts.shape):
        if counts[row, column]:
            colour = "white" if shares[row, column] > 0.6 else "black"
            axis.text(column, row, f"{int(counts[row, column])}", ha="center", va="center",
                      fontsize=7, color=colour)  # fmt: skip
    axis.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    axis.set_yticks(range(len(names)), names, fontsize=7)
    axis.set(xlabel="model's top category", ylabel="truth")
    figure.subplots_adjust(left=0.25, bottom=0.25, right=0.98, top=0.98)
    return png(figure)


def froc_figure(block: dict[str, Any]) -> str:
    """FROC curves: pooled (thick) and per category."""
    figure = Figure(figsize=(6, 4), dpi=90)
    axis = figure.subplots()
    pooled = block["pooled"]
    axis.step(
        pooled["false_positives_per_photo"],
        pooled["sensitivity"],
        where="post",
        color="black",
        linewidth=2,
        label="any category",
    )
    for name, entry in block["per_category"].items():
        if entry["lesions"]:
            axis.step(
                entry["false_positives_per_photo"],
                entry["sensitivity"],
                where="post",
                linewidth=1,
                label=name,
            )
    axis.set_xscale("symlog", linthresh=0.1)
    axis.set(xlabel="false positives per photo", ylabel="lesion sensitivity")
    axis.set_xlim(0, max(1.0, max(pooled["false_positives_per_photo"], default=0.0)))
    axis.set_ylim(0, 1.01)
    axis.legend(fontsize=6, loc="lower right", ncol=2)
    figure.subplots_adjust(left=0.12, bottom=0.14, right=0.97, top=0.97)
    return png(figure)
