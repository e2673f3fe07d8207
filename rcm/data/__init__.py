"""Datasets: synthetic RCM mosaics with ground truth (more converters to come)."""

from rcm.data.synthetic import LESION_CLASSES, SyntheticSpec, make_spec, write_synthetic

__all__ = ["LESION_CLASSES", "SyntheticSpec", "make_spec", "write_synthetic"]
