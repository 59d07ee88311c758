"""How a suite runs a driver's coroutine: each implementation's ``run`` fixture decides.

The simulation runs each call in a fresh event loop; real drivers that keep connections
open run every call on one loop in a thread, so the connections outlive a single call.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

Run = Callable[[Coroutine[Any, Any, Any]], Any]
"""Runs one coroutine of the driver under test to its end and returns its result."""
