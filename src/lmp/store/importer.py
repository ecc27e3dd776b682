"""`lmp store import`: features extracted elsewhere (.npy/.npz/.pt/.h5) -> a shot-level feature store.

A source holds, per video, rows of features on a timeline (one row per frame, or per second), perhaps
with a token axis, and the time of each row:

    x      [T, D] or [T, K, D]   T rows, K tokens (ViT-L: K = 197, token 0 = [CLS]), D feature width
    times  [T]                   seconds: a `timestamps` array beside x, or i / rate for row i

Layouts (docs/import.md has examples):

    folder/<video_id>.npy|.npz|.pt|.h5|.hdf5   one file per video: an array, or a group of named arrays
                                               (npz members, h5 datasets, a .pt dict) holding the
                                               features and optionally `timestamps`
    file.npz|.pt|.h5|.hdf5                     one key per video: `<id>` -> array, or a group
                                               (npz: members `<id>/features`, `<id>/timestamps`;
                                               h5: group `/<id>/`; .pt: {id: {"features": ...}})
    file.npy                                   one video, id = file stem

Rows are pooled into shots: a shot [start, end) gets the mean of the rows with start <= t < end. Shots
come from a shot list (`read_shot_list`) or are fixed-length pseudo-shots. Sources of several
modalities join by video id; a video missing from one source gets zeros and an all-False mask for that
modality. Every video is written by StoreWriter: validated, atomic, all modalities at once, or not at all.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lmp.errors import LMPError, LMPWarning, StoreError
from lmp.modality import MODALITIES
from lmp.store.format import STORE_FILE, EncoderSpec, check_movie_id
from lmp.store.writer import MovieFeatures, StoreWriter

FEATURE_EXTS = (".npy", ".npz", ".pt", ".h5", ".hdf5")
SHOT_LIST_EXTS = (".csv", ".json")
F16_MAX = float(np.finfo(np.float16).max)
# PySceneDetect's `list-scenes` CSV (scenedetect.output.write_scene_list): an optional first row with the
# cut timecodes ("Timecode List:", ...), then this header, one row per scene. Its default file name is
# `<video>-Scenes.csv`.
SCENEDETECT_START, SCENEDETECT_END = "Start Time (seconds)", "End Time (seconds)"
SCENEDETECT_SUFFIX = "-Scenes"


class FeatureImportError(LMPError):
    """A feature source, shot list or id list is unusable; the message names the file (and key)."""


# -- config ---------------------------------------------------------------------------------------


@dataclass
class SourceOptions:
    """How to read one modality's source (`--visual.*`, `--audio.*`, `--text.*`)."""

    rate: float | None = None
    """Rows per second: row i is at i / rate seconds. Unset: each video needs a `timestamps` array."""
    timestamps: str = "timestamps"
    """Name of the array of row times (seconds) in a video's group (npz members, h5 group, .pt dict)."""
    key: str = "features"
    """Name of the features array in a video's group; a group with one other array uses that one."""
    tokens: Literal["none", "cls", "mean"] = "none"
    """Arrays [rows, tokens, D]: keep token 0 (cls) or average the tokens (mean); none = arrays are [rows, D]."""
    encoder: str = "imported"
    """Encoder name recorded in the store's store.json (e.g. vit-l16-in21k)."""

    def __post_init__(self) -> None:
        if self.rate is not None and not self.rate > 0:
            raise ValueError(f"rate must be positive (rows per second), got {self.rate}")
        for name in ("timestamps", "key", "encoder"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"{name} must not be empty")


