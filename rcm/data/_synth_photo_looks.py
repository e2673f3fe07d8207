"""How each lesion category of the synthetic photographs looks: size, shape, colour, texture.

A colour is a `Tint`: the skin beneath multiplied by a transmittance (pigment
absorbs, so a naevus is darker on dark skin too), blended towards an absolute
colour by a weight (scale, keratin and sebum look much the same on any skin).
A lesion's body is one tint; its `Texture` layers (networks, dots, blotches,
vessels, ridges, scale, a centre or a rim) blend further tints over it.
Sizes are fractions of the image's short side and texture sizes are pixels of
a 240-pixel short side, both scaled by the photograph's zoom. The smallest
lesions are still some 15 pixels across, so a model that sees the whole photo
at a few hundred pixels can tell them apart.

The categories are those of ``configs/photos-columns.yaml``, with a long-tailed
frequency (naevi common, sebaceous hyperplasia rare) like a clinic's case mix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RGB = tuple[float, float, float]
TextureKind = Literal[
    "blotch", "lines", "stripes", "ridges", "dots", "network", "cells", "centre", "rim"
]
Region = Literal["all", "core", "rim"]


@dataclass(frozen=True)
class Tint:
    """``lerp(skin * transmit, paint, weight)``: a colour relative to the skin beneath."""

    transmit: RGB = (1.0, 1.0, 1.0)
    paint: RGB = (0.0, 0.0, 0.0)
    weight: float = 0.0


@dataclass(frozen=True)
class Texture:
    """One layer blended over a lesion's body.

    Attributes:
        kind: blotch (smooth noise above a threshold), lines (wiggly iso-lines:
            vessels), stripes (parallel: fingerprint), ridges (cerebriform bands),
            dots (some cells of a jittered grid), network (cell borders),
            cells (each cell its own share), centre (a disc), rim (a ring).
        tint: The colour blended in.
        size: Spacing in pixels at a 240-pixel short side (unused by centre, rim).
        amount: Share covered (blotch, dots), line width (lines, stripes, network),
            or radius (centre) / width (rim) as a share of the lesion's radius.
        strength: Blend weight where the layer is fully on.
        region: Where in the lesion: everywhere, the core, or the outer rim.

    """

    kind: TextureKind
    tint: Tint
    size: float = 6.0
    amount: float = 0.5
    strength: float = 0.8
    region: Region = "all"


@dataclass(frozen=True)
class Look:
    """A lesion category's appearance and frequency.

    Attributes:
        name: The category name (as in the CSV and the columns config).
        frequency: Relative share of all lesions.
        radius: Smallest and largest radius, as shares of the image's short side.
        aspect: Smallest and largest ratio of long to short axis.
        wobble: Low-order border irregularity (asymmetry), a share of the radius.
        fray: High-order border irregularity (notches, a moth-eaten edge).
        edge: Width of the border's fade in pixels (sharp "stuck-on" to ill-defined).
        body: The lesion's base colour.
        textures: Layers over the body, in order.

    """

    name: str
    frequency: float
    radius: tuple[float, float]
    aspect: tuple[float, float]
    wobble: float
    fray: float
    edge: float
    body: Tint
    textures: tuple[Texture, ...] = ()


_WHITE = Tint(paint=(242.0, 236.0, 226.0), weight=0.9)
_KERATIN = Tint(paint=(236.0, 224.0, 182.0), weight=0.9)
_VESSEL = Tint(transmit=(0.72, 0.22, 0.24))
_BLACK = Tint(transmit=(0.14, 0.11, 0.11))

LOOKS: tuple[Look, ...] = (
    Look(
        "melanoma",
        0.10,
        (0.125, 0.168),
        (1.0, 1.5),
        0.16,
        0.04,
        1.5,
        Tint(transmit=(0.42, 0.31, 0.27)),
        (
            Texture("network", Tint(transmit=(0.28, 0.2, 0.18)), 7.0, 1.4, 0.6),
            Texture("blotch", _BLACK, 12.0, 0.35, 0.9),
            Texture("blotch", Tint((0.5, 0.52, 0.6), (92.0, 104.0, 128.0), 0.65), 14.0, 0.3, 0.85),
            Texture("blotch", Tint(paint=(214.0, 196.0, 194.0), weight=0.7), 10.0, 0.15, 0.7),
        ),
    ),
    Look(
        "lentigo_maligna",
        0.03,
        (0.142, 0.193),
        (1.1, 1.7),
        0.14,
        0.06,
        2.5,
        Tint(transmit=(0.72, 0.6, 0.52)),
        (
            Texture("blotch", Tint(transmit=(0.42, 0.34, 0.31)), 16.0, 0.4, 0.75),
            Texture("dots", Tint((0.5, 0.5, 0.52), (110.0, 106.0, 112.0), 0.5), 5.0, 0.55, 0.85),
        ),
    ),
    Look(
        "basal_cell_carcinoma",
        0.13,
        (0.1, 0.134),
        (1.0, 1.3),
        0.06,
        0.01,
        1.5,
        Tint((0.95, 0.82, 0.82), (238.0, 204.0, 204.0), 0.5),
        (
            Texture(
                "rim", Tint(paint=(248.0, 232.0, 232.0), weight=0.7), amount=0.25, strength=0.7
            ),
            Texture("lines", _VESSEL, 9.0, 0.05, 0.9),
            Texture("dots", Tint(transmit=(0.34, 0.38, 0.5)), 10.0, 0.25, 0.85, "core"),
        ),
    ),
    Look(
        "squamous_cell_carcinoma",
        0.05,
        (0.1, 0.134),
        (1.0, 1.3),
        0.08,
        0.03,
        1.5,
        Tint((0.85, 0.55, 0.55), (210.0, 118.0, 112.0), 0.3),
        (
            Texture("centre", _KERATIN, amount=0.5, strength=0.9),
            Texture("blotch", _WHITE, 3.0, 0.3, 0.8, "core"),
            Texture("lines", _VESSEL, 7.0, 0.04, 0.7, "rim"),
        ),
    ),
    Look(
        "bowen_disease",
        0.035,
        (0.116, 0.159),
        (1.1, 1.6),
        0.12,
        0.02,
        1.2,
        Tint((0.88, 0.5, 0.5), (200.0, 88.0, 88.0), 0.25),
        (
            Texture("blotch", _WHITE, 3.0, 0.25, 0.8),
            Texture("dots", Tint(transmit=(0.58, 0.14, 0.17)), 4.0, 0.5, 0.9),
        ),
    ),
    Look(
        "actinic_keratosis",
        0.07,
        (0.091, 0.125),
        (1.0, 1.4),
        0.10,
        0.05,
        4.0,
        Tint((0.95, 0.72, 0.7), (230.0, 150.0, 140.0), 0.3),
        (Texture("dots", _WHITE, 5.0, 0.8, 0.8), Texture("blotch", _WHITE, 2.5, 0.2, 0.6)),
    ),
    Look(
        "seborrheic_keratosis",
        0.11,
        (0.1, 0.142),
        (1.2, 1.7),
        0.06,
        0.01,
        0.8,
        Tint(transmit=(0.5, 0.4, 0.33)),
        (
            Texture("ridges", Tint(transmit=(0.3, 0.24, 0.2)), 9.0, 0.5, 0.7),
            Texture("dots", Tint(paint=(240.0, 234.0, 212.0), weight=0.9), 7.0, 0.35, 0.9),
            Texture("dots", _BLACK, 8.0, 0.25, 0.9),
        ),
    ),
    Look(
        "lichen_planus_like_keratosis",
        0.035,
        (0.091, 0.116),
        (1.0, 1.4),
        0.08,
        0.02,
        2.0,
        Tint((0.78, 0.66, 0.72), (150.0, 120.0, 142.0), 0.35),
        (Texture("dots", Tint(transmit=(0.4, 0.4, 0.48)), 3.0, 0.6, 0.9),),
    ),
    Look(
        "solar_lentigo",
        0.06,
        (0.116, 0.168),
        (1.2, 1.8),
        0.10,
        0.10,
        1.2,
        Tint(transmit=(0.8, 0.68, 0.56)),
        (Texture("stripes", Tint(transmit=(0.66, 0.53, 0.43)), 4.0, 0.3, 0.5),),
    ),
    Look(
        "melanocytic_nevus",
        0.275,
        (0.083, 0.108),
        (1.0, 1.2),
        0.03,
        0.0,
        1.2,
        Tint(transmit=(0.5, 0.38, 0.3)),
        (Texture("network", Tint(transmit=(0.33, 0.25, 0.2)), 4.0, 0.9, 0.6),),
    ),
    Look(
        "dermatofibroma",
        0.04,
        (0.087, 0.116),
        (1.0, 1.3),
        0.04,
        0.01,
        2.5,
        Tint((0.78, 0.6, 0.55), (190.0, 140.0, 124.0), 0.2),
        (
            Texture("centre", Tint(paint=(246.0, 240.0, 234.0), weight=0.85), amount=0.45),
            Texture("network", Tint(transmit=(0.58, 0.44, 0.38)), 4.0, 0.8, 0.5, "rim"),
        ),
    ),
    Look(
        "sebaceous_hyperplasia",
        0.025,
        (0.07, 0.091),
        (1.0, 1.2),
        0.08,
        0.0,
        1.5,
        Tint((1.0, 0.95, 0.8), (238.0, 214.0, 148.0), 0.65),
        (
            Texture("dots", Tint(paint=(252.0, 242.0, 204.0), weight=0.9), 4.0, 0.6, 0.8),
            Texture("centre", Tint(transmit=(0.55, 0.45, 0.4)), amount=0.2, strength=0.8),
            Texture("lines", _VESSEL, 5.0, 0.06, 0.8, "rim"),
        ),
    ),
    Look(
        "vascular_lesion",
        0.04,
        (0.078, 0.112),
        (1.0, 1.3),
        0.06,
        0.0,
        1.0,
        Tint((0.62, 0.14, 0.22), (150.0, 20.0, 45.0), 0.35),
        (
            Texture("cells", Tint(transmit=(0.42, 0.12, 0.32)), 6.0, strength=0.6),
            Texture("network", Tint(paint=(228.0, 196.0, 202.0), weight=0.5), 6.0, 1.0, 0.8),
        ),
    ),
)

PHOTO_CATEGORIES: tuple[str, ...] = tuple(look.name for look in LOOKS)
