"""The detection and clinician sections of the photo report, as HTML tables."""

from __future__ import annotations

import html
import math
from typing import Any

COCO_COLUMNS = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR100")


def _cell(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "<td>&ndash;</td>"
    return f"<td>{value:.{digits}f}</td>"


def detection_section(metrics: dict[str, Any]) -> str:
    """COCO summary, per-category COCO table and per-category FROC table."""
    detection, froc = metrics["detection"], metrics["froc"]
    head = "".join(f"<th>{name}</th>" for name in COCO_COLUMNS)
    summary = "".join(_cell(detection[name]) for name in COCO_COLUMNS)
    rows = "".join(
        f"<tr><td class='text'>{html.escape(name)}</td>"
        + "".join(_cell(row[column]) for column in COCO_COLUMNS)
        + "</tr>"
        for name, row in detection["per_category"].items()
    )
    rates = list(froc["pooled"]["at"])
    froc_head = "".join(f"<th>{html.escape(rate)}</th>" for rate in rates)
    entries = [("any category", froc["pooled"]), *froc["per_category"].items()]
    froc_rows = "".join(
        f"<tr><td class='text'>{html.escape(name)}</td><td>{entry['lesions']}</td>"
        + "".join(_cell(entry["at"][rate]) for rate in rates)
        + "</tr>"
        for name, entry in entries
    )
    return (
        f"<h2>Detection</h2><p>{html.escape(detection['rule'])}.</p>"
        f"<table><tr><th></th>{head}</tr><tr><th class='text'>all</th>{summary}</tr>{rows}"
        "</table><h3>FROC</h3><p>Lesion sensitivity at IoU 0.5 with at most so many false "
        "positives per photo; pooled, a box of any category finds a lesion of any "
        "category.</p>"
        f"<table><tr><th>category</th><th>lesions</th>{froc_head}</tr>{froc_rows}</table>"
    )


def reader_section(block: dict[str, Any]) -> str:
    """Per category: each reader against the model, with McNemar's test; then the diagnosis."""
    rows = []
    for category, readers in block["per_category"].items():
        for reader in readers:
            test = reader.get("paired_test") or {}
            rows.append(
                f"<tr><td class='text'>{html.escape(category)}</td>"
                f"<td class='text'>{html.escape(str(reader['reader']))}</td>"
                f"<td>{reader['cases']}</td>{_cell(reader['sensitivity'])}"
                f"{_cell(reader['specificity'])}"
                f"{_cell(reader['model_sensitivity_at_reader_specificity'])}"
                f"{_cell(reader['model_specificity_at_reader_sensitivity'])}"
                + _test_cells(test)
                + "</tr>"
            )
    table = (
        "<table><tr><th>category</th><th>reader</th><th>photos</th><th>sensitivity</th>"
        "<th>specificity</th><th>model sensitivity at the reader's specificity</th>"
        "<th>model specificity at the reader's sensitivity</th><th>only model right</th>"
        "<th>only reader right</th><th>McNemar p</th></tr>" + "".join(rows) + "</table>"
    )
    diagnosis = "".join(
        f"<tr><td class='text'>{html.escape(entry['reader'])}</td><td>{entry['photos']}</td>"
        f"{_cell(entry['reader_accuracy'])}{_cell(entry['model_accuracy'])}"
        f"<td>{entry['mcnemar_only_first']}</td><td>{entry['mcnemar_only_second']}</td>"
        f"{_cell(entry['mcnemar_p_value'], 4)}</tr>"
        for entry in block["diagnosis"]
    )
    diagnosis_table = (
        "<h3>Diagnosis (photos with one category)</h3><p>A reader is right when they called "
        "that category alone, the model when it is its top category.</p><table><tr>"
        "<th>reader</th><th>photos</th><th>reader accuracy</th><th>model accuracy</th>"
        "<th>only model right</th><th>only reader right</th><th>McNemar p</th></tr>"
        f"{diagnosis}</table>"
        if diagnosis
        else ""
    )
    return (
        f"<h2>Compared with clinicians</h2><p>Readers: "
        f"{html.escape(', '.join(block['readers']))}. Each reader's calls of a category are "
        f"a point on that category's ROC (black triangles; the average a diamond). "
        f"Paired test: {html.escape(block['test'])}.</p>{table}{diagnosis_table}"
    )


def _test_cells(test: dict[str, Any]) -> str:
    if "p_value" not in test:
        return "<td></td><td></td><td>&ndash;</td>"
    return f"<td>{test['only_first']}</td><td>{test['only_second']}</td>{_cell(test['p_value'], 4)}"