@dataclass
class StoreImportConfig:
    positional = ("sources",)

    sources: list[str] = field(default_factory=list)
    """Feature sources, each MODALITY=PATH or PATH (for --modality): a folder of <video_id>.npy/.npz/.pt/.h5
    files, or one .npz/.pt/.h5 file with one key per video."""
    store: Path = Path("runs/import/store")
    """Feature store directory (created if missing; videos already in it are skipped)."""
    modality: Literal["visual", "audio", "text"] = "visual"
    """Modality of a source given as a bare PATH."""
    visual: SourceOptions = field(default_factory=SourceOptions)
    """How to read the visual source."""
    audio: SourceOptions = field(default_factory=SourceOptions)
    """How to read the audio source."""
    text: SourceOptions = field(default_factory=SourceOptions)
    """How to read the text source."""
    shots: Path | None = None
    """Shot list: CSV (video_id,start,end or video_id,cut), JSON ({id: [[start, end], ...]} or {id: [cut, ...]}),
    a PySceneDetect scene-list CSV, or a folder of these."""
    shot_seconds: float = 0.0
    """Without --shots: pseudo-shots of this many seconds from 0 s to the end of the video's rows."""
    ids: Path | None = None
    """Import only these videos: an LVU 1.0 folder (every task and split), one LVU split file, or a text
    file with one id per line."""
    overwrite: bool = False
    """Re-import videos that are already in the store."""
    keep_going: bool = False
    """After a bad video, report it and go on with the next (exit 1 at the end) instead of stopping."""

    def __post_init__(self) -> None:
        # Python callers may pass strings; the command line already gives Paths.
        self.store = Path(self.store)
        self.shots = None if self.shots is None else Path(self.shots)
        self.ids = None if self.ids is None else Path(self.ids)
        if not self.shot_seconds >= 0 or math.isinf(self.shot_seconds):
            raise ValueError(f"shot_seconds must be a finite number >= 0, got {self.shot_seconds}")
        if self.shots is not None and self.shot_seconds > 0:
            raise ValueError("give either shots (a shot list) or shot_seconds (pseudo-shots), not both")

    def source_paths(self) -> dict[str, Path]:
        """modality -> path, in lmp's modality order. `visual=feats/` names the modality; a bare path is
        --modality's. A prefix that is not a modality stays part of the path (file names may hold '=')."""
        out: dict[str, Path] = {}
        for spec in self.sources:
            name, sep, rest = spec.partition("=")
            modality, path = (name, rest) if sep and name in MODALITIES else (self.modality, spec)
            if not path:
                raise FeatureImportError(f"source {spec!r}: no path after '='")
            if modality in out:
                raise FeatureImportError(f"two sources for {modality}: {out[modality]} and {path}; give one of each")
            if not Path(path).exists():
                hint = " (MODALITY=PATH takes visual, audio or text)" if sep and name not in MODALITIES else ""
                raise FeatureImportError(f"{path}: no such file or folder{hint}")
            out[modality] = Path(path)
        if not out:
            raise FeatureImportError("give at least one source: lmp store import [MODALITY=]PATH... --store DIR")
        return {m: out[m] for m in MODALITIES if m in out}


# -- reading sources ------------------------------------------------------------------------------


def _member(where: str, name: str) -> str:
    """'a.h5[vid]' + 'features' -> 'a.h5[vid/features]';  'v.npz' + 'features' -> 'v.npz[features]'."""
    return f"{where[:-1]}/{name}]" if where.endswith("]") else f"{where}[{name}]"


def _extension(path: Path, allowed: tuple[str, ...] = FEATURE_EXTS) -> str:
    ext = path.suffix.lower()
    if ext not in allowed:
        raise FeatureImportError(f"{path}: unknown extension {ext or '(none)'!r}; use one of {' '.join(allowed)}")
    return ext


def _h5py(path: Path):
    try:
        import h5py
    except ImportError:
        raise FeatureImportError(f"{path}: reading HDF5 needs h5py: pip install 'lmp[import]'") from None
    return h5py


def _unreadable(where: str | Path, e: BaseException) -> FeatureImportError:
    text = " ".join(str(e).split())[:200] or type(e).__name__
    return FeatureImportError(f"{where}: unreadable ({text})")


def _pt_array(obj: Any, where: str) -> np.ndarray:
    import torch

    if not isinstance(obj, torch.Tensor):
        raise FeatureImportError(
            f"{where}: holds a {type(obj).__name__}, not a tensor (a .pt source holds tensors or dicts of tensors)"
        )
    t = obj.detach().cpu()
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()  # numpy has no bfloat16


def _pt_entry(obj: Any, where: str) -> Any:
    """A tensor -> array; a dict -> {name: array} (a video's group)."""
    if isinstance(obj, dict):
        _check_distinct_keys(obj, where)
        return {str(k): _pt_array(v, _member(where, str(k))) for k, v in obj.items()}
    return _pt_array(obj, where)


def _check_distinct_keys(obj: dict, where: str) -> None:
    """Keys are names once written as text: `1` and `"1"` in one dict would silently become one entry."""
    seen: dict[str, object] = {}
    for k in obj:
        if str(k) in seen:
            raise FeatureImportError(
                f"{where}: keys {seen[str(k)]!r} and {k!r} both name {str(k)!r}; give them distinct names"
            )
        seen[str(k)] = k


def _load_pt(path: Path) -> Any:
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, AttributeError) as e:
        # torch's message is a page of advice (including to load unsafely); keep only the cause.
        text = str(e)
        cause = text.split("WeightsUnpickler error:", 1)[1] if "WeightsUnpickler error:" in text else text
        cause = re.split(r"\n|\. ", cause.strip(), maxsplit=1)[0][:200] or type(e).__name__
        raise FeatureImportError(
            f"{path}: not loadable with torch.load(weights_only=True), which allows only tensors and "
            f"dicts/lists of them ({cause})"
        ) from None


def _read_video_file(path: Path, stack: contextlib.ExitStack) -> Any:
    """One video's file -> an array (or h5 dataset), or a group {name: array}. Files opened here stay
    open until `stack` closes, so that an h5 dataset or a memory map is read only where needed."""
    ext = _extension(path)
    try:
        if ext == ".npy":
            return np.load(path, mmap_mode="r", allow_pickle=False)
        if ext == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {name: z[name] for name in z.files}
    except Exception as e:  # noqa: BLE001 - OSError, ValueError, zipfile.BadZipFile: name the file, not the library
        raise _unreadable(path, e) from None
    if ext == ".pt":
        return _pt_entry(_load_pt(path), str(path))
    h5py = _h5py(path)
    try:
        f = stack.enter_context(h5py.File(path, "r"))
    except OSError as e:
        raise _unreadable(path, e) from None
    return {name: item for name, item in f.items() if isinstance(item, h5py.Dataset)}


