"""LAION-CLAP audio tower from a LOCAL checkpoint (no CLAP weights ship in any package registry).

    get_encoder("clap-htsat", weights_path="/models/630k-audioset-best.pt")

The HTSAT-tiny non-fusion model sees 10 s of 48 kHz audio. laion_clap crops longer inputs at a random
offset, so (our choice, for determinism) a shot is cut into consecutive 10 s windows, each window is
embedded (a short last window is repeat-padded by laion_clap), and the L2-normalised window embeddings
are averaged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lmp.encoders.audio import AudioEncoder
from lmp.encoders.base import EncoderError, freeze
from lmp.encoders.clip import check_weights_path


class LaionCLAPAudio(AudioEncoder):
    """512-d LAION-CLAP audio embedding (HTSAT-tiny by default), mean over 10 s windows."""

    dim = 512
    sample_rate = 48000
    window = 480_000  # 10 s at 48 kHz: the non-fusion model's input length
    min_samples = 4800  # 0.1 s
    packages = ("laion-clap",)

    def __init__(
        self,
        device: Any = "cpu",
        batch_size: int = 8,
        precision: str = "fp32",
        amodel: str = "HTSAT-tiny",
        weights_path: Any = None,
    ):
        super().__init__(device=device, batch_size=batch_size, precision=precision)
        path = check_weights_path("clap-htsat", weights_path)
        try:
            import laion_clap
        except ImportError as e:
            raise EncoderError(
                f"clap-htsat: needs laion_clap; install with: pip install laion-clap ({e})"
            ) from None
        model = laion_clap.CLAP_Module(enable_fusion=False, amodel=amodel, device=str(self.device))
        try:
            model.load_ckpt(str(path), verbose=False)
        except Exception as e:
            raise EncoderError(
                f"clap-htsat: cannot load {path} as a LAION-CLAP {amodel} checkpoint: {e}"
            ) from e
        self.model = freeze(model)

    def _encode_batch(self, items: list[np.ndarray]) -> np.ndarray:
        out = []
        for wave in items:
            windows = [wave[s : s + self.window] for s in range(0, len(wave), self.window)]
            emb = [
                torch.as_tensor(self.model.get_audio_embedding_from_data(x=w[None], use_tensor=False))[0]
                for w in windows
            ]
            out.append(torch.stack(emb).mean(dim=0).float().numpy())
        return np.stack(out)
