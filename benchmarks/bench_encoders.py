"""Frozen-encoder throughput: items/s and cost per frame / audio-second / sentence, one line per encoder.

    .venv/bin/python benchmarks/bench_encoders.py                       # every installed default encoder, CPU
    .venv/bin/python benchmarks/bench_encoders.py --encoders efficientnet-lite0 voice --threads 1
    .venv/bin/python benchmarks/bench_encoders.py --asr --device cuda    # also Whisper base (real-time factor)

Inputs are synthetic at the sizes the ingest pipeline produces: visual shots of --frames frames at the
encoder's input_size, audio shots of --seconds seconds at the encoder's sample rate (espeak-ng speech
when installed, so the voice encoders do real work; else tone + noise), and dialogue-length sentences.
Each encoder gets one warm-up call, then the median of --repeat timed calls is reported.
Prints figures; not a timed test. Record new numbers in docs/encoders.md with the machine they ran on.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
import torch

from lmp.encoders import encoder_entry, get_asr, get_encoder, is_available
from lmp.encoders.audio import resample

DEFAULTS = [
    "efficientnet-lite0",
    "logmel-stats",
    "aisfx",
    "silero-vad",
    "resemblyzer",
    "voice",
    "all-minilm-l6-v2",
]
SENTENCES = [
    "Where were you last night?",
    "I told you, I was at the station waiting for the last train.",
    "Nobody knows where the treasure is buried, not even the captain.",
    "Get in the car. Now.",
]


def speech_or_tone(seconds: float, sr: int) -> np.ndarray:
    """`seconds` of espeak-ng speech (repeated) at `sr`, or a tone in noise without espeak-ng."""
    rng = np.random.default_rng(0)
    if shutil.which("espeak-ng"):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "s.wav"
            subprocess.run(
                ["espeak-ng", "-w", str(path), " ".join(SENTENCES)], check=True, capture_output=True
            )
            with wave.open(str(path)) as w:
                rate = w.getframerate()
                x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768
        x = resample(x, rate, sr)
    else:
        t = np.arange(int(seconds * sr)) / sr
        x = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    return np.resize(x, int(seconds * sr)).astype(np.float32)


def make_items(enc, args) -> tuple[list, float, str]:
    """(items, amount of input, unit) for one timed call."""
    rng = np.random.default_rng(0)
    if enc.modality == "visual":
        h, w = enc.input_size
        items = [rng.integers(0, 256, (args.frames, h, w, 3), dtype=np.uint8) for _ in range(args.shots)]
        return items, args.shots * args.frames, "frame"
    if enc.modality == "audio":
        wave_ = speech_or_tone(args.seconds, enc.sample_rate)
        return [wave_.copy() for _ in range(args.shots)], args.shots * args.seconds, "audio-s"
    texts = [SENTENCES[i % len(SENTENCES)] for i in range(args.sentences)]
    return texts, len(texts), "sentence"


def timed(fn, repeat: int) -> float:
    fn()  # warm-up: lazy init, allocator, JIT
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoders", nargs="*", default=DEFAULTS)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shots", type=int, default=16)
    ap.add_argument("--frames", type=int, default=3, help="frames per visual shot")
    ap.add_argument("--seconds", type=float, default=4.0, help="seconds per audio shot")
    ap.add_argument("--sentences", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--asr", action="store_true", help="also time Whisper base ASR (assembles 145 MB once)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, device {args.device}, {args.threads} threads, load average {load:.1f}")
    print(f"{'encoder':<20} {'dim':>5} {'load s':>7} {'items/s':>9} {'ms/unit':>9}  unit")
    for name in args.encoders:
        if not is_available(name):
            print(f"{name:<20} skipped: install {' '.join(encoder_entry(name).packages)}")
            continue
        t0 = time.perf_counter()
        enc = get_encoder(name, device=args.device)
        load = time.perf_counter() - t0
        items, amount, unit = make_items(enc, args)
        sec = timed(lambda enc=enc, items=items: enc.encode(items), args.repeat)
        print(
            f"{name:<20} {enc.dim:>5} {load:>7.2f} {len(items) / sec:>9.1f} {1000 * sec / amount:>9.2f}  {unit}"
        )

    if args.asr:
        t0 = time.perf_counter()
        asr = get_asr("whisper-base", device=args.device, cpu_threads=args.threads)
        load = time.perf_counter() - t0
        speech = speech_or_tone(10.0, 16000)
        sec = timed(lambda: asr.transcribe(speech, 16000), max(1, args.repeat - 1))
        print(f"{'whisper-base (asr)':<20} {'-':>5} {load:>7.2f} {'':>9} {1000 * sec / 10.0:>9.2f}  audio-s")


if __name__ == "__main__":
    main()
