"""`lmp inspect MOVIE --store DIR`: one ingested movie as a picture (PNG) or a page (HTML).

It shows a filmstrip timeline (each shot's thumbnail stretched over its time span, cuts as red lines),
the audio energy in dB, the subtitle/ASR cues, and one card per shot with its dialogue. Everything
comes from the store's manifest and the previews saved at ingest time (STORE/previews/<id>/):
thumbs.npy (uint8 [S, h, w, 3]), energy.npy (RMS per `energy_hop` seconds) and preview.json.
"""

from __future__ import annotations

import base64
import html
import io
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lmp.atomic import save_figure
from lmp.errors import StoreError
from lmp.store.format import PREVIEWS_DIR


@dataclass
class InspectConfig:
    positional = ("movie",)

    movie: str = ""
    """Movie id in the store (see `lmp store info --movies`)."""
    store: Path = Path("runs/ingest/store")
    """Feature store directory written by `lmp ingest`."""
    out: Path | None = None
    """Output file (default: STORE/previews/<id>/inspect.png or .html)."""
    format: Literal["png", "html"] = "png"
    """PNG picture (matplotlib) or a self-contained HTML page."""
    max_shots: int = 48
    """Shot cards drawn (the timeline always shows every shot)."""
    first_shot: int = 0
    """First shot of the cards."""

    def __post_init__(self) -> None:
        if self.max_shots < 1:
            raise ValueError(f"max_shots must be >= 1, got {self.max_shots}")
        if self.first_shot < 0:
            raise ValueError(f"first_shot must be >= 0, got {self.first_shot}")


def load_preview(store: Path, movie_id: str) -> dict[str, Any]:
    """Manifest record + previews of one movie, as plain data."""
    from lmp.store import FeatureStore

    st = FeatureStore(store)
    rec = st.record(movie_id)
    times = st.read(movie_id)["times"]
    folder = Path(store) / PREVIEWS_DIR / movie_id
    if not (folder / "preview.json").is_file():
        raise StoreError(f"movie {movie_id}: no previews in {folder} (ingested with --previews=false?); re-ingest it")
    try:
        doc = json.loads((folder / "preview.json").read_text())
        energy = np.load(folder / "energy.npy")
        thumbs = np.load(folder / "thumbs.npy") if (folder / "thumbs.npy").is_file() else None
    except (OSError, ValueError) as e:
        raise StoreError(f"movie {movie_id}: previews in {folder} are unreadable ({e})") from None
    masks = {m: np.asarray(st.read(movie_id, modalities=(m,))[f"{m}_mask"]) for m in rec.modalities}
    return {"id": movie_id, "record": rec, "times": times, "doc": doc, "energy": energy, "thumbs": thumbs,
            "masks": masks, "folder": folder}


def _energy_db(energy: np.ndarray) -> np.ndarray:
    return 20 * np.log10(np.maximum(energy, 1e-5))


