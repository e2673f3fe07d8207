"""Grad-CAM and Grad-CAM++ for timm classifiers, convolutional or Swin.

Written here rather than taken from captum or pytorch-grad-cam: captum's
LayerGradCam assumes channels-first activations (Swin's token maps are
channels-last) and has no Grad-CAM++, and pytorch-grad-cam pulls in OpenCV.
Every timm model splits into ``forward_features`` and ``forward_head``, so the
activations are the features and only the small head is differentiated: a
class-activation map costs one forward pass of the backbone.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rcm.explain._options import CamMethod


def class_activation_maps(
    model: nn.Module,
    inputs: torch.Tensor,
    positive: tuple[int, ...],
    *,
    method: CamMethod = "gradcam",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Maps of where the suspicious classes' evidence lies, at the feature grid.

    Args:
        model: A timm classifier (``forward_features`` / ``forward_head``) in eval mode.
        inputs: Normalised tiles ``(n, c, h, w)``.
        positive: Indices of the suspicious classes; the explained score is the
            log-sum-exp of their logits (their summed probability, up to the
            softmax's normaliser).
        method: ``gradcam`` (gradient-averaged channel weights) or ``gradcam++``
            (weights from positive gradients, Chattopadhyay et al. 2018).

    Returns:
        ``(maps, probabilities)``: maps ``(n, gh, gw)`` scaled so each tile's
        maximum is 1 (all zero when there is no positive evidence), and the
        suspicious probability of each tile ``(n,)``.

    """
    timm_model: Any = model  # forward_features / forward_head: timm's split, untyped here
    with torch.no_grad():  # the backbone needs no graph: only the head is differentiated
        features = timm_model.forward_features(inputs)
    with torch.enable_grad():
        features = features.detach().requires_grad_(True)
        logits = timm_model.forward_head(features).float()
        target = torch.logsumexp(logits[:, list(positive)], dim=1)
        (gradients,) = torch.autograd.grad(target.sum(), features)
    channels_last = getattr(model, "output_fmt", "NCHW") == "NHWC"
    activations = features.detach().float()
    gradients = gradients.float()
    if channels_last:  # Swin: (n, h, w, c) token maps
        activations = activations.permute(0, 3, 1, 2)
        gradients = gradients.permute(0, 3, 1, 2)
    if activations.ndim != 4:
        raise ValueError(f"{type(model).__name__} has no spatial feature map to explain")
    if method == "gradcam":
        weights = gradients.mean(dim=(2, 3), keepdim=True)
    elif method == "gradcam++":
        squared, cubed = gradients**2, gradients**3
        spatial_sum = activations.sum(dim=(2, 3), keepdim=True)
        denominator = 2 * squared + spatial_sum * cubed
        alpha = squared / torch.where(denominator != 0, denominator, torch.ones_like(denominator))
        weights = (alpha * F.relu(gradients)).sum(dim=(2, 3), keepdim=True)
    else:
        raise ValueError(f"unknown method {method!r}: use gradcam or gradcam++")
    maps = F.relu((weights * activations).sum(dim=1))
    peak = maps.amax(dim=(1, 2), keepdim=True)
    maps = torch.where(peak > 0, maps / peak.clamp_min(1e-12), torch.zeros_like(maps))
    probabilities = torch.softmax(logits.detach(), dim=1)[:, list(positive)].sum(dim=1)
    return maps, probabilities


def occlude(inputs: torch.Tensor, keep: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """`inputs` with the pixels where `keep` is False replaced by `fill` (per channel)."""
    return torch.where(keep[:, None], inputs, fill.view(1, -1, 1, 1))


def top_fraction_masks(maps: torch.Tensor, fraction: float) -> torch.Tensor:
    """True on each map's `fraction` highest pixels (ties broken by position, deterministic)."""
    flat = maps.flatten(1)
    count = max(1, round(fraction * flat.shape[1]))
    order = torch.argsort(flat, dim=1, descending=True, stable=True)[:, :count]
    chosen = torch.zeros_like(flat, dtype=torch.bool).scatter_(1, order, True)
    return chosen.view_as(maps)


def random_masks(shape: tuple[int, int, int], fraction: float, seed: int) -> torch.Tensor:
    """True on a seeded random `fraction` of each map's pixels."""
    generator = torch.Generator().manual_seed(seed)
    n, h, w = shape
    scores = torch.rand((n, h * w), generator=generator)
    return top_fraction_masks(scores.view(n, h, w), fraction)
