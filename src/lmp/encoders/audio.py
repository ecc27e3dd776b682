"""Audio frozen encoders: a shot's mono waveform -> one embedding.

Dimension legend:
    T  samples of one waveform     K  STFT frequency bins (n_fft // 2 + 1)
    M  mel bands                   L  spectrogram frames
    B  aisfx blocks (100 frames, ~2.3 s) in a forward pass        D  feature width

The voice cues (Silero VAD, Resemblyzer) live in lmp.encoders.voice.
"""

from __future__ import annotations

import importlib.util
import math
import os
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from lmp.encoders.base import EncoderError, FrozenEncoder, freeze


class AudioEncoder(FrozenEncoder):
    """Shared plumbing: waveform validation. `min_samples` is the shortest input the model takes;
    shorter waveforms (including empty ones) are zero-padded, i.e. embedded as silence at the end."""

    modality = "audio"
    sample_rate: int = 16000
    """Sample rate (Hz) the waveforms must have; the ingest pipeline decodes audio at this rate."""
    min_samples: int = 1

    def _check_item(self, i: int, item: Any) -> np.ndarray:
        wave = np.asarray(item)
        if wave.ndim != 1:
            raise EncoderError(
                f"{self.name}: item {i} must be a mono waveform [T] at {self.sample_rate} Hz, got shape "
                f"{wave.shape} (mix channels down first)"
            )
        if not np.issubdtype(wave.dtype, np.floating):
            raise EncoderError(
                f"{self.name}: item {i} must be float samples in [-1, 1], got dtype {wave.dtype}"
            )
        wave = wave.astype(np.float32, copy=False)
        if not (wave.flags.writeable and wave.flags.c_contiguous):
            wave = wave.copy()  # torch.from_numpy needs it (strided slices, read-only decoder buffers)
        if not np.isfinite(wave).all():
            raise EncoderError(f"{self.name}: item {i} has NaN/inf samples")
        if len(wave) < self.min_samples:
            wave = np.pad(wave, (0, self.min_samples - len(wave)))
        return wave


# ---- spectrogram helpers (numpy/torch only, no librosa) ---------------------------------------------


_SLANEY_F_SP = 200.0 / 3  # Hz per mel below 1 kHz (Slaney's Auditory Toolbox scale)
_SLANEY_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(f: np.ndarray, scale: str) -> np.ndarray:
    """'htk': 2595 log10(1 + f / 700); 'slaney': linear below 1 kHz, logarithmic above (librosa's default)."""
    f = np.asarray(f, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    mel = f / _SLANEY_F_SP
    high = f >= 1000.0
    return np.where(high, 15.0 + np.log(np.maximum(f, 1e-12) / 1000.0) / _SLANEY_LOGSTEP, mel)


def mel_to_hz(m: np.ndarray, scale: str) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    return np.where(m >= 15.0, 1000.0 * np.exp(_SLANEY_LOGSTEP * (m - 15.0)), _SLANEY_F_SP * m)


def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float, norm: str, scale: str = "htk"
) -> np.ndarray:
    """Triangular mel filters [M, K], the same construction as librosa.filters.mel.

    norm: 'l1' (each filter sums to 1, aisfx's training setup) or 'slaney' (constant energy per band).
    scale: 'htk' or 'slaney' (librosa's htk=True / htk=False).
    """
    if norm not in ("l1", "slaney") or scale not in ("htk", "slaney"):
        raise ValueError(
            f"mel_filterbank: norm must be 'l1'/'slaney' and scale 'htk'/'slaney', got {norm!r}, {scale!r}"
        )
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = np.linspace(hz_to_mel(f_min, scale), hz_to_mel(f_max, scale), n_mels + 2)
    mel_f = mel_to_hz(edges, scale)  # band edges in Hz
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]  # [M + 2, K]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))  # [M, K]
    if norm == "slaney":
        weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    else:
        weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    return weights.astype(np.float32)


