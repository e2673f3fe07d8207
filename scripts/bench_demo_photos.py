"""Run `rcm demo photos` as a new user would, for several seeds; record time and what it learned.

The demo (1,000 synthetic photographs of 13 lesion categories, a photo
classifier and a photo detector trained on the CPU, held-out test patients)
runs in a fresh process with its own model store for each seed. Recorded: wall
time and time per step (goal: under 10 minutes on 2 cores), the held-out macro
AUROC of the classifier (goal >= 0.90) and the held-out mAP50 of the detector
(goal >= 0.5), and the machine's load average when the runs started (the
figures are only comparable on an otherwise idle machine).

Usage: python scripts/bench_demo_photos.py [--seed 0 1 2] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _bench import markdown_table, record

STEPS = ("synthesise_s", "convert_s", "split_s", "train_classifier_s", "train_detector_s")
STEPS_AFTER = ("infer_s", "evaluate_s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows = [_row(seed, *_run(seed)) for seed in args.seed]
    header = [
        "seed",
        "total s",
        "synthesise / convert / split / train classifier / train detector / infer / evaluate s",
        "held-out photos",
        "validation macro AUROC",
        "held-out macro AUROC (95% CI)",
        "held-out mAP50",
    ]
    table = markdown_table(header, rows)
    print(table)
    if not args.no_record:
        record(
            "`rcm demo photos` end to end",
            table,
            f"Load average when the runs started: {load:.2f}. A fresh process per seed, CPU "
            "only, its own model store; the demo's defaults: 1,000 synthetic photographs "
            "(320 x 240, 13 categories), split 70/15/15 by patient, the classifier and the "
            "detector of rcm/cli/_demo_photos.py trained from random weights. Held-out: the "
            "test part's photos; macro AUROC over the categories with positives and negatives "
            "there, interval by patient bootstrap. Goals: under 10 minutes; held-out macro "
            "AUROC >= 0.90, mAP50 >= 0.5.",
        )


def _run(seed: int) -> tuple[float, dict[str, Any]]:
    """Wall seconds and demo.json of one demo run in a fresh process and store."""
    with tempfile.TemporaryDirectory() as workdir:
        env = {**os.environ, "RCM_HOME": str(Path(workdir) / "home")}
        out = Path(workdir) / "demo"
        command = [sys.executable, "-m", "rcm", "demo", "photos", "--out", str(out)]
        started = time.perf_counter()
        subprocess.run([*command, "--seed", str(seed), "--no-progress"], check=True, env=env)
        wall = time.perf_counter() - started
        return wall, json.loads((out / "demo.json").read_text())


def _row(seed: int, wall: float, results: dict[str, Any]) -> list[str]:
    timings = results["timings"]
    models = results["models"]
    classifier, detector = models["classifier"], models.get("detector")
    low, high = classifier["macro_auroc_interval"]
    steps = [key for key in (*STEPS, *STEPS_AFTER) if key in timings]
    row = [
        str(seed),
        f"{wall:.0f}",
        " / ".join(f"{timings[key]:.0f}" for key in steps),
        str(results["test_photos"]),
        _figure(classifier["validation"]),
        f"{_figure(classifier['macro_auroc'])} ({_figure(low)}-{_figure(high)})",
        _figure(detector["map50"]) if detector else "n/a",
    ]
    print(row, flush=True)
    return row


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
