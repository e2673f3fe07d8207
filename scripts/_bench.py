"""Helpers shared by the benchmark scripts: timed child processes, machine facts, recording."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs `body` (which sets `result`) in a fresh interpreter; prints wall seconds of the
# body alone (imports excluded) and the process's peak RSS.
_CHILD = """
import json, resource, sys, time
{setup}
start = time.perf_counter()
{body}
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"seconds": elapsed, "peak_rss": peak}}))
"""


def ensure_mosaic(size: int, folder: Path = ROOT / "bench-data") -> Path:
    """The seeded synthetic ``size`` x ``size`` benchmark mosaic, generated on first use."""
    path = folder / f"synth-{size}.tif"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        print(f"generating {path} ...", flush=True)
        command = ["rcm", "synth", str(path), "--size", str(size), "--seed", "1", "--no-progress"]
        subprocess.run([sys.executable, "-m", *command], check=True)
    return path


def run_child(setup: str, body: str) -> dict[str, float]:
    """Time `body` in a new Python process; return seconds and peak RSS in bytes."""
    code = _CHILD.format(setup=setup, body=body)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_of(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM, Python {platform.python_version()}"
    )


def record(title: str, table: str, notes: str = "") -> None:
    """Append a dated section to BENCHMARKS.md."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = f"\n## {title} ({stamp})\n\nMachine: {machine()}\n\n{table}\n"
    if notes:
        section += f"\n{notes}\n"
    with (ROOT / "BENCHMARKS.md").open("a") as handle:
        handle.write(section)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
