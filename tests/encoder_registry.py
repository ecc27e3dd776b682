"""Test helper: register fake encoders for a test module and put lmp's encoder registry back afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from lmp.encoders import base


@contextlib.contextmanager
def registry_restored() -> Iterator[None]:
    """Whatever is registered inside the block is gone after it; the registry is as it was before."""
    saved = dict(base._REGISTRY)
    try:
        yield
    finally:
        base._REGISTRY.clear()
        base._REGISTRY.update(saved)
