"""Seeded fuzzing of the zarr reader through ``rcm convert``: exit 0 or one line, exit 2.

Small OME-Zarr stores (written by rcm, and one NGFF 0.4 store on zarr v2) are
mutated: bits flipped and files truncated (chunks and metadata), metadata fields
replaced by hostile values, chunks deleted, links in and out of the store and to
devices, FIFOs, absurd chunk grids. Each mutated store goes through ``rcm convert``
in this process (`rcm.cli.main.main`), with a time limit per case and the memory
high-water mark watched: it must give exit 0 and a store that reads back, or exit
2 with one line naming the store, and nothing else in the output folder.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dask.array as da
import pytest
import zarr

from rcm.cli.main import main
from rcm.io import ZarrWriteOptions, open_mosaic, write_ome_zarr
from tests.conftest import gradient

pytestmark = pytest.mark.slow

CASES_PER_MUTATION = 42
SECONDS_PER_CASE = 30
MAX_GROWTH_KB = 1 << 20  # the high-water mark may not climb 1 GiB above the start
HOSTILE = [-1, 0, 1, 2**31, 2**63, -(2**63), 1e308, "x", "", None, True, [], {}, [1, 1], [0]]


def _rcm_gray(folder: Path) -> Path:
    options = ZarrWriteOptions(chunk=64, shard=128, max_top_edge=64)
    image = da.from_array(gradient(260, 150), chunks=64)
    return write_ome_zarr(image, folder / "gray.zarr", um_per_px=0.5, options=options)


def _rcm_rgb(folder: Path) -> Path:
    options = ZarrWriteOptions(chunk=64, shard=0, max_top_edge=48, compressor="zstd")
    image = da.from_array(gradient(100, 90, channels=3), chunks=64)
    return write_ome_zarr(image, folder / "rgb.zarr", um_per_px=None, options=options)


def _zarr_v2(folder: Path) -> Path:
    path = folder / "v2.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    for level, edge in enumerate((48, 24)):
        array = group.create_array(str(level), shape=(edge, edge), chunks=(16, 16), dtype="u2")
        array[:] = gradient(edge, edge, dtype="uint16")
    axes = [{"name": "y", "type": "space", "unit": "micrometer"}, {"name": "x", "type": "space"}]
    datasets = [
        {"path": str(i), "coordinateTransformations": [{"type": "scale", "scale": [s, s]}]}
        for i, s in enumerate((0.7, 1.4))
    ]
    group.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": datasets}]
    return path


def _files(store: Path, metadata: bool) -> list[Path]:
    names = {"zarr.json", ".zarray", ".zattrs", ".zgroup"}
    found = sorted(p for p in store.rglob("*") if p.is_file())
    return [p for p in found if (p.name in names) == metadata]


def _flip(path: Path, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    for _ in range(rng.randint(1, 8)):
        if data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))


def _truncate(path: Path, rng: random.Random) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: rng.randrange(max(1, len(data)))])


def flip_chunk(store: Path, rng: random.Random, _: Path) -> None:
    _flip(rng.choice(_files(store, False)), rng)


def truncate_chunk(store: Path, rng: random.Random, _: Path) -> None:
    _truncate(rng.choice(_files(store, False)), rng)


def flip_metadata(store: Path, rng: random.Random, _: Path) -> None:
    _flip(rng.choice(_files(store, True)), rng)


def truncate_metadata(store: Path, rng: random.Random, _: Path) -> None:
    _truncate(rng.choice(_files(store, True)), rng)


def replace_field(store: Path, rng: random.Random, _: Path) -> None:
    """One value anywhere in one metadata document becomes a hostile one."""
    path = rng.choice(_files(store, True))
    document = json.loads(path.read_text())
    slots: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            slots.append((node, key))
            if isinstance(value, dict | list):
                walk(value)

    walk(document)
    if slots:
        node, key = rng.choice(slots)
        node[key] = rng.choice(HOSTILE)
    path.write_text(json.dumps(document))


def delete_chunks(store: Path, rng: random.Random, _: Path) -> None:
    chunks = _files(store, False)
    for chunk in rng.sample(chunks, rng.randint(1, len(chunks))):
        chunk.unlink()


def link_chunk(store: Path, rng: random.Random, tmp: Path) -> None:
    """A chunk replaced by a link: to another chunk, to a file outside, to a device."""
    chunks = _files(store, False)
    victim = rng.choice(chunks)
    outside = tmp / "outside.bin"
    outside.write_bytes(rng.choice(chunks).read_bytes())
    target = rng.choice([rng.choice(chunks), outside, Path("/dev/zero"), Path("/dev/urandom")])
    victim.unlink()
    victim.symlink_to(target if target.is_absolute() else target.resolve())


def special_file(store: Path, rng: random.Random, _: Path) -> None:
    victim = rng.choice(_files(store, rng.random() < 0.2))
    victim.unlink()
    os.mkfifo(victim)


def absurd_grid(store: Path, rng: random.Random, _: Path) -> None:
    """An array's chunks (or shards) and shape set to a flood of reads or one giant chunk."""
    path = rng.choice([p for p in _files(store, True) if p.name in ("zarr.json", ".zarray")])
    document = json.loads(path.read_text())
    if "shape" not in document:
        document["shape"] = [1 << 16, 1 << 16]
    ndim = len(document["shape"]) if isinstance(document["shape"], list) else 2
    edge = rng.choice([1, 2, 3, 1 << 15, 1 << 16])
    chunks = [rng.choice([1, edge]) for _ in range(ndim)]
    if rng.random() < 0.5:
        document["shape"] = [rng.choice([1 << 16, 3000, 2048]) for _ in range(ndim)]
    if "chunks" in document:
        document["chunks"] = chunks
    else:
        document["chunk_grid"] = {"name": "regular", "configuration": {"chunk_shape": chunks}}
    path.write_text(json.dumps(document))


