"""What a result was computed from: git SHA, store manifest hash, versions. Saved next to every table."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from lmp.store.format import MANIFEST_FILE, STORE_FILE


def git_sha(start: str | os.PathLike | None = None) -> str | None:
    """The commit of the lmp checkout (with '-dirty' when it has local changes), or None outside git."""
    where = Path(start) if start else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where, capture_output=True, text=True, timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def store_hash(store: str | os.PathLike) -> str:
    """sha256 over store.json and the manifest: identifies exactly which features were used."""
    h = hashlib.sha256()
    for name in (STORE_FILE, MANIFEST_FILE):
        path = Path(store) / name
        if path.exists():
            h.update(path.read_bytes())
    return h.hexdigest()


def provenance(stores: dict[str, str | os.PathLike] | None = None, seeds: list[int] | None = None) -> dict[str, Any]:
    import numpy
    import torch

    from lmp import __version__

    return {
        "lmp_version": __version__,
        "git_sha": git_sha(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "stores": {name: {"path": str(p), "manifest_sha256": store_hash(p)} for name, p in (stores or {}).items()},
        "seeds": list(seeds or []),
    }
