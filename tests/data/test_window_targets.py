from __future__ import annotations

import itertools
import pickle
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import torch

from rcm.data import make_spec, write_synthetic
from rcm.data._labelled import LabelledMosaic
from rcm.data._window_dataset import WindowDataset, collate_windows
from rcm.data._window_targets import WindowTarget, flip_rotate, window_target
from rcm.errors import InputError
from rcm.io import ZarrWriteOptions, open_mosaic, write_ome_zarr

SPEC = make_spec(512, 512, seed=1, lesions=2)


def boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """Tight ``[x0, y0, x1, y1]`` (maximum exclusive) of each mask, the slow obvious way."""
    out = []
    for mask in masks:
        rows, cols = np.nonzero(mask)
        out.append([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1])
    return np.array(out, np.float32).reshape(-1, 4)


def assert_same_target(first: WindowTarget, second: WindowTarget) -> None:
    for name in ("boxes", "labels", "masks", "classes"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name), err_msg=name)
        assert getattr(first, name).dtype == getattr(second, name).dtype


def hand_made() -> np.ndarray:
    """Class 2 block, two class 1 blocks (listed bottom one first by column), and a speck."""
    mask = np.zeros((20, 30), np.uint8)
    mask[2:6, 20:29] = 2  # class 2, 4 x 9
    mask[10:15, 3:8] = 1  # class 1, top-left at (10, 3)
    mask[4:9, 12:16] = 1  # class 1, higher up: comes first
    mask[18, 0:3] = 1  # a 3-pixel speck
    return mask


# ---------------------------------------------------------------------- targets


def test_components_have_exact_boxes_in_class_then_top_left_order() -> None:
    target = window_target(hand_made(), min_area=16)
    np.testing.assert_array_equal(target.labels, [1, 1, 2])
    np.testing.assert_array_equal(target.boxes, [[12, 4, 16, 9], [3, 10, 8, 15], [20, 2, 29, 6]])
    assert target.boxes.dtype == np.float32 and target.labels.dtype == np.int64
    assert target.masks.shape == (3, 20, 30) and target.masks.dtype == np.bool_
    np.testing.assert_array_equal(target.masks.sum(axis=(1, 2)), [20, 25, 36])
    np.testing.assert_array_equal(target.boxes, boxes_from_masks(target.masks))


def test_specks_below_min_area_are_dropped_but_stay_in_the_class_mask() -> None:
    mask = hand_made()
    target = window_target(mask, min_area=16)
    assert not target.masks[:, 18, 0:3].any()
    np.testing.assert_array_equal(target.classes, mask)
    with_speck = window_target(mask, min_area=3)
    np.testing.assert_array_equal(with_speck.labels, [1, 1, 1, 2])
    np.testing.assert_array_equal(with_speck.boxes[2], [0, 18, 3, 19])


def test_one_pixel_object_box_ends_one_past_it() -> None:
    mask = np.zeros((10, 10), np.uint8)
    mask[7, 5] = 3
    target = window_target(mask, min_area=1)
    np.testing.assert_array_equal(target.boxes, [[5, 7, 6, 8]])
    np.testing.assert_array_equal(target.labels, [3])


def test_diagonal_neighbours_join_only_with_connectivity_two() -> None:
    mask = np.zeros((8, 8), np.uint8)
    mask[1:3, 1:3] = 1
    mask[3:5, 3:5] = 1  # touches the first block at one corner
    joined = window_target(mask, min_area=1, connectivity=2)
    split = window_target(mask, min_area=1, connectivity=1)
    np.testing.assert_array_equal(joined.boxes, [[1, 1, 5, 5]])
    np.testing.assert_array_equal(split.boxes, [[1, 1, 3, 3], [3, 3, 5, 5]])


def test_touching_lesions_of_different_classes_stay_apart() -> None:
    mask = np.zeros((6, 10), np.uint8)
    mask[1:5, 1:5] = 1
    mask[1:5, 5:9] = 2
    target = window_target(mask, min_area=1)
    np.testing.assert_array_equal(target.labels, [1, 2])
    np.testing.assert_array_equal(target.boxes, [[1, 1, 5, 5], [5, 1, 9, 5]])


def test_empty_and_all_specks_give_empty_targets() -> None:
    for mask in (np.zeros((5, 7), np.uint8), np.eye(5, 7, dtype=np.uint8)):
        target = window_target(mask, min_area=16, connectivity=1)
        assert len(target) == 0 and target.masks.shape == (0, 5, 7)
        assert target.boxes.shape == (0, 4)
    assert_same_target(window_target(np.zeros((5, 7), np.uint16)), WindowTarget.empty(5, 7))


