"""Directory replacement that readers never see half-done (file writes: lmp.config.atomic_write_text)."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path


def swap_dir(stage: Path, final: Path) -> Path | None:
    """Rename a fully written `stage` directory to `final`. An existing `final` is first moved aside,
    so `final` is always either the old or the new directory; the moved-aside old one is returned for
    the caller to delete when no one needs it any more (None when there was none)."""
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-{uuid.uuid4().hex[:8]}")
        os.rename(final, old)
    os.rename(stage, final)
    return old


def replace_dir(stage: Path, final: Path) -> None:
    """`swap_dir`, then delete the old directory at once."""
    old = swap_dir(stage, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
