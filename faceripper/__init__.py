"""faceripper: build per-person face datasets for deep learning from videos.

Importing the package is cheap: no model is loaded and dlib is not imported until a
function that needs it runs (see :mod:`faceripper.models`).
"""

from faceripper._version import __version__
from faceripper.api import rip

__all__ = ["__version__", "rip"]
