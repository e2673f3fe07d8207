"""Hostile and broken zarr stores: each refused with one line naming the store, exit 2.

Missing chunks (deleted from a store rcm wrote, never written in a foreign one),
links and special files, chunk files larger than a chunk can be, absurd chunk
grids and broken metadata; through the reader and through the CLI.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr

from rcm.cli.main import main
from rcm.errors import MosaicReadError
from rcm.io import ZarrWriteOptions, file_checksum, open_mosaic, write_ome_zarr
from tests.conftest import gradient

SMALL = ZarrWriteOptions(chunk=64, shard=0, max_top_edge=40)
IMAGE = gradient(150, 130)


def rcm_store(tmp: Path, options: ZarrWriteOptions = SMALL) -> Path:
    return write_ome_zarr(
        da.from_array(IMAGE, chunks=64), tmp / "own.zarr", um_per_px=0.5, options=options
    )


def foreign_store(
    tmp: Path,
    shape: tuple[int, int] = (150, 130),
    chunks: tuple[int, int] = (32, 32),
    *,
    write: Callable[[zarr.Array], None] | None = None,
    zarr_format: int = 3,
) -> Path:
    """An NGFF 0.5 (or 0.4 on zarr v2) image written by zarr itself, without rcm's record."""
    path = tmp / "foreign.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=zarr_format)
    array = group.create_array("0", shape=shape, chunks=chunks, dtype="uint8", fill_value=0)
    if write is not None:
        write(array)
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    image = {"axes": axes, "datasets": [{"path": "0"}]}
    if zarr_format == 3:
        group.attrs["ome"] = {"version": "0.5", "multiscales": [image]}
    else:
        group.attrs["multiscales"] = [{"version": "0.4", **image}]
    return path


def chunk_files(store: Path) -> list[Path]:
    return sorted(p for p in (store / "0" / "c").rglob("*") if p.is_file())


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


# --- each case builds a store in tmp and returns it with what the message must say ---


def deleted_chunk(tmp: Path) -> tuple[Path, str]:
    store = rcm_store(tmp)
    chunk_files(store)[1].unlink()
    return store, "damaged store: rcm wrote every chunk, but 1 of 9 chunk files of array 0"


def deleted_record_kept_count(tmp: Path) -> tuple[Path, str]:
    """The count holds even when every file of a level's row goes."""
    store = rcm_store(tmp)
    shutil.rmtree(store / "1" / "c" / "0")
    return store, "chunk files of array 1 are missing (1/c/0/0"


def foreign_half_written(tmp: Path) -> tuple[Path, str]:
    def half(array: zarr.Array) -> None:
        array[:64, :] = IMAGE[:64]

    return foreign_store(tmp, write=half), "15 of 25 chunk files of array 0 are missing"


def foreign_claims_huge(tmp: Path) -> tuple[Path, str]:
    def four(array: zarr.Array) -> None:
        array[:1024, :1024] = 7

    store = foreign_store(tmp, (60000, 60000), (512, 512), write=four)
    return (
        store,
        "13920 of 13924 chunk files of array 0 are missing (0/c/0/2, 0/c/0/3, 0/c/0/4, ...)",
    )


def foreign_v2_missing(tmp: Path) -> tuple[Path, str]:
    def one(array: zarr.Array) -> None:
        array[:32, :32] = 1

    return foreign_store(tmp, write=one, zarr_format=2), "24 of 25 chunk files of array 0"


def foreign_sparse_shard(tmp: Path) -> tuple[Path, str]:
    """zarr skips empty chunks inside a shard by default: the shard's index says so."""
    path = tmp / "sharded.zarr"
    group = zarr.open_group(str(path), mode="w")
    array = group.create_array(
        "0", shape=(128, 128), chunks=(32, 32), shards=(128, 128), dtype="u1"
    )
    array[:32, :32] = 5
    axes = [{"name": "y"}, {"name": "x"}]
    group.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [{"axes": axes, "datasets": [{"path": "0"}]}],
    }
    return path, "15 chunks in the shards of array 0 are missing"


