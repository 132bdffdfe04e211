"""floe's version, one definition: ``floe.__version__`` and what plugins are checked against."""

from __future__ import annotations

__all__ = ["VERSION"]

VERSION = "0.1.0.dev0"