def power_spectrogram(
    wave: torch.Tensor, n_fft: int, hop: int, win_length: int | None = None
) -> torch.Tensor:
    """|STFT|^2 [K, L] of a waveform [T]: periodic Hann window, centred frames, zero padding (librosa's
    defaults), so frame l covers samples around l * hop."""
    window = torch.hann_window(win_length or n_fft, periodic=True, device=wave.device, dtype=wave.dtype)
    spec = torch.stft(
        wave,
        n_fft=n_fft,
        hop_length=hop,
        win_length=win_length or n_fft,
        window=window,
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    return spec.abs().pow(2)


def resample(
    wave: np.ndarray, orig_sr: int, new_sr: int, lowpass_width: int = 6, rolloff: float = 0.99
) -> np.ndarray:
    """Band-limited resampling of a mono float waveform [T] -> [ceil(T * new_sr / orig_sr)].

    Windowed-sinc polyphase filter (Hann window, cutoff `rolloff` x the lower Nyquist), the algorithm of
    torchaudio.functional.resample, so audio decoded at one rate can feed encoders that want another.
    """
    if orig_sr <= 0 or new_sr <= 0:
        raise EncoderError(f"resample: sample rates must be positive, got {orig_sr} -> {new_sr}")
    wave = np.asarray(wave, dtype=np.float32)
    if orig_sr == new_sr or len(wave) == 0:
        return wave
    g = math.gcd(orig_sr, new_sr)
    orig, new = orig_sr // g, new_sr // g
    base_freq = min(orig, new) * rolloff
    width = math.ceil(lowpass_width * orig / base_freq)
    # Kernel k of the `new` output phases, sampled at the input taps: [new, 1, 2 * width + orig].
    taps = torch.arange(-width, width + orig, dtype=torch.float64)[None, None] / orig
    t = (torch.arange(0, -new, -1, dtype=torch.float64)[:, None, None] / new + taps) * base_freq
    t = t.clamp(-lowpass_width, lowpass_width)
    window = torch.cos(t * math.pi / lowpass_width / 2) ** 2
    t = t * math.pi
    sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / t)
    kernels = (sinc * window * base_freq / orig).float()
    x = F.pad(torch.from_numpy(wave)[None, None], (width, width + orig))  # [1, 1, T + pad]
    y = F.conv1d(x, kernels, stride=orig)  # [1, new, T / orig]: one column per input block
    y = y.transpose(1, 2).reshape(-1)  # interleave the phases -> [T * new / orig]
    return y[: math.ceil(new * len(wave) / orig)].numpy()


class LogMelStats(AudioEncoder):
    """Weight-free baseline: log-mel spectrogram (25 ms window, 10 ms hop, 64 HTK-mel bands, 0-8 kHz),
    then per-band mean and standard deviation over time -> 128-d [mean_1..64, std_1..64].

    Captures loudness and spectral envelope (speech vs music vs noise, bright vs dull); nothing learned.
    """

    dim = 128
    sample_rate = 16000
    n_fft = 400
    hop = 160
    n_mels = 64
    min_samples = 400  # one full window
    log_floor = 1e-6  # log(power + floor): silence maps to log(1e-6) instead of -inf

    def __init__(self, device: Any = "cpu", batch_size: int = 64, precision: str = "fp32"):
        # fp32 by default on every device: log-mel statistics are cheap and fp16 would lose the floor.
        super().__init__(device=device, batch_size=batch_size, precision=precision)
        fb = mel_filterbank(
            self.sample_rate, self.n_fft, self.n_mels, 0.0, self.sample_rate / 2, norm="slaney"
        )
        self.filterbank = torch.from_numpy(fb).to(self.device, self.dtype)  # [M, K]

    def _encode_batch(self, items: list[np.ndarray]) -> np.ndarray:
        out = []
        for wave in items:  # waveforms differ in length; statistics are per item anyway
            x = torch.from_numpy(wave).to(self.device, self.dtype)
            logmel = torch.log(
                self.filterbank @ power_spectrogram(x, self.n_fft, self.hop) + self.log_floor
            )  # [M, L]
            out.append(torch.cat([logmel.mean(dim=1), logmel.std(dim=1, unbiased=False)]).float().cpu())
        return torch.stack(out).numpy()


# ---- aisfx (ISMIR 2022 sound-effects embedding) -----------------------------------------------------


class _ConvBlock(nn.Module):
    """Two 3x3 conv-BN-ReLU layers then max-pooling (aisfx.models.cnn2d.ConvBlock, same parameter names)."""

    def __init__(self, c_in: int, c_out: int, pool: tuple[int, int]):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.max_pool2d(x, kernel_size=self.pool)


class AISFXNet(nn.Module):
    """aisfx's EmbeddingNet (DCASE cross-task 9-layer CNN, max pooling, width 64): log-mel blocks
    [B, 100, 96] -> 512-d. Re-implemented so the aisfx package code (and its pinned deps) is not needed."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_block1 = _ConvBlock(1, 64, (2, 2))
        self.conv_block2 = _ConvBlock(64, 128, (2, 2))
        self.conv_block3 = _ConvBlock(128, 256, (2, 2))
        self.conv_block4 = _ConvBlock(256, 512, (1, 1))

    def forward(self, blocks: torch.Tensor) -> torch.Tensor:
        x = blocks.unsqueeze(1)  # [B, 1, 100, 96] (time, mel)
        x = self.conv_block4(self.conv_block3(self.conv_block2(self.conv_block1(x))))  # [B, 512, 12, 12]
        return x.mean(dim=3).amax(dim=2)  # mean over frequency, max over time -> [B, 512]


def load_aisfx_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The EmbeddingNet weights from aisfx's checkpoint.pth, loaded WITHOUT running pickled code.

    The file is a pickled (state_dict, dataset_dict) whose dataset dict holds numpy scalars, so
    `torch.load(weights_only=True)` needs exactly those numpy types allow-listed; nothing else is.
    """
    numpy_types: list[Any] = [
        np.dtype,
        *{type(np.dtype(t)) for t in (np.int64, np.int32, np.float64, np.float32)},
    ]
    try:
        from numpy._core.multiarray import scalar  # numpy >= 2

        numpy_types.append((scalar, "numpy.core.multiarray.scalar"))
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import scalar

        numpy_types.append(scalar)
    if not os.path.isfile(path):
        raise EncoderError(
            f"aisfx: checkpoint {path} not found; install it with: pip install --no-deps aisfx==0.1.2"
        )
    with torch.serialization.safe_globals(numpy_types):
        state, _datasets = torch.load(path, map_location="cpu", weights_only=True)
    prefix = "embedding_net."
    return {
        k[len(prefix) :]: v
        for k, v in state.items()
        if k.startswith(prefix) and "num_batches_tracked" not in k
    }