def outside_link(tmp: Path) -> tuple[Path, str]:
    store = rcm_store(tmp)
    secret = tmp / "secret.bin"
    secret.write_bytes(chunk_files(store)[0].read_bytes())
    victim = chunk_files(store)[0]
    victim.unlink()
    victim.symlink_to(secret)
    return store, "0/c/0/0 is a symbolic link"


def dev_zero_link(tmp: Path) -> tuple[Path, str]:
    store = rcm_store(tmp)
    victim = chunk_files(store)[2]
    victim.unlink()
    victim.symlink_to("/dev/zero")
    return store, "0/c/0/2 is a symbolic link"


def linked_folder(tmp: Path) -> tuple[Path, str]:
    store = rcm_store(tmp)
    elsewhere = tmp / "elsewhere"
    (store / "0" / "c" / "1").rename(elsewhere)
    (store / "0" / "c" / "1").symlink_to(elsewhere, target_is_directory=True)
    return store, "0/c/1 is a symbolic link"


def fifo_chunk(tmp: Path) -> tuple[Path, str]:
    store = rcm_store(tmp)
    victim = chunk_files(store)[0]
    victim.unlink()
    os.mkfifo(victim)
    return store, "0/c/0/0 is not a regular file"


def oversized_chunk(tmp: Path) -> tuple[Path, str]:
    store = rcm_store(tmp)
    with chunk_files(store)[0].open("ab") as handle:
        handle.write(b"\0" * (1 << 20))
    return store, "more than a chunk of array 0 can"


def oversized_metadata(tmp: Path) -> tuple[Path, str]:
    store = rcm_store(tmp)
    with (store / "zarr.json").open("ab") as handle:
        handle.truncate(17 << 20)
    return store, "zarr.json holds 17,825,792 bytes"


def one_pixel_chunks(tmp: Path) -> tuple[Path, str]:
    store = foreign_store(tmp, (2048, 2048), (1, 1))
    return store, "array 0 is stored in 4,194,304 chunks of 1 x 1 px, far too many reads; rechunk"


def small_chunks_claim_huge(tmp: Path) -> tuple[Path, str]:
    """16 x 16 chunks over 60000 x 60000 (14,062,500 of them), four written."""

    def four(array: zarr.Array) -> None:
        array[:32, :32] = 7

    store = foreign_store(tmp, (60000, 60000), (16, 16), write=four)
    return store, "14,062,500 chunks of 16 x 16 px, far too many reads; rechunk it to at least "


def one_giant_chunk(tmp: Path) -> tuple[Path, str]:
    store = foreign_store(tmp, (60000, 60000), (60000, 60000))
    return store, "MiB one read may decode"


def ome_is_a_number(tmp: Path) -> tuple[Path, str]:
    store = rcm_store(tmp)
    edit_json(store / "zarr.json", lambda d: d["attributes"].update(ome=5))
    return store, "the 'ome' attribute is 5, not an NGFF object"


def unknown_version(tmp: Path) -> tuple[Path, str]:
    store = rcm_store(tmp)
    edit_json(store / "zarr.json", lambda d: d["attributes"]["ome"].update(version="9.1"))
    return store, "OME-Zarr version '9.1' is not one rcm reads"


def no_axes(tmp: Path) -> tuple[Path, str]:
    store = rcm_store(tmp)
    edit_json(store / "zarr.json", lambda d: d["attributes"]["ome"]["multiscales"][0].pop("axes"))
    return store, "OME-Zarr multiscales has no axes"


def negative_shape(tmp: Path) -> tuple[Path, str]:
    store = rcm_store(tmp)
    edit_json(store / "0" / "zarr.json", lambda d: d.update(shape=[-150, 130]))
    return store, "array 0 cannot be opened (ValueError: Expected all values to be non-negative"


