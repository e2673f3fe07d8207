"""The evaluation report: one self-contained HTML page (figures and thumbnails embedded).

It opens offline in any browser: no scripts, no web fonts, no CDN. Figures are
drawn with matplotlib and embedded as PNG data; each mosaic's overlay is
embedded as a small JPEG thumbnail and linked to its output folder.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import os
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from PIL import Image

from rcm.report._cohort import Cohort

THUMBNAIL_PX = 112
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 1100px; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f2f2f2; } td.text { text-align: left; }
.error { color: #a00; } .warning { color: #a60; }
img.thumb { width: 112px; }
"""


def write_report(path: Path, metrics: dict[str, Any], cohort: Cohort) -> None:
    """Write the HTML report for `metrics` (from `evaluate_cohort`) to `path`."""
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>rcm evaluation</title><style>{_STYLE}</style></head><body>",
        "<h1>Mosaic-level evaluation</h1>",
        _counts(metrics),
        _problems(cohort),
    ]
    if metrics.get("auroc"):
        auc = metrics["auroc"]
        level = round(100 * auc["level"])
        parts.append(
            f"<h2>ROC</h2><p>AUROC {auc['estimate']:.3f} ({level}% CI "
            f"{auc['low']:.3f}-{auc['high']:.3f}, patient-level bootstrap, "
            f"{auc['resamples']} resamples)</p>"
        )
        parts.append(f"<img alt='ROC curve' id='roc' src='{_roc_png(metrics)}'>")
        parts.append(_operating_points(metrics))
        if metrics.get("readers"):
            parts.append(_readers(metrics["readers"]))
        if metrics.get("comparison", {}).get("delong"):
            parts.append(_comparison(metrics["comparison"]))
        if metrics.get("tile_level"):
            parts.append(_lesion_section(metrics))
        if metrics.get("detection"):
            parts.append(_detection_section(metrics))
        if metrics.get("explanations"):
            parts.append(_explanation_section(metrics["explanations"]))
        if "confusion_matrix" in metrics:
            (tn, fp), (fn, tp) = metrics["confusion_matrix"]["counts"]
            parts.append(
                "<h2>Confusion matrix at the threshold</h2><table>"
                "<tr><th></th><th>called negative</th><th>called positive</th></tr>"
                f"<tr><th>negative</th><td>{tn}</td><td>{fp}</td></tr>"
                f"<tr><th>positive</th><td>{fn}</td><td>{tp}</td></tr></table>"
            )
    elif metrics.get("note"):
        parts.append(f"<p>{html.escape(metrics['note'])}</p>")
    parts.append(_calibration_section(metrics.get("calibration")))
    parts.append(_cases(path.parent, cohort))
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")


def _counts(metrics: dict[str, Any]) -> str:
    counts = metrics["counts"]
    rule = ""
    if metrics.get("threshold") is not None:
        rule = (
            f"<p>Decision rule: suspicious when tissue with probability &ge; "
            f"{metrics['threshold']:g} covers &ge; {100 * metrics['coverage_fraction']:g}% "
            "of the tissue.</p>"
        )
    return (
        f"<p>{counts['mosaics']} mosaics from {counts['patients']} patients: "
        f"{counts['positive']} positive, {counts['negative']} negative.</p>{rule}"
    )


def _problems(cohort: Cohort) -> str:
    if not cohort.problems:
        return ""
    items = "".join(
        f"<li class='{p.severity}'>{p.severity}: {html.escape(p.mosaic_id or 'cohort')}"
        f": {html.escape(p.message)}</li>"
        for p in cohort.problems
    )
    return f"<h2>Input problems</h2><ul>{items}</ul>"


