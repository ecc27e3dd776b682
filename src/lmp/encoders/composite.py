"""`A+B`: registered encoders of one modality side by side, their rows concatenated (A's columns first).

    enc = get_encoder("aisfx+voice")      # audio, dim 512 + 257 = 769, name 'aisfx+voice' in the store
    enc.encode(waves)                     # waveforms at enc.sample_rate (the highest of the parts' rates)

Audio parts that want another rate get each waveform resampled (lmp.encoders.audio.resample): decoding
once at the highest rate and resampling down loses nothing a part could use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lmp.encoders.base import EncoderError, FrozenEncoder, get_encoder


class CompositeEncoder(FrozenEncoder):
    """Builds each part with `get_encoder` on the same device; `encode` = the parts' rows concatenated."""

    def __init__(
        self,
        parts: Sequence[str],
        device: Any = "cpu",
        batch_size: int | None = None,
        precision: str | None = None,
    ):
        # Each part keeps its own batch size and precision defaults unless the caller sets them.
        super().__init__(device=device, batch_size=batch_size or 32, precision=precision or "auto")
        given = {k: v for k, v in (("batch_size", batch_size), ("precision", precision)) if v is not None}
        self.parts = [get_encoder(name, device=str(self.device), **given) for name in parts]
        self.modality = self.parts[0].modality
        self.dim = sum(p.dim for p in self.parts)
        self.packages = tuple(dict.fromkeys(pkg for p in self.parts for pkg in p.packages))
        rates = [int(r) for p in self.parts if (r := getattr(p, "sample_rate", None))]
        self.sample_rate = max(rates) if rates else None
        sizes = [s for p in self.parts if (s := getattr(p, "input_size", None)) is not None]
        self.input_size = sizes[0] if sizes else None  # visual parts resize frames of any other size

    def _items_for(self, part: FrozenEncoder, items: list[Any]) -> list[Any]:
        rate = getattr(part, "sample_rate", None)
        if self.modality != "audio" or rate is None or rate == self.sample_rate:
            return items
        from lmp.encoders.audio import resample

        # Only well-formed waveforms are resampled; the part's own check reports anything else by index.
        return [
            resample(x, self.sample_rate, rate)
            if isinstance(x, np.ndarray) and x.ndim == 1 and np.issubdtype(x.dtype, np.floating) else x
            for x in items
        ]

    def encode(self, items: Sequence[Any]) -> np.ndarray:
        if isinstance(items, (str, np.ndarray)):
            raise EncoderError(
                f"{self.name}: encode() takes a list of items, got a single {type(items).__name__}"
            )
        items = list(items)
        cols = [part.encode(self._items_for(part, items)) for part in self.parts]
        return np.concatenate(cols, axis=1).astype(np.float32, copy=False)

    def _encode_batch(self, items: list[Any]) -> np.ndarray:
        return self.encode(items)

    def package_versions(self) -> dict[str, str | None]:
        return {p: v for part in self.parts for p, v in part.package_versions().items()}

    def info(self) -> dict[str, Any]:
        d = super().info()
        d["parts"] = [p.info() for p in self.parts]
        return d
