"""The photo evaluation report: one self-contained HTML page (figures and photos embedded).

It opens offline in any browser: no scripts, no web fonts, no links to fetch.
Figures are PNG data (`rcm.report._photo_figures`), example photos JPEG data.
Every number comes from the metrics.json written beside it.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rcm.outputs import InputProblem
from rcm.report._photo_examples import Example
from rcm.report._photo_figures import confusion_figure, froc_figure, reliability_grid, roc_grid
from rcm.report._photo_tables import detection_section, reader_section

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 1200px; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: right; }
th { background: #f2f2f2; } td.text { text-align: left; }
.error { color: #a00; } .warning { color: #a60; }
.examples { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; width: 360px; } figure img { width: 100%; }
figcaption { font-size: 12px; word-break: break-all; }
"""


def number(value: Any, digits: int = 3) -> str:
    """A number for a table cell; missing or NaN is a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "&ndash;"
    return f"{value:.{digits}f}"


def interval(value: dict[str, Any] | None) -> str:
    """``estimate (low-high)``, or a dash."""
    if value is None:
        return "&ndash;"
    return f"{number(value['estimate'])} ({number(value['low'])}&ndash;{number(value['high'])})"


def write_photo_report(
    path: Path,
    metrics: dict[str, Any],
    examples: Sequence[Example],
    problems: Sequence[InputProblem],
) -> None:
    """Write the HTML report of `metrics` (a photo metrics.json as JSON) to `path`."""
    categories = metrics["categories"]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>rcm photo evaluation</title><style>{_STYLE}</style></head><body>",
        f"<h1>Photo evaluation ({html.escape(metrics['task'])})</h1>",
        _counts(metrics),
        _problems(problems),
        _classification(metrics),
    ]
    if metrics["roc"]:
        parts.append(f"<img alt='ROC curves' id='roc-grid' src='{roc_grid(metrics, categories)}'>")
        parts.append(_operating_points(metrics))
    if "top_k" in metrics:
        parts.append(_single_category(metrics))
    parts.append(_calibration(metrics))
    if "detection" in metrics:
        parts.append(detection_section(metrics))
        parts.append(f"<img alt='FROC curves' src='{froc_figure(metrics['froc'])}'>")
    if "readers" in metrics:
        parts.append(reader_section(metrics["readers"]))
    parts.append(_examples(examples))
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")


def _counts(metrics: dict[str, Any]) -> str:
    counts = metrics["counts"]
    part = f" (split part {html.escape(metrics['part'])})" if metrics.get("part") else ""
    labels = "one category per photo (softmax)" if metrics["labels"] == "single" else "multi-label"
    return (
        f"<p>{counts['images']} photos{part} from {counts['patients']} patients, "
        f"{counts['boxes']} expert boxes ({counts['crowd_boxes']} crowd regions ignored), "
        f"{len(metrics['categories'])} categories; the model is {labels}. A photo is positive "
        "for a category when it has a non-crowd box of it.</p>"
    )


def _problems(problems: Sequence[InputProblem]) -> str:
    if not problems:
        return ""
    items = "".join(f"<li class='{p.severity}'>{html.escape(str(p))}</li>" for p in problems[:200])
    more = (
        f"<p>and {len(problems) - 200} more (metrics.json lists all)</p>"
        if len(problems) > 200
        else ""
    )
    return f"<h2>Input problems</h2><ul>{items}</ul>{more}"


def _classification(metrics: dict[str, Any]) -> str:
    options = metrics["options"]
    rows = []
    for name in metrics["categories"]:
        count = metrics["prevalence"][name]
        rows.append(
            f"<tr><td class='text'>{html.escape(name)}</td><td>{count['positive']}</td>"
            f"<td>{count['negative']}</td><td>{interval(metrics['auroc'][name])}</td></tr>"
        )
    for label, key in (("macro average", "macro_auroc"), ("micro average", "micro_auroc")):
        rows.append(
            f"<tr><th class='text'>{label}</th><td></td><td></td>"
            f"<td>{interval(metrics[key])}</td></tr>"
        )
    return (
        "<h2>Classification (one category against the rest)</h2>"
        f"<p>AUROC with 95% intervals from {options['bootstrap']} patient-level bootstrap "
        "resamples (patients drawn with replacement, all their photos together); scores are the "
        "raw probabilities. Macro: the mean of the categories' AUROCs; micro: every "
        "(photo, category) pair pooled.</p>"
        "<table><tr><th>category</th><th>positive</th><th>negative</th>"
        "<th>AUROC (95% CI)</th></tr>" + "".join(rows) + "</table>"
    )


def _operating_points(metrics: dict[str, Any]) -> str:
    rows = []
    for name, points in metrics["operating_points"].items():
        for label, point in points.items():
            rows.append(
                f"<tr><td class='text'>{html.escape(name)}</td>"
                f"<td class='text'>{html.escape(label)}</td><td>{point['threshold']:.4g}</td>"
                f"<td>{interval(point['sensitivity_ci'])}</td>"
                f"<td>{interval(point['specificity_ci'])}</td>"
                f"<td>{number(point['ppv'])}</td><td>{number(point['npv'])}</td></tr>"
            )
    return (
        "<h2>Operating points</h2><table><tr><th>category</th><th>point</th><th>threshold</th>"
        "<th>sensitivity (CI)</th><th>specificity (CI)</th><th>PPV</th><th>NPV</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _single_category(metrics: dict[str, Any]) -> str:
    accuracy = metrics["top_k"]
    cells = "".join(
        f"<tr><td class='text'>top-{key[3:]}</td><td>{interval(value)}</td></tr>"
        for key, value in accuracy.items()
        if key.startswith("top")
    )
    block = metrics["confusion_matrix"]
    names = block["categories"]
    head = "".join(f"<th>{html.escape(name)}</th>" for name in names)
    body = "".join(
        f"<tr><th class='text'>{html.escape(name)}</th>"
        + "".join(f"<td>{count}</td>" for count in row)
        + "</tr>"
        for name, row in zip(names, block["counts"], strict=True)
    )
    return (
        f"<h2>Top-k accuracy and confusion matrix</h2><p>On {accuracy['photos']} of "
        f"{accuracy['of']} photos: {html.escape(accuracy['rule'])}.</p>"
        f"<table><tr><th>accuracy</th><th>estimate (95% CI)</th></tr>{cells}</table>"
        f"<img alt='confusion matrix' id='confusion' src='{confusion_figure(block)}'>"
        f"<table><tr><th>truth \\ model</th>{head}</tr>{body}</table>"
    )


def _calibration(metrics: dict[str, Any]) -> str:
    block = metrics["calibration"]
    rows = [("pooled", block["pooled"]), *block["per_category"].items()]
    cells = "".join(
        f"<tr><td class='text'>{html.escape(name)}</td><td>{number(entry['brier'])}</td>"
        f"<td>{number(entry['ece'])}</td></tr>"
        for name, entry in rows
    )
    figure = reliability_grid(block, metrics["categories"])
    return (
        f"<h2>Calibration</h2><p>{html.escape(block['note'])}. Expected calibration error "
        "over 10 equal-width bins; a photo is positive for a category when it has a box of "
        "it.</p>"
        f"<table><tr><th>category</th><th>Brier score</th><th>ECE</th></tr>{cells}</table>"
        f"<img alt='reliability diagrams' id='reliability' src='{figure}'>"
    )


def _examples(examples: Sequence[Example]) -> str:
    if not examples:
        return ""
    cells = "".join(
        f"<figure><img alt='{html.escape(example.image)}' src='{example.jpeg}'>"
        f"<figcaption><b>{html.escape(example.group)}</b>: {html.escape(example.image)}"
        + "".join(f"<br>{html.escape(line)}" for line in example.lines)
        + "</figcaption></figure>"
        for example in examples
    )
    return (
        "<h2>Examples</h2><p>Expert boxes dashed, model boxes solid with their scores, in "
        f"category colours.</p><div class='examples'>{cells}</div>"
    )