@dataclass
class Rows:
    """One video's rows from one source, validated and with the token axis pooled."""

    values: np.ndarray
    """float32 [T, D]."""
    times: np.ndarray
    """float64 [T], strictly increasing, in seconds."""
    step: float
    """Time one row stands for: 1 / rate, or the median spacing of the timestamps (0 for a single one)."""
    where: str
    """File (and key) the rows came from, for messages and the store's meta."""

    @property
    def end(self) -> float:
        """Where the rows end: the last row's time plus one step."""
        return float(self.times[-1] + self.step)


class Source:
    """One modality's features: video id -> rows. Use as a context manager (keyed files stay open)."""

    def __init__(self, modality: str, path: Path, opts: SourceOptions):
        self.modality, self.path, self.opts = modality, Path(path), opts
        self._stack = contextlib.ExitStack()
        # video id -> function that opens the video's entry: (where, array or group)
        self._index: dict[str, Callable[[contextlib.ExitStack], tuple[str, Any]]] = {}
        try:
            if self.path.is_dir():
                self._index_folder()
            elif _extension(self.path) == ".npy":
                self._index[self.path.stem] = lambda stack: (str(self.path), _read_video_file(self.path, stack))
            else:
                self._index_keyed_file()
        except BaseException:
            self._stack.close()
            raise
        self.ids = sorted(self._index)
        self._last: tuple[str, Rows] | None = None  # the probe's video is read once, not twice

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._index

    def _index_folder(self) -> None:
        files = [p for p in sorted(self.path.iterdir())
                 if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in FEATURE_EXTS]
        if not files:
            raise FeatureImportError(f"{self.path}: no feature files ({' '.join(FEATURE_EXTS)}) in this folder")
        owner: dict[str, Path] = {}
        for p in files:
            if p.stem in owner:
                raise FeatureImportError(
                    f"{self.path}: video {p.stem!r} has two files, {owner[p.stem].name} and {p.name}"
                )
            owner[p.stem] = p
            self._index[p.stem] = lambda stack, p=p: (str(p), _read_video_file(p, stack))

    def _index_keyed_file(self) -> None:
        ext = _extension(self.path)
        if ext == ".npz":
            try:
                z = np.load(self.path, allow_pickle=False)
            except Exception as e:  # noqa: BLE001 - a damaged zip raises zipfile.BadZipFile
                raise _unreadable(self.path, e) from None
            self._stack.callback(z.close)
            # Members `<id>` are arrays, members `<id>/<name>` form the group of video <id>.
            groups: dict[str, dict[str, str]] = {}
            for name in z.files:
                vid, sep, member = name.partition("/")
                groups.setdefault(vid, {})[member if sep else ""] = name
            for vid, members in groups.items():
                if "" in members and len(members) > 1:
                    raise FeatureImportError(f"{self.path}: video {vid!r} is both an array and a group of arrays")
                where = f"{self.path}[{vid}]"

                def load(stack, where=where, members=members):
                    try:
                        if "" in members:
                            return where, z[members[""]]
                        return where, {m: z[name] for m, name in members.items()}
                    except Exception as e:  # noqa: BLE001 - a damaged member raises zipfile.BadZipFile
                        raise _unreadable(where, e) from None

                self._index[vid] = load
        elif ext == ".pt":
            obj = _load_pt(self.path)
            if not isinstance(obj, dict):
                raise FeatureImportError(
                    f"{self.path}: expected a dict video id -> tensor (or dict of tensors), got a {type(obj).__name__}"
                    "; put one file per video in a folder instead"
                )
            _check_distinct_keys(obj, str(self.path))
            for vid, value in obj.items():
                where = f"{self.path}[{vid}]"
                self._index[str(vid)] = lambda stack, where=where, value=value: (where, _pt_entry(value, where))
        else:
            h5py = _h5py(self.path)
            try:
                f = self._stack.enter_context(h5py.File(self.path, "r"))
            except OSError as e:
                raise _unreadable(self.path, e) from None
            for vid, item in f.items():
                where = f"{self.path}[{vid}]"
                if isinstance(item, h5py.Group):
                    self._index[vid] = lambda stack, where=where, g=item: (
                        where, {n: d for n, d in g.items() if isinstance(d, h5py.Dataset)})
                else:
                    self._index[vid] = lambda stack, where=where, d=item: (where, d)
        if not self._index:
            raise FeatureImportError(f"{self.path}: holds no videos (no keys)")

    def rows(self, video_id: str) -> Rows:
        """A video's rows, validated; raises FeatureImportError naming the file and key."""
        if self._last is not None and self._last[0] == video_id:
            return self._last[1]
        with contextlib.ExitStack() as stack:
            where, entry = self._index[video_id](stack)
            x, ts, where_x, where_ts = self._select(entry, where)
            rows = self._prepare(x, ts, where_x, where_ts)
        self._last = (video_id, rows)
        return rows

    def _select(self, entry: Any, where: str) -> tuple[Any, Any, str, str]:
        """(features, timestamps or None, where each is) from an array or a group of named arrays."""
        opts = self.opts
        if not isinstance(entry, Mapping):
            return entry, None, where, ""
        names = list(entry)
        if opts.key in entry:
            name = opts.key
        else:
            others = [n for n in names if n != opts.timestamps]
            if len(others) != 1:
                raise FeatureImportError(
                    f"{where}: no '{opts.key}' array among {names}; name the features with --{self.modality}.key"
                )
            name = others[0]
        return entry[name], entry.get(opts.timestamps), _member(where, name), _member(where, opts.timestamps)

    def _prepare(self, x: Any, ts: Any, where: str, where_ts: str) -> Rows:
        opts, flag = self.opts, f"--{self.modality}"
        dtype = np.dtype(x.dtype)
        if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer) or dtype == np.bool_):
            raise FeatureImportError(f"{where}: dtype {dtype} is not a real number type")
        shape = tuple(int(n) for n in x.shape)
        if opts.tokens == "none" and len(shape) == 3:
            raise FeatureImportError(
                f"{where}: has a token axis (shape {list(shape)} = [rows, tokens, dim]); pass {flag}.tokens cls or mean"
            )
        want = 2 if opts.tokens == "none" else 3
        if len(shape) != want:
            layout = "[rows, dim]" if want == 2 else f"[rows, tokens, dim] for {flag}.tokens {opts.tokens}"
            raise FeatureImportError(f"{where}: expected {layout}, got shape {list(shape)} ({len(shape)}-D)")
        if 0 in shape:
            raise FeatureImportError(f"{where}: empty (shape {list(shape)})")
        # Token pooling, x: [T, K, D] -> [T, D]. Slicing before converting reads only token 0 of a memory
        # map or an h5 dataset (ViS4mer's files are float64 [T, 197, 1024], 1.6 MB per row).
        if opts.tokens == "cls":
            values = np.asarray(x[:, 0], dtype=np.float32)  # ViT outputs put [CLS] first
        elif opts.tokens == "mean":
            values = np.asarray(x).mean(axis=1, dtype=np.float32)
        else:
            values = np.asarray(x, dtype=np.float32)
        finite = np.isfinite(values).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            more = f" (and {len(bad) - 1} more rows)" if len(bad) > 1 else ""
            raise FeatureImportError(f"{where}: NaN/inf in row {bad[0]}{more}")
        peak = float(np.abs(values).max())
        if peak > F16_MAX:
            raise FeatureImportError(
                f"{where}: values up to {peak:.4g} exceed float16's range (±{F16_MAX:g}), in which the store keeps them"
            )
        n = values.shape[0]
        if ts is not None and opts.rate is not None:
            raise FeatureImportError(f"{where_ts}: row times given twice, by this array and by {flag}.rate; drop one")
        if ts is None and opts.rate is None:
            raise FeatureImportError(
                f"{where}: no row times: pass {flag}.rate (rows per second) or store a '{opts.timestamps}' array "
                "beside the features"
            )
        if opts.rate is not None:
            return Rows(values, np.arange(n, dtype=np.float64) / opts.rate, 1.0 / opts.rate, where)
        t = np.asarray(ts)
        if not (np.issubdtype(t.dtype, np.floating) or np.issubdtype(t.dtype, np.integer)):
            raise FeatureImportError(f"{where_ts}: dtype {t.dtype} is not a real number type")
        t = t.astype(np.float64)
        if t.shape != (n,):
            raise FeatureImportError(f"{where_ts}: shape {list(t.shape)}, expected [{n}] (one time per row)")
        if not np.isfinite(t).all() or (t < 0).any():
            raise FeatureImportError(f"{where_ts}: times must be finite and >= 0 seconds")
        steps = np.diff(t)
        if (steps <= 0).any():
            i = int(np.flatnonzero(steps <= 0)[0])
            raise FeatureImportError(
                f"{where_ts}: timestamps are not increasing at row {i + 1} ({t[i + 1]:g} s after {t[i]:g} s)"
            )
        return Rows(values, t, float(np.median(steps)) if n > 1 else 0.0, where)