MUTATIONS: list[Callable[[Path, random.Random, Path], None]] = [
    flip_chunk,
    truncate_chunk,
    flip_metadata,
    truncate_metadata,
    replace_field,
    delete_chunks,
    link_chunk,
    special_file,
    absurd_grid,
    replace_field,
    flip_metadata,
    flip_chunk,
]


@contextlib.contextmanager
def time_limit(seconds: int, case: str) -> Iterator[None]:
    def expire(*_: object) -> None:
        raise TimeoutError(f"{case} took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def convert(store: Path, out: Path) -> tuple[int, str]:
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
        code = main(["convert", str(store), str(out / "copy.zarr"), "--no-progress"])
    return code, errors.getvalue()


def check_outcome(store: Path, out: Path, code: int, errors: str, case: str) -> str:
    left = sorted(p.name for p in out.iterdir())
    if code == 0:
        assert left == ["copy.zarr"], (case, left)
        copy = open_mosaic(out / "copy.zarr")
        assert copy.data.compute().shape == copy.info.shape, case
        return "converted"
    assert code == 2, (case, errors)
    lines = [line for line in errors.splitlines() if not line.startswith("rcm: warning: ")]
    assert len(lines) == 1 and lines[0].startswith(f"rcm: error: {store}: "), (case, errors)
    assert left == [], (case, left)
    return "refused"


def test_mutated_stores_convert_or_are_refused(tmp_path: Path) -> None:
    bases = [make(tmp_path) for make in (_rcm_gray, _rcm_rgb, _zarr_v2)]
    start_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcomes: dict[str, int] = {}
    cases = 0
    for number, mutation in enumerate(MUTATIONS):
        for seed in range(CASES_PER_MUTATION):
            rng = random.Random(number * 1000 + seed)
            base = bases[seed % len(bases)]
            case = f"{mutation.__name__}[{base.name}, seed {seed}]"
            work = tmp_path / "case"
            shutil.rmtree(work, ignore_errors=True)
            store, out = work / base.name, work / "out"
            shutil.copytree(base, store, symlinks=True)
            out.mkdir()
            mutation(store, rng, work)
            with time_limit(SECONDS_PER_CASE, case):
                code, errors = convert(store, out)
                outcome = check_outcome(store, out, code, errors, case)
            grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start_kb
            assert grown < MAX_GROWTH_KB, f"{case}: memory grew by {grown >> 10} MiB"
            outcomes[f"{mutation.__name__} {outcome}"] = (
                outcomes.get(f"{mutation.__name__} {outcome}", 0) + 1
            )
            cases += 1
    assert cases >= 500
    # Every kind of damage is caught at least sometimes; harmless changes still convert.
    assert all(outcomes.get(f"{m.__name__} refused") for m in MUTATIONS), outcomes
    assert outcomes.get("replace_field converted"), outcomes


@pytest.mark.parametrize("mutation", [None, delete_chunks, link_chunk])
def test_exit_code_of_a_separate_process(tmp_path: Path, mutation: Callable | None) -> None:
    store = _rcm_gray(tmp_path)
    if mutation is not None:
        mutation(store, random.Random(3), tmp_path)
    out = tmp_path / "out.zarr"
    done = subprocess.run(
        [sys.executable, "-m", "rcm", "convert", str(store), str(out), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if mutation is None:
        assert done.returncode == 0 and out.is_dir()
    else:
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().startswith(f"rcm: error: {store}: ")
        assert len(done.stderr.strip().splitlines()) == 1 and not out.exists()