def zero_chunk(tmp: Path) -> tuple[Path, str]:
    store = rcm_store(tmp, ZarrWriteOptions(chunk=64, shard=128, max_top_edge=40))
    grid = {"name": "regular", "configuration": {"chunk_shape": [0, 0]}}
    edit_json(store / "0" / "zarr.json", lambda d: d.update(chunk_grid=grid))
    return store, "array 0 has chunks of [64, 64] in shards of [0, 0] for shape [150, 130]"


def unknown_codec(tmp: Path) -> tuple[Path, str]:
    store = rcm_store(tmp)
    edit_json(store / "0" / "zarr.json", lambda d: d.update(codecs=[{"name": "nope"}]))
    return store, "array 0 cannot be opened"


def string_dtype(tmp: Path) -> tuple[Path, str]:
    path = tmp / "strings.zarr"
    group = zarr.open_group(str(path), mode="w")
    group.create_array("0", shape=(64, 64), chunks=(32, 32), dtype=str)
    axes = [{"name": "y"}, {"name": "x"}]
    group.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [{"axes": axes, "datasets": [{"path": "0"}]}],
    }
    return path, "values, not bool, integers or floating-point numbers"


def corrupt_chunk_bytes(tmp: Path) -> tuple[Path, str]:
    store = foreign_store(tmp, write=lambda a: a.__setitem__(slice(None), IMAGE))
    victim = chunk_files(store)[0]
    victim.write_bytes(b"\xff" * 40)
    return store, "cannot decode pixels"


def flipped_bit_in_rcm_chunk(tmp: Path) -> tuple[Path, str]:
    """rcm's chunks end in a CRC32C: a flipped bit is an error, not other pixels."""
    store = rcm_store(tmp)
    victim = chunk_files(store)[0]
    data = bytearray(victim.read_bytes())
    data[40] ^= 0x10
    victim.write_bytes(bytes(data))
    return (
        store,
        "rows 0-150, columns 0-130 (ValueError: Stored and computed checksum",
    )