# -- shots ----------------------------------------------------------------------------------------


def _check_shots(shots: np.ndarray, where: str) -> np.ndarray:
    """Validated [S, 2] start/end seconds, sorted by start."""
    if len(shots) == 0:
        raise FeatureImportError(f"{where}: no shots")
    if not np.isfinite(shots).all() or (shots < 0).any():
        raise FeatureImportError(f"{where}: shot times must be finite and >= 0 seconds")
    shots = shots[np.argsort(shots[:, 0], kind="stable")]
    for start, end in shots:
        if end <= start:
            raise FeatureImportError(f"{where}: shot {start:g}-{end:g} s does not end after it starts")
    overlap = np.flatnonzero(shots[1:, 0] < shots[:-1, 1] - 1e-6)
    if len(overlap):
        (a, b), (c, d) = shots[overlap[0]], shots[overlap[0] + 1]
        raise FeatureImportError(f"{where}: shots {a:g}-{b:g} s and {c:g}-{d:g} s overlap")
    return shots


def _check_cuts(cuts: np.ndarray, where: str) -> np.ndarray:
    """Validated, sorted cut times; a cut at 0 s (where the first shot starts anyway) is dropped."""
    if not np.isfinite(cuts).all() or (cuts < 0).any():
        raise FeatureImportError(f"{where}: cut times must be finite and >= 0 seconds")
    cuts = np.sort(cuts[cuts > 0])
    twice = np.flatnonzero(np.diff(cuts) <= 0)
    if len(twice):
        raise FeatureImportError(f"{where}: cut {cuts[twice[0]]:g} s is listed twice")
    return cuts


