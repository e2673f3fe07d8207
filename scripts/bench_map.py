"""Benchmark COCO mAP: rcm.metrics.coco_map (faster-coco-eval) against pycocotools' COCOeval.

A seeded random dataset (default 5,000 images, about 100,000 detections, 13
categories) is evaluated by both in the same process; the results are checked
equal and the wall times compared.

Usage: python scripts/bench_map.py [--images 5000] [--detections 100000] [--no-record]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

import numpy as np
from _bench import markdown_table, record
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from rcm.metrics import coco_map


def dataset(images: int, detections: int, seed: int = 0) -> tuple[dict, list[dict]]:
    """Ground truth plus detections: jittered copies of most boxes and random false positives."""
    rng = np.random.default_rng(seed)
    categories = [{"id": c, "name": f"lesion{c}"} for c in range(1, 14)]
    annotations, results = [], []
    per_image = max(2, detections // images)
    for image in range(1, images + 1):
        for _ in range(per_image // 2):
            x, y = rng.uniform(0, 900), rng.uniform(0, 700)
            w, h = rng.uniform(8, 200), rng.uniform(8, 200)
            category = int(rng.integers(1, 14))
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image,
                    "category_id": category,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
            jitter = rng.normal(0, 0.08, 4) * [w, h, w, h]
            results.append(
                {
                    "image_id": image,
                    "category_id": category,
                    "bbox": [
                        x + jitter[0],
                        y + jitter[1],
                        max(2.0, w + jitter[2]),
                        max(2.0, h + jitter[3]),
                    ],
                    "score": float(rng.uniform(0.3, 1.0)),
                }
            )
        for _ in range(per_image - per_image // 2):
            results.append(
                {
                    "image_id": image,
                    "category_id": int(rng.integers(1, 14)),
                    "bbox": [
                        rng.uniform(0, 900),
                        rng.uniform(0, 700),
                        rng.uniform(8, 200),
                        rng.uniform(8, 200),
                    ],
                    "score": float(rng.uniform(0.0, 0.7)),
                }
            )
    truth = {
        "images": [{"id": i, "width": 1100, "height": 900} for i in range(1, images + 1)],
        "categories": categories,
        "annotations": annotations,
    }
    return truth, results


def pycocotools_map(truth: dict, results: list[dict]) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = truth
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--detections", type=int, default=100_000)
    parser.add_argument("--no-record", dest="record", action="store_false")
    args = parser.parse_args()
    truth, results = dataset(args.images, args.detections)
    start = time.perf_counter()
    ours = coco_map(truth, results)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    reference = pycocotools_map(truth, results)
    reference_s = time.perf_counter() - start
    assert abs(ours["AP"] - reference[0]) <= 1e-12, (ours["AP"], reference[0])
    table = markdown_table(
        [
            "images",
            "ground-truth boxes",
            "detections",
            "rcm coco_map s",
            "pycocotools s",
            "rcm / pycocotools",
            "AP (both)",
        ],
        [
            [
                str(args.images),
                str(len(truth["annotations"])),
                str(len(results)),
                f"{ours_s:.2f}",
                f"{reference_s:.2f}",
                f"{ours_s / reference_s:.2f}",
                f"{ours['AP']:.6f}",
            ]
        ],
    )
    print(table)
    if args.record:
        record(
            "COCO mAP (`rcm.metrics.coco_map`)",
            table,
            "Random boxes, 13 categories, bbox IoU; both in one process, same inputs.",
        )


if __name__ == "__main__":
    main()
