"""Benchmark `rcm evaluate` on a cohort the size of the published one (3,000 mosaics).

Fake per-mosaic outputs (summary.json and a 512 px overlay.png each), a manifest
with two mosaics per patient and two readers are generated once; `rcm evaluate`
then runs in a fresh process with the default 2,000 bootstrap resamples,
report and plots included.

Usage: python scripts/bench_evaluate.py [--mosaics 3000] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from _bench import markdown_table, record, run_child
from PIL import Image


def make_cohort(folder: Path, mosaics: int, seed: int = 0) -> tuple[Path, Path, Path]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, mosaics)
    scores = np.clip(labels * 0.25 + rng.uniform(0, 0.75, mosaics), 0, 1)
    overlay = Image.fromarray(rng.integers(0, 255, (512, 512, 3), dtype=np.uint8))
    outputs = folder / "outputs"
    for index, score in enumerate(scores):
        out = outputs / f"m{index:05d}.rcm"
        out.mkdir(parents=True)
        (out / "summary.json").write_text(
            json.dumps(
                {
                    "status": "ok",
                    "score": float(score),
                    "threshold": 0.5,
                    "coverage_fraction": 0.01,
                    "decision": "suspicious" if score >= 0.5 else "not suspicious",
                }
            )
        )
        overlay.save(out / "overlay.png")
    truth = folder / "truth.csv"
    truth.write_text(
        "mosaic_id,patient_id,label\n"
        + "".join(
            f"m{i:05d},p{i // 2},{'malignant' if label else 'benign'}\n"
            for i, label in enumerate(labels)
        )
    )
    reads = folder / "reads.csv"
    rows = [
        f"dr{r},m{i:05d},{'malignant' if (label ^ (rng.uniform() < 0.2)) else 'benign'}"
        for r in (1, 2)
        for i, label in enumerate(labels)
    ]
    reads.write_text("reader,mosaic_id,call\n" + "\n".join(rows) + "\n")
    return outputs, truth, reads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mosaics", type=int, default=3000)
    parser.add_argument("--no-record", dest="record", action="store_false")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        outputs, truth, reads = make_cohort(Path(workdir), args.mosaics)
        report = Path(workdir) / "report"
        figures = run_child(
            "from rcm.cli.main import main",
            f"assert main(['evaluate', {str(outputs)!r}, '--truth', {str(truth)!r}, "
            f"'--readers', {str(reads)!r}, '--out', {str(report)!r}]) == 0",
        )
        size = (report / "report.html").stat().st_size
    table = markdown_table(
        ["mosaics", "bootstrap resamples", "rcm evaluate s", "peak RSS MiB", "report.html MiB"],
        [
            [
                str(args.mosaics),
                "2000",
                f"{figures['seconds']:.1f}",
                f"{figures['peak_rss'] / 2**20:.0f}",
                f"{size / 2**20:.1f}",
            ]
        ],
    )
    print(table)
    if args.record:
        record(
            "Cohort evaluation (`rcm evaluate`)",
            table,
            "Fake outputs with 512 px overlays, 2 mosaics per patient, 2 readers; wall time "
            "of the command alone (imports excluded), report and plots included.",
        )


if __name__ == "__main__":
    main()
