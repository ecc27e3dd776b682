"""IngestConfig: everything `lmp ingest` does, as one typed config (see docs/ingestion.md)."""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from lmp.errors import LMPError, LMPWarning
from lmp.ingest.shots import MIN_SHOT_SECONDS
from lmp.modality import MODALITIES, check_modalities

VIDEO_EXTS = (".mp4", ".mkv", ".mov", ".avi", ".webm")

# Fields that do not change a movie's stored features. Every other field of IngestConfig is a feature
# field (FEATURE_FIELDS, below the class): it goes into `ingest_hash`, and a stored movie is re-ingested
# when one of them changed. A new field is therefore a feature field unless it is listed here.
NON_FEATURE_FIELDS = frozenset({
    "paths",                     # which movies to ingest, not how
    "store", "report",           # where the results go
    "subtitles",                 # where subtitle files are looked up (the file used is meta.dialogue_source)
    "overwrite",                 # whether to redo a stored movie, not how
    "id_scheme",                 # the movie's id, not its features
    "previews", "thumb_height",  # pictures for `lmp inspect`, written beside the features
    "device",                    # where it runs; the detector it picks is hashed as `detector`, resolved
    "workers", "threads", "batch_shots", "queue_chunks",  # parallelism and batching
})


@dataclass
class IngestConfig:
    positional = ("paths",)

    paths: list[Path] = field(default_factory=list)
    """Movie files, or folders searched recursively for .mp4 .mkv .mov .avi .webm."""
    store: Path = Path("runs/ingest/store")
    """Feature store directory (created if missing; movies already in it are skipped)."""
    report: Path | None = None
    """Run report JSON (default: STORE/reports/ingest-<time>[-rank<r>].json)."""
    modalities: list[str] = field(default_factory=lambda: ["visual", "audio", "text"])
    """Modalities to embed and store."""
    visual_encoder: str = "efficientnet-lite0"
    """Frames encoder: efficientnet-lite0 or clip:ARCH (e.g. clip:ViT-B-16-quickgelu; needs visual_weights)."""
    visual_weights: Path | None = None
    """Local weights file/folder for visual_encoder (required by clip:ARCH); its content goes into ingest_hash."""
    audio_encoder: str = "auto"
    """auto (aisfx+voice, or logmel-stats if not installed), aisfx, voice, silero-vad, resemblyzer, clap-htsat, A+B."""
    audio_weights: Path | None = None
    """Local weights file/folder for audio_encoder (required by clap-htsat); its content goes into ingest_hash."""
    text_encoder: str = "all-minilm-l6-v2"
    """Dialogue encoder: all-minilm-l6-v2 or clip-text:ARCH (the text tower of clip:ARCH; needs text_weights)."""
    text_weights: Path | None = None
    """Local weights file/folder for text_encoder (required by clip-text:ARCH); its content goes into ingest_hash."""
    detector: Literal["auto", "adaptive", "transnetv2"] = "auto"
    """Shot detector: auto = TransNetV2 on a GPU, PySceneDetect's AdaptiveDetector on CPU (see docs)."""
    detector_threshold: float | None = None
    """Detector threshold (adaptive: 3.0 ratio, transnetv2: 0.5 probability when unset)."""
    min_shot_seconds: float = MIN_SHOT_SECONDS
    """Cuts closer than this to the previous cut are dropped: 0.1 s keeps flash shots of 4+ frames at 25 fps and
    drops a detector's double hits (lmp.ingest.shots.MIN_SHOT_SECONDS says why)."""
    gradual_transitions: bool = True
    """Adaptive detector only: also find dissolves and fades (lmp.ingest.shots.GradualTransitions), which a
    frame-to-frame content change misses; TransNetV2 finds them itself."""
    frames_per_shot: int = 1
    """Frames per shot for the visual encoder (centres of equal parts; 1 = the middle frame; embedding = mean)."""
    sample_fps: float = 4.0
    """Rate at which decoded frames are kept at the encoder's size; shots pick from these."""
    text_source: Literal["subtitles", "asr", "auto"] = "subtitles"
    """Dialogue from subtitle files, from speech recognition, or subtitles when present else ASR."""
    asr_model: str = "whisper-base"
    """lmp.encoders.get_asr name used when text_source is asr/auto."""
    subtitles: Path | None = None
    """A subtitle file (with one movie) or a folder searched by movie name; default: next to each video."""
    subtitle_encoding: str | None = None
    """Force the subtitle text encoding, a Python codec name (default: BOM, then UTF-8, then Windows-1252)."""
    min_dialogue_overlap: float = 0.25
    """Seconds a cue must overlap a shot to count for it (it always counts for its best shot)."""
    allow_partial: bool = False
    """Keep the decodable part of a truncated/corrupt file instead of failing the movie."""
    overwrite: bool = False
    """Re-ingest movies already in the store with the same content and config, and replace a stored movie of
    the same id from another file."""
    id_scheme: Literal["stem", "parent_stem"] = "stem"
    """Movie ids: 'stem' = the file name without extension, 'parent_stem' = '<folder>_<stem>'
    (Show1/S01E01.mkv -> Show1_S01E01)."""
    previews: bool = True
    """Save thumbnails, audio energy and dialogue under STORE/previews/<id>/ for `lmp inspect`."""
    thumb_height: int = 54
    """Thumbnail height in pixels (width follows the display aspect ratio)."""
    device: str = "cpu"
    """Device for the detector and encoders ('cpu', 'cuda', 'auto')."""
    decoder: Literal["pyav", "torchcodec"] = "pyav"
    """Video decoder; torchcodec decodes on the GPU (NVDEC) when device is cuda."""
    workers: int = 1
    """Processes on this machine, each with its own encoders, writing to the same store."""
    threads: int = 0
    """Torch threads per worker (0: CPU cores / workers - 1, leaving a core to the decode thread)."""
    batch_shots: int = 16
    """Shots embedded per encoder call (bigger = faster on GPU, more memory)."""
    queue_chunks: int = 8
    """Decoded chunks (64 frames each) buffered between the decode thread and the encoders."""

    def __post_init__(self) -> None:
        self.modalities = list(check_modalities(self.modalities, "modalities"))
        if self.frames_per_shot < 1:
            raise ValueError(f"frames_per_shot must be >= 1, got {self.frames_per_shot}")
        if self.sample_fps <= 0:
            raise ValueError(f"sample_fps must be positive, got {self.sample_fps}")
        if self.min_shot_seconds < 0:
            raise ValueError(f"min_shot_seconds must be >= 0, got {self.min_shot_seconds}")
        if self.min_dialogue_overlap < 0:
            raise ValueError(f"min_dialogue_overlap must be >= 0, got {self.min_dialogue_overlap}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")
        if self.batch_shots < 1 or self.queue_chunks < 1:
            raise ValueError("batch_shots and queue_chunks must be >= 1")
        if self.thumb_height < 8:
            raise ValueError(f"thumb_height must be >= 8, got {self.thumb_height}")
        if self.subtitle_encoding is not None:
            try:
                codecs.lookup(self.subtitle_encoding)
            except LookupError:
                # Checked here: otherwise every movie would fail, after decoding its video.
                raise ValueError(f"subtitle_encoding: unknown encoding {self.subtitle_encoding!r}") from None
        if self.audio_encoder == "auto":
            self.audio_encoder = self._resolve_auto_audio()
        for m in MODALITIES:
            # Checked here, without loading anything: a typo must not cost a model load per worker.
            self._check_encoder(m)

    def _resolve_auto_audio(self) -> str:
        """'auto' -> the encoder name used, resolved here so that the name in the store manifest, the ingest
        hash and the run report is the real one: a re-run on a machine with other packages then refuses the
        store (other encoder) or re-ingests (other hash) instead of silently mixing features."""
        from lmp.encoders import FALLBACK_AUDIO, resolve_auto_audio

        if "audio" not in self.modalities:
            # No audio is stored, but audio_encoder is hashed: keep the hash the same on every machine.
            return FALLBACK_AUDIO
        name, warning = resolve_auto_audio()
        if warning:
            warnings.warn(warning, LMPWarning, stacklevel=4)
        return name

    def _check_encoder(self, modality: str) -> None:
        """The <modality>_encoder name is registered for that modality (its :VALUE accepted) and a given
        <modality>_weights exists and is taken by that encoder. Raises ValueError naming the option."""
        from lmp.encoders import EncoderError, encoder_entry, list_encoders

        key, spec = f"{modality}_encoder", getattr(self, f"{modality}_encoder")
        choices = ", ".join(list_encoders(modality)[modality])
        try:
            entry = encoder_entry(spec)
        except EncoderError as e:
            if "+" in spec or spec.partition(":")[0] in {c.partition(":")[0] for c in choices.split(", ")}:
                raise ValueError(f"{key}: {e}") from None  # a known name with a bad :VALUE
            raise ValueError(f"{key}: unknown encoder {spec!r}; choose from {choices}") from None
        if entry.modality != modality:
            raise ValueError(f"{key}: {spec!r} encodes {entry.modality}, not {modality}; "
                             f"{modality} encoders: {choices}")
        weights = getattr(self, f"{modality}_weights")
        if weights is not None:
            if not entry.weights_arg:
                raise ValueError(f"{modality}_weights: encoder {spec!r} takes no weights (it needs none)")
            if not Path(os.path.expanduser(weights)).exists():
                raise ValueError(f"{modality}_weights: {weights} does not exist")

    def encoder_names(self) -> dict[str, str]:
        """modality -> encoder name, for the modalities in use."""
        names = {"visual": self.visual_encoder, "audio": self.audio_encoder, "text": self.text_encoder}
        return {m: names[m] for m in self.modalities}

    def encoder_weights(self) -> dict[str, Path]:
        """modality -> local weights path, for the modalities in use that were given one."""
        out = {m: getattr(self, f"{m}_weights") for m in self.modalities}
        return {m: Path(os.path.expanduser(w)) for m, w in out.items() if w is not None}

    def encoder_kwargs(self, modality: str) -> dict[str, Any]:
        """Keyword arguments for lmp.encoders.get_encoder beyond the device: the weights, under the name the
        encoder takes them by (weights_path, model_dir, ...)."""
        from lmp.encoders import encoder_entry

        weights = self.encoder_weights().get(modality)
        if weights is None:
            return {}
        return {encoder_entry(self.encoder_names()[modality]).weights_arg: str(weights)}

    def encoder_dims(self) -> dict[str, int | None]:
        """modality -> feature width from the registry (no encoder is built; None if it is only known then)."""
        from lmp.encoders import encoder_entry

        return {m: encoder_entry(name).dim for m, name in self.encoder_names().items()}

    def check_runnable(self) -> None:
        """What the config alone cannot show but a run needs before it creates anything: each encoder's
        Python modules, weights where none ship in a package, and the ASR backend. Loads nothing."""
        import importlib.util

        from lmp.encoders import encoder_entry

        problems = []
        for m, name in self.encoder_names().items():
            entry = encoder_entry(name)
            missing = entry.missing_modules()
            if missing:
                pkgs = " ".join(entry.packages) or " ".join(missing)
                problems.append(f"{m}_encoder {name} needs Python module(s) {missing}; "
                                f"install with: pip install {pkgs}")
            if entry.weights_required and m not in self.encoder_weights():
                problems.append(f"{m}_encoder {name} needs --{m}_weights PATH: no weights for it ship in any "
                                "package (docs/encoders.md says how to fetch them)")
        if self.text_source in ("asr", "auto") and "text" in self.modalities:
            if importlib.util.find_spec("faster_whisper") is None:
                problems.append(f"text_source {self.text_source} needs faster-whisper; "
                                'install with: pip install "lmp[asr]"')
        if problems:
            raise LMPError("; ".join(problems))

    def resolved_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def resolved_detector(self) -> str:
        """The detector actually used: 'auto' picks TransNetV2 on CUDA, AdaptiveDetector on CPU."""
        if self.detector != "auto":
            return self.detector
        return "transnetv2" if self.resolved_device().startswith("cuda") else "adaptive"

    def feature_hash(self) -> str:
        """Hash of the settings that change the stored features (FEATURE_FIELDS: not device, workers, paths...)."""
        from lmp.config import to_dict

        d: dict[str, Any] = to_dict(self)
        d["detector"] = self.resolved_detector()
        if d["detector"] != "adaptive":
            d["gradual_transitions"] = False  # TransNetV2 finds dissolves itself: the option changes nothing
        used = self.encoder_weights()
        for m in MODALITIES:
            # The weights' content, not their path: other weights at the same path re-ingest, the same
            # weights moved elsewhere do not.
            d[f"{m}_weights"] = weights_digest(used[m]) if m in used else None
        # A field added after stores existed is left out at the value that does what lmp did before it, so
        # those stores keep their hash (and are not re-ingested) unless the setting changes their features.
        kept = {k: d[k] for k in FEATURE_FIELDS if not (k in HASHED_SINCE and d[k] == HASHED_SINCE[k])}
        blob = json.dumps(kept, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


HASHED_SINCE: dict[str, Any] = {"gradual_transitions": False}
"""Feature fields added after stores existed -> the value that reproduces the features from before them."""

FEATURE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(IngestConfig) if f.name not in NON_FEATURE_FIELDS)
"""The fields hashed into `ingest_hash`: every field of IngestConfig but NON_FEATURE_FIELDS."""

_DIGESTS: dict[tuple, str] = {}
"""Per-process cache of weights digests, keyed by path, sizes and modification times."""


def weights_digest(path: Path) -> str:
    """sha256 of a weights file (what `sha256sum` prints), or of a folder's files (each relative name, a NUL
    byte and the file's content, in name order).

    Hashing a CLIP checkpoint takes ~1 s per GB, so the result is cached in this process until a file's
    size or modification time changes (feature_hash is asked once per movie)."""
    path = Path(path)
    try:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        names = [str(f.relative_to(path)) if path.is_dir() else None for f in files]
        key = (str(path.resolve()), tuple((n, f.stat().st_size, f.stat().st_mtime_ns) for n, f in zip(names, files)))
        if key not in _DIGESTS:
            h = hashlib.sha256()
            for name, f in zip(names, files):
                if name is not None:
                    h.update(name.encode() + b"\0")
                with open(f, "rb") as fh:
                    while chunk := fh.read(1 << 20):
                        h.update(chunk)
            _DIGESTS[key] = h.hexdigest()
    except OSError as e:
        raise LMPError(f"weights {path}: cannot read it ({e})") from None
    return _DIGESTS[key]
