"""A store view over a subset of another store's movies (for data-amount studies and sharding).

The view is a real store directory: its own `store.json` and a filtered `manifest.jsonl`, with each
movie directory a symlink into the source store, so no feature bytes are copied. A view is built in a
stage directory and swapped in with `lmp.atomic.replace_dir`, so an existing view is replaced only by a
complete new one (and a failed build leaves the old view and no stage behind). A view that already holds
exactly the movies asked for, from the same source, is kept as it is: processes that read it (two
pretraining runs of one study arm, side by side) never see it move.
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
    """Create (or replace) a view at `out` holding only `ids` of `source`, or keep the one there if it
    already holds just them; returns it opened."""
    src = FeatureStore(source)
    ids = list(dict.fromkeys(ids))
    missing = [i for i in ids if i not in src]
    if missing:
        raise StoreError(f"{src.root}: cannot subset, {len(missing)} movie(s) not in the store (e.g. {missing[0]!r})")
    out = Path(out)
    if out.resolve() == src.root.resolve():
        raise StoreError(f"{out}: a subset cannot replace its own source store")
    targets = {movie_id: (src.root / MOVIES_DIR / movie_id).resolve() for movie_id in ids}
    manifest = "".join(json.dumps(src.record(i).to_json(), separators=(",", ":")) + "\n" for i in ids)
    if _holds(out, src.root, targets, manifest):
        return FeatureStore(out)
    stage = stage_path(out)
    try:
        (stage / MOVIES_DIR).mkdir(parents=True)
        shutil.copyfile(src.root / STORE_FILE, stage / STORE_FILE)
        for movie_id, target in targets.items():
            os.symlink(target, stage / MOVIES_DIR / movie_id)
        atomic_write_text(stage / MANIFEST_FILE, manifest)
        replace_dir(stage, out)
    except BaseException:
        remove(stage)
        raise
    return FeatureStore(out)


def _holds(view: Path, source: Path, targets: dict[str, Path], manifest: str) -> bool:
    """Whether `view` is already the view asked for: the same manifest and store file, and exactly the
    movie links, each pointing where it should."""
    try:
        if (view / MANIFEST_FILE).read_text() != manifest:
            return False
        if (view / STORE_FILE).read_bytes() != (source / STORE_FILE).read_bytes():
            return False
        links = {p.name: p for p in (view / MOVIES_DIR).iterdir()}
    except OSError:
        return False
    return links.keys() == targets.keys() and all(
        p.is_symlink() and Path(os.readlink(p)) == targets[name] for name, p in links.items()
    )
