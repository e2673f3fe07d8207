from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from rcm.errors import InputError
from rcm.models import (
    CLASSIFIERS,
    ModelMeta,
    ModelStore,
    build_classifier,
    build_network,
    load_model,
    read_meta,
    resolve_architecture,
    save_model,
)

META = ModelMeta(
    architecture="test_efficientnet",
    classes=("benign", "suspicious"),
    positive=("suspicious",),
    tile_px=64,
    um_per_px=0.5,
    provenance={"data": "unit test"},
)


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_model(tmp_path / "tiny.safetensors", build_network(META), META)


def test_round_trip(model_file: Path) -> None:
    loaded = load_model(model_file)
    assert loaded.meta == META
    assert read_meta(model_file) == META
    assert not loaded.module.training
    reference = build_network(META)
    reference.load_state_dict(loaded.module.state_dict())
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded.module(x), reference.eval()(x))


def test_registry_builds_swin_and_efficientnet_for_grayscale() -> None:
    assert CLASSIFIERS["swin"].timm_name == "swin_base_patch4_window7_224"
    assert resolve_architecture("efficientnet-b2").timm_name == "efficientnet_b2"
    swin = build_classifier("swin-t", num_classes=3, in_chans=1)
    assert swin(torch.zeros(1, 1, 224, 224)).shape == (1, 3)
    with pytest.raises(ValueError, match="unknown architecture"):
        resolve_architecture("no_such_net")


def test_local_pretrained_weights_are_folded_to_one_channel(tmp_path: Path) -> None:
    rgb = timm.create_model("test_efficientnet", pretrained=False)
    path = tmp_path / "imagenet.safetensors"
    save_file({k: v.contiguous() for k, v in rgb.state_dict().items()}, str(path))
    gray = build_classifier("test_efficientnet", num_classes=2, in_chans=1, init=path)
    stem = rgb.state_dict()["conv_stem.weight"]
    torch.testing.assert_close(gray.state_dict()["conv_stem.weight"], stem.sum(1, keepdim=True))


def test_weights_for_another_architecture(tmp_path: Path) -> None:
    other = ModelMeta(
        architecture="test_efficientnet", classes=("a", "b", "c"), positive=("c",), tile_px=64
    )
    path = save_model(tmp_path / "three.safetensors", build_network(other), other)
    # Claim the file holds a two-class model: shapes no longer fit.
    tensors = load_model(path).module.state_dict()
    save_file(
        {k: v.contiguous() for k, v in tensors.items()},
        str(tmp_path / "lie.safetensors"),
        metadata={"rcm": META.to_json()},
    )
    with pytest.raises(InputError, match="weights do not fit test_efficientnet with 2 classes"):
        load_model(tmp_path / "lie.safetensors")


def test_not_a_model_file(tmp_path: Path) -> None:
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(InputError, match="no rcm metadata"):
        load_model(plain)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(InputError, match="not a usable model file"):
        load_model(junk)
    with pytest.raises(InputError, match="not found"):
        load_model(tmp_path / "missing.safetensors")


def test_plain_torch_file_loads_without_code(tmp_path: Path) -> None:
    module = build_network(META)
    path = tmp_path / "model.pt"
    torch.save({"rcm": META.to_json(), "state_dict": module.state_dict()}, path)
    assert load_model(path).meta == META

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("code ran",))

    torch.save({"rcm": META.to_json(), "state_dict": module.state_dict(), "x": Evil()}, path)
    with pytest.raises(InputError, match="holds pickled Python objects"):
        load_model(path)


def test_meta_validation() -> None:
    with pytest.raises(ValueError, match="positive"):
        ModelMeta(architecture="x", classes=("a", "b"), positive=("c",))
    with pytest.raises(ValueError, match="classifier needs 2 or more"):
        ModelMeta(architecture="x", classes=("a",), positive=("a",))
    with pytest.raises(ValueError, match="task must be one of"):
        ModelMeta(architecture="x", classes=("a", "b"), positive=("a",), task="regressor")
    detector = ModelMeta(architecture="maskrcnn", task="detector", classes=("a",), positive=("a",))
    assert detector.classes == ("a",)  # one object category is enough for a detector


def test_store(tmp_path: Path, model_file: Path) -> None:
    store = ModelStore(tmp_path / "store")
    assert store.entries() == []
    entry = store.add(model_file, "tiny")
    assert entry.architecture == "test_efficientnet" and entry.tile_px == 64
    assert store.resolve("tiny").read_bytes() == model_file.read_bytes()
    with pytest.raises(InputError, match="already in"):
        store.add(model_file, "tiny")
    store.add(model_file, "tiny", replace=True)
    with pytest.raises(InputError, match="must be letters"):
        store.add(model_file, "../evil")
    assert [e.name for e in store.entries()] == ["tiny"]
    store.remove("tiny")
    assert store.entries() == []
    with pytest.raises(InputError, match="rcm models add FILE --name tiny"):
        store.resolve("tiny")


def test_store_detects_altered_and_missing_files(tmp_path: Path, model_file: Path) -> None:
    store = ModelStore(tmp_path / "store")
    store.add(model_file, "tiny")
    stored = store.resolve("tiny")
    stored.write_bytes(stored.read_bytes() + b"x")
    with pytest.raises(InputError, match="altered"):
        store.resolve("tiny")
    stored.unlink()
    with pytest.raises(InputError, match="missing"):
        store.resolve("tiny")


def test_store_rejects_non_model_files(tmp_path: Path) -> None:
    path = tmp_path / "notes.safetensors"
    path.write_text("hello")
    with pytest.raises(InputError):
        ModelStore(tmp_path / "store").add(path, "x")
    assert not (tmp_path / "store" / "x.safetensors").exists()
