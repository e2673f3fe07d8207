"""Benchmark `rcm run` (Dask distributed) against the same mosaics run one by one in one process.

24 synthetic 4k x 4k mosaics (generated once under bench-data/jobs/), one
random-init efficientnet_b0. First one process loads the model once and runs
`classify_mosaic` on every mosaic in turn (the sum of single-mosaic times);
then a fresh process runs the same work as a job on the default local cluster
(cluster start-up included). Reported: both times, their ratio (goal: at most
1.1) and the scheduler's cost per mosaic.

Usage: python scripts/bench_jobs.py [--mosaics 24] [--size 4096] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench import ROOT, markdown_table, record

_SETUP = r"""
import torch
from rcm.models import ModelMeta, build_network, save_model
meta = ModelMeta(architecture="efficientnet_b0", classes=("benign", "suspicious"),
                 positive=("suspicious",), tile_px=224, um_per_px=0.5)
torch.manual_seed(0)
save_model(sys.argv[1], build_network(meta), meta, overwrite=True)
print("{}")
"""

_ALONE = r"""
import csv, json, sys, time
from pathlib import Path
from rcm.infer import ClassifyOptions, classify_mosaic
from rcm.io import open_mosaic
from rcm.models import load_model
manifest, weights, out = sys.argv[1:4]
model = load_model(weights)
start = time.perf_counter()
with open(manifest) as handle:
    for row in csv.DictReader(handle):
        mosaic = open_mosaic(Path(manifest).parent / row["path"])
        classify_mosaic(mosaic, model, Path(out) / f"{row['mosaic_id']}.rcm",
                        options=ClassifyOptions(), overwrite=True)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""

_JOB = r"""
import json, sys, time
start = time.perf_counter()
from rcm.jobs import load_job
from rcm.jobs._run import run_job
report = run_job(load_job(sys.argv[1]), progress=False)
assert not report.failed, report.failed
print(json.dumps({"seconds": time.perf_counter() - start, "done": len(report.done)}))
"""


def child(code: str, *args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", "import sys\n" + code, *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def cohort(count: int, size: int) -> Path:
    folder = ROOT / "bench-data" / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["mosaic_id,path"]
    for index in range(count):
        path = folder / f"s{size}-{index:02d}.tif"
        if not path.exists():
            print(f"generating {path} ...", flush=True)
            command = ["rcm", "synth", str(path), "--size", str(size), "--seed", str(index)]
            subprocess.run([sys.executable, "-m", *command, "--no-progress"], check=True)
        rows.append(f"{path.stem},{path.name}")
    manifest = folder / f"cohort-{count}-{size}.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mosaics", type=int, default=24)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--no-record", dest="record", action="store_false")
    args = parser.parse_args()

    manifest = cohort(args.mosaics, args.size)
    with tempfile.TemporaryDirectory(dir=ROOT / "bench-data") as workdir:
        weights = str(Path(workdir) / "model.safetensors")
        child(_SETUP, weights)
        alone = child(_ALONE, str(manifest), weights, str(Path(workdir) / "alone"))
        job = Path(workdir) / "job.yaml"
        job.write_text(
            json.dumps(
                {
                    "name": "bench",
                    "mosaics": {"manifest": str(manifest)},
                    "output": str(Path(workdir) / "job"),
                    "stages": {"infer": {"model": weights}},
                }
            )
        )
        ran = child(_JOB, str(job))
    ratio = ran["seconds"] / alone["seconds"]
    per_mosaic = (ran["seconds"] - alone["seconds"]) / args.mosaics
    row = [
        f"{args.mosaics} x {args.size} x {args.size}",
        "efficientnet_b0",
        f"{alone['seconds']:.1f}",
        f"{ran['seconds']:.1f}",
        f"{ratio:.3f}",
        f"{per_mosaic:.2f}",
    ]
    header = ["mosaics", "model", "one process s", "rcm run s", "ratio", "overhead s / mosaic"]
    table = markdown_table(header, [row])
    notes = (
        "CPU; default local cluster (one worker process, torch threads = cores, one mosaic "
        "at a time), cluster start-up and the per-mosaic manifests and checksums included; "
        "one process: the model loaded once, classify_mosaic per mosaic. Goal: ratio <= 1.1."
    )
    print(table)
    print(notes)
    if args.record:
        record("Batch jobs (`rcm run`)", table, notes)


if __name__ == "__main__":
    main()
