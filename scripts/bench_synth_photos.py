"""Benchmark `rcm synth photos`: wall and CPU time, peak memory, same bytes whatever the threads.

Each run writes N photographs (default 1,000 of 320 x 240) in a fresh process
with a given number of threads; the folders of all runs must be byte-identical.

Usage: python scripts/bench_synth_photos.py [--images 1000] [--workers 1 2] [--no-record]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench import markdown_table, record

_CHILD = """
import json, resource, sys, time
from rcm.data import write_synthetic_photos
start, cpu = time.perf_counter(), time.process_time()
written = write_synthetic_photos(sys.argv[1], images=int(sys.argv[2]), seed=0,
                                 workers=int(sys.argv[3]))
print(json.dumps({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
                  "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "boxes": written.boxes, "patients": written.patients}))
"""


def digest(folder: Path) -> str:
    """One checksum over every file's relative path and bytes."""
    hasher = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        hasher.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return hasher.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    rows, digests = [], set()
    with tempfile.TemporaryDirectory() as scratch:
        for workers in args.workers:
            out = Path(scratch) / f"photos-{workers}"
            command = [sys.executable, "-c", _CHILD, str(out), str(args.images), str(workers)]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            digests.add(digest(out))
            size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
            rows.append(
                [
                    str(args.images),
                    str(workers),
                    f"{result['seconds']:.1f}",
                    f"{result['cpu']:.1f}",
                    f"{1000 * result['cpu'] / args.images:.1f}",
                    f"{result['peak_rss'] / 2**20:.0f}",
                    f"{size:.1f}",
                    str(result["boxes"]),
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
    header = [
        "photos",
        "threads",
        "wall s",
        "CPU s",
        "CPU ms/photo",
        "peak RSS MiB",
        "MiB",
        "boxes",
    ]
    table = markdown_table(header, rows)
    same = "byte-identical" if len(digests) == 1 else "DIFFERENT"
    load = os.getloadavg()[0]
    notes = (
        f"320 x 240 JPEG, seed 0; the output folders of all thread counts are {same}. "
        f"Load average {load:.1f} at the end (other processes share the cores)."
    )
    print(table + "\n" + notes)
    if not args.no_record:
        record("Synthetic photographs (`rcm synth photos`)", table, notes)


if __name__ == "__main__":
    main()
