"""Benchmark `rcm evaluate` on a photo run: 20,000 photos x 13 categories, 2,000 resamples.

A fake photo classifier run (summary.json, predictions.csv with raw and
calibrated probabilities) and its COCO truth (about 2.5 photos per patient,
one or two lesion boxes on most photos) are generated once. Then, each in a
fresh process:

- the classification metrics with their patient-bootstrap intervals
  (`PatientBootstrap.draw` and `evaluate_photo_cohort`: AUROC per category,
  macro and micro, operating points, top-k, confusion, calibration);
- the whole `evaluate_photo_outputs` (reading, metrics, report with figures);
- the loop it replaces (`bootstrap_ci` over `fast_auroc` per category) on
  100 resamples of one category, scaled to 2,000 x 13 (the whole loop would
  take many minutes).

Usage: python scripts/bench_photo_evaluate.py [--photos 20000] [--resamples 2000] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from _bench import markdown_table, record, run_child

CATEGORIES = (
    "melanoma",
    "nevus",
    "seborrheic_keratosis",
    "basal_cell_carcinoma",
    "squamous_cell_carcinoma",
    "actinic_keratosis",
    "dermatofibroma",
    "vascular_lesion",
    "lentigo",
    "angioma",
    "wart",
    "cyst",
    "other",
)
LOOP_RESAMPLES = 100


def make_run(folder: Path, photos: int, seed: int = 0) -> tuple[Path, Path]:
    """The truth (COCO) and a classifier run's folder whose scores follow it."""
    from rcm.data import PhotoBox, PhotoDataset, PhotoRecord, to_coco
    from rcm.outputs import PhotoModelRecord, PhotoPredictions, PhotoRunSummary, PhotoSourceRecord

    rng = np.random.default_rng(seed)
    prevalence = rng.dirichlet(np.ones(len(CATEGORIES))) * 1.2
    truth = rng.random((photos, len(CATEGORIES))) < prevalence
    patients = np.sort(rng.integers(0, int(photos / 2.5), photos))
    records = []
    for index in range(photos):
        boxes = [
            PhotoBox(CATEGORIES[c], 10.0 + 5 * k, 10.0, 50.0, 40.0)
            for k, c in enumerate(np.flatnonzero(truth[index]))
        ]
        records.append(
            PhotoRecord(
                f"photos/{index:06d}.jpg", 640, 480, 3, f"p{patients[index]}", None, None, boxes
            )
        )
    dataset = PhotoDataset(CATEGORIES, tuple(records))
    coco = folder / "annotations.coco.json"
    coco.write_text(json.dumps(to_coco(dataset)))
    logits = truth * 2.0 + rng.normal(0, 1.2, truth.shape)
    raw = 1 / (1 + np.exp(-logits))
    run = folder / "run"
    run.mkdir()
    PhotoRunSummary(
        task="photo-classifier",  # type: ignore[arg-type]
        model=PhotoModelRecord(
            None,
            "bench.safetensors",
            "sha256:00",
            "efficientnet_b0",
            CATEGORIES,
            CATEGORIES,
            384,
            "temperature",
            {"fit": "centre", "labels": "multi"},
        ),
        source=PhotoSourceRecord(str(coco), "coco", str(folder), "sha256:11"),
        images=photos,
        options={},
    ).write(run / "summary.json")
    PhotoPredictions(
        images=tuple(record.image for record in dataset.images),
        image_ids=np.arange(1, photos + 1),
        sizes=np.tile([640, 480], (photos, 1)),
        categories=CATEGORIES,
        probabilities=raw,
        calibrated=1 / (1 + np.exp(-logits / 1.3)),
    ).write(run / "predictions.csv")
    return coco, run


# Imports are in the untimed setup: a fresh process pays about 3 s for them.
IMPORTS = """
import time
from rcm.metrics import PatientBootstrap, bootstrap_ci, fast_auroc
from rcm.pipeline.evaluate_photos import PhotoEvaluateOptions, evaluate_photo_outputs
from rcm.report import evaluate_photo_cohort, load_photo_cohort
"""