@dataclass
class ShotList:
    """Shots per video, read from one or more files: explicit [start, end) shots, or cut times (the shots
    then run from 0 s to the end of the video's rows)."""

    path: Path
    shots: dict[str, np.ndarray] = field(default_factory=dict)
    """video id -> float64 [S, 2] start/end seconds."""
    cuts: dict[str, np.ndarray] = field(default_factory=dict)
    """video id -> float64 [C] cut times in seconds."""
    files: dict[str, Path] = field(default_factory=dict)
    """video id -> the file that listed it."""

    def add(self, video_id: str, file: Path, *, shots: np.ndarray | None = None, cuts: np.ndarray | None = None):
        if video_id in self.files:
            raise FeatureImportError(f"{file}: video {video_id!r} is already listed in {self.files[video_id]}")
        self.files[video_id] = file
        where = f"{file}: video {video_id!r}"
        if shots is not None:
            self.shots[video_id] = _check_shots(np.asarray(shots, dtype=np.float64).reshape(-1, 2), where)
        else:
            self.cuts[video_id] = _check_cuts(np.asarray(cuts, dtype=np.float64).reshape(-1), where)

    def __contains__(self, video_id: object) -> bool:
        return video_id in self.files

    def times(self, video_id: str, end: float) -> np.ndarray:
        """float64 [S, 2] shot start/end for a video whose rows end at `end` seconds."""
        if video_id not in self.files:
            raise FeatureImportError(f"{self.path}: no shots for video {video_id!r} (it is missing from the shot list)")
        if video_id in self.shots:
            return self.shots[video_id]
        cuts = self.cuts[video_id]
        if len(cuts) and cuts[-1] >= end:
            raise FeatureImportError(
                f"{self.files[video_id]}: video {video_id!r}: cut at {cuts[-1]:g} s is at or after the end of its "
                f"features ({end:g} s)"
            )
        bounds = np.concatenate([[0.0], cuts, [end]])
        return np.stack([bounds[:-1], bounds[1:]], axis=1)


def _number(cell: str, where: str) -> float:
    try:
        return float(cell)
    except ValueError:
        raise FeatureImportError(f"{where}: {cell!r} is not a number of seconds") from None


def _read_shot_csv(path: Path, out: ShotList) -> None:
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise _unreadable(path, e) from None
    header_at = next((i for i, row in enumerate(rows[:2]) if SCENEDETECT_START in row and SCENEDETECT_END in row), None)
    if header_at is not None:
        # One video per PySceneDetect file, named after the video: `<video>-Scenes.csv` or `<video>.csv`.
        header = rows[header_at]
        s, e = header.index(SCENEDETECT_START), header.index(SCENEDETECT_END)
        shots = [(_number(r[s], f"{path}:{n}"), _number(r[e], f"{path}:{n}"))
                 for n, r in enumerate(rows[header_at + 1:], header_at + 2) if any(c.strip() for c in r)]
        vid = path.stem.removesuffix(SCENEDETECT_SUFFIX)
        out.add(vid, path, shots=np.array(shots, dtype=np.float64))
        return
    header = [c.strip() for c in rows[0]] if rows else []
    if header not in (["video_id", "start", "end"], ["video_id", "cut"]):
        raise FeatureImportError(
            f"{path}: header {header} is not a shot list's: expected video_id,start,end (one row per shot), "
            f"video_id,cut (one row per cut) or PySceneDetect's scene list (..., {SCENEDETECT_START}, ...)"
        )
    per_video: dict[str, list] = {}
    for n, row in enumerate(rows[1:], 2):
        if not any(c.strip() for c in row):
            continue
        where = f"{path}:{n}"
        if len(row) != len(header):
            raise FeatureImportError(f"{where}: expected {len(header)} fields {header}, got {len(row)}")
        vid, *cells = (c.strip() for c in row)
        values = per_video.setdefault(vid, [])
        if len(cells) == 2:
            values.append((_number(cells[0], where), _number(cells[1], where)))
        elif cells[0]:  # `video_id,` with no cut: a video that is one shot
            values.append(_number(cells[0], where))
    for vid, values in per_video.items():
        if len(header) == 3:
            out.add(vid, path, shots=np.array(values, dtype=np.float64))
        else:
            out.add(vid, path, cuts=np.array(values, dtype=np.float64))