def _operating_points(metrics: dict[str, Any]) -> str:
    rows = []
    for name, point in metrics["operating_points"].items():
        sens, spec = point["sensitivity_ci"], point["specificity_ci"]
        rows.append(
            f"<tr><td class='text'>{html.escape(name)}</td><td>{point['threshold']:.4g}</td>"
            f"<td>{point['sensitivity']:.3f} ({sens['low']:.3f}-{sens['high']:.3f})</td>"
            f"<td>{point['specificity']:.3f} ({spec['low']:.3f}-{spec['high']:.3f})</td>"
            f"<td>{point['ppv']:.3f}</td><td>{point['npv']:.3f}</td></tr>"
        )
    return (
        "<h2>Operating points</h2><table><tr><th>point</th><th>threshold</th>"
        "<th>sensitivity (CI)</th><th>specificity (CI)</th><th>PPV</th><th>NPV</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _comparison(comparison: dict[str, Any]) -> str:
    difference = comparison["paired_bootstrap"]["difference"]
    return (
        f"<h2>Compared with {html.escape(comparison['other'])}</h2><p>On "
        f"{comparison['cases']} shared mosaics: AUROC {comparison['auroc']['this']:.3f} vs "
        f"{comparison['auroc']['other']:.3f}; difference {difference['estimate']:+.3f} "
        f"({difference['low']:+.3f} to {difference['high']:+.3f}, paired patient bootstrap, "
        f"p = {comparison['paired_bootstrap']['p_value']:.3g}); DeLong z = "
        f"{comparison['delong']['z']:.2f}, p = {comparison['delong']['p_value']:.3g}.</p>"
    )


def _lesion_section(metrics: dict[str, Any]) -> str:
    tiles, pooled = metrics["tile_level"], metrics["segmentation"]["pooled"]
    text = (
        f"<h2>Against expert lesion masks</h2><p>{tiles['tiles']} classified tiles, "
        f"{tiles['positive']} positive (at least {100 * tiles['lesion_fraction_rule']:g}% "
        "lesion)."
    )
    if "auroc" in tiles:
        auc = tiles["auroc"]
        text += f" Tile AUROC {auc['estimate']:.3f} ({auc['low']:.3f}-{auc['high']:.3f})."
    text += "</p><table><tr><th>suspicious mask</th><th>Dice</th><th>IoU</th>"
    text += "<th>sensitivity</th><th>specificity</th></tr>"
    text += (
        f"<tr><td class='text'>pooled</td><td>{pooled['dice']:.3f}</td>"
        f"<td>{pooled['iou']:.3f}</td><td>{pooled['sensitivity']:.3f}</td>"
        f"<td>{pooled['specificity']:.3f}</td></tr></table>"
    )
    return text


def _readers(readers: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td class='text'>{html.escape(str(r['reader']))}</td><td>{r['cases']}</td>"
        f"<td>{r['sensitivity']:.3f}</td><td>{r['specificity']:.3f}</td>"
        f"<td>{r['model_sensitivity_at_reader_specificity']:.3f}</td>"
        f"<td>{r['model_specificity_at_reader_sensitivity']:.3f}</td></tr>"
        for r in readers
    )
    return (
        "<h2>Readers</h2><table><tr><th>reader</th><th>cases</th><th>sensitivity</th>"
        "<th>specificity</th><th>model sensitivity at the reader's specificity</th>"
        "<th>model specificity at the reader's sensitivity</th></tr>" + rows + "</table>"
    )


def _roc_png(metrics: dict[str, Any]) -> str:
    figure = Figure(figsize=(5, 5), dpi=100)  # no pyplot: no global state, no display
    axes = figure.subplots()
    band = metrics["roc"]["band"]
    if band["low"]:
        axes.fill_between(
            band["fpr"],
            band["low"],
            band["high"],
            color="tab:blue",
            alpha=0.2,
            label=f"{round(100 * metrics['auroc']['level'])}% band",
        )
    axes.plot(
        metrics["roc"]["fpr"],
        metrics["roc"]["tpr"],
        color="tab:blue",
        label=f"model (AUROC {metrics['auroc']['estimate']:.3f})",
    )
    for name, point in metrics["operating_points"].items():
        axes.plot(1 - point["specificity"], point["sensitivity"], "o", label=name)
    for reader in metrics.get("readers", []):
        marker = "D" if reader["reader"] == "average" else "^"
        axes.plot(
            1 - reader["specificity"],
            reader["sensitivity"],
            marker,
            color="black",
            markersize=5,
            label=f"reader {reader['reader']}",
        )
    axes.plot([0, 1], [0, 1], ":", color="gray")
    axes.set(xlabel="1 - specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1.01))
    axes.legend(loc="lower right", fontsize=8)
    return _png(figure)


def _png(figure: Any) -> str:
    """A matplotlib figure as PNG data for an img src."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _calibration_section(block: dict[str, Any] | None) -> str:
    """Brier score, calibration error and the reliability diagram (or why there are none)."""
    if block is None:
        return ""
    if not block["calibrated"]:
        return f"<h2>Calibration</h2><p>Not calibrated: {html.escape(block['note'])}.</p>"
    bins = block["reliability"]
    brier, ece = block["brier"], block["expected_calibration_error"]
    level = round(100 * brier["level"])
    method = f" ({html.escape(block['method'])} scaling)" if block["method"] else ""
    rows = "".join(
        f"<tr><td>{low:.1f}-{high:.1f}</td><td>{count}</td><td>{_rate(mean)}</td>"
        f"<td>{_rate(observed)}</td></tr>"
        for low, high, count, mean, observed in zip(
            bins["edges"][:-1],
            bins["edges"][1:],
            bins["counts"],
            bins["mean_probability"],
            bins["fraction_positive"],
            strict=True,
        )
    )
    return (
        f"<h2>Calibration</h2><p>Calibrated probability{method}: Brier score "
        f"{brier['estimate']:.3f} ({level}% CI {brier['low']:.3f}-{brier['high']:.3f}), "
        f"expected calibration error {ece['estimate']:.3f} ({ece['low']:.3f}-{ece['high']:.3f}) "
        f"over {len(bins['counts'])} equal-width bins.</p>"
        f"<img alt='reliability diagram' id='reliability' src='{_reliability_png(bins)}'>"
        "<table><tr><th>probability</th><th>mosaics</th><th>mean probability</th>"
        f"<th>observed positive</th></tr>{rows}</table>"
    )


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _reliability_png(bins: dict[str, Any]) -> str:
    figure = Figure(figsize=(5, 5.5), dpi=100)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    filled = [
        (mean, observed)
        for mean, observed in zip(bins["mean_probability"], bins["fraction_positive"], strict=True)
        if mean is not None
    ]
    top.plot([0, 1], [0, 1], ":", color="gray", label="perfectly calibrated")
    top.plot(*zip(*filled, strict=True), "o-", color="tab:blue", label="model")
    top.set(ylabel="observed share positive", xlim=(0, 1), ylim=(0, 1.01))
    top.legend(loc="upper left", fontsize=8)
    edges = bins["edges"]
    widths = [high - low for low, high in itertools.pairwise(edges)]
    bottom.bar(
        edges[:-1], bins["counts"], width=widths, align="edge", color="tab:gray", edgecolor="white"
    )
    bottom.set(xlabel="calibrated probability", ylabel="mosaics")
    return _png(figure)


def _explanation_section(explained: dict[str, Any]) -> str:
    text = f"<h2>Explanations</h2><p>{explained['mosaics_explained']} mosaics explained."
    faithful = explained["faithfulness"]
    if faithful.get("tiles"):
        text += (
            f" Faithfulness over {faithful['tiles']} tiles: blocking the most explained pixels "
            f"lowers the score by {faithful['mean_drop_explained']:.3f} on average, blocking "
            f"as many random pixels by {faithful['mean_drop_random']:.3f} (explained worse in "
            f"{100 * faithful['share_explained_worse']:.0f}% of tiles)."
        )
    text += "</p>"
    if "plausibility" in explained:
        pooled = explained["plausibility"]["pooled"]
        text += "<table><tr><th>map vs expert masks</th><th>Dice</th><th>sensitivity</th>"
        text += "<th>specificity</th></tr>"
        threshold = explained["plausibility"]["threshold"]
        for kind, label in (("fuzzy", "fuzzy"), ("thresholded", f"thresholded at {threshold:g}")):
            counts = pooled[kind]
            text += (
                f"<tr><td class='text'>{label}</td><td>{counts['dice']:.3f}</td>"
                f"<td>{counts['sensitivity']:.3f}</td><td>{counts['specificity']:.3f}</td></tr>"
            )
        text += "</table>"
    return text


def _detection_section(metrics: dict[str, Any]) -> str:
    detection, curve = metrics["detection"], metrics["froc"]
    names = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR100")
    head = "".join(f"<th>{name}</th>" for name in names)
    cells = "".join(f"<td>{detection[name]:.3f}</td>" for name in names)
    per_category = "".join(
        f"<tr><td class='text'>{html.escape(name)}</td><td>{value:.3f}</td></tr>"
        for name, value in detection["per_category"].items()
    )
    froc_rows = "".join(
        f"<tr><td>{float(rate):g}</td><td>{value:.3f}</td></tr>"
        for rate, value in curve["at"].items()
    )
    figure = Figure(figsize=(5, 3.5), dpi=100)
    axes = figure.subplots()
    axes.step(curve["false_positives_per_image"], curve["sensitivity"], where="post")
    axes.set(
        xscale="symlog",
        xlabel="false positives per mosaic",
        ylabel="lesion sensitivity",
        ylim=(0, 1.01),
    )
    return (
        f"<h2>Detection</h2><table><tr>{head}</tr><tr>{cells}</tr></table>"
        f"<table><tr><th>category</th><th>AP</th></tr>{per_category}</table>"
        f"<h3>FROC</h3><img alt='FROC curve' src='{_png(figure)}'>"
        f"<table><tr><th>FP per mosaic</th><th>sensitivity</th></tr>{froc_rows}</table>"
    )


def _cases(folder: Path, cohort: Cohort) -> str:
    rows = []
    for case in sorted(cohort.cases, key=lambda c: -c.score):
        link = os.path.relpath(case.output, folder)
        rows.append(
            f"<tr><td class='text'><a href='{html.escape(link)}'>{html.escape(case.mosaic_id)}</a>"
            f"</td><td class='text'>{html.escape(case.patient_id)}</td>"
            f"<td class='text'>{html.escape(case.label)}</td><td>{case.score:.4f}</td>"
            f"<td>{_rate(case.probability)}</td>"
            f"<td class='text'>{html.escape(case.decision)}</td>"
            f"<td>{_thumbnail(case.output / 'overlay.png')}</td></tr>"
        )
    return (
        "<h2>Mosaics</h2><table><tr><th>mosaic</th><th>patient</th><th>label</th>"
        "<th>score</th><th>probability</th><th>decision</th><th>overlay</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _thumbnail(path: Path) -> str:
    if not path.exists():
        return ""
    with Image.open(path) as image:
        image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=75)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f"<img class='thumb' alt='overlay' src='data:image/jpeg;base64,{data}'>"
