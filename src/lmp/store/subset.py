"""A store view over a subset of another store's movies (for data-amount studies and sharding).

The view is a real store directory: its own `store.json` and a filtered `manifest.jsonl`, with each
movie directory a symlink into the source store, so no feature bytes are copied. A view is built in a
stage directory and swapped in with `lmp.atomic.replace_dir`, so an existing view is replaced only by a
complete new one (and a failed build leaves the old view and no stage behind).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from lmp.atomic import remove, replace_dir, stage_path
from lmp.config import atomic_write_text
from lmp.errors import StoreError
from lmp.store.format import MANIFEST_FILE, MOVIES_DIR, STORE_FILE
from lmp.store.reader import FeatureStore


def subset_store(source: str | os.PathLike, ids: Iterable[str], out: str | os.PathLike) -> FeatureStore:
    """Create (or replace) a view at `out` holding only `ids` of `source`; returns it opened."""
    src = FeatureStore(source)
    ids = list(dict.fromkeys(ids))
    missing = [i for i in ids if i not in src]
    if missing:
        raise StoreError(f"{src.root}: cannot subset, {len(missing)} movie(s) not in the store (e.g. {missing[0]!r})")
    out = Path(out)
    if out.resolve() == src.root.resolve():
        raise StoreError(f"{out}: a subset cannot replace its own source store")
    stage = stage_path(out)
    try:
        (stage / MOVIES_DIR).mkdir(parents=True)
        shutil.copyfile(src.root / STORE_FILE, stage / STORE_FILE)
        lines = []
        for movie_id in ids:
            os.symlink((src.root / MOVIES_DIR / movie_id).resolve(), stage / MOVIES_DIR / movie_id)
            lines.append(json.dumps(src.record(movie_id).to_json(), separators=(",", ":")))
        atomic_write_text(stage / MANIFEST_FILE, "".join(line + "\n" for line in lines))
        replace_dir(stage, out)
    except BaseException:
        remove(stage)
        raise
    return FeatureStore(out)
