"""rcm: reflectance confocal microscopy mosaics from file to report."""

from rcm._version import __version__

__all__ = ["__version__"]
