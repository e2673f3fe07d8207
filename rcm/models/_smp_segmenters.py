"""Semantic segmenters (FPN, U-Net) from segmentation_models_pytorch on timm encoders."""

from __future__ import annotations

import torch
from torch import nn

from rcm.models._families import WindowFamily, register_window_model, settings_of
from rcm.models._task import Task

DEFAULT_ENCODER = "resnet34"
# Encoders downsample by 32; windows must be a multiple of it.
WINDOW_MULTIPLE = 32


def build_smp_segmenter(
    architecture: str,
    *,
    num_classes: int,
    in_chans: int,
    window_px: int,
    encoder: str = DEFAULT_ENCODER,
) -> nn.Module:
    """An FPN or U-Net with random weights.

    Args:
        architecture: ``fpn`` or ``unet``.
        num_classes: Pixel classes, background included.
        in_chans: Input channels.
        window_px: Window edge; must be a multiple of 32.
        encoder: segmentation_models_pytorch encoder name: its own (``resnet34``,
            ``efficientnet-b0``...) or any timm model as ``tu-NAME``.

    """
    import segmentation_models_pytorch as smp  # imports huggingface_hub: only when needed

    if window_px % WINDOW_MULTIPLE:
        raise ValueError(f"segmenter windows must be a multiple of 32 px, got {window_px}")
    networks = {"fpn": smp.FPN, "unet": smp.Unet}
    network: nn.Module = networks[architecture](
        encoder_name=encoder, encoder_weights=None, in_channels=in_chans, classes=num_classes
    )
    return network


def segment(module: nn.Module, windows: torch.Tensor) -> torch.Tensor:
    """Class probabilities ``(n, classes, h, w)`` for normalised windows."""
    return torch.softmax(module(windows).float(), dim=1)


def _family(name: str) -> WindowFamily:
    def build(*, num_classes: int, in_chans: int, window_px: int, **settings: str) -> nn.Module:
        chosen = settings_of(settings, ("encoder",), name)
        return build_smp_segmenter(
            name, num_classes=num_classes, in_chans=in_chans, window_px=window_px, **chosen
        )

    return WindowFamily(name, Task.SEGMENTER, build, segment=segment)


register_window_model(_family("fpn"))
register_window_model(_family("unet"))
