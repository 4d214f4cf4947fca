"""The ground-truth video tooling moved to :mod:`faceripper.testing` (test tooling, not the
product); this name stays while :mod:`faceripper.footage` imports from it."""

from __future__ import annotations

from faceripper.testing import *  # noqa: F403
from faceripper.testing import __all__  # noqa: F401
