"""The HTML report in a real browser: it renders offline, logs no errors, shows the ROC figure."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rcm.cli.main import main
from tests.report.fake_outputs import write_outputs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium (scripts/test.sh installs it)"
)


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 40)
    lines = ["mosaic_id,patient_id,label"]
    for index, label in enumerate(labels):
        score = float(np.clip(label * 0.4 + rng.uniform(0, 0.6), 0, 1))
        write_outputs(tmp_path / "outputs", {f"m{index}": score})
        out = tmp_path / "outputs" / f"m{index}.rcm"
        gray = rng.integers(0, 255, (64, 64), dtype=np.uint8)  # gray: never ROC blue
        Image.fromarray(gray).save(out / "overlay.png")
        lines.append(f"m{index},p{index},{'malignant' if label else 'benign'}")
    (tmp_path / "truth.csv").write_text("\n".join(lines) + "\n")
    report = tmp_path / "report"
    assert (
        main(
            [
                "evaluate",
                str(tmp_path / "outputs"),
                "--truth",
                str(tmp_path / "truth.csv"),
                "--out",
                str(report),
                "--bootstrap",
                "100",
            ]
        )
        == 0
    )

    screenshot = tmp_path / "page.png"
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1100,1400",
            f"--screenshot={screenshot}",
            (report / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert screenshot.exists(), result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    assert "Failed to load resource" not in result.stderr
    pixels = np.asarray(Image.open(screenshot).convert("RGB")).astype(int)
    # The ROC curve is drawn in matplotlib's first colour (31, 119, 180).
    roc_blue = np.abs(pixels - [31, 119, 180]).sum(axis=-1) < 40
    assert roc_blue.sum() > 200, roc_blue.sum()
