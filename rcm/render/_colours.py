"""The colours of rendered objects, shared by overlays and QuPath files."""

# QuPath class colours, cycled over categories.
PALETTE = ((220, 40, 40), (40, 120, 220), (240, 170, 30), (60, 170, 80), (160, 70, 200))
SUSPICIOUS_COLOUR = (220, 40, 40)


def class_colour(label: int) -> tuple[int, int, int]:
    """The colour of class `label` (a label index of the model's classes)."""
    return PALETTE[label % len(PALETTE)]
