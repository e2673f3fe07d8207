"""Compare `rcm infer` in this checkout with another checkout (e.g. the previous release).

The two sides alternate, round after round, so that the machine's drift hits
both alike. Each side runs its own ``scripts/bench_infer.py`` (one 12k mosaic,
no memory table, nothing recorded) with ``PYTHONPATH`` set to its checkout, and
its ``rcm infer`` and bare-forward seconds are read from the table it prints.
Reported per round: both sides' seconds and ratios; then the median ratio of
this checkout's end-to-end time to the other's.

Usage: python scripts/bench_versions.py OTHER_CHECKOUT [--rounds 2] [--size 12000]
       [--arch efficientnet_b0] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _bench import ROOT, ensure_mosaic, markdown_table, record


def run_side(checkout: Path, size: int, arch: str) -> tuple[float, float]:
    """(rcm infer seconds, bare forward seconds) of one bench_infer run in `checkout`."""
    mosaic = ensure_mosaic(size)
    link = checkout / "bench-data" / mosaic.name
    if checkout != ROOT and not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(mosaic)
    command = [sys.executable, "scripts/bench_infer.py", "--size", str(size), "--arch", arch]
    command += ["--rss-sizes", "--no-record"]
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    out = subprocess.run(
        command, cwd=checkout, env=env, check=True, capture_output=True, text=True
    ).stdout
    row = next(line for line in out.splitlines() if line.startswith(f"| {size} x {size} |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    return float(cells[4]), float(cells[5])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the other checkout (a git worktree)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--size", type=int, default=12000)
    parser.add_argument("--arch", default="efficientnet_b0")
    parser.add_argument("--no-record", dest="record", action="store_false")
    args = parser.parse_args()
    other = args.other.resolve()
    rows, ratios = [], []
    for number in range(1, args.rounds + 1):
        sides = [("this", ROOT), ("other", other)]
        if number % 2 == 0:
            sides.reverse()  # alternate which side runs first
        seconds = {}
        for name, checkout in sides:
            seconds[name] = run_side(checkout, args.size, args.arch)
            print(f"round {number} {name}: {seconds[name]}", flush=True)
        (this_infer, this_bare), (other_infer, other_bare) = seconds["this"], seconds["other"]
        ratios.append(this_infer / other_infer)
        rows.append(
            [
                str(number),
                f"{this_infer:.1f}",
                f"{this_infer / this_bare:.3f}",
                f"{other_infer:.1f}",
                f"{other_infer / other_bare:.3f}",
                f"{ratios[-1]:.3f}",
            ]
        )
    header = ["round", "this s", "this / bare", "other s", "other / bare", "this / other"]
    table = markdown_table(header, rows)
    notes = (
        f"`rcm infer` on a {args.size} px synthetic mosaic, {args.arch} (random init; rcm infer "
        "feeds the mosaic's tiles through the pixel rule and the model's normalisation, the bare "
        f"forward zeros), CPU; other checkout: {other.name}. Median this / other: "
        f"{statistics.median(ratios):.3f}."
    )
    print(table)
    print(notes)
    if args.record:
        record("rcm infer against another checkout, alternating", table, notes)


if __name__ == "__main__":
    main()
