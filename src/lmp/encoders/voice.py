"""Voice cues per shot: how much of it is voiced (Silero VAD) and whose voice it is (Resemblyzer).

Both models are small recurrent nets made for streaming on a CPU: they always run in fp32, Silero
always on the CPU (it steps through 32 ms chunks one at a time, where a GPU only adds transfer cost).
Silero VAD also fires on animal vocalisations and singing: read its output as "voice-like", not
"dialogue".
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from lmp.encoders.audio import AudioEncoder, mel_filterbank, power_spectrogram
from lmp.encoders.base import EncoderError, freeze


class SileroVAD:
    """Speech segments of 16 kHz waveforms with silero-vad's defaults (threshold 0.5, min speech 250 ms,
    min silence 100 ms, 30 ms padding). The model state starts from zero for every waveform."""

    sample_rate = 16000
    chunk = 512  # samples per model call at 16 kHz (the model's only window at this rate)

    def __init__(self) -> None:
        from silero_vad import get_speech_timestamps_from_probs, load_silero_vad

        self._from_probs = get_speech_timestamps_from_probs
        self.model = load_silero_vad(onnx=False)  # the JIT model: needs torch only, no onnxruntime

    @torch.no_grad()
    def segments(self, waves: list[np.ndarray]) -> list[list[tuple[int, int]]]:
        """[(start, end)] sample ranges of voice in each waveform (1-D float32 at 16 kHz).

        silero-vad's own `get_speech_timestamps` calls the model once per 512-sample chunk of one
        waveform; the model is a recurrent net whose rows are independent, so here every waveform is a row
        of one batch and the model is called once per chunk of the longest (on one thread: 32 shots of
        1-5 s in 0.43 s instead of 1.88, 7 shots of 3 s in 0.12 s instead of 0.37), then the package turns
        each row's probabilities into segments the same way (tested against get_speech_timestamps).
        Rows past the end of a shorter waveform are zero-padded and their probabilities dropped."""
        out: list[list[tuple[int, int]]] = [[] for _ in waves]
        rows = [i for i, w in enumerate(waves) if len(w)]
        if not rows:
            return out
        chunks = [-(-len(waves[i]) // self.chunk) for i in rows]  # ceil: the last chunk is zero-padded
        x = torch.zeros(len(rows), max(chunks) * self.chunk)
        for r, i in enumerate(rows):
            x[r, : len(waves[i])] = torch.from_numpy(np.asarray(waves[i], dtype=np.float32))
        self.model.reset_states()  # zero state; the model sizes it for the batch on the first call
        step = self.chunk
        probs = torch.stack(
            [self.model(x[:, k * step : (k + 1) * step], self.sample_rate)[:, 0] for k in range(max(chunks))], dim=1
        )  # [rows, chunks]
        for r, i in enumerate(rows):
            found = self._from_probs(
                probs[r, : chunks[r]].tolist(), sampling_rate=self.sample_rate, audio_length_samples=len(waves[i])
            )
            out[i] = [(int(f["start"]), min(int(f["end"]), len(waves[i]))) for f in found]
        return out


def ratio(segments: list[tuple[int, int]], n: int) -> float:
    """Fraction of n samples covered by the segments, in [0, 1]."""
    return min(1.0, sum(end - start for start, end in segments) / max(1, n))


class SileroSpeechRatio(AudioEncoder):
    """1-d: fraction of the shot that Silero VAD 6 marks as voice."""

    dim = 1
    sample_rate = 16000
    packages = ("silero-vad",)

    def __init__(self, device: Any = "cpu", batch_size: int = 64, precision: str = "auto"):
        super().__init__(device=device, batch_size=batch_size, precision=precision)
        self.vad = SileroVAD()

    def _encode_batch(self, items: list[np.ndarray]) -> np.ndarray:
        found = self.vad.segments(items)
        return np.array([[ratio(seg, len(w))] for seg, w in zip(found, items)], dtype=np.float32)


class GE2E(nn.Module):
    """Resemblyzer's GE2E speaker encoder (3-layer LSTM 40 -> 256, linear, ReLU, L2 norm): mel partials
    [P, 160, 40] -> [P, 256]. Re-implemented with resemblyzer's parameter names so that only its weights
    file is needed: importing resemblyzer pulls webrtcvad (which needs pkg_resources) and librosa."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(40, 256, num_layers=3, batch_first=True)
        self.linear = nn.Linear(256, 256)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)  # hidden [layers, P, 256]
        raw = torch.relu(self.linear(hidden[-1]))
        return raw / raw.norm(dim=1, keepdim=True).clamp_min(1e-12)