STAGES = """
t0 = time.perf_counter()
cohort = load_photo_cohort(RUN, COCO)
t1 = time.perf_counter()
bootstrap = PatientBootstrap.draw(cohort.patients, RESAMPLES, 0)
t2 = time.perf_counter()
metrics = evaluate_photo_cohort(cohort, bootstrap)
t3 = time.perf_counter()
result = {"load": t1 - t0, "draw": t2 - t1, "metrics": t3 - t2}
"""

WHOLE = """
evaluate_photo_outputs(RUN, COCO, OUT, PhotoEvaluateOptions(bootstrap=RESAMPLES, examples=0))
"""

LOOP = """
cohort = load_photo_cohort(RUN, COCO)
labels, scores = cohort.truth[:, 0], cohort.scores[:, 0]
t0 = time.perf_counter()
bootstrap_ci(lambda i: fast_auroc(labels[i], scores[i]), cohort.patients,
             n_resamples=LOOP_RESAMPLES, seed=0)
result = {"loop": time.perf_counter() - t0}
"""


def _child(body: str, run: Path, coco: Path, out: Path, resamples: int) -> dict[str, float]:
    setup = (
        f"from pathlib import Path\nRUN, COCO, OUT = Path({str(run)!r}), Path({str(coco)!r}), "
        f"Path({str(out)!r})\nRESAMPLES, LOOP_RESAMPLES = {resamples}, {LOOP_RESAMPLES}\n"
        "result = {}" + IMPORTS
    )
    # The child prints seconds and peak RSS; the stages' own timings come back through a file.
    marker = out.parent / f"{out.name}.stages.json"
    timed = body + f"\nPath({str(marker)!r}).write_text(__import__('json').dumps(result))\n"
    measured = run_child(setup, timed)
    return {**measured, **json.loads(marker.read_text())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=20_000)
    parser.add_argument("--resamples", type=int, default=2_000)
    parser.add_argument("--no-record", action="store_true", help="do not append to BENCHMARKS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        coco, run = make_run(folder, args.photos)
        stages = _child(STAGES, run, coco, folder / "stages", args.resamples)
        whole = _child(WHOLE, run, coco, folder / "eval", args.resamples)
        loop = _child(LOOP, run, coco, folder / "loop", args.resamples)
    scaled = loop["loop"] * args.resamples / LOOP_RESAMPLES * len(CATEGORIES)
    header = ["photos", "categories", "resamples", "read s", "draw s",
              "classification metrics s", "rcm evaluate s", "peak RSS MiB",
              "looped AUROC intervals s (scaled)"]  # fmt: skip
    row = [
        f"{args.photos}",
        f"{len(CATEGORIES)}",
        f"{args.resamples}",
        f"{stages['load']:.1f}",
        f"{stages['draw']:.1f}",
        f"{stages['metrics']:.1f}",
        f"{whole['seconds']:.1f}",
        f"{whole['peak_rss'] / 2**20:.0f}",
        f"{scaled:.0f}",
    ]
    table = markdown_table(header, [row])
    print(table)
    notes = (
        "Classification metrics: AUROC per category, macro and micro with patient-bootstrap "
        "intervals, 3 operating points per category with sensitivity/specificity intervals, "
        "top-1/top-3 with intervals, confusion matrix, calibration (vectorised over resamples: "
        "`PatientBootstrap`). rcm evaluate: the whole stage in a fresh process (reading, "
        "metrics, metrics.json, report.html with its figures; no example photos). Looped: "
        f"`bootstrap_ci` of `fast_auroc` over {LOOP_RESAMPLES} resamples of one category, "
        f"times {args.resamples // LOOP_RESAMPLES} x {len(CATEGORIES)} (AUROC intervals only)."
    )
    if not args.no_record:
        record("Photo evaluation (`rcm evaluate` on a photo run)", table, notes)


if __name__ == "__main__":
    main()
