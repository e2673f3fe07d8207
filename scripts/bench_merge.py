"""Benchmark merging instances across window seams (`rcm.stitch.merge_instances`).

A seeded synthetic set of detections in mosaic pixels (default 20,000, with
masks of about 32 x 32 px, in clusters over a 30,000 x 30,000 mosaic) holds
about two detections per object: each object whole, plus pieces cut off by
window edges and corners as neighbouring windows see them, each with its
window. Merging is timed for every method and metric (median of 3 runs, in one
process, the same input).

Usage: python scripts/bench_merge.py [--instances 20000] [--runs 3] [--no-record]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _bench import markdown_table, record

from rcm.stitch._instances import Instances
from rcm.stitch._merge import merge_instances

MOSAIC = 30_000
WINDOW = 512
GOAL_S = 2.0


def ellipse(height: int, width: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    cy, cx = (height - 1) / 2, (width - 1) / 2
    return ((yy - cy) / (height / 2)) ** 2 + ((xx - cx) / (width / 2)) ** 2 <= 1


def detections(count: int, seed: int = 0) -> tuple[Instances, int]:
    """`count` detections: objects whole plus 0-2 seam pieces each, shuffled; and the objects."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(1000, MOSAIC - 1000, (max(1, count // 40), 2))
    boxes: list[tuple[int, int, int, int]] = []
    scores: list[float] = []
    labels: list[int] = []
    masks: list[np.ndarray] = []
    origins: list[tuple[int, int]] = []
    windows: list[tuple[int, int, int, int]] = []
    objects = 0
    while len(boxes) < count:
        centre = centres[objects % len(centres)]
        objects += 1
        cy, cx = np.clip(centre + rng.normal(0, 400, 2), 0, MOSAIC - 41)
        height, width = (int(v) for v in rng.integers(24, 41, 2))
        top, left = int(cy), int(cx)
        shape = ellipse(height, width)
        label = int(rng.integers(0, 3))
        pieces = [(0, 0, height, width)]
        for _ in range(int(rng.choice([0, 1, 1, 2]))):
            # What a neighbouring window sees: the part beyond a vertical or horizontal
            # seam, or beyond both at a window corner.
            kind = rng.choice(["x", "y", "corner"])
            r0, r1, c0, c1 = 0, height, 0, width
            cut_y, cut_x = int(rng.integers(1, height)), int(rng.integers(1, width))
            if kind != "x":
                r0, r1 = (0, cut_y) if rng.random() < 0.5 else (cut_y, height)
            if kind != "y":
                c0, c1 = (0, cut_x) if rng.random() < 0.5 else (cut_x, width)
            pieces.append((r0, c0, r1, c1))
        for r0, c0, r1, c1 in pieces:
            piece = shape[r0:r1, c0:c1]
            ys, xs = np.nonzero(piece)
            if not len(ys):
                continue
            y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
            masks.append(piece[y0:y1, x0:x1].copy())
            origins.append((top + r0 + y0, left + c0 + x0))
            boxes.append((left + c0 + x0, top + r0 + y0, left + c0 + x1, top + r0 + y1))
            scores.append(float(rng.uniform(0.3, 1.0)))
            labels.append(label)
            windows.append(window(top, left, (r0, c0, r1, c1), (height, width)))
    order = rng.permutation(len(boxes))[:count]
    found = Instances(
        np.asarray(boxes, np.float64)[order],
        np.asarray(scores)[order],
        np.asarray(labels)[order],
        "mosaic",
        tuple(masks[i] for i in order),
        np.asarray(origins)[order],
        np.asarray(windows)[order],
    )
    return found, objects


def window(
    top: int, left: int, piece: tuple[int, int, int, int], size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """The 512 px window ``[x0, y0, x1, y1]`` seeing `piece` of an object, an edge on each cut."""
    starts = []
    for low, high, length, origin in (
        (piece[1], piece[3], size[1], left),
        (piece[0], piece[2], size[0], top),
    ):
        if low > 0:
            starts.append(origin + low)
        elif high < length:
            starts.append(origin + high - WINDOW)
        else:
            starts.append(origin - 100)  # the window that holds the whole object
    x0, y0 = starts
    return x0, y0, x0 + WINDOW, y0 + WINDOW


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-record", dest="record", action="store_false")
    args = parser.parse_args()
    instances, objects = detections(args.instances)
    rows = []
    for method in ("nmm", "nms"):
        for metric in ("ios", "iou"):
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                merged = merge_instances(instances, method=method, metric=metric)
                times.append(time.perf_counter() - start)
            seconds = statistics.median(times)
            rows.append(
                [
                    method,
                    metric,
                    str(len(instances)),
                    str(len(merged)),
                    f"{seconds:.3f}",
                    f"under {GOAL_S:g} s",
                    "yes" if seconds < GOAL_S else "no",
                ]
            )
    table = markdown_table(
        ["method", "metric", "instances in", "instances out", "median s", "goal", "met"], rows
    )
    print(table)
    if args.record:
        record(
            "Merging instances across seams (`rcm.stitch.merge_instances`)",
            table,
            f"{len(instances)} detections with masks of {objects} synthetic elliptical "
            f"objects (24-40 px, 3 classes) in clusters on a {MOSAIC} x {MOSAIC} mosaic: each "
            f"object whole plus 0-2 pieces cut at window seams or corners "
            f"({len(instances) / objects:.2f} detections per object); threshold 0.5, "
            f"class-aware; median of {args.runs} runs in one process.",
        )


if __name__ == "__main__":
    main()