def resemblyzer_weights_path() -> str:
    """pretrained.pt inside the installed resemblyzer package (found without importing it)."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise EncoderError(
            "resemblyzer: package not installed; install it with: pip install --no-deps resemblyzer"
        )
    return os.path.join(next(iter(spec.submodule_search_locations)), "pretrained.pt")


class Resemblyzer:
    """Speaker embeddings exactly as resemblyzer's `VoiceEncoder.embed_utterance` computes them: volume
    raised to -30 dBFS, 40-band mel power spectrogram (25 ms / 10 ms), 1.6 s partials every ~0.77 s
    (the last one kept if it is 75% covered), mean of the partial embeddings, L2-normalised."""

    sample_rate = 16000
    hop = 160  # 10 ms
    n_fft = 400  # 25 ms
    partial_frames = 160  # 1.6 s
    partial_step = 77  # round(16000 / 1.3 / 160): resemblyzer's default rate of 1.3 partials per second
    min_coverage = 0.75
    target_dbfs = -30.0
    min_samples = 1600  # 0.1 s: below this there is no voice to describe

    def __init__(self, device: torch.device, weights_path=None) -> None:
        path = weights_path or resemblyzer_weights_path()
        if not os.path.isfile(path):
            raise EncoderError(
                f"resemblyzer: weights file {path} not found; pip install --no-deps resemblyzer"
            )
        state = torch.load(path, map_location="cpu", weights_only=True)["model_state"]
        net = GE2E()
        net.load_state_dict({k: v for k, v in state.items() if k.startswith(("lstm.", "linear."))})
        self.device = device
        self.model = freeze(net).to(device)
        fb = mel_filterbank(
            self.sample_rate, self.n_fft, 40, 0.0, self.sample_rate / 2, norm="slaney", scale="slaney"
        )
        self.filterbank = torch.from_numpy(fb)  # [40, K]

    def normalize_volume(self, wave: np.ndarray) -> np.ndarray:
        """Raise (never lower) the RMS level to -30 dBFS; silence stays silence."""
        rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if len(wave) else 0.0
        if rms == 0.0:
            return wave
        gain_db = self.target_dbfs - 20.0 * np.log10(rms)
        return wave * np.float32(10.0 ** (gain_db / 20.0)) if gain_db > 0 else wave

    def partial_starts(self, n_samples: int) -> list[int]:
        """First mel frame of each 1.6 s partial (resemblyzer's compute_partial_slices)."""
        n_frames = int(np.ceil((n_samples + 1) / self.hop))
        starts = list(
            range(0, max(1, n_frames - self.partial_frames + self.partial_step + 1), self.partial_step)
        )
        last = starts[-1] * self.hop
        coverage = (n_samples - last) / (self.partial_frames * self.hop)
        if coverage < self.min_coverage and len(starts) > 1:
            starts.pop()
        return starts

    def embed(self, wave: np.ndarray) -> np.ndarray:
        """16 kHz waveform -> 256-d L2-normalised speaker embedding."""
        wave = self.normalize_volume(wave)
        if len(wave) < self.min_samples:
            wave = np.pad(wave, (0, self.min_samples - len(wave)))
        starts = self.partial_starts(len(wave))
        end = (starts[-1] + self.partial_frames) * self.hop
        wave = np.pad(wave, (0, max(0, end - len(wave))))
        mel = (self.filterbank @ power_spectrogram(torch.from_numpy(wave), self.n_fft, self.hop)).T  # [L, 40]
        partials = torch.stack([mel[s : s + self.partial_frames] for s in starts])  # [P, 160, 40]
        emb = self.model(partials.to(self.device)).mean(dim=0)
        return (emb / emb.norm().clamp_min(1e-12)).float().cpu().numpy()


class ResemblyzerSpeaker(AudioEncoder):
    """256-d speaker embedding of the whole shot waveform (music and effects included: see `voice` for
    the embedding of the voiced parts only)."""

    dim = 256
    sample_rate = 16000
    min_samples = Resemblyzer.min_samples
    packages = ("resemblyzer",)

    def __init__(self, device: Any = "cpu", batch_size: int = 64, precision: str = "fp32", weights_path=None):
        super().__init__(device=device, batch_size=batch_size, precision=precision)
        self.speaker = Resemblyzer(self.device, weights_path)

    def _encode_batch(self, items: list[np.ndarray]) -> np.ndarray:
        return np.stack([self.speaker.embed(w) for w in items])


class VoiceCues(AudioEncoder):
    """257-d [speech ratio, speaker embedding of the voiced samples]. Our choice: the speaker embedding is
    computed on the concatenated VAD segments only, and is all-zero when the shot has no voice, so that
    music or silence never produce a fake speaker identity."""

    dim = 257
    sample_rate = 16000
    packages = ("silero-vad", "resemblyzer")

    def __init__(self, device: Any = "cpu", batch_size: int = 64, precision: str = "fp32", weights_path=None):
        super().__init__(device=device, batch_size=batch_size, precision=precision)
        self.vad = SileroVAD()
        self.speaker = Resemblyzer(self.device, weights_path)

    def _encode_batch(self, items: list[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        for i, (wave, segments) in enumerate(zip(items, self.vad.segments(items))):
            if not segments:
                continue
            voiced = np.concatenate([wave[s:e] for s, e in segments])
            out[i, 0] = ratio(segments, len(wave))
            out[i, 1:] = self.speaker.embed(voiced)
        return out
