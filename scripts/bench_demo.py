"""Run `rcm demo` as a new user would and record how long it takes and what it learned.

The demo (24 synthetic patients x 2 mosaics, a small CNN trained on the CPU,
held-out test patients) runs in a fresh process with its own model store.
Recorded: time per step and in total (goal: under 10 minutes on 2 cores),
validation tile AUROC, and held-out tile and mosaic AUROC (goal: tile AUROC
>= 0.95 on held-out synthetic mosaics).

Usage: python scripts/bench_demo.py [--seed 0] [--no-record]
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

from _bench import markdown_table, record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, nargs="+", default=[0])
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    rows = []
    for seed in args.seed:
        with tempfile.TemporaryDirectory() as workdir:
            env = {**os.environ, "RCM_HOME": str(Path(workdir) / "home")}
            out = Path(workdir) / "demo"
            started = time.perf_counter()
            command = [sys.executable, "-m", "rcm", "demo", "--out", str(out), "--no-progress"]
            subprocess.run([*command, "--seed", str(seed)], check=True, env=env)
            wall = time.perf_counter() - started
            results = json.loads((out / "demo.json").read_text())
        steps = results["timings"]
        low, high = results["tile_auroc_interval"]
        rows.append(
            [
                str(seed),
                f"{wall:.0f}",
                " / ".join(
                    f"{steps[key]:.0f}"
                    for key in ("synthesise_s", "split_s", "train_s", "infer_s", "evaluate_s")
                ),
                f"{results['validation_tile_auroc']:.3f}",
                f"{results['tile_auroc']:.3f} ({low:.3f}-{high:.3f})",
                f"{results['mosaic_auroc']:.3f}" if results["mosaic_auroc"] is not None else "n/a",
                f"{results['held_out_mosaics']} / {results['tiles']}",
            ]
        )
        print(rows[-1], flush=True)
    header = [
        "seed",
        "total s",
        "synthesise / split / train / infer / evaluate s",
        "validation tile AUROC",
        "held-out tile AUROC (95% CI)",
        "held-out mosaic AUROC",
        "held-out mosaics / tiles",
    ]
    table = markdown_table(header, rows)
    print(table)
    if not args.no_record:
        record(
            "`rcm demo` end to end",
            table,
            "A fresh process per run, CPU only, its own model store; 24 patients x 2 mosaics of "
            "1536 px (half the patients with 2-5 lesions per mosaic), split 60/20/20 by patient, "
            "resnet10t on 64 px tiles at 1 um/px trained for 5 epochs from random weights. Tile "
            "AUROC: held-out tiles with >= 50% lesion vs the rest, interval by patient bootstrap. "
            "Goals: under 10 minutes; held-out tile AUROC >= 0.95.",
        )


if __name__ == "__main__":
    main()