def test_bad_masks_and_targets_are_refused() -> None:
    with pytest.raises(ValueError, match="2-d"):
        window_target(np.zeros((2, 3, 4), np.uint8))
    with pytest.raises(ValueError, match="integers"):
        window_target(np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        window_target(np.full((3, 3), 300, np.uint16))
    with pytest.raises(ValueError, match="connectivity"):
        window_target(np.zeros((3, 3), np.uint8), connectivity=3)
    good = window_target(hand_made())
    with pytest.raises(ValueError, match="at least 1"):
        WindowTarget(good.boxes, good.labels * 0, good.masks, good.classes)
    with pytest.raises(ValueError, match="boxes"):
        WindowTarget(good.boxes.astype(np.float64), good.labels, good.masks, good.classes)
    with pytest.raises(ValueError, match="masks"):
        WindowTarget(good.boxes, good.labels, good.masks[:, :5], good.classes)
    with pytest.raises(ValueError, match="boxes must have shape"):
        WindowTarget(good.boxes[:1], good.labels, good.masks, good.classes)


def test_torchvision_targets_train_a_tiny_mask_rcnn() -> None:
    from rcm.models._torchvision_detectors import build_torchvision_detector

    target = window_target(np.pad(hand_made(), ((0, 44), (0, 34))))  # a 64 px window
    tensors = target.to_torchvision()
    assert tensors["boxes"].dtype == torch.float32 and tensors["labels"].dtype == torch.int64
    assert tensors["masks"].dtype == torch.uint8 and tensors["masks"].shape == (3, 64, 64)
    torch.manual_seed(0)
    model = build_torchvision_detector(
        masks=True, num_classes=3, in_chans=1, window_px=64, backbone="resnet18"
    ).train()
    empty = WindowTarget.empty(64, 64).to_torchvision()
    losses = model([torch.rand(1, 64, 64), torch.rand(1, 64, 64)], [tensors, empty])
    assert {"loss_classifier", "loss_box_reg", "loss_mask"} <= set(losses)
    assert all(torch.isfinite(loss) for loss in losses.values())


# ------------------------------------------------------------------ augmentation


@pytest.mark.parametrize(
    ("flip", "quarter_turns"), list(itertools.product([False, True], [0, 1, 2, 3, -1, 5]))
)
@pytest.mark.parametrize("channels", [0, 3])
def test_flip_rotate_moves_boxes_with_masks(flip: bool, quarter_turns: int, channels: int) -> None:
    classes = hand_made()  # not square, so heights and widths cannot be mixed up unseen
    shape = classes.shape + ((channels,) if channels else ())
    image = np.arange(np.prod(shape), dtype=np.uint16).reshape(shape)
    target = window_target(classes, min_area=3)
    moved_image, moved = flip_rotate(image, target, flip=flip, quarter_turns=quarter_turns)

    expected_image = np.rot90(image[:, ::-1] if flip else image, quarter_turns)
    np.testing.assert_array_equal(moved_image, expected_image)
    np.testing.assert_array_equal(
        moved.classes, np.rot90(classes[:, ::-1] if flip else classes, quarter_turns)
    )
    np.testing.assert_array_equal(moved.boxes, boxes_from_masks(moved.masks))
    assert_same_target(moved, window_target(moved.classes, min_area=3))
    assert moved_image.flags.c_contiguous and moved.masks.flags.c_contiguous
    torch.from_numpy(moved_image)  # no negative strides


def test_flip_rotate_needs_matching_shapes() -> None:
    with pytest.raises(ValueError, match="differ"):
        flip_rotate(np.zeros((5, 5)), WindowTarget.empty(4, 5), flip=True, quarter_turns=0)


# ----------------------------------------------------------------------- dataset


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("windows")
    return write_synthetic(SPEC, folder / "mosaic.tif")


@pytest.fixture(scope="module")
def class_mask(synthetic: dict[str, Path]) -> np.ndarray:
    return open_mosaic(synthetic["mask"]).data.compute()


def labelled(
    paths: dict[str, Path], mask: Path | None = None, positive: bool = True
) -> LabelledMosaic:
    chosen = paths["mask"] if mask is None else mask
    return LabelledMosaic("m1", "p1", "1" if positive else "0", positive, paths["mosaic"], chosen)


def write_mask(array: np.ndarray, path: Path, max_top_edge: int = 2048) -> Path:
    options = ZarrWriteOptions(labels=True, max_top_edge=max_top_edge)
    return write_ome_zarr(da.from_array(array), path, um_per_px=None, options=options)


def mosaic_lesions(dataset: WindowDataset, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Union of every item's instance masks, and of its windows, in mosaic pixels."""
    lesions, covered = np.zeros(shape, bool), np.zeros(shape, bool)
    for item in range(len(dataset)):
        y0, x0, y1, x1 = dataset.windows.windows[item]
        _, target = dataset[item]
        h, w = min(y1, shape[0]) - y0, min(x1, shape[1]) - x0
        lesions[y0 : y0 + h, x0 : x0 + w] |= target.masks.any(axis=0)[:h, :w]
        covered[y0 : y0 + h, x0 : x0 + w] = True
    return lesions, covered


def test_dataset_targets_are_the_mask_under_each_window(
    synthetic: dict[str, Path], class_mask: np.ndarray
) -> None:
    dataset = WindowDataset(
        mosaics=[labelled(synthetic)], window_px=128, overlap=0.25, min_area=1, seed=0
    )
    mosaic = open_mosaic(synthetic["mosaic"]).data.compute()
    padded_mosaic, padded_mask = (np.pad(a, ((0, 128), (0, 128))) for a in (mosaic, class_mask))
    assert 0 < len(dataset) < 36 and dataset.windows.summary()["positive_windows"] > 0
    for item in range(len(dataset)):
        y0, x0, y1, x1 = dataset.windows.windows[item]
        pixels, target = dataset[item]
        assert pixels.dtype == np.uint8 and pixels.shape == (128, 128)
        np.testing.assert_array_equal(pixels, padded_mosaic[y0:y1, x0:x1])
        np.testing.assert_array_equal(target.classes, padded_mask[y0:y1, x0:x1])
        assert dataset.windows.lesion_px[item] == np.count_nonzero(target.classes)
        np.testing.assert_array_equal(target.masks.any(axis=0), target.classes > 0)
    lesions, covered = mosaic_lesions(dataset, class_mask.shape)
    assert covered[class_mask > 0].all()  # the lesions lie in tissue windows
    np.testing.assert_array_equal(lesions, (class_mask > 0) & covered)


def test_default_min_area_only_drops_specks(
    synthetic: dict[str, Path], class_mask: np.ndarray
) -> None:
    dataset = WindowDataset(mosaics=[labelled(synthetic)], window_px=128, overlap=0.25)
    lesions, covered = mosaic_lesions(dataset, class_mask.shape)
    missing = (class_mask > 0) & covered & ~lesions
    assert not (lesions & (class_mask == 0)).any()
    assert missing.sum() < 0.01 * np.count_nonzero(class_mask)


def test_positive_only_and_min_tissue_select_windows(synthetic: dict[str, Path]) -> None:
    every = WindowDataset(mosaics=[labelled(synthetic)], window_px=128, min_tissue=0.0)
    tissue = WindowDataset(mosaics=[labelled(synthetic)], window_px=128, min_tissue=0.9)
    positive = WindowDataset(mosaics=[labelled(synthetic)], window_px=128, positive_only=True)
    assert (tissue.windows.tissue >= 0.9).all() and len(tissue) < len(every)
    assert len(positive) > 0 and positive.windows.positive.all()
    assert all(len(positive[i][1]) > 0 for i in range(len(positive)))


def test_mask_at_half_resolution_is_resampled_nearest(
    synthetic: dict[str, Path], class_mask: np.ndarray, tmp_path: Path
) -> None:
    coarse = write_mask(class_mask[::2, ::2], tmp_path / "coarse.zarr")
    dataset = WindowDataset(mosaics=[labelled(synthetic, coarse)], window_px=96, min_area=1)
    upsampled = np.pad(class_mask[::2, ::2].repeat(2, 0).repeat(2, 1), ((0, 96), (0, 96)))
    assert len(dataset) > 0
    for item in range(len(dataset)):
        y0, x0, y1, x1 = dataset.windows.windows[item]
        np.testing.assert_array_equal(dataset[item][1].classes, upsampled[y0:y1, x0:x1])


def test_finer_mask_reads_the_level_with_the_mosaic_scale(
    synthetic: dict[str, Path], class_mask: np.ndarray, tmp_path: Path
) -> None:
    fine = write_mask(class_mask.repeat(2, 0).repeat(2, 1), tmp_path / "fine.zarr", 256)
    assert len(open_mosaic(fine).levels) == 3
    direct = WindowDataset(mosaics=[labelled(synthetic)], window_px=128)
    via_fine = WindowDataset(mosaics=[labelled(synthetic, fine)], window_px=128)
    np.testing.assert_array_equal(direct.windows.windows, via_fine.windows.windows)
    for item in range(len(direct)):
        assert_same_target(direct[item][1], via_fine[item][1])


def test_mask_of_another_shape_is_an_input_error_naming_it(
    synthetic: dict[str, Path], class_mask: np.ndarray, tmp_path: Path
) -> None:
    wrong = write_mask(class_mask[:, :400], tmp_path / "wrong.zarr")
    with pytest.raises(InputError, match="not the shape of its mosaic") as caught:
        WindowDataset(mosaics=[labelled(synthetic, wrong)], window_px=128)
    assert caught.value.path == str(wrong)


def test_mosaics_without_masks(synthetic: dict[str, Path]) -> None:
    no_mask = LabelledMosaic("n", "p", "0", False, synthetic["mosaic"], None)
    unlabelled = LabelledMosaic("u", "p", "1", True, synthetic["mosaic"], None)
    dataset = WindowDataset(mosaics=[no_mask, unlabelled], window_px=128)
    assert dataset.skipped == (("u", "positive mosaic without a lesion mask"),)
    assert len(dataset) > 0 and (dataset.windows.mosaic == 0).all()
    assert not dataset.windows.positive.any()
    assert all(len(dataset[i][1]) == 0 for i in range(len(dataset)))


def test_a_pickled_copy_reads_the_same_samples(synthetic: dict[str, Path]) -> None:
    dataset = WindowDataset(mosaics=[labelled(synthetic)], window_px=128, augment=True, seed=7)
    first = dataset[5]
    copy = pickle.loads(pickle.dumps(dataset))
    assert copy._open == {}  # no file handles travel
    again = copy[5]
    np.testing.assert_array_equal(first[0], again[0])
    assert_same_target(first[1], again[1])


def test_augmentation_depends_on_seed_epoch_and_item_only(synthetic: dict[str, Path]) -> None:
    plain = WindowDataset(mosaics=[labelled(synthetic)], window_px=128)
    augmented = WindowDataset(mosaics=[labelled(synthetic)], window_px=128, augment=True)
    item = int(np.flatnonzero(plain.windows.positive)[0])
    original = plain[item][0]
    variants = {
        np.rot90(original[:, ::-1] if flip else original, turns).tobytes()
        for flip, turns in itertools.product([False, True], range(4))
    }
    seen = set()
    for epoch in range(8):
        augmented.set_epoch(epoch)
        pixels, target = augmented[item]
        np.testing.assert_array_equal(target.boxes, boxes_from_masks(target.masks))
        np.testing.assert_array_equal(pixels, augmented[item][0])  # same epoch, same draw
        seen.add(pixels.tobytes())
    assert len(seen) > 1 and seen <= variants


def test_dataloader_with_balanced_sampler_and_collate(synthetic: dict[str, Path]) -> None:
    dataset = WindowDataset(mosaics=[labelled(synthetic)], window_px=128, overlap=0.25)
    weights = dataset.sample_weights(positive_share=0.5)
    positive = dataset.windows.positive
    assert 0 < positive.sum() < len(dataset)
    assert weights[positive].sum() == pytest.approx(0.5)
    assert weights[~positive].sum() == pytest.approx(0.5)
    sampler = torch.utils.data.WeightedRandomSampler(
        weights.tolist(), num_samples=8, generator=torch.Generator().manual_seed(0)
    )
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=4, sampler=sampler, num_workers=0, collate_fn=collate_windows
    )
    batches = list(loader)
    assert len(batches) == 2
    pixels, targets = batches[0]
    assert isinstance(pixels, np.ndarray) and pixels.shape == (4, 128, 128)
    assert len(targets) == 4 and all(isinstance(t, WindowTarget) for t in targets)


def test_sample_weights_without_one_group_are_uniform(synthetic: dict[str, Path]) -> None:
    positive = WindowDataset(mosaics=[labelled(synthetic)], window_px=128, positive_only=True)
    np.testing.assert_array_equal(positive.sample_weights(0.3), np.ones(len(positive)))
    with pytest.raises(ValueError, match="positive_share"):
        positive.sample_weights(1.5)


def test_mask_at_an_odd_scale_stays_close_and_zero_past_the_edge(
    synthetic: dict[str, Path], class_mask: np.ndarray, tmp_path: Path
) -> None:
    coarse = write_mask(class_mask[::3, ::3], tmp_path / "third.zarr")  # 171 px for 512
    dataset = WindowDataset(mosaics=[labelled(synthetic, coarse)], window_px=200, min_area=1)
    padded = np.pad(class_mask, ((0, 200), (0, 200)))
    for item in range(len(dataset)):
        y0, x0, y1, x1 = dataset.windows.windows[item]
        classes = dataset[item][1].classes
        truth = padded[y0:y1, x0:x1]
        assert np.mean(classes == truth) > 0.98
        assert not classes[max(0, 512 - y0) :].any() and not classes[:, max(0, 512 - x0) :].any()