def aisfx_checkpoint_path() -> str:
    """Path of checkpoint.pth inside the installed aisfx package (found without importing aisfx)."""
    spec = importlib.util.find_spec("aisfx")
    if spec is None or not spec.submodule_search_locations:
        raise EncoderError(
            "aisfx: package not installed; install it with: pip install --no-deps aisfx==0.1.2"
        )
    return os.path.join(next(iter(spec.submodule_search_locations)), "models", "checkpoint.pth")


class AISFX(AudioEncoder):
    """aisfx 0.1.2 sound-effects embedding (X-Sequential-CE, ISMIR 2022), the package's librosa front end
    re-implemented in torch: peak-normalised 44.1 kHz audio, 2048-sample Hann STFT, hop 1024, 96 HTK-mel
    bands (L1-normalised filters, 0-22.05 kHz), log10(1e4 * power + 1) / 9.4578. Blocks of 100 frames
    (~2.32 s) with 50% overlap (the paper's 1 s hop) are embedded and averaged -> 512-d per shot.
    """

    dim = 512
    sample_rate = 44100
    n_fft = 2048
    hop = 1024
    n_mels = 96
    block_frames = 100
    block_hop = 50
    spec_max = 9.457798957824707  # aisfx's 'original' min-max normalisation (min 0)
    min_samples = 2048
    packages = ("aisfx",)

    def __init__(self, device: Any = "cpu", batch_size: int = 32, precision: str = "auto", weights_path=None):
        super().__init__(device=device, batch_size=batch_size, precision=precision)
        net = AISFXNet()
        net.load_state_dict(load_aisfx_state(weights_path or aisfx_checkpoint_path()))
        self.model = freeze(net).to(self.device, self.dtype)
        fb = mel_filterbank(self.sample_rate, self.n_fft, self.n_mels, 0.0, self.sample_rate / 2, norm="l1")
        self.filterbank = torch.from_numpy(fb).to(self.device)  # [M, K], fp32: spectra stay fp32

    def spectrogram(self, wave: np.ndarray) -> torch.Tensor:
        """Normalised log-mel [L, M] (time first, as aisfx feeds its network)."""
        x = torch.from_numpy(wave).to(self.device)
        peak = x.abs().max()
        x = x / peak if peak > 0 else x
        mel = self.filterbank @ power_spectrogram(x, self.n_fft, self.hop)  # [M, L]
        return (torch.log10(mel * 1e4 + 1.0) / self.spec_max).T

    def blocks(self, spec: torch.Tensor) -> torch.Tensor:
        """[L, M] -> [B, 100, M]: 50%-overlapping blocks, a trailing partial block dropped unless it is the
        only one (then zero-padded, zeros being silence after the log compression)."""
        n = max(1, 1 + (spec.shape[0] - self.block_frames) // self.block_hop)
        need = (n - 1) * self.block_hop + self.block_frames
        spec = F.pad(spec, (0, 0, 0, max(0, need - spec.shape[0])))
        return spec.unfold(0, self.block_frames, self.block_hop)[:n].transpose(1, 2)  # [B, 100, M]

    def _encode_batch(self, items: list[np.ndarray]) -> np.ndarray:
        per_item = [self.blocks(self.spectrogram(w)) for w in items]
        blocks = torch.cat(per_item).to(self.dtype)  # [sum B, 100, M]
        emb = torch.cat(
            [
                self.model(blocks[s : s + self.batch_size]).float()
                for s in range(0, len(blocks), self.batch_size)
            ]
        )  # [sum B, 512]
        counts = torch.tensor([len(b) for b in per_item], device=emb.device)
        owner = torch.repeat_interleave(torch.arange(len(items), device=emb.device), counts)
        sums = torch.zeros(len(items), self.dim, device=emb.device).index_add_(0, owner, emb)
        return (sums / counts[:, None]).cpu().numpy()
