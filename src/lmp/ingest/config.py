"""IngestConfig: everything `lmp ingest` does, as one typed config (see docs/ingestion.md)."""

from __future__ import annotations

import codecs
import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from lmp.modality import check_modalities

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
    """lmp.encoders name for the sampled frames of each shot."""
    audio_encoder: str = "logmel-stats"
    """lmp.encoders name for each shot's audio."""
    text_encoder: str = "all-minilm-l6-v2"
    """lmp.encoders name for each shot's dialogue."""
    detector: Literal["auto", "adaptive", "transnetv2"] = "auto"
    """Shot detector: auto = TransNetV2 on a GPU, PySceneDetect's AdaptiveDetector on CPU (see docs)."""
    detector_threshold: float | None = None
    """Detector threshold (adaptive: 3.0 ratio, transnetv2: 0.5 probability when unset)."""
    min_shot_seconds: float = 0.4
    """Cuts closer than this to the previous cut are dropped (no flash-frame shots)."""
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

    def encoder_names(self) -> dict[str, str]:
        """modality -> encoder name, for the modalities in use."""
        names = {"visual": self.visual_encoder, "audio": self.audio_encoder, "text": self.text_encoder}
        return {m: names[m] for m in self.modalities}

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
        blob = json.dumps({k: d[k] for k in FEATURE_FIELDS}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


FEATURE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(IngestConfig) if f.name not in NON_FEATURE_FIELDS)
"""The fields hashed into `ingest_hash`: every field of IngestConfig but NON_FEATURE_FIELDS."""