CASES = [
    deleted_chunk,
    deleted_record_kept_count,
    foreign_half_written,
    foreign_claims_huge,
    foreign_v2_missing,
    foreign_sparse_shard,
    outside_link,
    dev_zero_link,
    linked_folder,
    fifo_chunk,
    oversized_chunk,
    oversized_metadata,
    one_pixel_chunks,
    small_chunks_claim_huge,
    one_giant_chunk,
    ome_is_a_number,
    unknown_version,
    no_axes,
    negative_shape,
    zero_chunk,
    unknown_codec,
    string_dtype,
    corrupt_chunk_bytes,
    flipped_bit_in_rcm_chunk,
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
def test_hostile_store_is_refused_naming_it(tmp_path: Path, case: Callable) -> None:
    store, reason = case(tmp_path)
    with pytest.raises(MosaicReadError) as raised:
        open_mosaic(store).data.compute()
    message = str(raised.value)
    assert message.startswith(f"{store}: ") and "\n" not in message
    assert reason in message


@pytest.mark.parametrize(
    "case", [foreign_claims_huge, one_pixel_chunks, outside_link, deleted_chunk, ome_is_a_number]
)
def test_cli_gives_exit_2_and_leaves_nothing(
    tmp_path: Path, case: Callable, capsys: pytest.CaptureFixture[str]
) -> None:
    store, reason = case(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    for command in (["info", str(store)], ["convert", str(store), str(out / "copy.zarr")]):
        assert main(command) == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith(f"rcm: error: {store}: ") and reason in error
        assert "\n" not in error
    assert list(out.iterdir()) == []


def test_missing_chunks_can_be_accepted_as_fill_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, _ = foreign_half_written(tmp_path)
    mosaic = open_mosaic(store, allow_missing_chunks=True)
    pixels = mosaic.data.compute()
    np.testing.assert_array_equal(pixels[:64], IMAGE[:64])
    assert not pixels[64:].any()
    assert any("read as the fill value 0" in note for note in mosaic.info.notes)
    copy = tmp_path / "copy.zarr"
    assert main(["convert", str(store), str(copy), "--allow-missing-chunks"]) == 0
    assert "15 of 25 chunk files of array 0 are missing" in capsys.readouterr().err
    np.testing.assert_array_equal(open_mosaic(copy).data.compute(), pixels)


def test_damage_to_an_rcm_store_is_refused_even_when_fill_values_are_accepted(
    tmp_path: Path,
) -> None:
    store, _ = deleted_chunk(tmp_path)
    with pytest.raises(MosaicReadError, match="damaged store"):
        open_mosaic(store, allow_missing_chunks=True)


def test_writer_records_its_chunk_files(tmp_path: Path) -> None:
    store = rcm_store(tmp_path)
    recorded = zarr.open_group(str(store), mode="r").attrs["rcm"]["chunk_files"]
    on_disk = [
        sum(1 for p in (store / level / "c").rglob("*") if p.is_file()) for level in ("0", "1", "2")
    ]
    assert recorded == on_disk == [9, 4, 1]


def test_hostile_grids_are_refused_in_bounded_time(tmp_path: Path) -> None:
    """No work per grid key: a huge claimed grid with four files is refused at once."""
    started = time.perf_counter()
    store, _ = small_chunks_claim_huge(tmp_path / "a")
    with pytest.raises(MosaicReadError, match="at least 4,096 px per chunk \\(64 x 64;"):
        open_mosaic(store)
    assert time.perf_counter() - started < 2

    def four(array: zarr.Array) -> None:
        array[:128, :128] = 7

    # 120000 x 120000 in 64 x 64 chunks: 3,515,625 keys, four present.
    store = foreign_store(tmp_path / "b", (120000, 120000), (64, 64), write=four)
    started = time.perf_counter()
    for allow in (False, True):
        with (
            pytest.raises(
                MosaicReadError, match=r"3515621 of 3515625 chunk files .* \(0/c/0/2, 0/c/0/3, 0/c"
            )
            if not allow
            else contextlib.nullcontext()
        ):
            open_mosaic(store, max_pixels=2 * 10**10, allow_missing_chunks=allow)
    assert time.perf_counter() - started < 2


def test_rcm_store_whose_chunk_count_differs_from_its_record_is_damaged(tmp_path: Path) -> None:
    store = rcm_store(tmp_path)
    stray = store / "0" / "c" / "7" / "7"  # a chunk key outside the grid, not rcm's
    stray.parent.mkdir()
    stray.write_bytes(b"x")
    with pytest.raises(
        MosaicReadError, match="damaged store: rcm recorded 9 chunk files of array 0"
    ):
        open_mosaic(store, allow_missing_chunks=True)
    stray.unlink()
    open_mosaic(store)
    edit_json(store / "zarr.json", lambda d: d["attributes"]["rcm"].update(chunk_files=[9, 5, 1]))
    with pytest.raises(MosaicReadError, match=r"rcm recorded 5 chunk files of array 1, .* 4"):
        open_mosaic(store)


def test_rcm_writes_chunks_of_at_least_64_px_at_every_level(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match="chunk must be a power of two >= 64"):
        ZarrWriteOptions(chunk=32)
    store = rcm_store(tmp_path)
    assert main(["convert", str(store), str(tmp_path / "copy.zarr"), "--chunk", "32"]) == 2
    assert "chunk must be a power of two >= 64, got 32" in capsys.readouterr().err
    assert not (tmp_path / "copy.zarr").exists()
    image = da.zeros((1024, 1000), dtype="uint8", chunks=256)
    options = ZarrWriteOptions(chunk=64, shard=0, max_top_edge=16)
    store = write_ome_zarr(image, tmp_path / "deep.zarr", um_per_px=None, options=options)
    mosaic = open_mosaic(store)
    assert len(mosaic.info.level_shapes) == 7
    for level in range(7):
        array = zarr.open_array(str(store), path=str(level), mode="r")
        assert min(array.chunks) >= min(64, *array.shape)


def test_rcm_store_with_no_shards_and_small_chunks_opens(tmp_path: Path) -> None:
    store = rcm_store(tmp_path, ZarrWriteOptions(chunk=64, shard=0, max_top_edge=16))
    np.testing.assert_array_equal(open_mosaic(store).data.compute(), IMAGE)


def test_rcm_store_of_background_writes_every_chunk_of_its_shards(tmp_path: Path) -> None:
    blank = da.zeros((300, 200), dtype="uint8", chunks=100)
    store = write_ome_zarr(blank, tmp_path / "blank.zarr", um_per_px=None, options=SMALL)
    assert not open_mosaic(store).data.compute().any()


def test_checksum_follows_no_link(tmp_path: Path) -> None:
    store = rcm_store(tmp_path)
    before = file_checksum(store)
    os.mkfifo(store / "0" / "fifo")  # reading it would block forever
    (store / "0" / "zero").symlink_to("/dev/zero")
    (store / "0" / "outside").symlink_to(tmp_path, target_is_directory=True)
    assert file_checksum(store) == before


def test_missing_check_lists_the_store_once_for_a_large_grid(tmp_path: Path) -> None:
    """A 12k mosaic in 512 px chunks at every level: checked from the listing alone."""
    store = tmp_path / "big.zarr"
    group = zarr.open_group(str(store), mode="w")
    datasets = []
    for level in range(5):
        edge = 12288 >> level
        group.create_array(str(level), shape=(edge, edge), chunks=(512, 512), dtype="uint8")
        for row, col in itertools.product(range(-(-edge // 512)), repeat=2):
            chunk = store / str(level) / "c" / str(row) / str(col)
            chunk.parent.mkdir(parents=True, exist_ok=True)
            chunk.touch()
        datasets.append({"path": str(level)})
    axes = [{"name": "y"}, {"name": "x"}]
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes, "datasets": datasets}]}
    started = time.perf_counter()
    assert open_mosaic(store).info.shape == (12288, 12288)
    assert time.perf_counter() - started < 2
    (store / "0" / "c" / "23" / "23").unlink()
    with pytest.raises(
        MosaicReadError, match=r"1 of 576 chunk files of array 0 are missing \(0/c/23/23\)"
    ):
        open_mosaic(store)


@pytest.mark.slow  # builds and runs a model
def test_infer_refuses_missing_chunks_unless_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    from rcm.models import ModelMeta, build_network, save_model

    meta = ModelMeta(
        architecture="test_efficientnet",
        classes=("benign", "suspicious"),
        positive=("suspicious",),
        tile_px=64,
        um_per_px=0.5,
    )
    torch.manual_seed(0)
    weights = save_model(tmp_path / "tiny.safetensors", build_network(meta), meta)
    store, reason = foreign_half_written(tmp_path)
    out = tmp_path / "result"
    command = ["infer", str(store), "--weights", str(weights), "--out", str(out), "--no-progress"]
    assert main([*command, "--um-per-px", "0.5"]) == 2
    assert reason in capsys.readouterr().err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == [
        "foreign.zarr",
        "tiny.safetensors",
    ]
    assert main([*command, "--um-per-px", "0.5", "--allow-missing-chunks"]) == 0
    assert (out / "summary.json").is_file()
    capsys.readouterr()
    explain = ["explain", str(out), "--no-progress", "--no-faithfulness", "--cut", "0"]
    assert main(explain) == 2
    assert reason in capsys.readouterr().err and not (out / "explanation").exists()
    assert main([*explain, "--allow-missing-chunks"]) == 0
    assert (out / "explanation" / "summary.json").is_file()