def render_png(p: dict[str, Any], out: Path, first: int, count: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times, doc, thumbs = p["times"], p["doc"], p["thumbs"]
    num_shots = len(times)
    duration = float(times[-1, 1])
    cards = list(range(first, min(first + count, num_shots)))
    cols = 6
    rows = max(1, -(-len(cards) // cols))
    fig = plt.figure(figsize=(14, 4.6 + 2.1 * rows))
    grid = fig.add_gridspec(3 + rows, cols, height_ratios=[1.2, 0.9, 0.6] + [1.6] * rows, hspace=0.55)
    meta = p["record"].meta
    fig.suptitle(
        f"{p['id']}: {num_shots} shots, {duration:.1f} s, {meta.get('width')}x{meta.get('height')} "
        f"@ {meta.get('fps', 0):.2f} fps, rotation {meta.get('rotation', 0)}, dialogue: "
        f"{doc.get('dialogue_source') or 'none'}",
        fontsize=11,
    )
    strip = fig.add_subplot(grid[0, :])
    for k, (a, b) in enumerate(times):
        if thumbs is not None and k < len(thumbs):
            strip.imshow(thumbs[k], extent=(a, b, 0, 1), aspect="auto")
    strip.set_xlim(0, duration)
    strip.set_ylim(0, 1)
    strip.set_yticks([])
    strip.set_title("shots (thumbnail stretched over each shot; red = cut)", fontsize=9, loc="left")
    energy_ax = fig.add_subplot(grid[1, :], sharex=strip)
    hop = float(doc.get("energy_hop", 0.1))
    energy = p["energy"]
    if len(energy):
        energy_ax.plot((np.arange(len(energy)) + 0.5) * hop, _energy_db(energy), lw=0.8, color="tab:blue")
    else:
        energy_ax.text(0.5, 0.5, "no audio stream", transform=energy_ax.transAxes, ha="center", va="center")
    energy_ax.set_ylabel("dB", fontsize=8)
    energy_ax.set_title("audio energy (RMS)", fontsize=9, loc="left")
    cue_ax = fig.add_subplot(grid[2, :], sharex=strip)
    for i, (a, b, text) in enumerate(doc.get("cues", [])):
        y = i % 2
        cue_ax.barh(y, b - a, left=a, height=0.8, color="tab:green", alpha=0.5)
        cue_ax.text(a, y, " " + textwrap.shorten(text, 40), va="center", fontsize=7, clip_on=True)
    cue_ax.set_yticks([])
    cue_ax.set_ylim(-0.6, 1.6)
    cue_ax.set_xlabel("seconds", fontsize=8)
    cue_ax.set_title("dialogue cues", fontsize=9, loc="left")
    for ax in (strip, energy_ax, cue_ax):
        for a in times[1:, 0]:
            ax.axvline(a, color="red", lw=0.8)
        ax.tick_params(labelsize=7)
    masks = p["masks"]
    for j, k in enumerate(cards):
        ax = fig.add_subplot(grid[3 + j // cols, j % cols])
        if thumbs is not None and k < len(thumbs):
            ax.imshow(thumbs[k])
        ax.set_xticks([])
        ax.set_yticks([])
        present = "".join(m[0].upper() if masks[m][k] else "-" for m in masks)
        ax.set_title(f"#{k}  {times[k, 0]:.1f}-{times[k, 1]:.1f}s  [{present}]", fontsize=8)
        line = doc["dialogue"][k] if k < len(doc.get("dialogue", [])) else ""
        ax.set_xlabel(textwrap.fill(textwrap.shorten(line, 90), 32) if line else "(no dialogue)", fontsize=7)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, out, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return out


def _png_b64(img: np.ndarray) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    plt.imsave(buf, img, format="png")
    return base64.b64encode(buf.getvalue()).decode()


def render_html(p: dict[str, Any], out: Path, first: int, count: int) -> Path:
    """A self-contained page: the PNG timeline on top, then a table of shots."""
    from lmp.config import atomic_write_text

    timeline = out.with_suffix(".timeline.png")
    render_png(p, timeline, first, 0 if count == 0 else min(count, 12))
    top = base64.b64encode(timeline.read_bytes()).decode()
    timeline.unlink()
    rows = []
    times, thumbs, doc = p["times"], p["thumbs"], p["doc"]
    for k in range(first, min(first + count, len(times))):
        img = f'<img src="data:image/png;base64,{_png_b64(thumbs[k])}">' if thumbs is not None else ""
        present = ", ".join(m for m in p["masks"] if p["masks"][m][k]) or "none"
        text = html.escape(doc["dialogue"][k]) or "<i>(no dialogue)</i>"
        rows.append(f"<tr><td>{k}</td><td>{times[k, 0]:.2f}-{times[k, 1]:.2f}</td><td>{img}</td>"
                    f"<td>{present}</td><td>{text}</td></tr>")
    page = (
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(p['id'])}</title>"
        "<style>body{font-family:sans-serif}td{padding:4px;vertical-align:top}</style>"
        f"<h2>{html.escape(p['id'])}</h2><img style='max-width:100%' src='data:image/png;base64,{top}'>"
        "<table><tr><th>shot</th><th>seconds</th><th>thumbnail</th><th>modalities</th><th>dialogue</th></tr>"
        + "".join(rows) + "</table>"
    )
    atomic_write_text(out, page)
    return out


def inspect_cmd(cfg: InspectConfig) -> int:
    if not cfg.movie:
        raise StoreError(
            "lmp inspect: give a movie id (lmp inspect MOVIE --store DIR); see `lmp store info DIR --movies`"
        )
    p = load_preview(cfg.store, cfg.movie)
    out = cfg.out or p["folder"] / f"inspect.{cfg.format}"
    render = render_png if cfg.format == "png" else render_html
    render(p, Path(out), cfg.first_shot, cfg.max_shots)
    print(f"inspect: wrote {out}")
    return 0
