"""Writes that readers never see half-done: whole files (`atomic_write_bytes`, `save_figure`) and whole
directories (`stage_path` + `swap_dir`), and finding what a crash left of them (`leftovers`)."""

from __future__ import annotations

import io
import os
import shutil
import uuid
from pathlib import Path

STAGE_PREFIX = ".tmp-"
OLD_PREFIX = ".old-"


def fsync_dir(directory: Path) -> None:
    """Make the renames and creations in `directory` durable: a rename is an entry of the directory, and
    only an fsync of the directory itself puts it on disk before a power loss. Filesystems that cannot
    fsync a directory (some network mounts) are passed over: the rename is still atomic there."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write a file so that readers see the old or the new content, never half of it.

    The temporary file is created with mode 0666 minus the umask, like any file `open` creates
    (mkstemp would make it 0600, and the rename would keep that)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def save_figure(fig, path: str | os.PathLike, **savefig_kwargs) -> None:
    """A matplotlib figure written atomically (`atomic_write_bytes`), in the format its suffix names."""
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", **savefig_kwargs)
    atomic_write_bytes(path, buf.getvalue())


def stage_path(final: Path) -> Path:
    """A fresh hidden sibling of `final` to build it in before `swap_dir`; `leftovers` finds it after a crash."""
    return final.with_name(f"{STAGE_PREFIX}{final.name}-{uuid.uuid4().hex[:8]}")


def swap_dir(stage: Path, final: Path) -> Path | None:
    """Rename a fully written `stage` directory to `final`. An existing `final` is first moved aside,
    so `final` is always either the old or the new directory; the moved-aside old one is returned for
    the caller to delete when no one needs it any more (None when there was none)."""
    fsync_dir(stage)  # the entries of the files written into it
    old = None
    if final.exists():
        old = final.with_name(f"{OLD_PREFIX}{final.name}-{uuid.uuid4().hex[:8]}")
        os.rename(final, old)
    try:
        os.rename(stage, final)
    except BaseException:
        if old is not None:  # put the old one back: `final` must not stay missing
            os.rename(old, final)
        raise
    fsync_dir(final.parent)
    return old


def unswap_dir(final: Path, old: Path | None) -> None:
    """Undo `swap_dir(stage, final)` that returned `old`: the new `final` is deleted and `old` renamed back."""
    aside = stage_path(final)
    os.rename(final, aside)
    if old is not None:
        os.rename(old, final)
    shutil.rmtree(aside, ignore_errors=True)


def replace_dir(stage: Path, final: Path) -> None:
    """`swap_dir`, then delete the old directory at once."""
    old = swap_dir(stage, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def leftovers(directory: Path) -> list[Path]:
    """Stages and moved-aside old entries in `directory`: a crash left them, unless a writer is busy."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.name.startswith((STAGE_PREFIX, OLD_PREFIX)))


def remove(path: Path) -> None:
    """Delete a file, link or directory tree; a path that is already gone is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
