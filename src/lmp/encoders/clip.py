"""OpenCLIP image and text towers from a LOCAL checkpoint (no CLIP weights ship in any package registry).

    get_encoder("clip:ViT-B-16-quickgelu", weights_path="/models/ViT-B-16-openai.pt")
    get_encoder("clip-text:ViT-B-16-quickgelu", weights_path=...)   # the matching text tower, same space
    lmp ingest movies/ --visual_encoder clip:ViT-B-16-quickgelu --visual_weights /models/ViT-B-16-openai.pt

`weights_path` is an open_clip checkpoint file (.safetensors / .bin / .pt state dict, e.g. the
`open_clip_pytorch_model.bin` of a hub repo copied to this machine) for the architecture ARCH, or a
directory holding `open_clip_config.json` + weights (open_clip's `local-dir:` layout, whose config then
decides the architecture). Nothing is downloaded: a missing file is an error naming it. Frames use the same
full-frame resize as the other visual encoders, with the checkpoint's mean/std (OpenAI's by default).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmp.encoders.base import EncoderError, freeze
from lmp.encoders.text import TextEncoder, set_hub_offline
from lmp.encoders.visual import FrameEncoder

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def check_weights_path(name: str, weights_path: Any) -> Path:
    """The checkpoint must be given and exist: nothing is ever downloaded."""
    if weights_path is None:
        raise EncoderError(
            f"{name}: no weights ship with lmp or any package registry; pass weights_path= to get_encoder "
            "(lmp ingest: --visual_weights / --audio_weights / --text_weights), see docs/encoders.md"
        )
    path = Path(os.path.expanduser(str(weights_path)))
    if not path.exists():
        raise EncoderError(f"{name}: weights_path {path} does not exist")
    return path


def load_open_clip(name: str, arch: str, weights_path: Any, device: torch.device, dtype: torch.dtype):
    """(model, tokenizer) for an OpenCLIP architecture from a local checkpoint, frozen."""
    path = check_weights_path(name, weights_path).resolve()
    set_hub_offline()  # the weights are local; any hub call open_clip might still make must fail fast
    try:
        import open_clip
    except ImportError as e:
        raise EncoderError(
            f"{name}: needs open_clip; install with: pip install open-clip-torch ({e})"
        ) from None
    precision = "fp16" if dtype == torch.float16 else "fp32"
    if path.is_dir():  # a hub-style directory with its own config
        model_name, pretrained = f"local-dir:{path}", None
    else:
        # An absolute path: open_clip tries `pretrained` as a tag name ('openai', ...) before as a file,
        # and a tag would start a download.
        model_name, pretrained = arch, str(path)
    try:
        model = open_clip.create_model(
            model_name, pretrained=pretrained, device=device, precision=precision, require_pretrained=True
        )
    except Exception as e:  # open_clip raises RuntimeError/KeyError for a checkpoint of another architecture
        raise EncoderError(f"{name}: cannot load {path} as OpenCLIP {arch}: {e}") from e
    return freeze(model), open_clip.get_tokenizer(model_name)


class OpenCLIPVisual(FrameEncoder):
    """OpenCLIP image tower: L2-normalised image embeddings averaged over the shot's frames."""

    packages = ("open-clip-torch",)

    def __init__(
        self,
        device: Any = "cpu",
        batch_size: int = 32,
        precision: str = "auto",
        arch: str = "ViT-B-32",
        weights_path: Any = None,
    ):
        super().__init__(device=device, batch_size=batch_size, precision=precision)
        self.model, _ = load_open_clip(f"clip:{arch}", arch, weights_path, self.device, self.dtype)
        visual = self.model.visual
        size = visual.image_size
        self.input_size = (size, size) if isinstance(size, int) else tuple(size)
        cfg = getattr(visual, "preprocess_cfg", None) or {}
        self.mean = tuple(cfg.get("mean", OPENAI_MEAN))
        self.std = tuple(cfg.get("std", OPENAI_STD))
        self.dim = int(visual.output_dim)

    def _embed_frames(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(x, normalize=True)


class OpenCLIPText(TextEncoder):
    """OpenCLIP text tower (77 tokens, longer dialogue is truncated), L2-normalised."""

    packages = ("open-clip-torch",)

    def __init__(
        self,
        device: Any = "cpu",
        batch_size: int = 64,
        precision: str = "auto",
        arch: str = "ViT-B-32",
        weights_path: Any = None,
    ):
        super().__init__(device=device, batch_size=batch_size, precision=precision)
        name = f"clip-text:{arch}"
        self.model, self.tokenizer = load_open_clip(name, arch, weights_path, self.device, self.dtype)
        self.dim = int(self.model.visual.output_dim)  # both towers project into the same space

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        tokens = self.tokenizer(texts).to(self.device)
        return self.model.encode_text(tokens, normalize=True).float().cpu().numpy()
