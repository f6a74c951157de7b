"""overlayscope: inspect Docker's overlay2 storage on disk.

The core (`root`, `scan`, `union`, `usage`, `audit`) is a library with no
presentation imports; `cli` and `tui` sit on top of it.
"""

from __future__ import annotations

__version__ = "0.1.0"