def _is_seconds(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _read_shot_json(path: Path, out: ShotList) -> None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _unreadable(path, e) from None
    if not isinstance(data, dict):
        raise FeatureImportError(f"{path}: expected an object {{video_id: [[start, end], ...] or [cut, ...]}}")
    for vid, value in data.items():
        if isinstance(value, list) and all(_is_seconds(v) for v in value):
            out.add(vid, path, cuts=np.array(value, dtype=np.float64))
        elif isinstance(value, list) and all(
            isinstance(v, list) and len(v) == 2 and all(_is_seconds(t) for t in v) for v in value
        ):
            out.add(vid, path, shots=np.array(value, dtype=np.float64))
        else:
            raise FeatureImportError(
                f"{path}: video {vid!r}: expected [[start, end], ...] (shots) or [cut, ...] (cut times), in seconds"
            )


def read_shot_list(path: str | Path) -> ShotList:
    """Shots per video from a .csv/.json shot list, or from a folder of them (e.g. one PySceneDetect
    `<video>-Scenes.csv` per video). Every file is read and checked up front."""
    path = Path(path)
    if path.is_dir():
        files = [p for p in sorted(path.iterdir())
                 if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in SHOT_LIST_EXTS]
        if not files:
            raise FeatureImportError(f"{path}: no shot lists (.csv, .json) in this folder")
    elif path.is_file():
        files = [path]
    else:
        raise FeatureImportError(f"{path}: no such shot list file or folder")
    out = ShotList(path)
    for f in files:
        if _extension(f, SHOT_LIST_EXTS) == ".json":
            _read_shot_json(f, out)
        else:
            _read_shot_csv(f, out)
    return out


def pseudo_shots(end: float, seconds: float) -> np.ndarray:
    """float64 [S, 2]: [0, L), [L, 2L), ... up to `end`; the last shot ends at `end` (at least one shot)."""
    count = max(1, math.ceil(end / seconds - 1e-9))
    starts = np.arange(count, dtype=np.float64) * seconds
    ends = np.minimum(starts + seconds, end)
    ends = np.where(ends > starts, ends, starts + seconds)  # rows ending at 0 s (one timestamp at 0): one shot
    return np.stack([starts, ends], axis=1)


def pool_rows(rows: Rows, shots: np.ndarray) -> np.ndarray:
    """float32 [S, D]: per shot [start, end), the mean of the rows whose time t has start <= t < end."""
    t = rows.times
    first = np.searchsorted(t, shots[:, 0], side="left")  # first row at or after the start
    stop = np.searchsorted(t, shots[:, 1], side="left")  # first row at or after the end
    out = np.empty((len(shots), rows.values.shape[1]), dtype=np.float32)
    for s, (a, b) in enumerate(zip(first, stop)):
        if b > a:
            out[s] = rows.values[a:b].mean(axis=0, dtype=np.float64)
            continue
        # No row falls inside the shot (a shot shorter than the row spacing, or past the rows' end): it
        # takes the row nearest its centre, the earlier one on a tie, rather than no features at all.
        centre = float(shots[s].mean())
        i = int(np.searchsorted(t, centre))
        near = [j for j in (i - 1, i) if 0 <= j < len(t)]
        out[s] = rows.values[min(near, key=lambda j: abs(t[j] - centre))]
    return out


# -- ids ------------------------------------------------------------------------------------------


def read_ids(path: str | Path) -> list[str]:
    """Video ids, in file order without repeats, from an LVU 1.0 folder (every task and split found), one
    LVU split file, or a text file with one id per line (blank lines and # comments are skipped)."""
    path = Path(path)
    if path.is_dir():
        from lmp.labels import SPLITS
        from lmp.tasks.lvu import LVU_TASKS, read_lvu_split

        tasks = [t for t in LVU_TASKS if (path / t).is_dir()]
        if not tasks:
            raise FeatureImportError(
                f"{path}: no LVU task folders ({', '.join(LVU_TASKS)}); --ids takes an LVU 1.0 folder, "
                "an LVU split file or a text file with one id per line"
            )
        ids = [e.video_id for t in tasks for s in SPLITS if (path / t / f"{s}.csv").is_file()
               for e, _ in read_lvu_split(path, t, s)]
        return list(dict.fromkeys(ids))
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise FeatureImportError(f"{path}: no such id file or folder") from None
    except (OSError, UnicodeDecodeError) as e:
        raise _unreadable(path, e) from None
    from lmp.tasks.lvu import HEADERS

    first = lines[0].split() if lines else []
    ids = []
    if first in HEADERS.values():
        for n, line in enumerate(lines[1:], 2):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != len(first):
                raise FeatureImportError(f"{path}:{n}: expected {len(first)} fields {first}, got {len(fields)}")
            ids.append(fields[-2])  # the YouTube id is second to last in every LVU layout (see lmp.tasks.lvu)
    else:
        for n, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if any(c in line for c in " \t,;"):
                raise FeatureImportError(f"{path}:{n}: expected one video id per line, got {line!r}")
            ids.append(line)
    if not ids:
        raise FeatureImportError(f"{path}: lists no video ids")
    return list(dict.fromkeys(ids))


# -- the import -----------------------------------------------------------------------------------


@dataclass
class ImportReport:
    """What `import_features` did."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Already in the store (and not --overwrite)."""
    failed: dict[str, str] = field(default_factory=dict)
    """video id -> error (only with keep_going; otherwise the first error is raised)."""
    missing: list[str] = field(default_factory=list)
    """Ids from --ids that no source has."""
    not_listed: int = 0
    """Videos in the sources that --ids leaves out."""


def _movie(video_id: str, sources: dict[str, Source], dims: dict[str, int], cfg: StoreImportConfig,
           shot_list: ShotList | None) -> MovieFeatures:
    """Load, check and pool every modality of one video (nothing is written here)."""
    rows: dict[str, Rows] = {}
    for m, src in sources.items():
        if video_id not in src:
            continue
        r = src.rows(video_id)
        if r.values.shape[1] != dims[m]:
            raise FeatureImportError(
                f"{r.where}: {r.values.shape[1]} features per row, but the store's {m} features have {dims[m]}"
            )
        rows[m] = r
    where = next(iter(rows.values())).where
    try:
        check_movie_id(video_id)
    except StoreError as e:
        raise FeatureImportError(f"{where}: {e}") from None
    end = max(r.end for r in rows.values())
    times = shot_list.times(video_id, end) if shot_list is not None else pseudo_shots(end, cfg.shot_seconds)
    _check_alignment(video_id, times, rows, shot_list.files[video_id] if shot_list is not None else where)
    features, masks = {}, {}
    for m in sources:
        if m in rows:
            features[m] = pool_rows(rows[m], times)
            masks[m] = np.ones(len(times), dtype=bool)
        else:  # not in this modality's source: zeros, and a mask saying so
            features[m] = np.zeros((len(times), dims[m]), dtype=np.float32)
            masks[m] = np.zeros(len(times), dtype=bool)
    shots = str(shot_list.files[video_id]) if shot_list is not None else f"pseudo-shots of {cfg.shot_seconds:g} s"
    meta = {"imported_from": {m: r.where for m, r in rows.items()}, "shots": shots, "import_options": _options(cfg)}
    return MovieFeatures(video_id, times, features, masks, meta=meta)


def _options(cfg: StoreImportConfig) -> dict[str, Any]:
    """The settings that decide an imported video's features (kept in its record, compared on resume)."""
    from lmp.config import to_dict

    return {
        **{m: {k: v for k, v in to_dict(getattr(cfg, m)).items() if k != "encoder"} for m in cfg.source_paths()},
        "shots": None if cfg.shots is None else str(cfg.shots),
        "shot_seconds": cfg.shot_seconds,
    }


def _check_alignment(video_id: str, shots: np.ndarray, rows: dict[str, Rows], where: Any) -> None:
    """Shots and feature rows must be on one time axis. A shot with no row inside takes its nearest row
    (`pool_rows`), which is right for a shot shorter than the row spacing, and silently wrong when the
    two are in different units or offsets (shot times in frames, timestamps in ms or from the source's
    clock): then shots lie before the first row or after the last, or most of them hold no row."""
    first = min(float(r.times[0] - r.step) for r in rows.values())
    end = max(r.end for r in rows.values())
    outside = int(((shots[:, 1] <= first) | (shots[:, 0] >= end)).sum())
    if outside:
        raise FeatureImportError(
            f"{where}: video {video_id!r}: {outside} of {len(shots)} shots lie outside its features' time span "
            f"({first:g} s to {end:g} s; shots {shots[0, 0]:g} s to {shots[-1, 1]:g} s): are the shot times and the "
            "feature timestamps in the same unit (seconds) and from the same start?"
        )
    for m, r in rows.items():
        inside = np.searchsorted(r.times, shots[:, 1], side="left") - np.searchsorted(r.times, shots[:, 0], side="left")
        empty = int((inside == 0).sum())
        if empty > len(shots) / 2:
            warnings.warn(
                f"{r.where}: {empty} of {len(shots)} shots of video {video_id!r} contain no {m} feature row (rows "
                f"every {r.step:g} s) and take their nearest row: right for shots shorter than the row spacing, "
                "wrong if the timestamps are in another unit", LMPWarning, stacklevel=4,
            )


def _store_dims(root: Path) -> dict[str, int]:
    from lmp.store.writer import read_store_json

    if not (root / STORE_FILE).exists():
        return {}
    return {m: int(e["dim"]) for m, e in read_store_json(root)["encoders"].items()}


def import_features(cfg: StoreImportConfig, progress: bool = True) -> ImportReport:
    """Import cfg.sources into cfg.store. Raises FeatureImportError (or StoreError) on the first bad
    video unless cfg.keep_going; every video written is complete, so a re-run resumes after a fix."""
    from tqdm import tqdm

    from lmp.store.reader import FeatureStore

    paths = cfg.source_paths()
    if cfg.shots is None and cfg.shot_seconds == 0:
        raise FeatureImportError("give --shots FILE (a shot list) or --shot_seconds N (pseudo-shots of N seconds)")
    # Everything that can be checked without the features is checked before a store is created.
    shot_list = read_shot_list(cfg.shots) if cfg.shots is not None else None
    wanted = read_ids(cfg.ids) if cfg.ids is not None else None
    report = ImportReport()
    with contextlib.ExitStack() as stack:
        sources = {m: stack.enter_context(Source(m, p, getattr(cfg, m))) for m, p in paths.items()}
        found = sorted(set().union(*(s.ids for s in sources.values())))
        if wanted is not None:
            keep = set(wanted)
            report.missing = [v for v in wanted if not any(v in s for s in sources.values())]
            report.not_listed = sum(v not in keep for v in found)
            found = [v for v in found if v in keep]
        stored = None if cfg.overwrite or not (cfg.store / STORE_FILE).exists() else FeatureStore(cfg.store)
        done = set() if stored is None else set(stored.ids)
        report.skipped = [v for v in found if v in done]
        _check_resumed_options(stored, report.skipped, cfg)
        todo = [v for v in found if v not in done]
        if not todo:
            return report
        if shot_list is not None:
            unlisted = [v for v in todo if v not in shot_list]
            if unlisted and not cfg.keep_going:
                shown = ", ".join(map(repr, unlisted[:5])) + (", ..." if len(unlisted) > 5 else "")
                raise FeatureImportError(f"{shot_list.path}: no shots for {len(unlisted)} video(s) to import: {shown}")
            for v in unlisted:
                report.failed[v] = f"{shot_list.path}: no shots for video {v!r} (it is missing from the shot list)"
        dims = _probe_dims(sources, todo, cfg, report)
        writer = StoreWriter(cfg.store, {m: EncoderSpec(getattr(cfg, m).encoder, dims[m]) for m in sources})
        for vid in tqdm(todo, desc="import", unit="video", disable=not progress or len(todo) < 2):
            if vid in report.failed:
                continue
            try:
                writer.write(_movie(vid, sources, dims, cfg, shot_list))
            except LMPError as e:
                if not cfg.keep_going:
                    raise
                report.failed[vid] = str(e)
                continue
            report.written.append(vid)
    return report


def _check_resumed_options(store: Any, skipped: list[str], cfg: StoreImportConfig) -> None:
    """A resumed import skips the videos already stored: refuse when they were imported with other settings
    (rate, tokens, shots, ...), which would leave one store pooled two ways. Records from before the
    settings were kept are not compared."""
    now = json.loads(json.dumps(_options(cfg)))  # as the record holds it (JSON: tuples are lists)
    for vid in skipped:
        then = store.record(vid).meta.get("import_options")
        if then is not None and then != now:
            keys = sorted(k for k in set(then) | set(now) if then.get(k) != now.get(k))
            raise FeatureImportError(
                f"{cfg.store}: video {vid!r} was imported with other settings ({', '.join(keys)}: "
                f"{[then.get(k) for k in keys]} then, {[now.get(k) for k in keys]} now); pass --overwrite to "
                "import every video again with these, or import into another store"
            )


def _probe_dims(sources: dict[str, Source], todo: list[str], cfg: StoreImportConfig,
                report: ImportReport) -> dict[str, int]:
    """Feature width per modality: an existing store's, else read from one video of each source. Wrong
    options (a missing --tokens, no row times) fail here, before a store is created. With keep_going, a
    video to import that fails here is recorded and the next one is tried."""
    stored = _store_dims(cfg.store)
    pending = set(todo)
    dims: dict[str, int] = {}
    for m, src in sources.items():
        if m in stored:  # a video of another width then fails by itself, naming its file
            dims[m] = stored[m]
            continue
        # A video to import first; when the source has none of them, any of its videos tells the width.
        candidates = [v for v in todo if v in src] + [v for v in src.ids if v not in pending]
        for vid in (v for v in candidates if v not in report.failed):
            try:
                dims[m] = src.rows(vid).values.shape[1]
                break
            except LMPError as e:
                if not cfg.keep_going:
                    raise
                if vid in pending:
                    report.failed[vid] = str(e)
        else:
            raise FeatureImportError(f"{src.path}: none of its videos could be read")
    return dims


def iter_messages(report: ImportReport, limit: int = 20) -> Iterator[str]:
    """Lines for the end of `lmp store import`: failures (at most `limit`), then missing ids."""
    for i, (vid, error) in enumerate(report.failed.items()):
        if i == limit:
            yield f"  ... and {len(report.failed) - limit} more failed videos"
            break
        yield f"  FAILED {vid}: {error}"
    if report.missing:
        shown = ", ".join(report.missing[:5]) + (", ..." if len(report.missing) > 5 else "")
        yield f"  {len(report.missing)} ids from --ids have features in no source: {shown}"
