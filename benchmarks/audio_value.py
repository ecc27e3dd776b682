"""What learned audio features buy: linear probes on audio-carried shot tasks, per audio encoder.

    .venv/bin/python benchmarks/audio_value.py --out runs/audio-value     # ~6 min on 2 CPU cores
    .venv/bin/python benchmarks/audio_value.py --out /tmp/av --per_speaker 10 --silent 20 --labels 2   # a quick check

The shots are 3-s soundtracks built like a film's: a line of dialogue (espeak-ng, one of six voices,
each line with its own pitch and speed) over a score (chords) or an ambience (coloured noise) at 0-15 dB
below the voice, or the background alone. Three tasks a movie model reads from the soundtrack:
  speaker   who speaks (6 voices; the off-screen speaker of a scene), on shots with dialogue;
  speech    is anyone speaking (dialogue vs none), on every shot;
  score     is the background music or ambience, on every shot.
Each encoder's rows (`lmp.encoders`, the exact ingest path) are probed with lmp's linear probe
(`lmp.tasks.probe.linear_probe`, weight decay and step on val) with 2, 8 or 32 train labels per class,
drawn by each of three seeds; test accuracy mean ± std. Needs espeak-ng (Debian: `apt install
espeak-ng`) and the learned audio encoders (docs/encoders.md). Synthetic speech is not film speech:
read the figures as what each encoder separates under controlled conditions, not as LVU numbers.
Prints a table; writes results.json, results.md and a plot into --out.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import torch

from lmp.encoders import encoder_entry, get_encoder, is_available
from lmp.encoders.audio import resample
from lmp.tasks.probe import linear_probe

SR = 44100
SECONDS = 3.0
VOICES = ["en-us+m1", "en-gb+m3", "en-us+f2", "en-gb+f4", "en-us+m7", "en+f5"]
LINES = [
    "Where were you last night?", "I told you, I was at the station.", "Get in the car. Now.",
    "Nobody knows where it is buried.", "You should have called me first.", "We leave before the storm.",
    "Is that really what you want?", "Put the gun down, slowly.", "I never said I loved him.",
    "The train is late again.", "Tell me what happened in there.", "Keep your voice down.",
    "They are coming for us tonight.", "I will not say it twice.", "How long have you known?",
    "Open the door, it's me.", "This was never about the money.", "Let's go home.",
    "We need to talk about your father.", "Stay here and wait for me.",
]  # fmt: skip
ENCODERS = ["logmel-stats", "aisfx", "voice", "aisfx+voice"]


def speak(text: str, voice: str, pitch: int, speed: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "line.wav"
        cmd = ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(path), text]
        subprocess.run(cmd, check=True, capture_output=True)
        with wave.open(str(path)) as w:
            rate = w.getframerate()
            x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768
    return resample(x, rate, SR)


def score_bed(rng: np.random.Generator, n: int) -> np.ndarray:
    """Chords of 3-4 harmonic tones from a pentatonic scale, a new chord every 0.4-0.8 s, decaying."""
    t = np.arange(n) / SR
    out = np.zeros(n, np.float32)
    start = 0
    while start < n:
        length = int(rng.uniform(0.4, 0.8) * SR)
        seg = slice(start, min(n, start + length))
        env = np.exp(-3.0 * (t[seg] - t[start]))
        for semitone in rng.choice([0, 2, 4, 7, 9, 12, 14, 16], size=rng.integers(3, 5), replace=False):
            f0 = 110.0 * rng.choice([1, 2]) * 2 ** (semitone / 12)
            out[seg] += env * sum(np.sin(2 * np.pi * f0 * h * t[seg]) / h**1.5 for h in (1, 2, 3))
        start += length
    return out


def ambience_bed(rng: np.random.Generator, n: int) -> np.ndarray:
    """Noise with a random spectral tilt (hum of a room, wind, traffic): 1/f^a with a in [0.5, 2]."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    spec *= 1.0 / np.maximum(f, 20.0) ** (rng.uniform(0.5, 2.0) / 2)
    return np.fft.irfft(spec, n).astype(np.float32)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)) + 1e-9)


def make_shots(per_speaker: int, silent: int, seed: int) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Waveforms at SR and labels: speaker (-1 = no dialogue), speech (0/1), score (1 = music, 0 = ambience)."""
    rng = np.random.default_rng(seed)
    n = int(SECONDS * SR)
    waves, speaker, score = [], [], []
    plan = [v for v in range(len(VOICES)) for _ in range(per_speaker)] + [-1] * silent
    for v in plan:
        music = bool(rng.integers(0, 2))
        bed = (score_bed if music else ambience_bed)(rng, n)
        if v >= 0:
            pitch, speed = int(rng.integers(35, 65)), int(rng.integers(140, 190))  # each line its own delivery
            line = speak(LINES[rng.integers(len(LINES))], VOICES[v], pitch, speed)[:n]
            voice = np.zeros(n, np.float32)
            at = int(rng.integers(0, n - len(line) + 1))
            voice[at : at + len(line)] = line / rms(line) * 0.1
            bed = bed / rms(bed) * 0.1 * 10 ** (-rng.uniform(0, 15) / 20)  # 0-15 dB below the voice
            x = voice + bed
        else:
            x = bed / rms(bed) * 0.1 * 10 ** (-rng.uniform(0, 15) / 20)
        waves.append(np.clip(x, -1, 1).astype(np.float32))
        speaker.append(v)
        score.append(int(music))
    speaker = np.array(speaker)
    return waves, {"speaker": speaker, "speech": (speaker >= 0).astype(int), "score": np.array(score)}


def encode(name: str, waves: list[np.ndarray], threads: int) -> np.ndarray:
    torch.set_num_threads(threads)
    enc = get_encoder(name, device="cpu")
    items = [resample(w, SR, enc.sample_rate) for w in waves]
    return enc.encode(items)


def splits(y: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Stratified train pool / val / test of 50 / 20 / 30 %."""
    rng = np.random.default_rng(seed)
    out = {"train": [], "val": [], "test": []}
    for c in np.unique(y):
        idx = rng.permutation(np.nonzero(y == c)[0])
        a, b = int(0.5 * len(idx)), int(0.7 * len(idx))
        out["train"] += idx[:a].tolist()
        out["val"] += idx[a:b].tolist()
        out["test"] += idx[b:].tolist()
    return {k: np.array(v) for k, v in out.items()}


def probe_curve(x: np.ndarray, y: np.ndarray, labels: list[int], seeds: list[int]) -> dict[int, dict]:
    part = splits(y, 0)
    X = torch.from_numpy(x).float()
    Y = torch.from_numpy(y).long()
    out = {}
    for k in labels:
        values = []
        for seed in seeds:
            rng = np.random.default_rng(seed)
            pool = part["train"]
            chosen = np.concatenate([
                rng.choice(pool[y[pool] == c], size=min(k, int((y[pool] == c).sum())), replace=False)
                for c in np.unique(y)
            ])  # fmt: skip
            r = linear_probe(
                X[chosen], Y[chosen], X[part["val"]], Y[part["val"]], X[part["test"]], Y[part["test"]],
                "classification", num_classes=int(y.max()) + 1, seed=seed,
            )  # fmt: skip
            values.append(float(r["test"]["accuracy"]))
        out[k] = {"mean": float(np.mean(values)), "std": float(np.std(values)), "values": values}
    return out


def plot(results: dict, names: list[str], labels: list[int], path: Path) -> None:
    """Test accuracy vs train labels per class, one panel per task (skipped without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.4))
    for ax, (task, per) in zip(np.atleast_1d(axes), results.items()):
        for n in names:
            ax.errorbar(labels, [per[n][k]["mean"] for k in labels], yerr=[per[n][k]["std"] for k in labels],
                        marker="o", capsize=3, label=n)  # fmt: skip
        ax.set(title=task, xscale="log", xlabel="train labels per class", ylabel="test accuracy")
        ax.set_xticks(labels, [str(k) for k in labels])
        ax.minorticks_off()
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.suptitle("Audio encoders on audio-carried shot tasks (linear probe)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--per_speaker", type=int, default=70, help="dialogue shots per voice")
    ap.add_argument("--silent", type=int, default=180, help="shots without dialogue")
    ap.add_argument("--labels", type=int, nargs="+", default=[2, 8, 32], help="train labels per class")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if min(args.per_speaker, args.silent) < 10:
        raise SystemExit("audio_value: --per_speaker and --silent must be >= 10 (val and test take 20 % and 30 %)")
    if not shutil.which("espeak-ng"):
        raise SystemExit("audio_value: needs espeak-ng for the dialogue (Debian: apt install espeak-ng)")
    if not (is_available("aisfx") and is_available("voice")):
        raise SystemExit("audio_value: needs the learned audio encoders aisfx and voice (docs/encoders.md says how)")
    names = ENCODERS
    waves, y = make_shots(args.per_speaker, args.silent, seed=0)
    print(f"{len(waves)} shots of {SECONDS:g} s ({sum(y['speech'])} with dialogue); encoding with {names}")
    # aisfx+voice is [aisfx, voice] side by side (lmp.encoders.composite): encoded once, its blocks are the two.
    learned = encode("aisfx+voice", waves, args.threads)
    split = encoder_entry("aisfx").dim
    feats = {"logmel-stats": encode("logmel-stats", waves, args.threads), "aisfx": learned[:, :split],
             "voice": learned[:, split:], "aisfx+voice": learned}  # fmt: skip
    results: dict[str, dict] = {}
    for task, target in y.items():
        rows = np.nonzero(target >= 0)[0]
        results[task] = {n: probe_curve(f[rows], target[rows], args.labels, args.seeds) for n, f in feats.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    lines = ["| task | labels per class | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for task, per in results.items():
        for k in args.labels:
            cells = [f"{per[n][k]['mean']:.3f} ± {per[n][k]['std']:.3f}" for n in names]
            lines.append(f"| {task} | {k} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    (args.out / "results.md").write_text(table + "\n")
    meta = {"shots": len(waves), "seconds": SECONDS, "voices": VOICES, "labels": args.labels, "seeds": args.seeds}
    (args.out / "results.json").write_text(json.dumps({"setup": meta, "results": results}, indent=2))
    plot(results, names, args.labels, args.out / "audio_value.png")
    print(f"wrote {args.out}/results.md, results.json, audio_value.png")


if __name__ == "__main__":
    main()
